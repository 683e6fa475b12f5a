"""Read crystal structures from CIF (incl. Jana2020), POSCAR, extended XYZ and ShengBTE CONTROL into ASE Atoms.

Wraps ASE's readers; Jana2020 CIFs (non-standard settings with their own symmetry operations)
go through ``incipient.experiment.cif`` (gemmi). Errors name the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms


def _is_jana_cif(path: Path) -> bool:
    with open(path, errors="replace") as fh:
        head = fh.read(4000)
    return "Jana" in head


def read_structure(path: str | os.PathLike, *, index: int = -1) -> Atoms:
    """Read one structure: ``.cif``, ``POSCAR``/``CONTCAR``/``.vasp``, ``.xyz``/``.extxyz``, ``.traj``,
    a ShengBTE ``CONTROL`` file, or anything else ASE reads.

    For multi-frame files ``index`` picks the frame (default: last).
    """
    import ase.io

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such structure file")
    name = path.name.lower()
    if name.startswith("control"):
        from incipient.lattice.shengbte_control import read_shengbte_control

        return read_shengbte_control(path)[0]
    if name.endswith(".cif"):
        if _is_jana_cif(path):
            from incipient.experiment.cif import read_structure_from_cif

            return read_structure_from_cif(path)
        fmt = "cif"
    elif name.startswith(("poscar", "contcar")) or name.endswith(".vasp"):
        fmt = "vasp"
    elif name.endswith((".xyz", ".extxyz")):
        fmt = "extxyz"
    elif name.endswith(".traj"):
        fmt = "traj"
    else:
        fmt = None
    try:
        atoms = ase.io.read(path, index=index, format=fmt)
    except Exception as exc:  # ASE raises many exception types on malformed input
        raise ValueError(f"{path}: cannot read a structure ({type(exc).__name__}: {exc})") from exc
    if len(atoms) == 0:
        raise ValueError(f"{path}: the file holds no atoms")
    return atoms
