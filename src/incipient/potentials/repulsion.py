"""MLIP-3's ``RBChebyshev_repuls`` basis on top of any plain-Chebyshev kernel (own code, numpy).

For a pair closer than ``min_dist`` that basis takes the radial functions' value at ``min_dist``
with zero radial derivative (the angular part keeps the true direction), and each such
neighbour adds ``REPULSION_EV (exp(-10 (r - 1)) - exp(-10 (min_dist - 1)))`` eV to the centre's
site energy (``mtp_numpy`` evaluates this directly and is the reference).

The compiled kernels need no change for it: a close pair's vector v is handed to them shortened
to ``min_dist`` along its own direction, v' = v min_dist / r, so their radial functions are
evaluated at exactly ``min_dist`` and the monomials at the true direction: the site energies are
exact. Their pair gradient G' = dE/dv' then holds the radial derivative at ``min_dist`` along u,
which the frozen basis does not have, and is taken at |v'| instead of r. E depends on a close v
only through u = v / r, so the true gradient is dE/dv = (I - u u) G' min_dist / r. The pair
repulsion is then added to the energies and gradients. Only pairs below ``min_dist`` (rare in
MD: the hard core of a potential trained with this basis) take this path; when there is none
the kernels' result is used as it is.
"""

from __future__ import annotations

import numpy as np

#: MLIP-3's prefactor (eV) and decay (1/A) of the RBChebyshev_repuls pair repulsion below min_dist
REPULSION_EV = 1.0e4
REPULSION_DECAY_PER_A = 10.0


def close_pairs(vecs: np.ndarray, min_dist_A: float) -> np.ndarray:
    """Indices of the pairs (rows of ``vecs``, A) shorter than ``min_dist_A``."""
    return np.flatnonzero(np.einsum("pc,pc->p", vecs, vecs) < min_dist_A * min_dist_A)


def clamped_vectors(vecs: np.ndarray, close: np.ndarray, min_dist_A: float) -> np.ndarray:
    """A copy of the pair vectors with the ``close`` ones shortened to ``min_dist_A`` (same direction)."""
    out = np.array(vecs, dtype=np.float64, copy=True)
    r = np.linalg.norm(out[close], axis=1)
    out[close] *= (min_dist_A / r)[:, None]
    return out


def repulsion_energy_eV(r_A: np.ndarray, min_dist_A: float) -> np.ndarray:
    """The pair repulsion (eV) of neighbours at distances ``r_A`` < ``min_dist_A``."""
    a = REPULSION_DECAY_PER_A
    return REPULSION_EV * (np.exp(-a * (r_A - 1.0)) - np.exp(-a * (min_dist_A - 1.0)))


def correct(E: np.ndarray, G: np.ndarray, centre_of_pair: np.ndarray, vecs: np.ndarray,
            close: np.ndarray, min_dist_A: float) -> tuple[np.ndarray, np.ndarray]:
    """Site energies (N,) eV and pair gradients (P, 3) eV/A of the repulsive basis.

    ``E``, ``G``: a plain kernel's result for :func:`clamped_vectors`; ``vecs``: the true pair
    vectors; ``centre_of_pair``: the centre atom of each pair in ``close``. Returns new arrays.
    """
    E = np.array(E, dtype=np.float64, copy=True)
    G = np.array(G, dtype=np.float64, copy=True)
    if close.size == 0:
        return E, G
    v = vecs[close]
    r = np.linalg.norm(v, axis=1)
    u = v / r[:, None]
    g = G[close]
    g = (g - np.einsum("pc,pc->p", g, u)[:, None] * u) * (min_dist_A / r)[:, None]
    a = REPULSION_DECAY_PER_A
    g += (-a * REPULSION_EV * np.exp(-a * (r - 1.0)))[:, None] * u
    G[close] = g
    E += np.bincount(centre_of_pair, weights=repulsion_energy_eV(r, min_dist_A), minlength=E.size)
    return E, G
