"""Read and write ShengBTE/FourPhonon force-constant files (FORCE_CONSTANTS_2ND/_3RD/_4TH).

FORCE_CONSTANTS_2ND is phonopy's full FORCE_CONSTANTS format, so it is delegated to
``phonopy.file_IO``. The anharmonic files (thirdorder.py / Fourthorder output) have no reader in
the installed libraries, hence own code. Their layout, per block of an ``n``-th order file::

    <blank line>
    <block index, 1-based>
    <Cartesian lattice vector of the cell of atom 2, Angstrom>
    ...                                   (one line per atom 2..n)
    <1-based indices of atoms 1..n in the primitive cell>
    i j k [l] value                       (3**n lines, 1-based Cartesian indices, eV/A**n)

after a first line holding the number of blocks. Atom 1 always sits in the home cell. The writer
reproduces the published files byte for byte (same field widths and 10 decimals), so a
read -> write -> read cycle returns identical arrays.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.results import Result, atomic_write_text

__all__ = [
    "ShengBTEFC3",
    "ShengBTEFC4",
    "read_shengbte_fc2",
    "read_shengbte_fc3",
    "read_shengbte_fc4",
    "write_shengbte_fc2",
    "write_shengbte_fc3",
    "write_shengbte_fc4",
]


@dataclass(frozen=True, eq=False)
class ShengBTEFC3(Result):
    """Third-order force constants in ShengBTE's sparse triplet form.

    Fields (n = number of triplets):
        R2_A: (n, 3) float, Cartesian lattice vector of the cell of atom 2, Angstrom.
        R3_A: (n, 3) float, Cartesian lattice vector of the cell of atom 3, Angstrom.
        atoms: (n, 3) int, 0-based indices of atoms 1, 2, 3 in the primitive cell.
        phi_eV_A3: (n, 3, 3, 3) float, d^3E/du1_i du2_j du3_k in eV/A^3.
    """

    R2_A: np.ndarray
    R3_A: np.ndarray
    atoms: np.ndarray
    phi_eV_A3: np.ndarray

    @property
    def n_blocks(self) -> int:
        return len(self.atoms)


@dataclass(frozen=True, eq=False)
class ShengBTEFC4(Result):
    """Fourth-order force constants in FourPhonon's sparse quartet form.

    Fields (n = number of quartets):
        R2_A, R3_A, R4_A: (n, 3) float, Cartesian lattice vectors of the cells of atoms 2, 3, 4 (A).
        atoms: (n, 4) int, 0-based indices of atoms 1..4 in the primitive cell.
        phi_eV_A4: (n, 3, 3, 3, 3) float, fourth derivatives of the energy in eV/A^4.
    """

    R2_A: np.ndarray
    R3_A: np.ndarray
    R4_A: np.ndarray
    atoms: np.ndarray
    phi_eV_A4: np.ndarray

    @property
    def n_blocks(self) -> int:
        return len(self.atoms)


# ----------------------------------------------------------------------------- second order
def read_shengbte_fc2(path: str | os.PathLike, natoms_supercell: int) -> np.ndarray:
    """Read FORCE_CONSTANTS_2ND (phonopy full format) -> (N, N, 3, 3) eV/A^2, N = natoms_supercell."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such FORCE_CONSTANTS_2ND file")
    try:
        fc2 = parse_FORCE_CONSTANTS(filename=str(path))
    except Exception as exc:  # phonopy raises RuntimeError/ValueError/IndexError
        raise ValueError(f"{path}: not a phonopy/ShengBTE FORCE_CONSTANTS file: {exc}") from exc
    if fc2.shape != (natoms_supercell, natoms_supercell, 3, 3):
        raise ValueError(
            f"{path}: force constants have shape {fc2.shape}, expected the full "
            f"({natoms_supercell}, {natoms_supercell}, 3, 3) of a {natoms_supercell}-atom supercell"
        )
    return fc2


def write_shengbte_fc2(path: str | os.PathLike, fc2: np.ndarray) -> Path:
    """Write full (N, N, 3, 3) force constants in eV/A^2 as FORCE_CONSTANTS_2ND."""
    from phonopy.file_IO import get_FORCE_CONSTANTS_lines

    fc2 = np.asarray(fc2, dtype=float)
    if fc2.ndim != 4 or fc2.shape[0] != fc2.shape[1] or fc2.shape[2:] != (3, 3):
        raise ValueError(f"fc2 must have the full shape (N, N, 3, 3), got {fc2.shape}")
    path = Path(path)
    atomic_write_text(path, "\n".join(get_FORCE_CONSTANTS_lines(fc2)) + "\n")
    return path


# ----------------------------------------------------------------------------- anharmonic
def _parse_blocks(path: Path, order: int):
    """Parse an ``order``-th order ShengBTE file -> (R (n, order-1, 3), atoms (n, order), phi)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such force-constant file")
    lines = path.read_text().splitlines()
    nlines = len(lines)
    ncomp = 3**order

    def fail(lineno: int, what: str):
        text = lines[lineno - 1].strip() if 0 < lineno <= nlines else "<end of file>"
        raise ValueError(f"{path}, line {lineno}: {what} (found {text!r})")

    pos = 0  # index into lines of the next line to read

    def next_nonblank() -> int:
        nonlocal pos
        while pos < nlines and not lines[pos].strip():
            pos += 1
        if pos >= nlines:
            fail(nlines + 1, "unexpected end of file")
        pos += 1
        return pos  # 1-based line number of the line just consumed

    ln = next_nonblank()
    try:
        nblocks = int(lines[ln - 1].split()[0])
        if len(lines[ln - 1].split()) != 1 or nblocks < 0:
            raise ValueError
    except (ValueError, IndexError):
        fail(ln, "first line must hold the number of blocks")
    R = np.empty((nblocks, order - 1, 3))
    atoms = np.empty((nblocks, order), dtype=np.int64)
    phi = np.full((nblocks,) + (3,) * order, np.nan)
    for b in range(nblocks):
        ln = next_nonblank()
        try:
            idx = int(lines[ln - 1])
        except ValueError:
            fail(ln, f"expected the index {b + 1} of block {b + 1}")
        if idx != b + 1:
            fail(ln, f"block index {idx} out of sequence, expected {b + 1}")
        for r in range(order - 1):
            ln = next_nonblank()
            parts = lines[ln - 1].split()
            try:
                if len(parts) != 3:
                    raise ValueError
                R[b, r] = [float(p) for p in parts]
            except ValueError:
                fail(ln, f"block {idx}: expected a lattice vector of 3 numbers for atom {r + 2}")
        ln = next_nonblank()
        parts = lines[ln - 1].split()
        try:
            if len(parts) != order:
                raise ValueError
            atoms[b] = [int(p) for p in parts]
        except ValueError:
            fail(ln, f"block {idx}: expected {order} integer atom indices")
        if atoms[b].min() < 1:
            fail(ln, f"block {idx}: atom indices are 1-based and must be >= 1")
        seen = np.zeros((3,) * order, dtype=bool)
        for _ in range(ncomp):
            ln = next_nonblank()
            parts = lines[ln - 1].split()
            try:
                if len(parts) != order + 1:
                    raise ValueError
                cart = tuple(int(p) - 1 for p in parts[:order])
                value = float(parts[order])
                if min(cart) < 0 or max(cart) > 2:
                    raise ValueError
            except ValueError:
                fail(ln, f"block {idx}: expected {order} Cartesian indices in 1..3 and a value")
            if seen[cart]:
                fail(ln, f"block {idx}: Cartesian component {tuple(c + 1 for c in cart)} repeated")
            seen[cart] = True
            phi[(b,) + cart] = value
    while pos < nlines:
        if lines[pos].strip():
            fail(pos + 1, f"trailing content after the {nblocks} declared blocks")
        pos += 1
    return R, atoms - 1, phi


def _format_blocks(R: np.ndarray, atoms: np.ndarray, phi: np.ndarray) -> str:
    order = atoms.shape[1]
    out = [f"{len(atoms)}\n"]
    comps = list(itertools.product(range(3), repeat=order))
    labels = [" " + " ".join(str(c + 1) for c in comp) for comp in comps]
    for b in range(len(atoms)):
        out.append(f"\n{b + 1:5d}\n")
        for r in R[b]:
            out.append(f"{r[0]:14.10f} {r[1]:14.10f} {r[2]:14.10f} \n")
        out.append("".join(f"{a + 1:5d}" for a in atoms[b]) + "\n")
        flat = phi[b].reshape(-1)
        out.append("".join(f"{lab} {v:17.10f}\n" for lab, v in zip(labels, flat, strict=True)))
    out.append("\n")  # thirdorder.py ends the file with a blank line
    return "".join(out)


def _check_arrays(name: str, order: int, R: list[np.ndarray], atoms: np.ndarray, phi: np.ndarray):
    n = len(atoms)
    if atoms.shape != (n, order):
        raise ValueError(f"{name}.atoms must have shape (n, {order}), got {atoms.shape}")
    for k, r in enumerate(R):
        if r.shape != (n, 3):
            raise ValueError(f"{name}.R{k + 2}_A must have shape ({n}, 3), got {r.shape}")
    if phi.shape != (n,) + (3,) * order:
        raise ValueError(f"{name} force constants must have shape {(n,) + (3,) * order}, got {phi.shape}")
    if n and atoms.min() < 0:
        raise ValueError(f"{name}.atoms are 0-based indices and must be >= 0")
    if not np.all(np.isfinite(phi)):
        raise ValueError(f"{name} force constants contain non-finite values")


def read_shengbte_fc3(path: str | os.PathLike) -> ShengBTEFC3:
    """Read a ShengBTE FORCE_CONSTANTS_3RD file (Angstrom, eV/A^3)."""
    R, atoms, phi = _parse_blocks(Path(path), 3)
    return ShengBTEFC3(R2_A=R[:, 0].copy(), R3_A=R[:, 1].copy(), atoms=atoms, phi_eV_A3=phi)


def write_shengbte_fc3(path: str | os.PathLike, fc: ShengBTEFC3) -> Path:
    """Write ``fc`` in ShengBTE's FORCE_CONSTANTS_3RD layout (10 decimals, as thirdorder.py)."""
    R2, R3 = np.asarray(fc.R2_A, float), np.asarray(fc.R3_A, float)
    atoms, phi = np.asarray(fc.atoms), np.asarray(fc.phi_eV_A3, float)
    _check_arrays("ShengBTEFC3", 3, [R2, R3], atoms, phi)
    path = Path(path)
    atomic_write_text(path, _format_blocks(np.stack([R2, R3], axis=1), atoms, phi))
    return path


def read_shengbte_fc4(path: str | os.PathLike) -> ShengBTEFC4:
    """Read a FourPhonon FORCE_CONSTANTS_4TH file (Angstrom, eV/A^4)."""
    R, atoms, phi = _parse_blocks(Path(path), 4)
    return ShengBTEFC4(
        R2_A=R[:, 0].copy(), R3_A=R[:, 1].copy(), R4_A=R[:, 2].copy(), atoms=atoms, phi_eV_A4=phi
    )


def write_shengbte_fc4(path: str | os.PathLike, fc: ShengBTEFC4) -> Path:
    """Write ``fc`` in FourPhonon's FORCE_CONSTANTS_4TH layout (10 decimals)."""
    R = [np.asarray(r, float) for r in (fc.R2_A, fc.R3_A, fc.R4_A)]
    atoms, phi = np.asarray(fc.atoms), np.asarray(fc.phi_eV_A4, float)
    _check_arrays("ShengBTEFC4", 4, R, atoms, phi)
    path = Path(path)
    atomic_write_text(path, _format_blocks(np.stack(R, axis=1), atoms, phi))
    return path
