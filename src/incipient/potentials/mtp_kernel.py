"""Compiled (numba) MTP kernel: site energies and pair gradients for all atoms.

Own code, written for speed (no packaged engine is fast enough; motep's C engine is the
reference). Layout: atoms are taken in blocks of ``BLOCK`` = 64, and every array of the block
has the atoms in its innermost, contiguous axis, so that each operation of the algorithm is a
long SIMD row operation (measured: rows of 64 lanes cost about the same per row as rows of 16,
so wide rows amortise the per-row overhead; narrower, cache-resident rows were slower here).

* Pair terms are computed for one neighbour slot q of all atoms of the block at a time (slot q
  of atom s is its q-th neighbour; short atoms are padded with pairs beyond the cutoff, whose
  radial functions vanish), radial functions are kept for the adjoint pass, monomials are
  recomputed there. Monomials and basic moments are fused per monomial (the fresh monomial row
  is still in L1 when the basic moments that use it are accumulated).
* Moment products (about 15,000 for a level-22 MTP, topologically ordered and grouped by
  target) run as row operations over the block.
* Derivatives in reverse mode. The adjoint sweep over the products is in "pull" form: each
  moment's adjoint is accumulated from the products that consume it, in descending order, so the
  row being written stays in L1. In the pair adjoint, dE/dR_mu is folded as
  S = sum_mu R'_mu * Y_mu with Y_mu = sum_m A[mu, m] * monomial_m (six rows, not one per monomial).
* Atoms are blocked in order of neighbour count (the caller passes the order): the padding
  of short atoms up to the longest of their block drops from 14 % to 3 % of the pair work.
* Every row operation runs over all BLOCK lanes (a compile-time trip count, measured 3 % faster
  than a runtime one); a partial last block computes padding lanes that are never read back.
  Moment rows are assigned by their first product and adjoint rows by their seed, so neither
  array is cleared; scratch arrays are allocated once per thread, not per block.
* Blocks are dealt round-robin to the threads (``prange`` over threads).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 64  # atoms per block: the innermost, SIMD axis of every array of the kernel


@njit(cache=True, fastmath=True, inline="always")
def _monomial_row(mono, m, parent, u):
    """Monomial row m of a neighbour slot: its parent's row times one unit-vector component row."""
    for s in range(BLOCK):
        mono[m, s] = mono[parent, s] * u[s]


@njit(cache=True, fastmath=True, parallel=True)
def site_energies_and_gradients(offsets, nbr, vecs, types, rc, min_d, max_d, scaling,
                                mono_parent, mono_dir, mono_pow, mono_lower, basic_mu,
                                basic_mono, times, times_mult, n_moments, mapping,
                                moment_coeffs, species_coeffs,
                                mb_ptr, mb_idx, pull_ptr, pull_i3, pull_oth, pull_mult, order, n_threads):
    """Site energies E (N,) and pair gradients G (P, 3) = dE_centre / d vecs[p].

    ``offsets`` (N+1,) CSR row pointers of the full neighbour list sorted by centre atom;
    ``nbr`` (P,) neighbour indices; ``vecs`` (P, 3) r_neighbour - r_centre (Angstrom); the
    remaining arguments are the flat tables of :class:`incipient.potentials.mtp_tables.MTPTables`,
    ``order`` (N,), the atoms in the order they are blocked (sorted by neighbour count, so
    that a block pads few empty neighbour slots), and ``n_threads``, the numba threads to use.
    """
    N = types.shape[0]
    P = nbr.shape[0]
    E = np.zeros(N)
    G = np.zeros((P, 3))
    nf = rc.shape[2]
    nbasis = rc.shape[3]
    n_mono = mono_pow.shape[0]
    n_basic = basic_mu.shape[0]
    n_times = times.shape[0]
    n_scalar = mapping.shape[0]
    nblocks = (N + BLOCK - 1) // BLOCK
    seed = np.zeros(n_moments)
    for k in range(mapping.shape[0]):
        seed[mapping[k]] += moment_coeffs[k]
    width = max_d - min_d
    dch = 2.0 / width
    maxnn_all = 1
    for i in range(N):
        maxnn_all = max(maxnn_all, offsets[i + 1] - offsets[i])
    nthr = max(1, min(n_threads, nblocks))
    for ch in prange(nthr):
        V = np.empty((n_moments, BLOCK))
        A = np.empty((n_moments, BLOCK))

        rq = np.empty((maxnn_all, BLOCK))
        Uq = np.empty((maxnn_all, 3, BLOCK))
        Rvq = np.empty((maxnn_all, nf, BLOCK))
        Rdq = np.empty((maxnn_all, nf, BLOCK))
        mono = np.empty((n_mono, BLOCK))
        gu = np.empty((3, BLOCK))
        S = np.empty(BLOCK)
        w = np.empty(BLOCK)
        Y = np.empty((nf, BLOCK))
        T = np.empty(nbasis)
        dT = np.empty(nbasis)
        for blk in range(ch, nblocks, nthr):
            a0 = blk * BLOCK
            nat = min(N, a0 + BLOCK) - a0
            for b in range(n_basic):
                for s in range(BLOCK):
                    V[b, s] = 0.0
            maxnn = 0
            for s in range(nat):
                i = order[a0 + s]
                maxnn = max(maxnn, offsets[i + 1] - offsets[i])
            for q in range(maxnn):
                U = Uq[q]
                Rv = Rvq[q]
                Rd = Rdq[q]
                for s in range(BLOCK):
                    valid = False
                    if s < nat:
                        i = order[a0 + s]
                        p = offsets[i] + q
                        valid = p < offsets[i + 1]
                    if valid:
                        x = vecs[p, 0]
                        yy = vecs[p, 1]
                        z = vecs[p, 2]
                        ti = types[i]
                        tj = types[nbr[p]]
                    else:
                        x = 0.0
                        yy = 0.0
                        z = 2.0 * max_d
                        ti = 0
                        tj = 0
                    rr = np.sqrt(x * x + yy * yy + z * z)
                    rq[q, s] = rr
                    U[0, s] = x / rr
                    U[1, s] = yy / rr
                    U[2, s] = z / rr
                    sx = (2.0 * rr - (min_d + max_d)) / width
                    T[0] = 1.0
                    dT[0] = 0.0
                    if nbasis > 1:
                        T[1] = sx
                        dT[1] = dch
                    for k in range(2, nbasis):
                        T[k] = 2.0 * sx * T[k - 1] - T[k - 2]
                        dT[k] = 2.0 * (dch * T[k - 1] + sx * dT[k - 1]) - dT[k - 2]
                    if rr < max_d:
                        sm = scaling * (max_d - rr) * (max_d - rr)
                        dsm = -2.0 * scaling * (max_d - rr)
                    else:
                        sm = 0.0
                        dsm = 0.0
                    for mu in range(nf):
                        fv = 0.0
                        fd = 0.0
                        for k in range(nbasis):
                            c = rc[ti, tj, mu, k]
                            fv += c * T[k]
                            fd += c * dT[k]
                        Rv[mu, s] = fv * sm
                        Rd[mu, s] = fd * sm + fv * dsm
                # monomials and basic moments, fused per monomial
                for s in range(BLOCK):
                    mono[0, s] = 1.0
                for m in range(n_mono):
                    if m > 0:
                        _monomial_row(mono, m, mono_parent[m], U[mono_dir[m]])
                    for j in range(mb_ptr[m], mb_ptr[m + 1]):
                        b = mb_idx[j]
                        mu = basic_mu[b]
                        for s in range(BLOCK):
                            V[b, s] += Rv[mu, s] * mono[m, s]
            for t in range(n_times):
                i1 = times[t, 0]
                i2 = times[t, 1]
                i3 = times[t, 2]
                mult = times_mult[t]
                if t == 0 or times[t - 1, 2] != i3:
                    for s in range(BLOCK):
                        V[i3, s] = mult * V[i1, s] * V[i2, s]
                else:
                    for s in range(BLOCK):
                        V[i3, s] += mult * V[i1, s] * V[i2, s]
            for s in range(nat):
                i = order[a0 + s]
                e = species_coeffs[types[i]]
                for k in range(n_scalar):
                    e += moment_coeffs[k] * V[mapping[k], s]
                E[i] = e
            # adjoints, pull form: A[k] += sum over products with input k of mult A[i3] V[other]
            for k in range(n_moments - 1, -1, -1):
                sk = seed[k]
                for s in range(BLOCK):
                    A[k, s] = sk
                for j in range(pull_ptr[k], pull_ptr[k + 1]):
                    i3 = pull_i3[j]
                    o = pull_oth[j]
                    mult = pull_mult[j]
                    for s in range(BLOCK):
                        A[k, s] += mult * A[i3, s] * V[o, s]
            for q in range(maxnn):
                U = Uq[q]
                Rv = Rvq[q]
                Rd = Rdq[q]
                for s in range(BLOCK):
                    mono[0, s] = 1.0
                    gu[0, s] = 0.0
                    gu[1, s] = 0.0
                    gu[2, s] = 0.0
                for mu in range(nf):
                    for s in range(BLOCK):
                        Y[mu, s] = 0.0
                for m in range(n_mono):
                    if m > 0:
                        _monomial_row(mono, m, mono_parent[m], U[mono_dir[m]])
                    j0 = mb_ptr[m]
                    j1 = mb_ptr[m + 1]
                    if j1 == j0:
                        continue
                    b = mb_idx[j0]
                    mu = basic_mu[b]
                    for s in range(BLOCK):
                        w[s] = A[b, s] * Rv[mu, s]
                        Y[mu, s] += A[b, s] * mono[m, s]
                    for j in range(j0 + 1, j1):
                        b = mb_idx[j]
                        mu = basic_mu[b]
                        for s in range(BLOCK):
                            w[s] += A[b, s] * Rv[mu, s]
                            Y[mu, s] += A[b, s] * mono[m, s]
                    for c in range(3):
                        e = mono_pow[m, c]
                        if e > 0:
                            lo = mono_lower[m, c]
                            fe = float(e)
                            for s in range(BLOCK):
                                gu[c, s] += fe * w[s] * mono[lo, s]
                for s in range(BLOCK):
                    S[s] = 0.0
                for mu in range(nf):
                    for s in range(BLOCK):
                        S[s] += Rd[mu, s] * Y[mu, s]
                for s in range(nat):
                    i = order[a0 + s]
                    p = offsets[i] + q
                    if p < offsets[i + 1]:
                        ux = U[0, s]
                        uy = U[1, s]
                        uz = U[2, s]
                        dot = ux * gu[0, s] + uy * gu[1, s] + uz * gu[2, s]
                        inv = 1.0 / rq[q, s]
                        G[p, 0] = S[s] * ux + (gu[0, s] - dot * ux) * inv
                        G[p, 1] = S[s] * uy + (gu[1, s] - dot * uy) * inv
                        G[p, 2] = S[s] * uz + (gu[2, s] - dot * uz) * inv
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
