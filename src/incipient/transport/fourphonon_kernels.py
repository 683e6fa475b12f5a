"""Numba kernels behind :mod:`incipient.transport.fourphonon` (own code; plain-array interfaces).

Two kernels, compiled once and cached on disk:

* ``build_reciprocal_fc4``: X[J, K, b0, L] = sum_n phase_n T[n, beta gamma delta, b0] scattered to
  J = 3 j_n + beta, K = 3 k_n + gamma, L = 3 l_n + delta (fc4 contracted with the eigenvectors of
  the scattered modes, Fourier-transformed to the three slot wavevectors of one q-pair). The phase
  of quartet n is the product of three rows of a per-q phase table (no per-pair Python work).
  The layout lets the three eigenvector contractions run as plain GEMMs without transposing
  copies and leaves |V|^2 as V[ja, jb, b0, jc]: for fixed (ja, jb) a 36 x 36 block in cache.
* ``accumulate_pair``: for every band triple of a q-pair and each of the seven role assignments
  of the three slot phonons (3 x "++", 3 x "+-", 1 x "--"): the smearing width (adaptive widths
  from pre-projected velocities), the window of scattered bands within ``cutoff_sigmas`` widths
  (bisection on the sorted scattered frequencies), the Bose bracket once per process, and the
  Gaussian-weighted |V|^2 sum per scattered band and temperature.
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
def build_reciprocal_fc4(T, pa, pb, pc, rix, jj, kk, ll, blocks, X):  # pragma: no cover - compiled
    """X[J, K, b0, L] from T[n, 27, b0] and phases pa[rix[n,0]] pb[rix[n,1]] pc[rix[n,2]].

    Quartets must be sorted by (j, k, l) (cache locality). blocks: (n_blocks, 3) the distinct
    (3j, 3k, 3l) of the quartets; only these 3x3x3 blocks of X are zeroed and written (the rest of
    X must be zero on entry and stays zero).
    """
    nquart = T.shape[0]
    nb0 = T.shape[2]
    # threads split the nine (beta, gamma) components: disjoint entries of X for any quartet
    for bg in prange(9):
        beta = bg // 3
        gamma = bg % 3
        for m in range(blocks.shape[0]):
            for b in range(nb0):
                for delta in range(3):
                    X[blocks[m, 0] + beta, blocks[m, 1] + gamma, b, blocks[m, 2] + delta] = 0.0
        for n in range(nquart):
            p = pa[rix[n, 0]] * pb[rix[n, 1]] * pc[rix[n, 2]]
            J = jj[n] + beta
            K = kk[n] + gamma
            l0 = ll[n]
            for delta in range(3):
                c = 9 * beta + 3 * gamma + delta
                for b in range(nb0):
                    X[J, K, b, l0 + delta] += p * T[n, c, b]


@njit(cache=True, inline="always")
def _width2(a, b, use_max):  # pragma: no cover - compiled
    """Sum (or max, with use_max) over directions of (a - b)^2 and of (a + b)^2."""
    dm = 0.0
    dp = 0.0
    for x in range(a.shape[0]):
        m = a[x] - b[x]
        s = a[x] + b[x]
        if use_max:
            dm = max(dm, m * m)
            dp = max(dp, s * s)
        else:
            dm += m * m
            dp += s * s
    return dm, dp


@njit(cache=True)
def _pair_widths(pa, pb, use_max, out):  # pragma: no cover - compiled
    """Squared projected velocity differences of two slots, for both relative signs.

    out[i, j, 0] from pa_i - pb_j, out[i, j, 1] from pa_i + pb_j: the sum over the three
    directions of the squares (use_max False, ShengBTE form) or their maximum (use_max True,
    FourPhonon's base_sigma).
    """
    for i in range(pa.shape[0]):
        for j in range(pb.shape[0]):
            out[i, j, 0], out[i, j, 1] = _width2(pa[i], pb[j], use_max)


# smearing modes of accumulate_pair
MODE_FIXED = 0
MODE_ADAPTIVE = 1
MODE_FOURPHONON = 2
# FourPhonon mode: the slot pairs (0: ab, 1: ac, 2: bc) whose velocity difference sets the width of
# each pattern, with weights (the average over the orderings of the FourPhonon loops: "++" uses the
# emitted phonon and the second absorbed one, "+-" the two emitted ones, "--" the last two)
FP_PAIRS = np.array([[2, 1, -1], [2, 0, -1], [1, 0, -1],
                     [2, -1, -1], [1, -1, -1], [0, -1, -1],
                     [0, 1, 2]], dtype=np.int64)
FP_WEIGHTS = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0],
                       [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0],
                       [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]])


@njit(cache=True, parallel=True)
def accumulate_pair(V, w0, valid0, wa, wb, wc, valid_a, valid_b, valid_c, na, nb_, nc, pa, pb, pc,
                    signs, pattern_class, mode, sigma_fixed, scalebroad, sigma_min, cutoff_sigmas,
                    out_ja):  # pragma: no cover - compiled
    """out_ja[ja, t, class, b0] = sum over (jb, jc, pattern) of |V|^2 F delta / (w0 wa wb wc) / 6.

    V: (nb, nb, n_b0, nb) complex, V[ja, jb, b0, jc]. w0 must be sorted ascending (the scattered
    bands are found by bisection). na, nb_, nc: (n_T, nb) Bose factors. pa, pb, pc: (nb, 3)
    velocities projected on the mesh steps G_i/n_i. mode: MODE_FIXED (phono3py Gaussian of width
    sigma_fixed), MODE_ADAPTIVE (ShengBTE Gaussian; width scalebroad*sqrt((2/3) sum over the three
    slot pairs of |(s_x v_x - s_y v_y).G/n|^2 / 6), ShengBTE's form symmetrised over the slots) or
    MODE_FOURPHONON (ShengBTE Gaussian; FourPhonon's width scalebroad*sqrt(max_i
    ((s_x v_x - s_y v_y).G_i/n_i)^2 / 2) of the slot pair(s) FP_PAIRS, weighted FP_WEIGHTS).
    Scattered bands beyond cutoff_sigmas widths are skipped. The 7 role assignments are weighted
    1/6 each (see the fourphonon module docstring). Summing out_ja over ja gives the q-pair's
    contribution (no prefactor).
    """
    nbnd = wa.shape[0]
    nb0 = w0.shape[0]
    nt = na.shape[0]
    npat = signs.shape[0]
    sqrt_pi = np.sqrt(np.pi)
    sqrt_2pi = np.sqrt(2.0 * np.pi)
    Dab = np.zeros((nbnd, nbnd, 2))
    Dac = np.zeros((nbnd, nbnd, 2))
    Dbc = np.zeros((nbnd, nbnd, 2))
    if mode != MODE_FIXED:
        use_max = mode == MODE_FOURPHONON
        _pair_widths(pa, pb, use_max, Dab)
        _pair_widths(pa, pc, use_max, Dac)
        _pair_widths(pb, pc, use_max, Dbc)
    # per pattern: which of the two pair widths applies (same signs: difference, else sum)
    iab = np.zeros(npat, np.int64)
    iac = np.zeros(npat, np.int64)
    ibc = np.zeros(npat, np.int64)
    for p in range(npat):
        iab[p] = 0 if signs[p, 0] == signs[p, 1] else 1
        iac[p] = 0 if signs[p, 0] == signs[p, 2] else 1
        ibc[p] = 0 if signs[p, 1] == signs[p, 2] else 1
    nchoice = 3 if mode == MODE_FOURPHONON else 1
    w0lo = w0[0]
    w0hi = w0[nb0 - 1]
    for ja in prange(nbnd):
        out_ja[ja] = 0.0
        if not valid_a[ja]:
            continue
        F = np.empty(nt)
        for jb in range(nbnd):
            if not valid_b[jb]:
                continue
            for jc in range(nbnd):
                if not valid_c[jc]:
                    continue
                inv_w = 1.0 / (wa[ja] * wb[jb] * wc[jc] * 6.0)
                for p in range(npat):
                    sa = signs[p, 0]
                    sb = signs[p, 1]
                    sc = signs[p, 2]
                    target = -(sa * wa[ja] + sb * wb[jb] + sc * wc[jc])  # w0 that conserves energy
                    have_F = False
                    cls = pattern_class[p]
                    for ch in range(nchoice):
                        wgt = 1.0
                        if mode == MODE_FIXED:
                            s = sigma_fixed
                        elif mode == MODE_ADAPTIVE:
                            s2 = Dab[ja, jb, iab[p]] + Dac[ja, jc, iac[p]] + Dbc[jb, jc, ibc[p]]
                            s = max(scalebroad * np.sqrt(s2 / 6.0 * 2.0 / 3.0), sigma_min)
                        else:
                            pair = FP_PAIRS[p, ch]
                            if pair < 0:
                                continue
                            wgt = FP_WEIGHTS[p, ch]
                            if pair == 0:
                                m2 = Dab[ja, jb, iab[p]]
                            elif pair == 1:
                                m2 = Dac[ja, jc, iac[p]]
                            else:
                                m2 = Dbc[jb, jc, ibc[p]]
                            s = max(scalebroad * np.sqrt(m2 / 2.0), sigma_min)
                        reach = cutoff_sigmas * s
                        if target + reach < w0lo or target - reach > w0hi:
                            continue
                        lo = np.searchsorted(w0, target - reach)
                        hi = np.searchsorted(w0, target + reach, side="right")
                        if hi <= lo:
                            continue
                        if not have_F:
                            have_F = True
                            for t in range(nt):
                                n1 = na[t, ja]
                                n2 = nb_[t, jb]
                                n3 = nc[t, jc]
                                if p == 0:    # a + b -> c
                                    F[t] = n1 * n2 * (n3 + 1) - (n1 + 1) * (n2 + 1) * n3
                                elif p == 1:  # a + c -> b
                                    F[t] = n1 * n3 * (n2 + 1) - (n1 + 1) * (n3 + 1) * n2
                                elif p == 2:  # b + c -> a
                                    F[t] = n2 * n3 * (n1 + 1) - (n2 + 1) * (n3 + 1) * n1
                                elif p == 3:  # a -> b + c
                                    F[t] = n1 * (n2 + 1) * (n3 + 1) - (n1 + 1) * n2 * n3
                                elif p == 4:  # b -> a + c
                                    F[t] = n2 * (n1 + 1) * (n3 + 1) - (n2 + 1) * n1 * n3
                                elif p == 5:  # c -> a + b
                                    F[t] = n3 * (n1 + 1) * (n2 + 1) - (n3 + 1) * n1 * n2
                                else:         # -> a + b + c
                                    F[t] = (n1 + 1) * (n2 + 1) * (n3 + 1) - n1 * n2 * n3
                        for b0 in range(lo, hi):
                            if not valid0[b0]:
                                continue
                            x = w0[b0] - target
                            if mode == MODE_FIXED:
                                delta = np.exp(-0.5 * (x * x) / (s * s)) / (sqrt_2pi * s)
                            else:
                                delta = np.exp(-(x * x) / (s * s)) / (sqrt_pi * s)
                            v = V[ja, jb, b0, jc]
                            v2 = v.real * v.real + v.imag * v.imag
                            base = wgt * v2 * delta * inv_w / w0[b0]
                            for t in range(nt):
                                out_ja[ja, t, cls, b0] += base * F[t]


@njit(cache=True)
def _min_pair_width2(px, py, vx, vy, use_max, out2):  # pragma: no cover - compiled
    """out2[0] / out2[1]: minimum over partner band pairs of the squared projected velocity
    difference px_i - py_j / sum px_i + py_j (sum of squares, or max with use_max)."""
    out2[0] = np.inf
    out2[1] = np.inf
    for i in range(px.shape[0]):
        if not vx[i]:
            continue
        for j in range(py.shape[0]):
            if not vy[j]:
                continue
            dm, dp = _width2(px[i], py[j], use_max)
            out2[0] = min(out2[0], dm)
            out2[1] = min(out2[1], dp)


@njit(cache=True, inline="always")
def _bound_from_pairs(ab0, ab1, ac0, ac1, bc0, bc1, signs, use_max, scalebroad, sigma_min):  # pragma: no cover
    """The width bound of one triple from its three slot pairs' minima (index 0: same signs,
    1: opposite signs): the smallest width over the role patterns, at least sigma_min."""
    best = np.inf
    for p in range(signs.shape[0]):
        same_ab = signs[p, 0] == signs[p, 1]
        same_ac = signs[p, 0] == signs[p, 2]
        same_bc = signs[p, 1] == signs[p, 2]
        dab = ab0 if same_ab else ab1
        dac = ac0 if same_ac else ac1
        dbc = bc0 if same_bc else bc1
        if use_max:
            s2 = min(dab, min(dac, dbc)) / 2.0
        else:
            s2 = (dab + dac + dbc) / 6.0 * 2.0 / 3.0
        best = min(best, s2)
    if not np.isfinite(best):
        return sigma_min
    return max(scalebroad * np.sqrt(best), sigma_min)


@njit(cache=True)
def triple_width_bound(vproj, partner, ca, cb, cc, signs, mode, scalebroad, sigma_min, out):  # pragma: no cover
    """Lower bound of the smearing width of any process of each slot triple (sampling proxy).

    For triple n (slots ca[n], cb[n], cc[n]) and every role pattern, the width of
    ``accumulate_pair`` with each slot-pair term replaced by its minimum over the partner band
    pairs; out[n] = the minimum over the patterns (>= sigma_min). MODE_ADAPTIVE: ShengBTE form
    over the three pairs; MODE_FOURPHONON: the smallest single-pair FourPhonon width.
    """
    use_max = mode == MODE_FOURPHONON
    dab = np.empty(2)
    dac = np.empty(2)
    dbc = np.empty(2)
    for n in range(ca.shape[0]):
        a = ca[n]
        b = cb[n]
        c = cc[n]
        _min_pair_width2(vproj[a], vproj[b], partner[a], partner[b], use_max, dab)
        _min_pair_width2(vproj[a], vproj[c], partner[a], partner[c], use_max, dac)
        _min_pair_width2(vproj[b], vproj[c], partner[b], partner[c], use_max, dbc)
        out[n] = _bound_from_pairs(dab[0], dab[1], dac[0], dac[1], dbc[0], dbc[1], signs, use_max,
                                   scalebroad, sigma_min)


@njit(cache=True, parallel=True)
def pair_width2_table(vproj, partner, use_max, out):  # pragma: no cover - compiled
    """out[a, b] = the two minima of ``_min_pair_width2(vproj[a], vproj[b], ...)`` for every pair
    of mesh points (symmetric in a, b, bit for bit). ``triple_width_bound_table`` then needs three
    look-ups per triple instead of three minimisations over n_b^2 band pairs; built once per call
    of the 4ph rates and shared by all q-points. out: (N_q, N_q, 2) float64.
    """
    nq = vproj.shape[0]
    half = (nq + 1) // 2
    # rows k and nq-1-k in one iteration: equal work per iteration (the loop over b >= a is triangular)
    for kk in prange(half):
        k = np.int64(kk)
        tmp = np.empty(2)
        for r in range(2):
            a = k if r == 0 else np.int64(nq - 1) - k
            if r == 1 and a == k:
                break
            for b in range(a, nq):
                _min_pair_width2(vproj[a], vproj[b], partner[a], partner[b], use_max, tmp)
                out[a, b, 0] = tmp[0]
                out[a, b, 1] = tmp[1]
                out[b, a, 0] = tmp[0]
                out[b, a, 1] = tmp[1]


@njit(cache=True)
def triple_width_bound_table(table, ca, cb, cc, signs, mode, scalebroad, sigma_min, out):  # pragma: no cover
    """``triple_width_bound`` from a ``pair_width2_table`` (same numbers, bit for bit)."""
    use_max = mode == MODE_FOURPHONON
    for n in range(ca.shape[0]):
        a = ca[n]
        b = cb[n]
        c = cc[n]
        out[n] = _bound_from_pairs(table[a, b, 0], table[a, b, 1], table[a, c, 0], table[a, c, 1],
                                   table[b, c, 0], table[b, c, 1], signs, use_max, scalebroad, sigma_min)


@njit(cache=True)
def canonical_triples(addr0, grid_address, mesh, a_out, b_out, c_out, mult_out):  # pragma: no cover
    """Every unordered slot triple {a, b, c} with a + b + c = -q0 (mod the mesh) once, a <= b <= c,
    in the order a, then b (as the numpy twin ``fourphonon._canonical_pairs``); multiplicity 1, 3
    or 6. Output arrays need room for N_q (N_q + 1) / 2 entries; returns the count.
    """
    nq = grid_address.shape[0]
    n0 = mesh[0]
    n1 = mesh[1]
    n2 = mesh[2]
    m = 0
    for a in range(nq):
        for b in range(a, nq):
            x = (-addr0[0] - grid_address[a, 0] - grid_address[b, 0]) % n0
            y = (-addr0[1] - grid_address[a, 1] - grid_address[b, 1]) % n1
            z = (-addr0[2] - grid_address[a, 2] - grid_address[b, 2]) % n2
            c = x + n0 * (y + n1 * z)
            if c < b:
                continue
            a_out[m] = a
            b_out[m] = b
            c_out[m] = c
            if a == b and b == c:
                mult_out[m] = 1.0
            elif a == b or b == c:
                mult_out[m] = 3.0
            else:
                mult_out[m] = 6.0
            m += 1
    return m
