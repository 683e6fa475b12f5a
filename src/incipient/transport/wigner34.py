"""Wigner conductivity with three- and four-phonon scattering (kappa_p + kappa_c, 3ph vs 3+4ph).

Glue over the pieces: phono3py gives the 3ph and isotope linewidths on its irreducible mesh,
``fourphonon.four_phonon_rates`` the (exact or sampled) 4ph rates on the same mesh, and
``wigner_assembly.wigner_kappa`` assembles eqs. 4-5 from frequencies, the velocity operator and
the Matthiessen sum of the rates. The sampling error of the 4ph rates is carried to kappa by
replicas (rates redrawn within their standard errors). phono3py's kernel is given the fc3's
nonzero atom triplets (``fc3_nonzero_indices``: exact, several times faster for a sparse
ShengBTE fc3); the 3ph rates can also be sampled
(:func:`incipient.transport.threephonon.three_phonon_rates`, ``n_samples_3ph``).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result


@dataclass(frozen=True)
class Wigner34Result(Result):
    """kappa tensors' diagonals (x, y, z) in W/m/K per temperature, 3ph and 3+4ph.

    temperatures_K (nT,); kappa_p_3ph, kappa_c_3ph, kappa_p_34ph, kappa_c_34ph (nT, 3);
    kappa_p_34ph_err, kappa_c_34ph_err (nT, 3): sampling error (4ph, and 3ph if sampled);
    mesh, n_samples (q-pairs per q-point, 0 = exact), scalebroad; n_dropped_modes: modes with
    imaginary or near-zero frequency left out; wall_3ph_s, wall_4ph_s; info: stage wall times,
    peak RSS, error method and 4ph statistics (see :func:`wigner_3ph_4ph`).
    Per mode (for Figure 4a,b): frequencies_THz (nq, nb) on phono3py's irreducible q-points,
    weights (nq,), rates_3ph_per_ps and rates_34ph_per_ps (nT, nq, nb): 1/tau = full linewidth in
    rad/ps with 3ph + isotope and with 3ph + isotope + 4ph scattering (0 for dropped modes);
    n_atoms_prim (for the Wigner limit); qpoints_frac (nq, 3) the irreducible q-points (reduced
    coordinates; None in results of older versions), for :mod:`incipient.transport.conventions`.
    n_samples_3ph: triplets sampled per irreducible q-point for 3ph (0 = phono3py's exact sum);
    kappa_p_3ph_err, kappa_c_3ph_err (nT, 3): the 3ph sampling error of the 3ph kappa (None when
    exact); with sampled 3ph, kappa_p_34ph_err and kappa_c_34ph_err hold the 3ph and 4ph sampling
    errors together.
    """

    temperatures_K: np.ndarray
    kappa_p_3ph: np.ndarray
    kappa_c_3ph: np.ndarray
    kappa_p_34ph: np.ndarray
    kappa_c_34ph: np.ndarray
    kappa_p_34ph_err: np.ndarray
    kappa_c_34ph_err: np.ndarray
    mesh: tuple
    n_samples: int
    scalebroad: float
    n_dropped_modes: int
    wall_3ph_s: float
    wall_4ph_s: float
    info: dict = field(default_factory=dict)
    frequencies_THz: np.ndarray | None = None
    weights: np.ndarray | None = None
    rates_3ph_per_ps: np.ndarray | None = None
    rates_34ph_per_ps: np.ndarray | None = None
    n_atoms_prim: int = 0
    qpoints_frac: np.ndarray | None = None
    n_samples_3ph: int = 0
    kappa_p_3ph_err: np.ndarray | None = None
    kappa_c_3ph_err: np.ndarray | None = None

    def lifetime_regimes(self, which: str = "34ph"):
        """Particle-like / wave-like / overdamped classification of the modes (3ph or 3+4ph rates)."""
        from incipient.transport.lifetimes import classify_lifetimes

        if self.rates_3ph_per_ps is None:
            raise ValueError("this result has no per-mode rates (made by an older version)")
        rates = self.rates_34ph_per_ps if which == "34ph" else self.rates_3ph_per_ps
        # classify_lifetimes takes phono3py's Gamma (THz, half width): 1/tau = 4 pi Gamma
        return classify_lifetimes(self.frequencies_THz, np.asarray(rates) / (4 * np.pi), self.weights,
                                  self.n_atoms_prim, self.temperatures_K)

    def plot_lifetimes(self, temperature_indices=(0, -1)):
        """Lifetime vs phonon energy, 3ph (stars) and 3+4ph (circles), with the Wigner limit
        1/dw_avg and the Ioffe-Regel limit 1/omega (paper Figure 4a,b); returns the Figure."""
        import matplotlib.pyplot as plt

        r3, r34 = self.lifetime_regimes("3ph"), self.lifetime_regimes("34ph")
        idx = [i % len(self.temperatures_K) for i in temperature_indices]
        fig, axes = plt.subplots(1, len(idx), figsize=(5.4 * len(idx), 4.4), squeeze=False, constrained_layout=True)
        from incipient.units import THz_to_meV_2018 as meV  # meV per THz
        f = np.asarray(self.frequencies_THz).ravel()
        ok = f > 0.05
        for ax, it in zip(axes[0], idx, strict=True):
            for reg, mk, col, lab in ((r3, "*", "C0", "3ph"), (r34, "o", "C4", "3+4ph")):
                tau = reg.tau_ps[it].ravel()
                m = ok & np.isfinite(tau)
                frac = reg.fraction_modes[it]
                ax.scatter(f[m] * meV, tau[m], marker=mk, s=7, color=col, alpha=0.55, lw=0,
                           label=f"{lab} (particle {frac[0]:.1%}, wave {frac[1]:.1%}, overdamped {frac[2]:.1%})")
            fg = np.linspace(f[ok].min(), f.max(), 200)
            ax.plot(fg * meV, 1.0 / (2 * np.pi * fg), "g-", lw=1.2, label=r"Ioffe-Regel limit 1/$\omega$")
            ax.axhline(r3.tau_wigner_ps, color="k", ls="--", lw=1.2, label=r"Wigner limit 1/$\Delta\omega_{ave}$")
            ax.set_yscale("log")
            ax.set_xlabel("phonon energy (meV)")
            ax.set_ylabel("lifetime (ps)")
            ax.set_title(f"T = {self.temperatures_K[it]:.0f} K, mesh {list(self.mesh)}")
            ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        return fig

    def alpha(self, which: str = "34ph") -> np.ndarray:
        """T exponent of kappa_p + kappa_c per direction (:func:`~incipient.transport.fits.power_law_alpha`)."""
        from incipient.transport.fits import power_law_alpha

        k = (self.kappa_p_34ph + self.kappa_c_34ph) if which == "34ph" else (self.kappa_p_3ph + self.kappa_c_3ph)
        return power_law_alpha(self.temperatures_K, k)

    def reduction_p(self) -> np.ndarray:
        """(nT, 3) fractional reduction of kappa_p by 4ph scattering: 1 - kappa_p(3+4ph)/kappa_p(3ph)."""
        return 1.0 - self.kappa_p_34ph / self.kappa_p_3ph

    def table(self) -> str:
        """Plain-text table: kappa_p, kappa_c (3ph and 3+4ph, x/y/z), 4ph reduction, T exponents."""
        e = self.info.get("reduction_p_err")
        red, red_err = self.reduction_p(), (np.asarray(e) if e is not None else np.zeros_like(self.kappa_p_3ph))
        rows = [f"{'T (K)':>6} {'':>12} {'x':>16} {'y':>16} {'z':>16}"]
        for t, T in enumerate(self.temperatures_K):
            def fmt(v, err=None):
                return [f"{v[i]:.4f}" + (f" +- {err[i]:.4f}" if err is not None else "") for i in range(3)]
            e3p = None if self.kappa_p_3ph_err is None else self.kappa_p_3ph_err[t]
            e3c = None if self.kappa_c_3ph_err is None else self.kappa_c_3ph_err[t]
            for lab, v, err in (("kp 3ph", self.kappa_p_3ph[t], e3p), ("kc 3ph", self.kappa_c_3ph[t], e3c),
                                ("kp 3+4ph", self.kappa_p_34ph[t], self.kappa_p_34ph_err[t]),
                                ("kc 3+4ph", self.kappa_c_34ph[t], self.kappa_c_34ph_err[t]),
                                ("4ph: dkp/kp", red[t], red_err[t])):
                rows.append(f"{T:>6g} {lab:>12} " + " ".join(f"{c:>16}" for c in fmt(v, err)))
        if len(self.temperatures_K) > 1:
            a3, a34 = self.alpha("3ph"), self.alpha("34ph")
            ae = self.info.get("alpha_34ph_err")
            rows.append(f"{'alpha':>6} {'kp+kc 3ph':>12} " + " ".join(f"{x:>16.3f}" for x in a3))
            rows.append(f"{'alpha':>6} {'kp+kc 3+4ph':>12} " + " ".join(
                f"{f'{a34[i]:.3f}' + (f' +- {ae[i]:.3f}' if ae is not None else ''):>16}" for i in range(3)))
        return "\n".join(rows)

    def plot(self):
        import matplotlib.pyplot as plt

        from incipient.transport.fits import log_temperature_axes

        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
        T = self.temperatures_K
        a3, a34 = self.alpha("3ph"), self.alpha("34ph")
        for i, ax in enumerate(axes):
            ax.plot(T, self.kappa_p_3ph[:, i] + self.kappa_c_3ph[:, i], "o-", color="C0",
                    label=f"$\\kappa_p+\\kappa_c$ 3ph ($T^{{{a3[i]:.2f}}}$)")
            ax.errorbar(T, self.kappa_p_34ph[:, i] + self.kappa_c_34ph[:, i],
                        yerr=np.hypot(self.kappa_p_34ph_err[:, i], self.kappa_c_34ph_err[:, i]), fmt="s-",
                        color="C3", capsize=3, label=f"$\\kappa_p+\\kappa_c$ 3+4ph ($T^{{{a34[i]:.2f}}}$)")
            ax.plot(T, self.kappa_p_3ph[:, i], "o:", color="C0", alpha=0.6, label="$\\kappa_p$ 3ph")
            ax.errorbar(T, self.kappa_p_34ph[:, i], yerr=self.kappa_p_34ph_err[:, i], fmt="s:", color="C3",
                        alpha=0.6, capsize=2, label="$\\kappa_p$ 3+4ph")
            ax.plot(T, self.kappa_c_34ph[:, i], "^--", color="C2", alpha=0.7, label="$\\kappa_c$ 3+4ph")
            log_temperature_axes(ax, T)
            ax.set_title("xyz"[i])
            ax.legend(fontsize=7)
        axes[0].set_ylabel("$\\kappa$ (W m$^{-1}$ K$^{-1}$)")
        sm = self.info.get("smearing4", "adaptive")
        fig.suptitle(f"Wigner kappa, mesh {list(self.mesh)}, 4ph: {self.n_samples or 'all'} q-pairs per q-point, "
                     f"{sm} smearing x{self.scalebroad:g} (cf. paper Figure 4d-f)")
        fig.tight_layout()
        return fig


#: fewest q-pairs per q-point in one 4ph batch (one ``four_phonon_rates`` call): with fewer, the
#: dominating triples cannot all be summed exactly and the stated errors are too small again
#: (docs/fourphonon.md, "Sampling errors: calibration"); fewer batches are used instead.
MIN_PAIRS_PER_BATCH = 100


def _worker_pool(n_workers: int):
    """Dask pool of ``n_workers`` worker processes with one numba and one BLAS thread each.

    :func:`incipient.transport.ensemble.dask_pool` (LocalCluster, no per-worker memory limit);
    a context manager yielding a :class:`~incipient.transport.ensemble.DaskPool`.
    """
    from incipient.transport.ensemble import dask_pool

    return dask_pool(n_workers, processes=True, single_threaded_workers=True, memory_limit=0)


def _batch_in_worker(job):
    """One 4ph batch in a worker process (see :func:`wigner_3ph_4ph`, ``n_workers``).

    The worker process's own peak RSS after the batch goes into the result's
    ``info["peak_rss_worker_MB"]`` (:func:`_own_peak_rss_MB`).
    """
    from incipient.transport.fourphonon import four_phonon_rates

    mp, fc4, T, n_samples, seed, kw, *q = job
    r = four_phonon_rates(mp, fc4, T, n_samples=n_samples, rng=np.random.default_rng(seed), n_threads=1,
                          q_indices=q[0] if q else None, **kw)
    r.info["peak_rss_worker_MB"] = _own_peak_rss_MB()
    return r


def _run_4ph_batches(mp, fc4, T, jobs, kw, *, n_workers: int, max_wall_s: float | None, t_all: float,
                     say=lambda msg: None, min_jobs: int = 2) -> list:
    """The 4ph batches ``jobs`` [(n_samples, seed), ...] in order, in waves of ``n_workers``.

    A job may carry a third element, the irreducible q-point indices it covers (a q-group of a
    batch, see ``q_groups_4ph`` of :func:`wigner_3ph_4ph`). n_workers = 1: in this process; more:
    Dask worker processes (:func:`_worker_pool`; ``mp`` and ``fc4`` are sent to each worker
    once). With ``max_wall_s`` (budget counted from the ``perf_counter`` time ``t_all``) it
    stops, after at least ``min_jobs`` jobs, before a wave that would not fit. Same rates, bit
    for bit, for any ``n_workers``.
    """
    import time

    from incipient.transport.fourphonon import four_phonon_rates

    t0 = time.perf_counter()
    B = len(jobs)
    batches = []
    with _worker_pool(n_workers) if n_workers > 1 else nullcontext() as pool:
        shared = (mp, fc4) if pool is None else tuple(pool.scatter([mp, fc4]))
        b = 0
        while b < B:
            if max_wall_s is not None and b >= min_jobs:
                per_wave = (time.perf_counter() - t0) / (b / n_workers)
                reserve = 0.05 * max_wall_s + 30.0  # Wigner assembly and jackknife
                if time.perf_counter() - t_all + per_wave + reserve > max_wall_s:
                    say(f"stopping after {b} of {B} batches: the next would exceed max_wall_s = {max_wall_s:g} s")
                    break
            wave = jobs[b:b + n_workers]
            if pool is None:
                done = [four_phonon_rates(mp, fc4, T, n_samples=job[0], rng=np.random.default_rng(job[1]),
                                          q_indices=job[2] if len(job) > 2 else None, **kw)
                        for job in wave]
            else:
                done = pool.map(_batch_in_worker, [(*shared, T, job[0], job[1], kw, *job[2:]) for job in wave])
            for r4b in done:
                batches.append(r4b)
                say(f"4ph batch {len(batches)}/{B} done ({r4b.wall_time_s:.1f} s)")
            b += len(wave)
    return batches


def _merge_q_groups(parts: list):
    """One 4ph batch from its q-group jobs (``four_phonon_rates`` results on consecutive q-points)."""
    import dataclasses

    def cat(name, axis):
        return np.concatenate([getattr(r, name) for r in parts], axis=axis)

    info = dict(parts[0].info)
    info["peak_rss_worker_MB"] = max(r.info.get("peak_rss_worker_MB", 0.0) for r in parts)
    return dataclasses.replace(parts[0], qpoints_frac=cat("qpoints_frac", 0), weights=cat("weights", 0),
                               frequencies_THz=cat("frequencies_THz", 0), rates_per_ps=cat("rates_per_ps", 1),
                               rates_stderr_per_ps=cat("rates_stderr_per_ps", 1),
                               rates_by_class_per_ps=cat("rates_by_class_per_ps", 2),
                               wall_time_s=float(sum(r.wall_time_s for r in parts)), info=info)


def _quad(a, b):
    """sqrt(a^2 + b^2) as a list (None terms left out; None if both are None)."""
    if a is None and b is None:
        return None
    tot = sum(np.asarray(x, float) ** 2 for x in (a, b) if x is not None)
    return np.sqrt(tot).tolist()


def _peak_rss_MB() -> float:
    """Peak resident memory of this process (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _own_peak_rss_MB() -> float:
    """Peak resident memory of this process's own address space (MB): Linux ``VmHWM``.

    Unlike ``getrusage`` it does not include the parent's RSS at the fork that preceded a spawned
    worker's exec (Linux carries it over); ``getrusage`` where /proc is not available.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _peak_rss_MB()


def wigner_3ph_4ph(primitive, fc2, fc3, fc4, *, supercell_matrix=(3, 3, 3), mesh=(4, 4, 4),
                   temperatures_K=(300.0, 600.0), n_samples: int | None = 100, scalebroad: float = 1.0,
                   rng: int = 0, symprec: float = 1e-3, n_replicas: int = 8, n_batches: int = 4,
                   smearing4: str = "adaptive", single_precision: bool = False,
                   max_wall_s: float | None = None, phono3py_lang: str | None = None,
                   n_workers: int = 1, velocity_convention: str = "crystal",
                   three_phonon=None, n_samples_3ph: int | None = None, floor_cv_3ph: float | None = None,
                   q_groups_4ph: int = 1,
                   fc3_mask: bool = True, progress: bool = False) -> Wigner34Result:
    """kappa_p and kappa_c with 3ph (+isotope) and with 3+4ph rates, on the same mesh.

    primitive : ase.Atoms (masses set); fc2 : array (phonopy order, ``supercell_matrix``) or file;
    fc3 : ShengBTE file / ``ShengBTEFC3``; fc4 : ShengBTE file / ``ShengBTEFC4``.
    n_samples : q-pairs sampled per irreducible q-point for 4ph (None, or at least the ~N_q^2/6
    distinct slot triples the exact sum evaluates: the exact sum).
    n_batches : the sampled q-pairs are drawn in this many independent batches (fewer when a batch
    would get under ``MIN_PAIRS_PER_BATCH`` = 100 q-pairs per q-point); the 4ph sampling
    error of kappa is the jackknife over the batches (it keeps the correlations between modes and
    q-points that share q-pairs). n_batches = 1: error from ``n_replicas`` replicas with the rates
    redrawn independently within their standard errors (ignores those correlations).
    smearing4 : "adaptive" (ShengBTE width symmetrised over the slots, 3 widths) or "fourphonon"
    (FourPhonon's width, 1-width truncation and 1.25 rad/ps partner cutoff); see
    :func:`incipient.transport.fourphonon.four_phonon_rates`.
    single_precision : complex64 contractions in the 4ph rates (~1e-7 relative change).
    max_wall_s : wall-time budget of the whole call: 4ph batches (each ``n_samples/n_batches``
    q-pairs per q-point) stop early, after at least two, when the next one would not fit; the
    result then holds the q-pairs actually used (``n_samples`` and ``info["n_batches"]``).
    phono3py_lang : phono3py's backend for the 3ph part ("C": OpenMP threads, "Rust": rayon
    threads, RAYON_NUM_THREADS; None: phono3py's default, Rust in phono3py 4.10).
    n_workers : 4ph batches run in this many single-threaded Dask worker processes at once
    (a LocalCluster, :func:`incipient.transport.ensemble.dask_pool`; the batches are independent,
    so the rates are identical to ``n_workers=1``; a single process does not gain from a second
    thread in the 4ph part). With ``max_wall_s`` the budget check is made per wave of
    ``n_workers`` batches. ``info["peak_rss_worker_MB"]``: the largest worker peak RSS.
    velocity_convention : the velocity operator's convention
    (:data:`incipient.transport.wigner_assembly.VELOCITY_CONVENTIONS`): "crystal" (atomic-position
    phases, correct, default) or "lattice_phase" / "lattice_phase_real" (lattice-vector phases only
    [real off-diagonal parts], as in ShengBTE-based Wigner add-ons; same kappa_p, a different and
    symmetry-breaking kappa_c; docs/kappa.md).
    three_phonon : a :class:`~incipient.transport.wigner.WignerResult` of the same fc2, fc3, mesh
    and temperatures (``wigner_conductivity``, tetrahedron, isotopes on): its 3ph + isotope
    linewidths and q-points are used instead of running phono3py's 3ph part again (the slow part
    on small meshes); fc3 is then not read. The 3ph kappa is reassembled from them (equal to
    phono3py's own to rounding).
    fc3_mask : give phono3py's kernel the atom triplets present in the fc3
    (``fc3_nonzero_indices``, :func:`incipient.transport.threephonon.fc3_sparsity_mask`): the
    other blocks are zero, so the rates are unchanged (to rounding), and a sparse published
    fc3 (the built-in system's: 0.06 % of the 12 x 324 x 324 atom triplets) runs many times faster. False: phono3py's
    default (every block).
    n_samples_3ph : triplets per irreducible q-point for the 3ph rates (None or 0: phono3py's exact
    RTA sum, the default). Otherwise :func:`incipient.transport.threephonon.three_phonon_rates`
    samples them (stratified, ratio estimator, phono3py's kernel on the chosen triplets) and the
    isotope rates come from :func:`~incipient.transport.threephonon.isotope_rates`; the 3ph
    sampling error of kappa comes from ``max(n_replicas, 16)`` replicas with the 3ph rates redrawn
    within their standard errors, one normal deviate per q-point and temperature shared by its
    modes (they share the sampled triplets), and is added in quadrature to the 4ph error.
    floor_cv_3ph : the sampled 3ph variance floor (``floor_cv`` of ``three_phonon_rates``; default
    its calibrated 1.0; crystals with few bands and sparse tetrahedron weights, such as fcc Cu,
    need ~3 for honest errors).
    q_groups_4ph : each 4ph batch is split into this many groups of irreducible q-points, each a
    job with its own seed, so that ``n_workers`` processes share one batch (fewer batches of more
    q-pairs are cheaper on fine meshes). 1 (default): one job per batch, as before. The rates
    depend on ``q_groups_4ph`` (other seeds), not on ``n_workers``.
    The result's ``info`` holds the wall time of each stage, the peak RSS and 4ph statistics.
    """
    import time

    from incipient.lattice.fc3_convert import shengbte_fc3_to_phono3py
    from incipient.lattice.phonons import make_phono3py, make_phonopy
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.lattice.shengbte import (
        ShengBTEFC3,
        ShengBTEFC4,
        read_shengbte_fc3,
        read_shengbte_fc4,
    )
    from incipient.transport.fits import power_law_alpha
    from incipient.transport.fourphonon import mesh_phonons
    from incipient.transport.threephonon import (
        FLOOR_CV,
        fc3_sparsity_mask,
        isotope_rates,
        three_phonon_rates,
    )
    from incipient.transport.wigner_assembly import (
        point_group_cartesian,
        velocity_operator,
        wigner_kappa,
    )

    def say(msg):
        if progress:
            print(f"[wigner34 {time.perf_counter() - t_all:8.1f} s, RSS {_peak_rss_MB():6.0f} MB] {msg}", flush=True)

    t_all = time.perf_counter()
    stages: dict[str, float] = {}
    fc2 = read_fc2(fc2) if not isinstance(fc2, np.ndarray) else fc2
    fc4 = fc4 if isinstance(fc4, ShengBTEFC4) else read_shengbte_fc4(fc4)
    T = [float(t) for t in temperatures_K]
    sampled3 = bool(n_samples_3ph)
    if sampled3 and three_phonon is not None:
        raise ValueError("n_samples_3ph and three_phonon exclude each other (three_phonon brings its own 3ph rates)")
    e3, info3 = None, {}
    if three_phonon is None:
        fc3 = fc3 if isinstance(fc3, ShengBTEFC3) else read_shengbte_fc3(fc3)
        t0 = time.perf_counter()
        ph3 = make_phono3py(primitive, supercell_matrix, symprec=symprec, fc2=fc2, lang=phono3py_lang)
        ph3.fc3 = shengbte_fc3_to_phono3py(fc3, ph3).fc3
        if fc3_mask:  # phono3py's kernel skips the atom triplets absent from the fc3 (exact, faster)
            ph3.fc3_nonzero_indices = fc3_sparsity_mask(ph3.fc3)
        ph3.mesh_numbers = list(mesh)
        ph3.init_phph_interaction()
        stages["3ph_setup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if not sampled3:
            say(f"phono3py set up ({stages['3ph_setup_s']:.1f} s); 3ph + isotope rates, SMM19 (exact)")
            ph3.run_thermal_conductivity(temperatures=T, transport_type="SMM19", is_isotope=True)
            tc = ph3.thermal_conductivity
            q, w = tc.qpoints, tc.grid_weights
            g3 = 4 * np.pi * np.asarray(tc.gamma[0])  # (nT, nq, nb) 1/ps
            giso = 4 * np.pi * np.asarray(tc.gamma_isotope[0])
        else:
            say(f"phono3py set up ({stages['3ph_setup_s']:.1f} s); 3ph rates: {int(n_samples_3ph)} sampled "
                "triplets per q-point, isotope rates")
            r3s = three_phonon_rates(ph3, T, n_samples=int(n_samples_3ph),
                                     floor_cv=FLOOR_CV if floor_cv_3ph is None else float(floor_cv_3ph),
                                     rng=np.random.default_rng(np.random.SeedSequence([int(rng), 3])),
                                     progress=progress)
            q, w = r3s.qpoints_frac, r3s.weights
            g3, e3 = r3s.rates_per_ps, r3s.rates_stderr_per_ps
            giso = isotope_rates(ph3, r3s.grid_points)
            info3 = {"n_triplets_3ph": int(r3s.n_triplets.sum()),
                     "n_triplets_3ph_evaluated": int(r3s.n_evaluated.sum()),
                     "3ph_proxy_s": r3s.info["proxy_s"], "3ph_estimator": r3s.estimator}
        stages["3ph_rates_s"] = time.perf_counter() - t0
        say(f"3ph done ({stages['3ph_rates_s']:.1f} s)")
        vel_phonon, lang = ph3, str(ph3.lang)
    else:
        r3 = three_phonon
        if tuple(int(m) for m in np.ravel(r3.mesh)) != tuple(int(m) for m in mesh):
            raise ValueError(f"three_phonon was computed on mesh {list(np.ravel(r3.mesh))}, not {list(mesh)}")
        if len(r3.temperatures_K) != len(T) or not np.allclose(r3.temperatures_K, T, atol=1e-6):
            raise ValueError(f"three_phonon has temperatures {list(r3.temperatures_K)} K, not {T}")
        if not r3.is_isotope:
            raise ValueError("three_phonon was computed without isotope scattering; wigner_3ph_4ph includes it")
        stages["3ph_setup_s"] = stages["3ph_rates_s"] = 0.0
        q, w = np.asarray(r3.qpoints), np.asarray(r3.weights)
        g3 = 4 * np.pi * (np.asarray(r3.gamma_THz) - np.asarray(r3.gamma_isotope_THz)[None])
        giso = 4 * np.pi * np.asarray(r3.gamma_isotope_THz)
        vel_phonon, lang = None, "reused"
        say(f"3ph + isotope linewidths reused ({len(q)} irreducible q-points)")
    wall3 = stages["3ph_setup_s"] + stages["3ph_rates_s"]
    t1 = time.perf_counter()
    ph = make_phonopy(primitive, supercell_matrix, fc2, symprec=symprec)
    mp = mesh_phonons(ph, list(mesh), imaginary="drop", symprec=symprec)
    stages["4ph_phonons_s"] = time.perf_counter() - t1
    t0 = time.perf_counter()
    vel_phonon = vel_phonon or ph
    f, v = velocity_operator(vel_phonon, q, velocity_convention=velocity_convention)
    rots = point_group_cartesian(vel_phonon.primitive, symprec=symprec)
    vol = vel_phonon.primitive.volume
    stages["velocity_operator_s"] = time.perf_counter() - t0
    n_ir = len(mp.grid.ir_index)
    # the exact sum evaluates each unordered slot triple once (~N_q^2/6 q-pairs): no more than the sample
    exact = n_samples is None or n_samples >= mp.grid.n_q ** 2 // 6
    # the stratified sampler needs ~100 q-pairs per call for honest errors (docs/fourphonon.md, calibration)
    B = 1 if exact else max(1, min(int(n_batches), int(n_samples) // MIN_PAIRS_PER_BATCH))
    sizes = [len(c) for c in np.array_split(np.arange(0 if exact else int(n_samples)), B)] if not exact else [0]
    say(f"4ph rates: {n_ir} irreducible q-points, "
        + ("exact sum" if exact else f"{n_samples} of {mp.grid.n_q ** 2} q-pairs each in {B} batches")
        + f", smearing {smearing4}, scalebroad {scalebroad}")
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(rng).spawn(B)
    kw = {"smearing": smearing4, "scalebroad": scalebroad, "single_precision": single_precision}
    G = max(1, min(int(q_groups_4ph), n_ir))
    if G == 1:
        jobs = [(None if exact else sizes[b], seeds[b]) for b in range(B)]
    else:  # each batch in G groups of q-points, each with its own seed
        groups = np.array_split(np.arange(n_ir), G)
        jobs = [(None if exact else sizes[b], sd, groups[c]) for b in range(B)
                for c, sd in enumerate(seeds[b].spawn(G))]
    n_workers = max(1, min(int(n_workers), len(jobs)))
    done = _run_4ph_batches(mp, fc4, T, jobs, kw, n_workers=n_workers, max_wall_s=max_wall_s, t_all=t_all,
                            say=say, min_jobs=2 * G)
    batches = done if G == 1 else [_merge_q_groups(done[b * G:(b + 1) * G]) for b in range(len(done) // G)]
    stages["4ph_rates_s"] = time.perf_counter() - t0
    if len(batches) < B:
        B = len(batches)
        sizes = sizes[:B]
        n_samples = int(sum(sizes))
    wall4 = stages["4ph_phonons_s"] + stages["4ph_rates_s"]
    wts = np.asarray(sizes, float) / max(sum(sizes), 1) if not exact else np.ones(1)
    rb = np.stack([r.rates_per_ps for r in batches])  # (B, nT, n_ir, nb)
    eb = np.stack([r.rates_stderr_per_ps for r in batches])
    rates4 = np.einsum("b,btqs->tqs", wts, rb)
    stderr4 = np.sqrt(np.einsum("b,btqs->tqs", wts**2, eb**2))
    grid = mp.grid
    rep = grid.mapping[grid.index_of(np.rint(np.asarray(q) * np.asarray(mesh)).astype(int))]
    pos = {int(i): k for k, i in enumerate(grid.ir_index)}
    kk = np.array([pos[int(r)] for r in rep])
    valid = f > 0.05
    t0 = time.perf_counter()

    def on_p3(x):
        return np.where(valid[None], x[:, kk], 0.0)

    g4 = on_p3(rates4)
    e4 = on_p3(stderr4)
    d = lambda a: np.einsum("tii->ti", np.asarray(a))  # noqa: E731
    k3 = wigner_kappa(f, v, g3 + giso[None], T, vol, weights=w, rotations_cartesian=rots)
    k34 = wigner_kappa(f, v, g3 + giso[None] + g4, T, vol, weights=w, rotations_cartesian=rots)
    if B > 1:  # jackknife over the independent batches
        jk = []
        for b in range(B):
            keep = np.arange(B) != b
            wk = wts[keep] / wts[keep].sum()
            gb = on_p3(np.einsum("b,btqs->tqs", wk, rb[keep]))
            kr = wigner_kappa(f, v, g3 + giso[None] + gb, T, vol, weights=w, rotations_cartesian=rots)
            jk.append(np.stack([d(kr.kappa_p), d(kr.kappa_c)]))
        jk = np.asarray(jk)  # (B, 2, nT, 3)

        def spread(x):  # jackknife standard error over axis 0
            x = np.asarray(x)
            return np.sqrt((B - 1) / B * ((x - x.mean(axis=0)) ** 2).sum(axis=0))

        err = spread(jk)
        samples = jk
        err_method = f"jackknife over {B} batches"
    else:
        gen = np.random.default_rng(rng + 1)
        reps = []
        for _ in range(n_replicas if not exact else 0):
            kr = wigner_kappa(f, v, g3 + giso[None] + np.maximum(g4 + e4 * gen.standard_normal(g4.shape), 0), T,
                              vol, weights=w, rotations_cartesian=rots)
            reps.append(np.stack([d(kr.kappa_p), d(kr.kappa_c)]))
        err = np.std(reps, axis=0) if reps else np.zeros((2, len(T), 3))
        err_method = f"{len(reps)} replicas, independent normal rates" if reps else "exact"
        samples = np.asarray(reps) if reps else np.zeros((0, 2, len(T), 3))

        def spread(x):
            return np.std(np.asarray(x), axis=0) if len(x) else np.zeros(np.shape(x)[1:])
    kp3, kc3 = d(k3.kappa_p), d(k3.kappa_c)
    red = [1.0 - smp[0] / kp3 for smp in samples]
    al = [power_law_alpha(T, smp[0] + smp[1]) for smp in samples] if len(T) > 1 else []
    err3 = None
    red3, al3 = [], []
    if sampled3:  # 3ph sampling error: replicas, one deviate per q-point and T shared by its modes
        gen3 = np.random.default_rng(np.random.SeedSequence([int(rng), 4]))
        e3v = np.where(valid[None], e3, 0.0)
        reps3, reps34 = [], []
        for _ in range(max(int(n_replicas), 16)):
            # floored at half the estimate: a rate near 0 would make a replica's kappa diverge
            g3r = np.maximum(g3 + e3v * gen3.standard_normal((len(T), len(q), 1)), 0.5 * g3)
            k3r = wigner_kappa(f, v, g3r + giso[None], T, vol, weights=w, rotations_cartesian=rots)
            k34r = wigner_kappa(f, v, g3r + giso[None] + g4, T, vol, weights=w, rotations_cartesian=rots)
            reps3.append(np.stack([d(k3r.kappa_p), d(k3r.kappa_c)]))
            reps34.append(np.stack([d(k34r.kappa_p), d(k34r.kappa_c)]))
            red3.append(1.0 - reps34[-1][0] / reps3[-1][0])
            if len(T) > 1:
                al3.append(power_law_alpha(T, reps34[-1][0] + reps34[-1][1]))
        err3 = np.std(reps3, axis=0)
        err = np.sqrt(err**2 + np.std(reps34, axis=0) ** 2)
        err_method += f" (4ph) + {len(reps3)} replicas of the 3ph rates (3ph)"
    stages["wigner_assembly_s"] = time.perf_counter() - t0
    stages["total_s"] = time.perf_counter() - t_all
    ok = (g4 > 0) & (g3 > 0)
    rel = np.where(g4 > 0, e4 / np.where(g4 > 0, g4, 1.0), np.nan)
    info = {
        "stages_s": stages, "peak_rss_MB": _peak_rss_MB(), "error_method": err_method, "n_batches": B,
        "velocity_convention": velocity_convention,
        "n_workers": n_workers,
        "peak_rss_worker_MB": max(r.info.get("peak_rss_worker_MB", 0.0) for r in batches) if n_workers > 1 else 0.0,
        "n_irreducible_q": int(n_ir), "n_pairs_total": int(grid.n_q ** 2), "smearing4": smearing4,
        "single_precision": bool(single_precision), "n_imaginary_modes": int(mp.n_imaginary),
        "phono3py_lang": lang,
        "median_rel_stderr_4ph": [float(np.nanmedian(rel[t][ok[t]])) for t in range(len(T))],
        "median_rel_stderr_3ph": None if e3 is None else [
            float(np.nanmedian(np.where(g3[t] > 0, e3[t] / np.where(g3[t] > 0, g3[t], 1.0), np.nan)[valid]))
            for t in range(len(T))],
        "median_ratio_4ph_3ph": [float(np.median((g4[t] / np.where(g3[t] > 0, g3[t], 1.0))[ok[t]])) for t in range(len(T))],
        "reduction_p_err": _quad(spread(red) if len(red) else None, np.std(red3, axis=0) if red3 else None),
        "alpha_34ph_err": _quad(spread(al) if len(al) else None, np.std(al3, axis=0) if al3 else None),
        "fc3_mask": bool(fc3_mask) and three_phonon is None,
        "n_samples_3ph": int(n_samples_3ph or 0), "q_groups_4ph": G,
        **info3,
        "cutoff_sigmas_4ph": batches[0].info["cutoff_sigmas"],
        "min_partner_frequency_THz": batches[0].info["min_partner_frequency_THz"],
    }
    say("done")
    return Wigner34Result(temperatures_K=np.array(T), kappa_p_3ph=kp3, kappa_c_3ph=kc3,
                          kappa_p_34ph=d(k34.kappa_p), kappa_c_34ph=d(k34.kappa_c), kappa_p_34ph_err=err[0],
                          kappa_c_34ph_err=err[1], mesh=tuple(int(m) for m in mesh), n_samples=int(n_samples or 0),
                          scalebroad=float(scalebroad), n_dropped_modes=int((~valid).sum()), wall_3ph_s=wall3,
                          wall_4ph_s=wall4, info=info, frequencies_THz=np.asarray(f), weights=np.asarray(w),
                          rates_3ph_per_ps=np.where(valid[None], g3 + giso[None], 0.0),
                          rates_34ph_per_ps=np.where(valid[None], g3 + giso[None] + g4, 0.0),
                          n_atoms_prim=len(vel_phonon.primitive), qpoints_frac=np.asarray(q, float),
                          n_samples_3ph=int(n_samples_3ph or 0),
                          kappa_p_3ph_err=None if err3 is None else err3[0],
                          kappa_c_3ph_err=None if err3 is None else err3[1])
