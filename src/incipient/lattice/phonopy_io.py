"""Read and write phonopy/phono3py force-constant files and convert ASE <-> phonopy structures.

Thin adapter over ``phonopy.file_IO`` (FORCE_CONSTANTS, fc2.hdf5) and ``phono3py.file_IO``
(fc3.hdf5, full or compact). Units are phonopy's: eV/A^2 for fc2 and eV/A^3 for fc3.
Compact arrays have first axis = primitive atoms; pass ``p2s_map`` (supercell indices of the
primitive atoms) when writing them so readers can tell compact from full.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "ase_to_phonopy_atoms",
    "reorder_fc2",
    "supercell_permutation",
    "phonopy_to_ase_atoms",
    "read_fc2",
    "read_fc3_hdf5",
    "write_fc2",
    "write_fc3_hdf5",
]


def ase_to_phonopy_atoms(atoms):
    """ase.Atoms -> phonopy.structure.atoms.PhonopyAtoms (symbols, cell, fractional positions, masses)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.array(atoms.cell[:]),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def phonopy_to_ase_atoms(patoms):
    """PhonopyAtoms (or phonopy Supercell/Primitive) -> periodic ase.Atoms with the same masses."""
    from ase import Atoms

    return Atoms(
        symbols=list(patoms.symbols),
        cell=np.array(patoms.cell),
        scaled_positions=np.array(patoms.scaled_positions),
        masses=np.array(patoms.masses),
        pbc=True,
    )


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such force-constant file")


def read_fc2(path: str | os.PathLike) -> np.ndarray:
    """Read fc2 from ``*.hdf5`` (phonopy/phono3py) or text FORCE_CONSTANTS -> (n1, N, 3, 3) eV/A^2."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS, read_force_constants_hdf5

    path = Path(path)
    _check_exists(path)
    try:
        if path.suffix in (".hdf5", ".h5"):
            fc2 = read_force_constants_hdf5(filename=path)
        else:
            fc2 = parse_FORCE_CONSTANTS(filename=str(path))
    except Exception as exc:
        raise ValueError(f"{path}: cannot read force constants: {exc}") from exc
    fc2 = np.asarray(fc2, dtype=float)
    if fc2.ndim != 4 or fc2.shape[2:] != (3, 3):
        raise ValueError(f"{path}: fc2 has shape {fc2.shape}, expected (n, N, 3, 3)")
    return fc2


def write_fc2(path: str | os.PathLike, fc2: np.ndarray, p2s_map: np.ndarray | None = None) -> Path:
    """Write fc2 (full (N,N,3,3) or compact (n,N,3,3) with ``p2s_map``) as hdf5 or FORCE_CONSTANTS."""
    from phonopy.file_IO import write_FORCE_CONSTANTS, write_force_constants_to_hdf5

    fc2 = np.ascontiguousarray(fc2, dtype=float)
    if fc2.ndim != 4 or fc2.shape[2:] != (3, 3):
        raise ValueError(f"fc2 must have shape (n, N, 3, 3), got {fc2.shape}")
    if fc2.shape[0] != fc2.shape[1] and p2s_map is None:
        raise ValueError(f"compact fc2 of shape {fc2.shape} needs p2s_map")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".hdf5", ".h5"):
        write_force_constants_to_hdf5(fc2, filename=str(path), p2s_map=p2s_map, physical_unit="eV/angstrom^2")
    else:
        write_FORCE_CONSTANTS(fc2, filename=path, p2s_map=p2s_map)
    return path


def read_fc3_hdf5(path: str | os.PathLike) -> np.ndarray:
    """Read phono3py's fc3.hdf5 -> (n1, N, N, 3, 3, 3) eV/A^3 (n1 = N full, or n_prim compact)."""
    from phono3py.file_IO import read_fc3_from_hdf5

    path = Path(path)
    _check_exists(path)
    try:
        fc3 = read_fc3_from_hdf5(filename=path)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read fc3: {exc}") from exc
    if isinstance(fc3, dict):
        fc3 = fc3["fc3"]
    fc3 = np.asarray(fc3, dtype=float)
    if fc3.ndim != 6 or fc3.shape[3:] != (3, 3, 3) or fc3.shape[1] != fc3.shape[2]:
        raise ValueError(f"{path}: fc3 has shape {fc3.shape}, expected (n, N, N, 3, 3, 3)")
    return fc3


def write_fc3_hdf5(path: str | os.PathLike, fc3: np.ndarray, p2s_map: np.ndarray | None = None) -> Path:
    """Write fc3 (full or compact with ``p2s_map``) as phono3py fc3.hdf5."""
    from phono3py.file_IO import write_fc3_to_hdf5

    fc3 = np.ascontiguousarray(fc3, dtype=float)
    if fc3.ndim != 6 or fc3.shape[3:] != (3, 3, 3):
        raise ValueError(f"fc3 must have shape (n, N, N, 3, 3, 3), got {fc3.shape}")
    if fc3.shape[0] != fc3.shape[1] and p2s_map is None:
        raise ValueError(f"compact fc3 of shape {fc3.shape} needs p2s_map")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_fc3_to_hdf5(fc3, filename=str(path), p2s_map=p2s_map, compression="gzip")
    return path


def supercell_permutation(src, dst, tol_A: float = 1e-3) -> np.ndarray:
    """perm with dst atom i == src atom perm[i] (same supercell, different atom order).

    ``src``/``dst`` are ase.Atoms or PhonopyAtoms spanning the same lattice (e.g. the MD
    supercell ``primitive.repeat((3, 3, 3))`` and phonopy's supercell of the same matrix).
    """
    cell = np.asarray(src.cell)
    src_cart = np.asarray(src.positions if hasattr(src, "get_positions") else src.positions)
    dst_cart = np.asarray(dst.positions)
    d = (dst_cart[:, None, :] - src_cart[None, :, :]) @ np.linalg.inv(cell)
    d -= np.rint(d)
    dist = np.linalg.norm(d @ cell, axis=-1)
    perm = np.argmin(dist, axis=1)
    worst = dist[np.arange(len(perm)), perm].max() if len(perm) else 0.0
    if len(src_cart) != len(dst_cart) or worst > tol_A or len(set(perm.tolist())) != len(perm):
        raise ValueError(f"supercells do not match atom for atom (largest mismatch {worst:.3g} A, "
                         f"{len(src_cart)} vs {len(dst_cart)} atoms)")
    return perm


def reorder_fc2(fc2: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Full fc2 (N, N, 3, 3) in ``src`` order -> ``dst`` order with ``perm`` from supercell_permutation."""
    fc2 = np.asarray(fc2)
    if fc2.shape[0] != fc2.shape[1] or fc2.shape[0] != len(perm):
        raise ValueError(f"full fc2 of {len(perm)} atoms expected, got shape {fc2.shape}")
    return np.ascontiguousarray(fc2[np.ix_(perm, perm)])
