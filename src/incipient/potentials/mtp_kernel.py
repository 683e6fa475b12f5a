"""Compiled (numba) MTP kernel: site energies and pair gradients for all atoms.

Own code, written for speed (no packaged engine is fast enough; motep's C engine is the
reference). Layout choices: the pair terms of one atom are vectorised over its neighbours;
the moment contractions (about 15,000 products for a level-22 MTP) run for a block of atoms
at once with the atoms in the innermost, contiguous axis so that every product is a SIMD
operation; derivatives are taken in reverse mode (one adjoint sweep over the products), so the
cost per atom is about three times that of the energy alone. Blocks run in parallel threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 16  # atoms per block: the innermost, SIMD axis of the moment contractions


@njit(cache=True, fastmath=True, inline="always")
def _pair_terms(i, ti, offsets, nbr, vecs, types, rc, min_d, max_d, scaling, mono_parent,
                mono_dir, r, U, Rv, Rd, mono, T, dT):
    """Fill r, U (3, nn), Rv/Rd (nf, nn) and monomials (n_mono, nn) for the neighbours of i."""
    start = offsets[i]
    nn = offsets[i + 1] - start
    nf = rc.shape[2]
    nb = rc.shape[3]
    width = max_d - min_d
    d = 2.0 / width
    for q in range(nn):
        p = start + q
        x = vecs[p, 0]
        y = vecs[p, 1]
        z = vecs[p, 2]
        rr = np.sqrt(x * x + y * y + z * z)
        r[q] = rr
        U[0, q] = x / rr
        U[1, q] = y / rr
        U[2, q] = z / rr
        s = (2.0 * rr - (min_d + max_d)) / width
        T[0] = 1.0
        dT[0] = 0.0
        if nb > 1:
            T[1] = s
            dT[1] = d
        for k in range(2, nb):
            T[k] = 2.0 * s * T[k - 1] - T[k - 2]
            dT[k] = 2.0 * (d * T[k - 1] + s * dT[k - 1]) - dT[k - 2]
        if rr < max_d:
            sm = scaling * (max_d - rr) * (max_d - rr)
            dsm = -2.0 * scaling * (max_d - rr)
        else:
            sm = 0.0
            dsm = 0.0
        tj = types[nbr[p]]
        for mu in range(nf):
            fv = 0.0
            fd = 0.0
            for k in range(nb):
                c = rc[ti, tj, mu, k]
                fv += c * T[k]
                fd += c * dT[k]
            Rv[mu, q] = fv * sm
            Rd[mu, q] = fd * sm + fv * dsm
    for q in range(nn):
        mono[0, q] = 1.0
    for m in range(1, mono.shape[0]):
        src = mono[mono_parent[m]]
        uc = U[mono_dir[m]]
        dst = mono[m]
        for q in range(nn):
            dst[q] = src[q] * uc[q]
    return nn


@njit(cache=True, fastmath=True, parallel=True)
def site_energies_and_gradients(offsets, nbr, vecs, types, rc, min_d, max_d, scaling,
                                mono_parent, mono_dir, mono_pow, mono_lower, basic_mu,
                                basic_mono, times, times_mult, n_moments, mapping,
                                moment_coeffs, species_coeffs):
    """Site energies E (N,) and pair gradients G (P, 3) = dE_centre / d vecs[p].

    ``offsets`` (N+1,) CSR row pointers of the full neighbour list sorted by centre atom;
    ``nbr`` (P,) neighbour indices; ``vecs`` (P, 3) r_neighbour - r_centre (Angstrom).
    """
    N = types.shape[0]
    P = nbr.shape[0]
    E = np.zeros(N)
    G = np.zeros((P, 3))
    maxnn = 1
    for i in range(N):
        maxnn = max(maxnn, offsets[i + 1] - offsets[i])
    nf = rc.shape[2]
    nb = rc.shape[3]
    n_mono = mono_pow.shape[0]
    n_basic = basic_mu.shape[0]
    n_times = times.shape[0]
    n_scalar = mapping.shape[0]
    nblocks = (N + BLOCK - 1) // BLOCK
    for blk in prange(nblocks):
        a0 = blk * BLOCK
        nat = min(N, a0 + BLOCK) - a0
        V = np.zeros((n_moments, BLOCK))
        A = np.zeros((n_moments, BLOCK))
        r = np.empty(maxnn)
        U = np.empty((3, maxnn))
        Rv = np.empty((nf, maxnn))
        Rd = np.empty((nf, maxnn))
        mono = np.empty((n_mono, maxnn))
        W = np.empty((n_mono, maxnn))
        S = np.empty(maxnn)
        Y = np.empty((nf, maxnn))
        gu = np.empty((3, maxnn))
        T = np.empty(nb)
        dT = np.empty(nb)
        # basic moments of each atom of the block
        for s_ in range(nat):
            i = a0 + s_
            nn = _pair_terms(i, types[i], offsets, nbr, vecs, types, rc, min_d, max_d, scaling,
                             mono_parent, mono_dir, r, U, Rv, Rd, mono, T, dT)
            for b in range(n_basic):
                rv = Rv[basic_mu[b]]
                mo = mono[basic_mono[b]]
                acc = 0.0
                for q in range(nn):
                    acc += rv[q] * mo[q]
                V[b, s_] = acc
        # products, vectorised over the block
        for t in range(n_times):
            i1 = times[t, 0]
            i2 = times[t, 1]
            i3 = times[t, 2]
            mult = times_mult[t]
            for s_ in range(BLOCK):
                V[i3, s_] += mult * V[i1, s_] * V[i2, s_]
        for k in range(n_scalar):
            mk = mapping[k]
            ck = moment_coeffs[k]
            for s_ in range(BLOCK):
                A[mk, s_] += ck
        for s_ in range(nat):
            e = species_coeffs[types[a0 + s_]]
            for k in range(n_scalar):
                e += moment_coeffs[k] * V[mapping[k], s_]
            E[a0 + s_] = e
        # adjoint sweep
        for t in range(n_times - 1, -1, -1):
            i1 = times[t, 0]
            i2 = times[t, 1]
            i3 = times[t, 2]
            mult = times_mult[t]
            for s_ in range(BLOCK):
                a = mult * A[i3, s_]
                A[i1, s_] += a * V[i2, s_]
                A[i2, s_] += a * V[i1, s_]
        # pair gradients of each atom
        for s_ in range(nat):
            i = a0 + s_
            nn = _pair_terms(i, types[i], offsets, nbr, vecs, types, rc, min_d, max_d, scaling,
                             mono_parent, mono_dir, r, U, Rv, Rd, mono, T, dT)
            for m in range(n_mono):
                for q in range(nn):
                    W[m, q] = 0.0
            for mu in range(nf):
                for q in range(nn):
                    Y[mu, q] = 0.0
            for q in range(nn):
                S[q] = 0.0
                gu[0, q] = 0.0
                gu[1, q] = 0.0
                gu[2, q] = 0.0
            for b in range(n_basic):
                g = A[b, s_]
                mu = basic_mu[b]
                m = basic_mono[b]
                wm = W[m]
                rv = Rv[mu]
                for q in range(nn):
                    wm[q] += g * rv[q]
                # Y[mu] = sum_m A[mu, m] mono[m]; then S = sum_mu Rd[mu] * Y[mu]
                y = Y[mu]
                mo = mono[m]
                for q in range(nn):
                    y[q] += g * mo[q]
            for mu in range(nf):
                y = Y[mu]
                rd = Rd[mu]
                for q in range(nn):
                    S[q] += rd[q] * y[q]
            for m in range(1, n_mono):
                wm = W[m]
                for c in range(3):
                    e = mono_pow[m, c]
                    if e > 0:
                        lo = mono[mono_lower[m, c]]
                        g_ = gu[c]
                        fe = float(e)
                        for q in range(nn):
                            g_[q] += fe * wm[q] * lo[q]
            start = offsets[i]
            for q in range(nn):
                dot = U[0, q] * gu[0, q] + U[1, q] * gu[1, q] + U[2, q] * gu[2, q]
                inv = 1.0 / r[q]
                for c in range(3):
                    G[start + q, c] = S[q] * U[c, q] + (gu[c, q] - dot * U[c, q]) * inv
    return E, G


@njit(cache=True)
def forces_and_virials(offsets, nbr, vecs, G, n_atoms, want_virials):
    """Forces (N, 3) eV/A and centroid per-atom virials (N, 3, 3) eV from pair gradients.

    Pair p (centre i, neighbour j) adds ``vecs[p] (x) G[p]`` to the virial of atom j:
    W_j = sum_i r_ij (x) dE_i/dr_j, the many-body form needed for the heat current.
    """
    F = np.zeros((n_atoms, 3))
    Wv = np.zeros((n_atoms if want_virials else 0, 3, 3))
    for i in range(n_atoms):
        for p in range(offsets[i], offsets[i + 1]):
            j = nbr[p]
            for a in range(3):
                F[i, a] += G[p, a]
                F[j, a] -= G[p, a]
            if want_virials:
                for a in range(3):
                    for b in range(3):
                        Wv[j, a, b] += vecs[p, a] * G[p, b]
    return F, Wv
