"""Read crystal structures from CIF (incl. Jana2020), POSCAR, extended XYZ and ShengBTE CONTROL into ASE Atoms.

Wraps ASE's readers; Jana2020 CIFs (non-standard settings with their own symmetry operations)
go through ``incipient.experiment.cif`` (gemmi). Errors name the file and the problem: an
empty or unreadable file, no atoms, or a non-finite position or cell (NaN/inf) raise
:class:`~incipient.errors.FileFormatError` (a ValueError).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms

from incipient.errors import FileFormatError


def _is_jana_cif(path: Path) -> bool:
    with open(path, errors="replace") as fh:
        head = fh.read(4000)
    return "Jana" in head


def _is_blank(path: Path) -> bool:
    """True when the file holds nothing but white space."""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 16):
            if chunk.strip():
                return False
    return True


def read_structure(path: str | os.PathLike, *, index: int = -1) -> Atoms:
    """Read one structure: ``.cif``, ``POSCAR``/``CONTCAR``/``.vasp``, ``.xyz``/``.extxyz``, ``.traj``,
    a ShengBTE ``CONTROL`` file, or anything else ASE reads.

    For multi-frame files ``index`` picks the frame (default: last).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such structure file")
    if path.is_dir():
        raise FileFormatError("is a folder, not a structure file", source=path)
    if _is_blank(path):
        raise FileFormatError("the structure file is empty", source=path)
    return check_structure(_read(path, index), path)


def check_structure(atoms: Atoms, source=None) -> Atoms:
    """``atoms`` unchanged, or FileFormatError naming ``source`` when it has no atoms, a
    non-finite position or cell, or a periodic cell of zero volume."""
    if len(atoms) == 0:
        raise FileFormatError("the file holds no atoms", source=source)
    pos = np.asarray(atoms.positions, dtype=float)
    bad = np.flatnonzero(~np.isfinite(pos).all(axis=1))
    if bad.size:
        raise FileFormatError(f"atom {int(bad[0])} ({atoms[int(bad[0])].symbol}) has a non-finite position "
                              f"{pos[bad[0]].tolist()}" + (f"; {bad.size} such atoms" if bad.size > 1 else ""),
                              source=source)
    cell = np.asarray(atoms.cell.array, dtype=float)
    if not np.isfinite(cell).all():
        raise FileFormatError(f"the cell is not finite: {cell.tolist()}", source=source)
    if atoms.pbc.all() and abs(np.linalg.det(cell)) < 1e-6:
        raise FileFormatError(f"periodic cell of zero volume (lengths {atoms.cell.lengths().round(4).tolist()} A)",
                              source=source)
    return atoms


def _read(path: Path, index: int) -> Atoms:
    import ase.io

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
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, StopIteration | EOFError):
            detail = "the file ends before a complete structure"
        elif isinstance(exc, KeyError):
            detail = f"unknown element or key {exc}"
        raise FileFormatError(f"cannot read a structure ({detail})", source=path) from exc
    return atoms
