r"""Three-phonon linewidths from phono3py's kernels, exactly or by stratified sampling of triplets.

Wraps phono3py: :class:`phono3py.phonon3.interaction.Interaction` gives the irreducible triplets
of a grid point (``get_triplets_at_q``, with their weights) and their interaction strengths
|Phi|^2 (phono3py's Rust/C kernel), :class:`phono3py.phonon3.imag_self_energy.ImagSelfEnergy`
the tetrahedron integration weights and the imaginary self-energy of each triplet
(``with_detail=True``). All per-triplet physics is phono3py's. Own code: the choice of the
triplets (a cheap proxy, strata, sample sizes), the estimator of the linewidth and its standard
error, and :func:`fc3_sparsity_mask` (phono3py's ``fc3_nonzero_indices`` from the atom triplets
present in a sparse fc3, which makes phono3py's exact kernel skip the empty blocks; the same
numbers bit for bit, 2.9x faster for the built-in system's published fc3 on a 4^3 mesh, whose blocks
are 0.06 % nonzero; docs/fourphonon.md).

Linewidth of mode (q, s) (phono3py's RTA, tetrahedron method)::

    Gamma_s(q) = sum_t w_t y_s(t),   y_s(t) = sum_{jk} |Phi_{s j k}(q, q1, q2)|^2
                 [(n_j + n_k + 1) g1_{sjk} + (n_j - n_k) g23_{sjk}]  (phono3py's units, THz)

over the irreducible triplets t = (q, q1, q2) of the little group of q (weights w_t; the sum of
w_t is N_q). Rates are returned as 1/tau = 4 pi Gamma in 1/ps (full linewidth in rad/ps), the
unit of :mod:`incipient.transport.fourphonon`.

Sampling (``n_samples`` triplets per grid point, fewer than the irreducible triplets): per
triplet and mode a proxy x_s(t) = w_t sum_{jk} [(n_j+n_k+1) D(f_s - f_j - f_k) +
|n_j - n_k| D(f_s - |f_j - f_k|)] / (f_j f_k) with the same Bose factors but |Phi|^2 replaced
by 1/(f_s f_j f_k) (phono3py's |Phi|^2 carries that factor) and the tetrahedron weights by a
Gaussian D whose width is the frequency change of bands j and k between neighbouring mesh
points (no fc3, no tetrahedra: ~1 % of the cost of a triplet). The triplets are ranked by
u(t) = mean_s x_s(t) / sum_t' x_s(t') (every mode counts equally, so the lowest-frequency modes,
whose linewidths come from few triplets, are not crowded out); the top ``head_fraction`` of the
budget is evaluated exactly and the rest sampled without replacement in up to ``max_strata``
strata of equal u mass (:func:`incipient.transport.fourphonon.stratify`, the 4ph sampler's
allocation). Estimators: ``"ratio"`` (default; the combined ratio estimator of survey sampling:
the head exactly plus X_rest,s * sum_h N_h mean_h(y_s) / sum_h N_h mean_h(x_s), x known for every
triplet; variance sum_h N_h^2 (1 - m_h/N_h) s_h^2(y - R x)/m_h) or ``"expansion"`` (the plain
stratified sum, :func:`incipient.transport.fourphonon._stratified_estimate`). With
``tail_inflation`` each stratum's variance is raised by one standard error of itself (4th
moment), as in the 4ph sampler. A sample can miss the few triplets that carry a mode's
linewidth (sparse tetrahedron weights) and then shows almost no spread; each sampled stratum's
unit variance is therefore floored at (``floor_cv`` R_ref xbar_h)^2, R_ref = sum y / sum x over
all evaluated triplets of the point (head included), xbar_h the stratum's mean proxy
(:func:`_variance_floor`). Calibration (offline, from every triplet's exact value, 8 seeds, 31008
mode estimates; docs/fourphonon.md): the built-in system, 5^3, with 8 (16) of 27-63 triplets per
point: without the floor rms z 2.25 (1.39), 9.1 % (3.5 %) beyond 3 sigma, lowest 10 % of
frequencies rms z 2.02 (1.21): errors too small; with ``floor_cv`` = 1 (default) rms z 0.76
(0.73), 0.4 % (0.3 %) beyond 3 sigma, lowest 10 % rms z 0.88 (0.82), median relative error of a
rate 0.33 (0.19). fcc Cu (3 bands, far sparser weights) needs ``floor_cv`` = 3 for rms z ~1
(tests/transport/test_threephonon.py). When the budget covers every triplet the result is
phono3py's exact sum. Degenerate modes are averaged (phono3py's ``average_by_degeneracy``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result

__all__ = ["ESTIMATORS", "ThreePhononRates", "estimate_from_values", "fc3_sparsity_mask", "isotope_rates",
           "sample_triplets", "three_phonon_rates", "triplet_proxy"]

ESTIMATORS = ("ratio", "expansion")
#: default unit-level coefficient of variation below which a sampled stratum's spread is not
#: believed (:func:`_variance_floor`)
FLOOR_CV = 1.0


@dataclass(frozen=True)
class ThreePhononRates(Result):
    """Three-phonon RTA rates on phono3py's irreducible grid points.

    temperatures_K (n_T,); mesh (3,); grid_points (n_ir,) phono3py BZ-grid indices;
    qpoints_frac (n_ir, 3); weights (n_ir,) star sizes; frequencies_THz (n_ir, n_b);
    rates_per_ps (n_T, n_ir, n_b): 1/tau_3ph = 4 pi Gamma (1/ps, full linewidth in rad/ps);
    rates_stderr_per_ps: one standard error of the sampling (0 where exact);
    n_triplets (n_ir,): irreducible triplets per grid point; n_evaluated (n_ir,): triplets whose
    interaction was computed; estimator; wall_time_s; info: proxy/interaction wall times.
    triplet_values: only with ``keep_triplet_values=True`` (calibration): per grid point
    (triplets (n_t, 3), weights (n_t,), y (n_T, n_t, n_b) 1/ps with weights, proxy x (n_T, n_t, n_b)).
    """

    temperatures_K: np.ndarray
    mesh: np.ndarray
    grid_points: np.ndarray
    qpoints_frac: np.ndarray
    weights: np.ndarray
    frequencies_THz: np.ndarray
    rates_per_ps: np.ndarray
    rates_stderr_per_ps: np.ndarray
    n_triplets: np.ndarray
    n_evaluated: np.ndarray
    estimator: str
    wall_time_s: float
    info: dict = field(default_factory=dict)
    triplet_values: list | None = None

    def plot(self, temperature_index: int = 0):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        f = self.frequencies_THz.ravel()
        r = self.rates_per_ps[temperature_index].ravel()
        e = self.rates_stderr_per_ps[temperature_index].ravel()
        ok = r > 0
        ax.errorbar(f[ok], r[ok], yerr=e[ok], fmt=".", ms=3, lw=0.6)
        ax.set_yscale("log")
        ax.set_xlabel("frequency (THz)")
        ax.set_ylabel("$1/\\tau_{3ph}$ (1/ps)")
        ax.set_title(f"T = {self.temperatures_K[temperature_index]:g} K")
        fig.tight_layout()
        return fig


def fc3_sparsity_mask(fc3: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """phono3py's ``fc3_nonzero_indices`` for an fc3 (n_p, N, N, 3, 3, 3): 1 where a block is nonzero.

    With it phono3py's interaction kernel skips the zero atom triplets (exact: they contribute 0).
    ``tol``: blocks whose largest |element| is at most ``tol`` count as zero (0: exact zeros only).
    """
    a = np.abs(np.asarray(fc3)).reshape(fc3.shape[0], fc3.shape[1], fc3.shape[2], -1).max(axis=-1)
    return np.ascontiguousarray(a > tol, dtype="byte")


def _neighbour_spread(pp) -> np.ndarray:
    """(n_bz, n_b) largest |f_s(q) - f_s(q +- e_i)| over the six mesh neighbours (THz, band order)."""
    bz = pp.bz_grid
    f = np.asarray(pp.phonons.frequencies, float)
    D = np.asarray(bz.D_diag, dtype=np.int64)
    addr = np.asarray(bz.addresses, dtype=np.int64)
    gr = np.mod(addr, D)  # regular-grid address of every BZ point

    def bz_index(a):
        a = np.mod(a, D)
        grg = a[:, 0] + D[0] * (a[:, 1] + D[1] * a[:, 2])
        return np.asarray(bz.grg2bzg)[grg]

    spread = np.zeros_like(f)
    for i in range(3):
        for s in (1, -1):
            step = np.zeros(3, dtype=np.int64)
            step[i] = s
            spread = np.maximum(spread, np.abs(f[bz_index(gr + step)] - f))
    return spread


def _proxy_kernel():
    from numba import njit

    @njit(cache=True)
    def kernel(f0, f1, f2, d1, d2, n1, n2, cutoff, floor, window, out):
        # f0 (n_b,) sorted scattered frequencies; f1, f2, d1, d2 (n_t, n_b); n1, n2 (n_T, n_t, n_b);
        # out (n_T, n_t, n_b) += proxy
        nT, nt, nb = n1.shape
        c = 1.0 / np.sqrt(2.0 * np.pi)
        for t in range(nt):
            for j in range(nb):
                fj = f1[t, j]
                if fj <= cutoff:
                    continue
                for k in range(nb):
                    fk = f2[t, k]
                    if fk <= cutoff:
                        continue
                    s = np.sqrt(d1[t, j] ** 2 + d2[t, k] ** 2) + floor
                    inv = 1.0 / (fj * fk)
                    for which in range(2):
                        e = fj + fk if which == 0 else abs(fj - fk)
                        lo = np.searchsorted(f0, e - window * s)
                        hi = np.searchsorted(f0, e + window * s)
                        for b in range(lo, hi):
                            x = (f0[b] - e) / s
                            gw = c / s * np.exp(-0.5 * x * x)
                            for it in range(nT):
                                if which == 0:
                                    br = n1[it, t, j] + n2[it, t, k] + 1.0
                                else:
                                    br = abs(n1[it, t, j] - n2[it, t, k])
                                out[it, t, b] += br * inv * gw
        return out

    return kernel


_KERNEL = None


def triplet_proxy(f0_THz, f1_THz, f2_THz, d1_THz, d2_THz, n1, n2, *, cutoff_THz: float = 1e-4,
                  floor_THz: float = 0.01, window: float = 8.0) -> np.ndarray:
    """Proxy x_s(t) (n_T, n_t, n_b) of the triplets' contributions (module docstring; no weights).

    f0_THz (n_b,) scattered frequencies; f1_THz, f2_THz (n_t, n_b) at q1, q2; d1_THz, d2_THz
    their neighbour spreads (the Gaussian's width is sqrt(d1^2 + d2^2) + floor_THz, cut at
    ``window`` widths); n1, n2 (n_T, n_t, n_b) Bose factors.
    """
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _proxy_kernel()
    f0 = np.asarray(f0_THz, float)
    order = np.argsort(f0, kind="stable")
    out = np.zeros((n1.shape[0], n1.shape[1], len(f0)))
    _KERNEL(np.ascontiguousarray(f0[order]), np.ascontiguousarray(f1_THz, dtype=float),
            np.ascontiguousarray(f2_THz, dtype=float), np.ascontiguousarray(d1_THz, dtype=float),
            np.ascontiguousarray(d2_THz, dtype=float), np.ascontiguousarray(n1, dtype=float),
            np.ascontiguousarray(n2, dtype=float), float(cutoff_THz), float(floor_THz), float(window), out)
    res = np.empty_like(out)
    res[..., order] = out
    return res


def _bose_THz(f_THz: np.ndarray, T: float, cutoff: float) -> np.ndarray:
    from phonopy.physical_units import get_physical_units

    u = get_physical_units()
    x = np.where(f_THz > cutoff, f_THz, 1.0) * u.THzToEv / (u.KB * T)
    return np.where(f_THz > cutoff, 1.0 / np.expm1(x), 0.0)


def _evaluate_triplets(ise, pp, triplets, weights, T, chunk: int) -> np.ndarray:
    """phono3py's per-triplet linewidth contributions y (n_T, n_sel, n_b), 1/ps, weights included."""
    nb = len(pp.band_indices)
    y = np.zeros((len(T), len(triplets), nb))
    for s0 in range(0, len(triplets), chunk):
        sl = slice(s0, min(s0 + chunk, len(triplets)))
        tr = np.ascontiguousarray(triplets[sl], dtype="int64")
        wt = np.ascontiguousarray(weights[sl], dtype="int64")
        # phono3py computes the integration weights and interactions of the triplets it holds
        pp._triplets_at_q, pp._weights_at_q = tr, wt
        ise._triplets_at_q, ise._weights_at_q = tr, wt
        ise.run_integration_weights()
        ise.run_interaction(is_full_pp=False)
        for it, temp in enumerate(T):
            ise.temperature = float(temp)
            ise.run()
            det = ise.detailed_imag_self_energy  # (n, n_b0, n_b, n_b), THz, per triplet without weight
            y[it, sl] = 4 * np.pi * det.sum(axis=(2, 3)) * wt[:, None]
        ise.delete_integration_weights()
        pp.delete_interaction_strength()
    return y


def _variance_floor(y, x, X_strata, sizes, floor_cv):
    """(n_strata, n_T, n_b) lower bound of each stratum's unit variance: (floor_cv * R_ref * xbar_h)^2.

    R_ref = sum y / sum x over every evaluated triplet (head included), per temperature and mode:
    the proxy's scale seen so far. A sample that happens to miss the few triplets carrying a
    mode's linewidth (sparse tetrahedron weights) has a residual variance of ~0; the floor keeps
    its stated error at least at a unit-level coefficient of variation ``floor_cv`` of the
    proxy-predicted stratum total.
    """
    sx = x.sum(axis=1)
    R_ref = np.where(sx > 0, y.sum(axis=1) / np.where(sx > 0, sx, 1.0), 0.0)  # (n_T, n_b)
    xbar = X_strata / np.maximum(np.asarray(sizes, float), 1.0)[:, None, None]
    return (floor_cv * R_ref[None] * xbar) ** 2


def _ratio_estimate(y, x, labels, sizes, n_h, X_strata, tail_inflation: bool, floor_cv: float = 0.0):
    """Combined ratio estimator: head (enumerated strata) exactly, the rest as X_rest * R.

    y, x: (n_T, n_eval, n_b) evaluated values and proxies; labels (n_eval,) their stratum;
    sizes, n_h: stratum sizes and samples; X_strata (n_strata, n_T, n_b) proxy totals per stratum;
    floor_cv: see :func:`_variance_floor`. Returns (total (n_T, n_b), variance (n_T, n_b)).
    """
    nT, _, nb = y.shape
    floor = _variance_floor(y, x, X_strata, sizes, floor_cv) if floor_cv > 0 else None
    exact = np.zeros((nT, nb))
    Ys = np.zeros((nT, nb))  # sum over sampled strata of N_h mean_h(y)
    Xs = np.zeros((nT, nb))
    Xrest = np.zeros((nT, nb))
    sampled = []
    for h in range(len(sizes)):
        m = int(n_h[h])
        if m == 0:
            continue
        sel = labels == h
        if m >= sizes[h]:
            exact += y[:, sel].sum(axis=1)
            continue
        Nh = float(sizes[h])
        Ys += Nh * y[:, sel].mean(axis=1)
        Xs += Nh * x[:, sel].mean(axis=1)
        Xrest += X_strata[h]
        sampled.append(h)
    if not sampled:
        return exact, np.zeros((nT, nb))
    R = np.where(Xs > 0, Ys / np.where(Xs > 0, Xs, 1.0), 0.0)
    total = exact + np.where(Xs > 0, R * Xrest, Ys)
    var = np.zeros((nT, nb))
    for h in sampled:
        sel = labels == h
        Nh = float(sizes[h])
        d = y[:, sel] - np.where(Xs > 0, R, 0.0)[:, None, :] * x[:, sel]
        var += _stratum_variance(d, Nh, tail_inflation, None if floor is None else floor[h])
    return total, var


def _stratum_variance(d, Nh: float, tail_inflation: bool, floor_h) -> np.ndarray:
    """Variance contribution N_h^2 (1 - m/N_h) s_h^2 / m of one stratum's sampled values ``d``
    (n_T, m, n_b; centred here), s_h^2 raised by its own standard error with ``tail_inflation``
    and floored at ``floor_h``."""
    m = d.shape[1]
    d = d - d.mean(axis=1, keepdims=True)
    s2 = (d * d).sum(axis=1) / (m - 1)
    if tail_inflation:
        m4 = (d**4).mean(axis=1)
        s2 = s2 + np.sqrt(np.maximum(m4 - s2 * s2, 0.0) / m)
    if floor_h is not None:
        s2 = np.maximum(s2, floor_h)
    return Nh * Nh * (1.0 - m / Nh) * s2 / m


def _expansion_estimate(y, x, labels, sizes, n_h, X_strata, tail_inflation: bool, floor_cv: float = 0.0):
    """Plain stratified (expansion) estimator with the variance floor of :func:`_ratio_estimate`."""
    nT, _, nb = y.shape
    floor = _variance_floor(y, x, X_strata, sizes, floor_cv) if floor_cv > 0 else None
    total = np.zeros((nT, nb))
    var = np.zeros((nT, nb))
    for h in range(len(sizes)):
        m = int(n_h[h])
        if m == 0:
            continue
        yh = y[:, labels == h]
        Nh = float(sizes[h])
        total += Nh * yh.mean(axis=1)
        if m >= Nh:
            continue
        var += _stratum_variance(yh, Nh, tail_inflation, None if floor is None else floor[h])
    return total, var


def sample_triplets(score: np.ndarray, n_samples: int, gen, *, head_fraction: float = 0.5,
                    min_per_stratum: int = 8, max_strata: int = 12):
    """Stratified choice of triplets by ``score`` (:func:`incipient.transport.fourphonon.stratify`).

    Returns (pick (n_eval,) triplet indices, labels (n_eval,) their stratum, order, bounds, n_h).
    """
    from incipient.transport.fourphonon import draw_from_strata, stratify

    order, bounds, n_h = stratify(score, int(n_samples), head_fraction=head_fraction,
                                  min_per_stratum=min_per_stratum, max_strata=max_strata)
    pick, labels = draw_from_strata(order, bounds, n_h, gen)
    return pick, labels, order, bounds, n_h


def estimate_from_values(y_all, x_all, score, n_samples, gen, *, estimator="ratio", head_fraction=0.5,
                         min_per_stratum=8, max_strata=12, tail_inflation=True, floor_cv=FLOOR_CV,
                         evaluate=None):
    """One grid point's sampled estimate: (total (n_T, n_b), variance (n_T, n_b), n_evaluated).

    x_all (n_T, n_t, n_b) proxies of every triplet, score (n_t,); the values y of the chosen
    triplets come from ``evaluate(indices) -> (n_T, n, n_b)``, or from ``y_all`` (n_T, n_t, n_b)
    when given (calibration: the same estimate from stored exact per-triplet values).
    """
    pick, labels, order, bounds, n_h = sample_triplets(score, n_samples, gen, head_fraction=head_fraction,
                                                        min_per_stratum=min_per_stratum, max_strata=max_strata)
    sizes = np.diff(bounds)
    y = y_all[:, pick] if y_all is not None else evaluate(pick)
    X_strata = np.stack([x_all[:, order[bounds[h]:bounds[h + 1]]].sum(axis=1) for h in range(len(sizes))])
    fn = _ratio_estimate if estimator == "ratio" else _expansion_estimate
    total, var = fn(y, x_all[:, pick], labels, sizes, n_h, X_strata, tail_inflation, floor_cv)
    return total, var, len(pick)


def three_phonon_rates(ph3, temperatures_K, *, n_samples: int | None = None, rng=None, grid_points=None,
                       estimator: str = "ratio", head_fraction: float = 0.5, min_per_stratum: int = 8,
                       max_strata: int = 12, tail_inflation: bool = True, floor_cv: float = FLOOR_CV,
                       chunk: int = 32,
                       keep_triplet_values: bool = False, progress: bool = False) -> ThreePhononRates:
    """3ph RTA rates (1/ps) of phono3py's irreducible grid points, exact or sampled (module docstring).

    ph3: a ``phono3py.Phono3py`` with fc2, fc3 and ``mesh_numbers`` set and
    ``init_phph_interaction()`` called (its settings: tetrahedron method, phono3py's
    cutoff frequency, r0 average, as phono3py's own RTA uses them). For a sparse fc3 set
    ``ph3.fc3_nonzero_indices`` (:func:`fc3_sparsity_mask`) before ``init_phph_interaction``.
    n_samples: triplets evaluated per grid point (None, or at least the number of irreducible
    triplets of a point: phono3py's exact sum there). rng: seed or Generator. grid_points:
    phono3py BZ-grid indices (default: all irreducible points, phono3py's order).
    estimator: "ratio" (default) or "expansion"; head_fraction, min_per_stratum, max_strata:
    the stratification (:func:`sample_triplets`); tail_inflation, floor_cv: see the module docstring.
    chunk: triplets handed to phono3py at once (memory: ~0.75 MB per triplet for 36 bands).
    keep_triplet_values: evaluate EVERY triplet and keep the per-triplet values and proxies
    (for calibration; costs the exact sum).
    """
    from phono3py.phonon3.imag_self_energy import ImagSelfEnergy, average_by_degeneracy
    from phonopy.phonon.grid import get_ir_grid_points

    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if n_samples is not None and int(n_samples) < 4:
        raise ValueError(f"n_samples must be at least 4 triplets per grid point (or None), got {n_samples}")
    t_start = time.perf_counter()
    T = np.atleast_1d(np.asarray(temperatures_K, float))
    if (T <= 0).any():
        raise ValueError(f"temperatures_K must be positive, got {T.tolist()}")
    pp = ph3.phph_interaction
    if pp is None:
        raise ValueError("ph3 has no phonon-phonon interaction: call ph3.init_phph_interaction() first")
    if not pp.phonon_all_done:
        pp.run_phonon_solver()
    bz = pp.bz_grid
    ir_grg, ir_w, _ = get_ir_grid_points(bz)
    all_gp = np.asarray(bz.grg2bzg, dtype=np.int64)[ir_grg]
    if grid_points is None:
        gps, wts = all_gp, np.asarray(ir_w, dtype=np.int64)
    else:
        gps = np.asarray(grid_points, dtype=np.int64)
        wmap = {int(g): int(w) for g, w in zip(all_gp, ir_w, strict=True)}
        wts = np.array([wmap.get(int(g), 0) for g in gps], dtype=np.int64)
    gen = np.random.default_rng(rng)
    freqs = np.asarray(pp.phonons.frequencies, float)
    cutoff = float(pp.cutoff_frequency)
    nb = freqs.shape[1]
    sampled = n_samples is not None
    spread = _neighbour_spread(pp) if sampled or keep_triplet_values else None
    bose = np.stack([_bose_THz(freqs, t, cutoff) for t in T]) if spread is not None else None
    ise = ImagSelfEnergy(pp, with_detail=True, lang=getattr(pp, "_lang", "Rust"))
    ise.set_sigma(None)
    rates = np.zeros((len(T), len(gps), nb))
    stderr = np.zeros_like(rates)
    n_trip = np.zeros(len(gps), dtype=np.int64)
    n_eval = np.zeros(len(gps), dtype=np.int64)
    t_proxy = t_eval = 0.0
    kept = [] if keep_triplet_values else None
    for k, gp in enumerate(gps):
        ise.set_grid_point(int(gp))
        tr_all, w_all = (np.asarray(a) for a in pp.get_triplets_at_q()[:2])
        n_trip[k] = len(tr_all)
        exact = (not sampled) or int(n_samples) >= len(tr_all)
        x = None
        if spread is not None and (not exact or keep_triplet_values):
            t0 = time.perf_counter()
            q1, q2 = tr_all[:, 1], tr_all[:, 2]
            mid = [len(T) // 2]  # the proxy at the median temperature serves all temperatures
            x = triplet_proxy(freqs[gp], freqs[q1], freqs[q2], spread[q1], spread[q2], bose[mid][:, q1],
                              bose[mid][:, q2], cutoff_THz=cutoff) * w_all[None, :, None]
            x = np.repeat(x, len(T), axis=0)
            t_proxy += time.perf_counter() - t0
        t0 = time.perf_counter()
        if exact or keep_triplet_values:
            y_all = _evaluate_triplets(ise, pp, tr_all, w_all, T, chunk)
            n_eval[k] = len(tr_all)
            if keep_triplet_values:
                kept.append((tr_all.copy(), w_all.copy(), y_all, x))
        if exact:
            total, var = y_all.sum(axis=1), np.zeros((len(T), nb))
        else:
            xs = x[len(T) // 2] if len(T) > 1 else x[0]
            tot_s = xs.sum(axis=0)
            score = (xs / np.where(tot_s > 0, tot_s, 1.0)[None, :]).sum(axis=1)
            score = np.maximum(score, 1e-12 * score.max(initial=0.0))  # no triplet is never sampled

            def evaluate(idx, tr_all=tr_all, w_all=w_all):
                return _evaluate_triplets(ise, pp, tr_all[idx], w_all[idx], T, chunk)

            total, var, n_eval_k = estimate_from_values(
                None, x, score, int(n_samples), gen, estimator=estimator, head_fraction=head_fraction,
                min_per_stratum=min_per_stratum, max_strata=max_strata, tail_inflation=tail_inflation,
                floor_cv=floor_cv, evaluate=evaluate)
            n_eval[k] = n_eval_k
        t_eval += time.perf_counter() - t0
        deg = pp.phonons.degenerate_ids[gp]
        for it in range(len(T)):
            rates[it, k] = average_by_degeneracy(total[it], pp.band_indices, deg)
            stderr[it, k] = average_by_degeneracy(np.sqrt(var[it]), pp.band_indices, deg)
        if progress:
            print(f"[3ph] grid point {k + 1}/{len(gps)}: {n_eval[k]} of {n_trip[k]} triplets, "
                  f"{time.perf_counter() - t_start:.1f} s", flush=True)
    ise.set_grid_point(int(gps[0]))  # leave phono3py's interaction with a consistent set of triplets
    q = np.asarray(bz.addresses[gps], float) @ np.asarray(bz.QDinv, float).T  # phono3py's q-points
    return ThreePhononRates(
        temperatures_K=T, mesh=np.asarray(pp.mesh_numbers).copy(), grid_points=gps, qpoints_frac=q, weights=wts,
        frequencies_THz=freqs[gps], rates_per_ps=rates, rates_stderr_per_ps=stderr, n_triplets=n_trip,
        n_evaluated=n_eval, estimator=estimator if sampled else "exact",
        wall_time_s=time.perf_counter() - t_start,
        info={"proxy_s": t_proxy, "evaluate_s": t_eval, "n_samples": int(n_samples or 0),
              "head_fraction": head_fraction, "max_strata": max_strata, "min_per_stratum": min_per_stratum,
              "tail_inflation": bool(tail_inflation), "floor_cv": float(floor_cv), "cutoff_frequency_THz": cutoff},
        triplet_values=kept)


def isotope_rates(ph3, grid_points, mass_variances=None) -> np.ndarray:
    """Isotope scattering rates 4 pi Gamma_iso (1/ps), (n_gp, n_b), at phono3py BZ-grid points.

    phono3py's :class:`phono3py.other.isotope.Isotope` with the settings its conductivity
    classes use (tetrahedron method, the interaction's grid, phonons and cutoff frequency;
    ``mass_variances`` None: phonopy's natural isotope abundances), so that it equals the
    ``gamma_isotope`` of ``run_thermal_conductivity(is_isotope=True)`` without the 3ph part.
    """
    from phono3py.other.isotope import Isotope

    pp = ph3.phph_interaction
    if not pp.phonon_all_done:
        pp.run_phonon_solver()
    iso = Isotope(pp.mesh_numbers, pp.primitive, mass_variances=mass_variances, bz_grid=pp.bz_grid,
                  frequency_factor_to_THz=pp.frequency_factor_to_THz, symprec=pp.primitive_symmetry.tolerance,
                  cutoff_frequency=pp.cutoff_frequency, lapack_zheev_uplo=pp.lapack_zheev_uplo,
                  symmetrize_tetrahedra=pp.symmetrize_tetrahedra,
                  average_degenerate_weights=pp.average_degenerate_weights,
                  exclude_gamma_acoustic=pp.exclude_gamma_acoustic)
    iso.set_phonons(pp.phonons, dm=pp.dynamical_matrix)
    iso.sigma = None
    out = []
    for gp in np.asarray(grid_points, dtype=np.int64):
        iso.set_grid_point(int(gp))
        iso.run()
        out.append(4 * np.pi * np.asarray(iso.gamma, float))
    return np.asarray(out)
