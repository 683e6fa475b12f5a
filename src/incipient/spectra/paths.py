"""Reciprocal-space paths in r.l.u. of a reference (conventional) cell and supercell commensurability.

Own code (a few lines of integer arithmetic). A periodic MD supercell with lattice vectors
``A_sup`` (rows) only carries density waves with ``Q . a_sup_i / (2 pi)`` integer, so S(Q,w)
from MD exists only on that grid: for an ``n1 x n2 x n3`` supercell of the reference cell the
allowed Q are the multiples of (1/n1, 1/n2, 1/n3) r.l.u. (the paper's 10x10x10 cell gives a
0.1 r.l.u. grid). Q is given in reciprocal-lattice units h of ``reference_cell`` and
``Q_cart = 2 pi h @ inv(reference_cell).T`` (1/A).
"""

from __future__ import annotations

from math import gcd

import numpy as np

# The paper's S(Q,w) paths (section 2.2, methods) in r.l.u. of the conventional Cmcm cell
# (x,y,z = a,b,c): Gamma at the start, running to the next zone boundary of the C-centred lattice.
PAPER_PATHS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "(7,7-K,0)": ((7.0, 7.0, 0.0), (7.0, 6.0, 0.0)),
    "(H,4,0)": ((0.0, 4.0, 0.0), (1.0, 4.0, 0.0)),
    "(0,8,-2+L)": ((0.0, 8.0, -2.0), (0.0, 8.0, -1.0)),
}


def rlu_to_cartesian(q_rlu, reference_cell) -> np.ndarray:
    """Q in r.l.u. of ``reference_cell`` (rows = lattice vectors, A) -> Cartesian 1/A (with 2 pi)."""
    q = np.atleast_2d(np.asarray(q_rlu, dtype=float))
    return 2.0 * np.pi * q @ np.linalg.inv(np.asarray(reference_cell, dtype=float)).T


def supercell_integers(q_cart, cell) -> np.ndarray:
    """``Q . a_i / (2 pi)`` for the lattice vectors a_i of ``cell``; integers when commensurate."""
    return np.atleast_2d(q_cart) @ np.asarray(cell, dtype=float).T / (2.0 * np.pi)


def check_commensurate(q_rlu, reference_cell, cell, *, tol: float = 1e-6) -> np.ndarray:
    """Return the integer supercell coordinates of Q; raise ValueError naming any Q not allowed."""
    q_rlu = np.atleast_2d(np.asarray(q_rlu, dtype=float))
    m = supercell_integers(rlu_to_cartesian(q_rlu, reference_cell), cell)
    bad = np.flatnonzero(np.any(np.abs(m - np.round(m)) > tol, axis=1))
    if bad.size:
        rep = np.linalg.solve(np.asarray(reference_cell, float).T, np.asarray(cell, float).T).T
        steps = 1.0 / np.abs(np.diag(rep)) if np.allclose(rep, np.diag(np.diag(rep))) else None
        hint = (f"the supercell allows Q on a grid of {np.round(steps, 6).tolist()} r.l.u."
                if steps is not None else "the supercell allows only Q with integer Q.a_sup/2pi")
        raise ValueError(
            f"{bad.size} of {len(q_rlu)} Q-points are not commensurate with the MD supercell "
            f"(first: {q_rlu[bad[0]].tolist()} r.l.u.); {hint}. Use commensurate_path().")
    return np.round(m).astype(np.int64)


def commensurate_path(start_rlu, end_rlu, reference_cell, cell) -> np.ndarray:
    """All Q on the segment start -> end (inclusive) that the supercell ``cell`` allows, (n, 3) r.l.u.

    Both end points must be commensurate; the spacing is the finest the supercell allows along
    the segment (e.g. 1/n2 r.l.u. along b* for an n1 x n2 x n3 supercell).
    """
    ends = check_commensurate([start_rlu, end_rlu], reference_cell, cell)
    d = ends[1] - ends[0]
    n = gcd(*(abs(int(x)) for x in d))
    if n == 0:
        return np.atleast_2d(np.asarray(start_rlu, dtype=float))
    m = ends[0][None, :] + np.arange(n + 1)[:, None] * (d // n)[None, :]
    # back to r.l.u.: h = m @ inv(cell).T ... via Q_cart = 2 pi m inv(cell).T
    q_cart = 2.0 * np.pi * m @ np.linalg.inv(np.asarray(cell, float)).T
    return q_cart @ np.asarray(reference_cell, float).T / (2.0 * np.pi)


def path_distance(q_rlu, reference_cell) -> np.ndarray:
    """Cumulative Cartesian distance (1/A) along a list of Q points (x axis of dispersion maps)."""
    qc = rlu_to_cartesian(q_rlu, reference_cell)
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(qc, axis=0), axis=1))])
