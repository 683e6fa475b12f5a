"""Map ShengBTE sparse third-order force constants onto phono3py's compact fc3 array.

Own code (no library converts FORCE_CONSTANTS_3RD to phono3py): each ShengBTE triplet
(atom i in the home cell, atom j in cell R2, atom k in cell R3) is placed at
``fc3[i, s(j, R2), s(k, R3)]`` of phono3py's compact layout (n_prim, N, N, 3, 3, 3), where
``s(j, R)`` is the supercell atom at ``r_j + R`` modulo the supercell lattice. Nothing dense of
size N^3 is built (324 atoms: the compact array is 12 x 324 x 324 x 27 doubles = 272 MB,
the full one 7.3 GB).

Sum rules. A ShengBTE file lists only triplets inside the cutoff, fitted/computed in its own
supercell; mapped onto a phono3py supercell it need not satisfy the acoustic sum rule
sum_k Phi(i, j, k) = 0 exactly. ``sum_rules="none"`` keeps the published numbers and only
reports the drift (phono3py's ``get_drift_fc3``); ``"translational"`` applies phono3py's
traditional symmetrisation (translational invariance and index permutation, alternated
``level`` times) -- this spreads small corrections over all N atoms and so makes the array
dense, which disables the sparsity mask. Conductivities are reported with the raw published fc3
unless stated; the drift printed alongside shows how large the violation is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from incipient.lattice.shengbte import ShengBTEFC3

__all__ = ["ConvertedFC3", "fc3_drift", "shengbte_fc3_to_phono3py"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ConvertedFC3:
    """Compact phono3py fc3 built from a ShengBTE file.

    fc3: (n_prim, N, N, 3, 3, 3) eV/A^3. nonzero_indices: (n_prim, N, N) byte mask of atom
    triplets present in the file (phono3py's ``fc3_nonzero_indices``; None after a densifying
    symmetrisation). n_collisions: triplets that landed on an already filled (i, s2, s3) entry
    (periodic images; their values are summed). drift_before/drift_after_eV_A3: max |sum rule
    violation| (phono3py ``get_drift_fc3``, max over the three summed indices).
    """

    fc3: np.ndarray
    nonzero_indices: np.ndarray | None
    n_collisions: int
    drift_before_eV_A3: float
    drift_after_eV_A3: float


def _supercell_index(cart: np.ndarray, sc_cell: np.ndarray, sc_frac: np.ndarray, tol: float) -> np.ndarray:
    """Index of the supercell atom at each Cartesian position (modulo the supercell lattice)."""
    frac = cart @ np.linalg.inv(sc_cell)
    d = frac[:, None, :] - sc_frac[None, :, :]
    d -= np.rint(d)
    dist = np.linalg.norm(d @ sc_cell, axis=-1)  # (n, N) Angstrom
    idx = np.argmin(dist, axis=1)
    worst = dist[np.arange(len(idx)), idx]
    if np.any(worst > tol):
        bad = int(np.argmax(worst))
        raise ValueError(
            f"ShengBTE atom position {cart[bad]} (A) matches no supercell atom within {tol} A "
            f"(closest {worst[bad]:.3g} A): is the phono3py primitive cell the CONTROL cell?"
        )
    return idx


def fc3_drift(fc3: np.ndarray, primitive) -> float:
    """Largest acoustic-sum-rule violation of a (compact or full) fc3 in eV/A^3 (phono3py)."""
    from phono3py.phonon3.fc3 import get_drift_fc3

    d = get_drift_fc3(fc3, primitive=primitive if fc3.shape[0] != fc3.shape[1] else None)
    return float(max(abs(d[0]), abs(d[1]), abs(d[2])))


def shengbte_fc3_to_phono3py(fc3: ShengBTEFC3, phono3py_obj, *, sum_rules: str = "none",
                             level: int = 3, tol_A: float = 1e-3) -> ConvertedFC3:
    """ShengBTE triplets -> compact phono3py fc3 for ``phono3py_obj``'s supercell.

    ``phono3py_obj`` must use the ShengBTE primitive cell with the same atom order and lattice
    vectors (``make_phono3py(read_shengbte_control(...)[0], scell)`` does). ``sum_rules`` is
    "none" (keep published values, report drift) or "translational" (phono3py traditional
    symmetrisation, ``level`` rounds; dense result).
    """
    if sum_rules not in ("none", "translational"):
        raise ValueError(f"sum_rules must be 'none' or 'translational', got {sum_rules!r}")
    prim = phono3py_obj.primitive
    sc = phono3py_obj.supercell
    n_prim, n_sc = len(prim), len(sc)
    if fc3.atoms.size and fc3.atoms.max() >= n_prim:
        raise ValueError(f"ShengBTE fc3 refers to atom {fc3.atoms.max() + 1} but the primitive cell has {n_prim}")
    prim_cell = np.asarray(prim.cell)
    for name, R in (("R2_A", fc3.R2_A), ("R3_A", fc3.R3_A)):
        n = R @ np.linalg.inv(prim_cell)
        off = np.abs(n - np.rint(n)).max() if len(n) else 0.0
        if off > 1e-4:
            raise ValueError(f"ShengBTE {name} vectors are not lattice vectors of the phono3py primitive "
                             f"cell (off by {off:.3g} in reduced units)")
    prim_cart = np.asarray(prim.positions)
    sc_cell, sc_frac = np.asarray(sc.cell), np.asarray(sc.scaled_positions)
    p2s = np.asarray(prim.p2s_map)
    i, j, k = fc3.atoms.T
    # phono3py's supercell atom p2s[i] may sit at an image of primitive atom i (a unit cell with
    # fractional positions outside [0, 1) is wrapped differently in the primitive and the
    # supercell): place atoms 2 and 3 relative to where atom 1 actually is
    shift = np.asarray(sc.positions)[p2s] - prim_cart  # (n_prim, 3) lattice vectors
    s2 = _supercell_index(prim_cart[j] + fc3.R2_A + shift[i], sc_cell, sc_frac, tol_A)
    s3 = _supercell_index(prim_cart[k] + fc3.R3_A + shift[i], sc_cell, sc_frac, tol_A)
    out = np.zeros((n_prim, n_sc, n_sc, 3, 3, 3))
    mask = np.zeros((n_prim, n_sc, n_sc), dtype="byte")
    flat = i * n_sc * n_sc + s2 * n_sc + s3
    _, counts = np.unique(flat, return_counts=True)
    n_coll = int(np.sum(counts - 1))
    np.add.at(out, (i, s2, s3), fc3.phi_eV_A3)
    mask[i, s2, s3] = 1
    if n_coll:
        log.warning("%d ShengBTE triplets fall on the same supercell triplet (periodic images); summed", n_coll)
    drift0 = fc3_drift(out, prim)
    nonzero = mask
    if sum_rules == "translational":
        from phono3py.phonon3.fc3 import (
            set_permutation_symmetry_compact_fc3,
            set_translational_invariance_compact_fc3,
        )

        for _ in range(level):
            set_translational_invariance_compact_fc3(out, prim)
            set_permutation_symmetry_compact_fc3(out, prim)
        set_translational_invariance_compact_fc3(out, prim)
        nonzero = None
    drift1 = fc3_drift(out, prim)
    log.info("fc3 from ShengBTE: %d triplets, drift %.3g -> %.3g eV/A^3", fc3.n_blocks, drift0, drift1)
    return ConvertedFC3(fc3=out, nonzero_indices=nonzero, n_collisions=n_coll,
                        drift_before_eV_A3=drift0, drift_after_eV_A3=drift1)
