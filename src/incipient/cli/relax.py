"""``incipient relax``: relax positions and cell of a system's structure (or any file) with its potential.

All inputs are checked before the relaxation starts: ``--fmax`` finite and > 0, the structure
and potential readable, the species order consistent with the potential where that can be
known, and ``--output`` writable with a structure format ASE can write. Plausibility warnings
(see :mod:`incipient.structures.relax`) are printed to stderr and kept in the JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from incipient.cli._checks import positive
from incipient.cli._system import add_system_arguments, structure_and_calculator
from incipient.errors import InputError, OutputError


def add_arguments(p) -> None:
    add_system_arguments(p)
    p.add_argument("--fmax", type=float, default=1e-3, help="force threshold (eV/A)")
    p.add_argument("--fixed-cell", action="store_true")
    p.add_argument("--output", help="write the relaxed structure (extxyz/CIF/POSCAR by suffix)")


def structure_output(path: str, option: str = "--output") -> tuple[Path, str]:
    """(path, ASE format) for a structure to be written, checked before any work."""
    from ase.io.formats import filetype, ioformats

    from incipient.results import check_output_file

    path = Path(path)
    try:
        fmt = filetype(str(path), read=False)
        if fmt not in ioformats:
            raise KeyError(fmt)
    except Exception:
        raise InputError(f"{option} {path}: unknown structure format; use a name ending in .extxyz, .xyz, "
                         ".cif or .vasp, or POSCAR/CONTCAR") from None
    if not ioformats[fmt].can_write:
        raise InputError(f"{option} {path}: ASE cannot write the {fmt} format")
    check_output_file(path, option)
    return path, fmt


def write_structure(path: Path, fmt: str, atoms) -> None:
    """Write ``atoms`` atomically (temp file beside ``path``, then rename)."""
    import ase.io

    from incipient.results import new_file_mode

    tmp = path.with_name(f".{path.name}.tmp")
    mode = new_file_mode(path)
    try:
        ase.io.write(tmp, atoms, format=fmt)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"--output: cannot write {path} ({exc.strerror or exc})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def run(args) -> int:
    import logging

    from incipient.structures.relax import relax

    logging.basicConfig(level=logging.WARNING, format="incipient relax: %(levelname)s: %(message)s")
    fmax = positive(args.fmax, "--fmax")
    out = structure_output(args.output) if args.output else None
    atoms, calc, _ = structure_and_calculator(args)
    relaxed, res = relax(atoms, calc, fmax_eV_A=fmax, relax_cell=not args.fixed_cell)
    if out is not None:
        write_structure(*out, relaxed)
    print(res.table())
    print(json.dumps({k: v for k, v in res.to_dict().items()}, indent=1))
    if res.warnings:
        print(f"incipient relax: WARNING: {len(res.warnings)} plausibility warning(s) (above); "
              "do not trust this result before checking --species", file=sys.stderr)
    return 0
