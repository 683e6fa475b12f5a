"""Full neighbour lists in CSR form (pairs sorted by centre atom), computed with vesin.

Wraps vesin (a maintained C++ cell-list library); falls back to ASE's neighbour list for
cells vesin cannot handle (partly periodic systems).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _csr(i, j, D, n):
    """Counting sort of pairs by centre atom: (offsets, neighbours, vectors)."""
    counts = np.zeros(n + 1, dtype=np.int64)
    for p in range(i.shape[0]):
        counts[i[p] + 1] += 1
    for k in range(n):
        counts[k + 1] += counts[k]
    fill = counts[:-1].copy()
    nbr = np.empty(i.shape[0], dtype=np.int64)
    vec = np.empty((i.shape[0], 3))
    for p in range(i.shape[0]):
        q = fill[i[p]]
        fill[i[p]] += 1
        nbr[q] = j[p]
        vec[q, 0] = D[p, 0]
        vec[q, 1] = D[p, 1]
        vec[q, 2] = D[p, 2]
    return counts, nbr, vec


def neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc, cutoff_A: float):
    """Return (offsets (N+1,), neighbours (P,), vectors (P, 3)) for all pairs within cutoff.

    ``vectors[p] = r[neighbours[p]] - r[i] + shift`` for centre i in offsets[i]:offsets[i+1].
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    n = positions.shape[0]
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if pbc.all() or not pbc.any():
        from vesin import NeighborList

        box = np.ascontiguousarray(cell, dtype=np.float64) if pbc.all() else np.zeros((3, 3))
        nl = NeighborList(cutoff=float(cutoff_A), full_list=True, sorted=False)
        i, j, D = nl.compute(points=positions, box=box, periodic=bool(pbc.all()), quantities="ijD")
    else:
        from ase.neighborlist import primitive_neighbor_list

        i, j, D = primitive_neighbor_list("ijD", pbc, cell, positions, float(cutoff_A))
    return _csr(np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64),
                np.ascontiguousarray(D, dtype=np.float64), n)
