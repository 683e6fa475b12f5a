"""Labelled training configurations (energy, forces, stress) from ASE Atoms or any ASE-readable file.

Own code around ``ase.io.read``. Each configuration must carry forces (the fit is driven by
them); energy and stress are used when present (stress only for fully periodic cells). Errors
are one-line :class:`~incipient.errors.InputError` naming the file and the configuration: an
empty or unreadable file, a configuration without forces, an element outside the species
list, a non-finite label or structure (coincident atoms are reported by the fit).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import FileFormatError, InputError


@dataclass
class Labelled:
    """One configuration: the structure and its reference energy (eV), forces (eV/A), stress."""

    atoms: object
    energy: float | None
    forces: np.ndarray
    stress: np.ndarray | None  # (6,) eV/A^3, ASE Voigt order and sign

    def labels(self) -> dict:
        return {"energy": self.energy, "forces": self.forces, "stress": self.stress}


def _results(atoms) -> dict:
    calc = atoms.calc
    res = dict(getattr(calc, "results", {}) or {}) if calc is not None else {}
    for key in ("energy", "forces", "stress"):
        if key not in res and key in atoms.info:
            res[key] = atoms.info[key]
        if key not in res and key in atoms.arrays:
            res[key] = atoms.arrays[key]
    if "energy" not in res and "free_energy" in res:
        res["energy"] = res["free_energy"]
    return res


def read_configurations(source, species, *, what: str | None = None) -> list[Labelled]:
    """Labelled configurations from ``source``: a path (any ASE format, all frames) or Atoms list.

    ``species``: chemical symbols of the MTP types 0, 1, ...; every atom must be one of them.
    """
    import ase.io
    from ase.data import atomic_numbers

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = what or str(path)
        if not path.exists():
            raise InputError("no such file (training data)", source=what)
        if not path.is_file():
            raise InputError("is not a file (training data)", source=what)
        if path.stat().st_size == 0:
            raise FileFormatError("the file is empty: no configurations", source=what)
        try:
            frames = ase.io.read(path, index=":")
        except Exception as exc:  # ASE raises many types for unreadable files
            raise FileFormatError(f"cannot read configurations ({type(exc).__name__}: {exc})", source=what) from None
        if not isinstance(frames, list):
            frames = [frames]
    else:
        what = what or "configurations"
        frames = list(source)
    if not frames:
        raise FileFormatError("no configurations", source=what)
    species = tuple(species)
    bad = [s for s in species if s not in atomic_numbers or s == "X"]
    if bad:
        raise InputError(f"unknown element {bad[0]!r} in the species list {list(species)}")
    if len(set(species)) != len(species):
        raise InputError(f"the species list {list(species)} names an element twice")
    out = []
    for k, atoms in enumerate(frames):
        if len(atoms) == 0:
            raise InputError(f"configuration {k} holds no atoms", source=what)
        syms = set(atoms.get_chemical_symbols())
        unknown = sorted(syms - set(species))
        if unknown:
            raise InputError(f"configuration {k} contains {', '.join(unknown)}, not in the species list "
                             f"{' '.join(species)}", source=what)
        res = _results(atoms)
        f = res.get("forces")
        if f is None:
            raise InputError(f"configuration {k} has no forces (the fit needs reference forces)", source=what)
        f = np.array(f, dtype=float).reshape(-1, 3)
        if f.shape != (len(atoms), 3) or not np.isfinite(f).all():
            raise InputError(f"configuration {k}: forces must be finite with shape ({len(atoms)}, 3)", source=what)
        e = res.get("energy")
        if e is not None:
            e = float(np.asarray(e).reshape(-1)[0])
            if not np.isfinite(e):
                raise InputError(f"configuration {k}: energy is not finite", source=what)
        s = res.get("stress")
        if s is not None:
            s = np.asarray(s, dtype=float)
            if s.shape == (3, 3):
                s = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
            if s.shape != (6,) or not np.isfinite(s).all():
                raise InputError(f"configuration {k}: stress must be 6 (Voigt) or 3x3 finite values", source=what)
            if not np.all(atoms.pbc):
                s = None
        if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell.array).all()):
            raise InputError(f"configuration {k}: non-finite positions or cell", source=what)
        a = atoms.copy()
        a.calc = None
        out.append(Labelled(a, e, f, s))
    return out


def fingerprint(data: list[Labelled]) -> str:
    """SHA-256 of the structures and labels (identifies a data set in checkpoints)."""
    h = hashlib.sha256()
    for d in data:
        for arr in (d.atoms.numbers, d.atoms.positions, d.atoms.cell.array, d.forces,
                    np.array([np.nan if d.energy is None else d.energy]),
                    np.full(6, np.nan) if d.stress is None else d.stress):
            h.update(np.ascontiguousarray(arr, dtype=float).tobytes())
    return h.hexdigest()


def min_distance(data: list[Labelled]) -> float:
    """Shortest interatomic distance over the configurations (periodic images included)."""
    from incipient.potentials.training.torch_mtp import neighbours

    best = np.inf
    for d in data:
        cut = 3.0
        while True:
            _, _, v = neighbours(d.atoms, cut)
            if len(v):
                best = min(best, float(np.sqrt((np.asarray(v) ** 2).sum(axis=1).min())))
                break
            cut *= 2
            if cut > 50:
                break
    return best
