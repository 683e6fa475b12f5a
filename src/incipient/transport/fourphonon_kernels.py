"""Numba kernels behind :mod:`incipient.transport.fourphonon` (own code; plain-array interfaces).

Three kernels, compiled once and cached on disk:

* ``build_reciprocal_fc4``: X[b0, J, K, L] = sum_n phase_n T[b0, n, beta gamma delta] scattered to
  J = 3 j_n + beta, K = 3 k_n + gamma, L = 3 l_n + delta (fc4 contracted with the eigenvector of
  the scattered mode, Fourier-transformed to the three slot wavevectors of one q-pair).
* ``energy_patterns``: for every band triple of a q-pair, the seven role assignments of the
  three slot phonons (3 x "++", 3 x "+-", 1 x "--"), their signed frequency sums and smearing
  widths.
* ``accumulate_pair``: the Bose-weighted, Gaussian-smeared |V|^2 sum of one q-pair for every
  scattered band and temperature.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# role patterns: signs (s_a, s_b, s_c) of the slot frequencies in omega_0 + sum s_x omega_x = 0,
# and the class (0: ++, 1: +-, 2: --). "++": two absorbed with the mode, one emitted;
# "+-": one absorbed, two emitted; "--": three emitted.
PATTERN_SIGNS = np.array(
    [[1, 1, -1], [1, -1, 1], [-1, 1, 1],      # ++ with the emitted phonon in slot c, b, a
     [1, -1, -1], [-1, 1, -1], [-1, -1, 1],   # +- with the absorbed phonon in slot a, b, c
     [-1, -1, -1]],                           # --
    dtype=np.int64,
)
PATTERN_CLASS = np.array([0, 0, 0, 1, 1, 1, 2], dtype=np.int64)


@njit(cache=True, parallel=True)
def build_reciprocal_fc4(T, phase, jj, kk, ll, X):  # pragma: no cover - compiled
    nb0 = T.shape[0]
    nquart = T.shape[1]
    for b in prange(nb0):
        X[b, :, :, :] = 0.0
        for n in range(nquart):
            p = phase[n]
            j0 = jj[n]
            k0 = kk[n]
            l0 = ll[n]
            for beta in range(3):
                for gamma in range(3):
                    for delta in range(3):
                        X[b, j0 + beta, k0 + gamma, l0 + delta] += p * T[b, n, 9 * beta + 3 * gamma + delta]


@njit(cache=True, parallel=True)
def energy_patterns(wa, wb, wc, va, vb, vc, valid_a, valid_b, valid_c, signs, gmat,
                    adaptive, sigma_fixed, scalebroad, sigma_min, omega_sum, sigma):  # pragma: no cover
    """omega_sum[ja, jb, jc, p] = sum_x s_x w_x; sigma[...] smearing width (0 marks invalid)."""
    nb = wa.shape[0]
    npat = signs.shape[0]
    for ja in prange(nb):
        for jb in range(nb):
            for jc in range(nb):
                ok = valid_a[ja] and valid_b[jb] and valid_c[jc]
                for p in range(npat):
                    sa = signs[p, 0]
                    sb = signs[p, 1]
                    sc = signs[p, 2]
                    omega_sum[ja, jb, jc, p] = sa * wa[ja] + sb * wb[jb] + sc * wc[jc]
                    if not ok:
                        sigma[ja, jb, jc, p] = 0.0
                        continue
                    if not adaptive:
                        sigma[ja, jb, jc, p] = sigma_fixed
                        continue
                    # ShengBTE base_sigma for each pairwise velocity difference, symmetrised over
                    # the three choices of the dependent slot: (2/3) sum over pairs
                    s2 = 0.0
                    for pair in range(3):
                        for i in range(3):
                            d = 0.0
                            for x in range(3):
                                if pair == 0:
                                    g = sa * va[ja, x] - sb * vb[jb, x]
                                elif pair == 1:
                                    g = sa * va[ja, x] - sc * vc[jc, x]
                                else:
                                    g = sb * vb[jb, x] - sc * vc[jc, x]
                                d += g * gmat[i, x]
                            s2 += d * d
                    s = scalebroad * np.sqrt(s2 / 6.0 * 2.0 / 3.0)
                    sigma[ja, jb, jc, p] = max(s, sigma_min)


@njit(cache=True, parallel=True)
def accumulate_pair(V, w0, valid0, wa, wb, wc, na, nb_, nc, omega_sum, sigma, pattern_class,
                    adaptive, cutoff_sigmas, out_ja):  # pragma: no cover - compiled
    """out_ja[ja, t, class, b0] = sum over (jb, jc, pattern) of |V|^2 F delta / (w0 wa wb wc) / 6.

    V: (n_b0, nb, nb, nb) complex, V[b0, jc, jb, ja] (slot bands in reverse order). w0 must be sorted ascending (the scattered
    bands are found by bisection). na, nb_, nc: (n_T, nb) Bose factors. The 7 role assignments are
    weighted 1/6 each (see the fourphonon module docstring). Summing out_ja over ja gives the
    q-pair's contribution (no prefactor).
    """
    nbnd = wa.shape[0]
    nt = na.shape[0]
    npat = omega_sum.shape[3]
    sqrt_pi = np.sqrt(np.pi)
    sqrt_2pi = np.sqrt(2.0 * np.pi)
    for ja in prange(nbnd):
        out_ja[ja] = 0.0
        for jb in range(nbnd):
            for jc in range(nbnd):
                for p in range(npat):
                    s = sigma[ja, jb, jc, p]
                    if s <= 0.0:
                        continue
                    target = -omega_sum[ja, jb, jc, p]  # w0 that conserves energy
                    lo = np.searchsorted(w0, target - cutoff_sigmas * s)
                    hi = np.searchsorted(w0, target + cutoff_sigmas * s, side="right")
                    for b0 in range(lo, hi):
                        if not valid0[b0]:
                            continue
                        x = w0[b0] - target
                        if adaptive:
                            delta = np.exp(-(x * x) / (s * s)) / (sqrt_pi * s)
                        else:
                            delta = np.exp(-0.5 * (x * x) / (s * s)) / (sqrt_2pi * s)
                        v = V[b0, jc, jb, ja]
                        v2 = v.real * v.real + v.imag * v.imag
                        base = v2 * delta / (w0[b0] * wa[ja] * wb[jb] * wc[jc]) / 6.0
                        cls = pattern_class[p]
                        for t in range(nt):
                            n1 = na[t, ja]
                            n2 = nb_[t, jb]
                            n3 = nc[t, jc]
                            if p == 0:    # a + b -> c
                                F = n1 * n2 * (n3 + 1) - (n1 + 1) * (n2 + 1) * n3
                            elif p == 1:  # a + c -> b
                                F = n1 * n3 * (n2 + 1) - (n1 + 1) * (n3 + 1) * n2
                            elif p == 2:  # b + c -> a
                                F = n2 * n3 * (n1 + 1) - (n2 + 1) * (n3 + 1) * n1
                            elif p == 3:  # a -> b + c
                                F = n1 * (n2 + 1) * (n3 + 1) - (n1 + 1) * n2 * n3
                            elif p == 4:  # b -> a + c
                                F = n2 * (n1 + 1) * (n3 + 1) - (n2 + 1) * n1 * n3
                            elif p == 5:  # c -> a + b
                                F = n3 * (n1 + 1) * (n2 + 1) - (n3 + 1) * n1 * n2
                            else:         # -> a + b + c
                                F = (n1 + 1) * (n2 + 1) * (n3 + 1) - n1 * n2 * n3
                            out_ja[ja, t, cls, b0] += base * F
