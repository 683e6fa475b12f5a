"""Plain-numpy reference evaluation of an MTP: site energies and pair gradients.

Own code, written for clarity rather than speed: pair terms are vectorised over all
neighbour pairs, the moment contractions loop in Python over the product list with numpy
vectors over atoms, and derivatives are taken in reverse mode (adjoints of the moments).
It is the parity reference for the compiled kernel in ``mtp_kernel``.

``repulsive=True`` evaluates MLIP-3's ``RBChebyshev_repuls`` basis instead (as MLIP-3's
``RB_Chebyshev_repuls`` and ``MLMTPR::CalcSiteEnergyDers`` define it, directly in the radial
functions; the calculator's compiled kernels get it through ``repulsion``): for a pair closer than ``min_dist`` the radial basis takes its value at
``min_dist`` with zero radial derivative (the angular part still uses the true direction), and
each such neighbour adds ``REPULSION_EV * (exp(-10 (r - 1)) - exp(-10 (min_dist - 1)))`` to the
centre's site energy (r in A; MLIP-3's fixed constants).
"""

from __future__ import annotations

import numpy as np

from incipient.potentials.mtp_tables import MTPTables
from incipient.potentials.repulsion import REPULSION_DECAY_PER_A, REPULSION_EV, repulsion_energy_eV


def radial_functions(t: MTPTables, r: np.ndarray, ti: np.ndarray, tj: np.ndarray, *, repulsive: bool = False):
    """R_mu(r) and dR_mu/dr for pairs: two arrays (n_radial_funcs, P).

    ``repulsive``: MLIP-3's ``RBChebyshev_repuls`` (r clamped to ``min_dist``, derivative 0 there).
    """
    nb = t.radial_coeffs.shape[3]
    close = r < t.min_dist if repulsive else np.zeros(r.shape, dtype=bool)
    r = np.where(close, t.min_dist, r)
    s = (2.0 * r - (t.min_dist + t.max_dist)) / (t.max_dist - t.min_dist)
    d = 2.0 / (t.max_dist - t.min_dist)
    T = np.zeros((nb, r.size))
    dT = np.zeros((nb, r.size))
    T[0] = 1.0
    if nb > 1:
        T[1] = s
        dT[1] = d
    for k in range(2, nb):
        T[k] = 2.0 * s * T[k - 1] - T[k - 2]
        dT[k] = 2.0 * (d * T[k - 1] + s * dT[k - 1]) - dT[k - 2]
    inside = r < t.max_dist
    sm = np.where(inside, t.scaling * (t.max_dist - r) ** 2, 0.0)
    dsm = np.where(inside, -2.0 * t.scaling * (t.max_dist - r), 0.0)
    c = t.radial_coeffs[ti, tj]  # (P, nf, nb)
    fv = np.einsum("pmk,kp->mp", c, T)
    fd = np.einsum("pmk,kp->mp", c, dT)
    return fv * sm, np.where(close, 0.0, fd * sm + fv * dsm)


def evaluate(t: MTPTables, types: np.ndarray, centre: np.ndarray, neighbour: np.ndarray,
             vectors: np.ndarray, *, repulsive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Site energies (N,) eV and pair gradients dE_centre/d(r_pair) (P, 3) eV/A.

    ``vectors[p] = r[neighbour[p]] - r[centre[p]]`` (with periodic shift), full neighbour list.
    ``repulsive``: MLIP-3's ``RBChebyshev_repuls`` basis and pair repulsion (module docstring).
    """
    N = types.size
    r = np.linalg.norm(vectors, axis=1)
    u = vectors / r[:, None]
    ti, tj = types[centre], types[neighbour]
    Rv, Rd = radial_functions(t, r, ti, tj, repulsive=repulsive)
    pw = t.mono_pow
    upow = [np.stack([u[:, c] ** e for e in range(pw.max() + 1)]) for c in range(3)]

    def mono(a):
        return upow[0][a[0]] * upow[1][a[1]] * upow[2][a[2]]

    V = np.zeros((t.n_moments, N))
    for b in range(t.n_basic):
        a = pw[t.basic_mono[b]]
        V[b] = np.bincount(centre, weights=Rv[t.basic_mu[b]] * mono(a), minlength=N)
    for (i1, i2, i3), mult in zip(t.times, t.times_mult, strict=True):
        V[i3] += mult * V[i1] * V[i2]
    E = t.species_coeffs[types] + t.moment_coeffs @ V[t.mapping]

    A = np.zeros_like(V)
    np.add.at(A, t.mapping, np.repeat(t.moment_coeffs[:, None], N, axis=1))
    for (i1, i2, i3), mult in zip(t.times[::-1], t.times_mult[::-1], strict=True):
        a = mult * A[i3]
        A[i1] += a * V[i2]
        A[i2] += a * V[i1]

    G = np.zeros_like(vectors)
    for b in range(t.n_basic):
        g = A[b, centre]
        mu = t.basic_mu[b]
        a = pw[t.basic_mono[b]]
        m = mono(a)
        k = a.sum()
        # d/dr [R(r) u^a] = R' u^a u + (R / r) (grad_u u^a - k u^a u)
        grad_u = np.zeros_like(vectors)
        for c in range(3):
            if a[c] > 0:
                low = a.copy()
                low[c] -= 1
                grad_u[:, c] = a[c] * mono(low)
        G += g[:, None] * (
            (Rd[mu] * m)[:, None] * u
            + (Rv[mu] / r)[:, None] * (grad_u - (k * m)[:, None] * u)
        )
    if repulsive:
        close = r < t.min_dist
        if close.any():
            a = REPULSION_DECAY_PER_A
            e = repulsion_energy_eV(r[close], t.min_dist)
            E = E + np.bincount(centre[close], weights=e, minlength=N)
            G[close] += (-a * REPULSION_EV * np.exp(-a * (r[close] - 1.0)))[:, None] * u[close]
    return E, G
