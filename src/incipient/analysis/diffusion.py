"""Tracer diffusion coefficients D_x, D_y, D_z and D from MSD slopes, with honest error bars.

Own code on top of ``incipient.analysis.msd`` (numpy FFT MSD). Estimator: an ordinary least
squares line MSD_a(t) = 2 D_a t + c_a over a fit window; isotropic D = (D_x + D_y + D_z) / 3,
i.e. MSD = 6 D t. Because the fit is linear in the MSD, the slope of the ion-averaged MSD is the
mean of the per-ion slopes, and the MSD points of one ion are strongly correlated in time, so
the uncertainty is NOT taken from the fit residuals. Instead:

* ``error_method="ions"``: standard error of the mean of the per-ion slopes (ions are the
  independent samples; equivalent to a bootstrap over ions for large N);
* ``error_method="blocks"``: the trajectory is cut into ``n_blocks`` consecutive blocks, D is
  fitted in each (window clipped to [<=20 %, <=50 %] of a block); the reported D is then the
  mean of the block values and its error std / sqrt(n_blocks), so value and error refer to the
  same estimator (the reported fit window is the block window). With few blocks the error
  itself is uncertain (Student t with n_blocks - 1 degrees of freedom);
* ``"auto"`` uses ions when there are at least 10, blocks otherwise.

Both assume ions (or blocks) are independent; collective correlated hops would make them
optimistic. kinisi's Bayesian covariance approach is the reference tool (benchmarks/bench_msd.py).
Units: positions in A, time in ps, 1 A^2/ps = 1e-4 cm^2/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.analysis.msd import (
    _lag_count,
    _species_name,
    drift_corrected_displacements,
    iter_ion_msd,
    msd_stats,
)
from incipient.results import Result
from incipient.units import A2_per_ps_to_cm2_per_s

ERROR_METHODS = ("auto", "ions", "blocks")


@dataclass(frozen=True)
class DiffusionResult(Result):
    """Diffusion coefficients of one species from the MSD.

    D_xyz_cm2_s : (3,) D along x, y, z in cm^2/s (MSD_a = 2 D_a t).
    D_err_xyz_cm2_s : (3,) one-sigma uncertainty of D_xyz_cm2_s, cm^2/s.
    D_cm2_s, D_err_cm2_s : isotropic D = mean of the three (MSD = 6 D t) and its error, cm^2/s.
    fit_window_ps : (2,) first and last lag time used in the fit, ps.
    intercept_xyz_A2 : (3,) fitted MSD intercepts, A^2 (vibrational amplitude offset).
    time_ps : (L,) lag times, ps; msd_xyz_A2, msd_sem_xyz_A2 : (L, 3) ion-averaged MSD and its
    standard error over ions, A^2.
    error_method : "ions" or "blocks" (see module docstring); n_blocks used by "blocks".
    """

    species: str
    n_ions: int
    timestep_fs: float
    D_xyz_cm2_s: np.ndarray
    D_err_xyz_cm2_s: np.ndarray
    D_cm2_s: float
    D_err_cm2_s: float
    fit_window_ps: np.ndarray
    intercept_xyz_A2: np.ndarray
    error_method: str
    n_blocks: int
    drift: str
    time_ps: np.ndarray
    msd_xyz_A2: np.ndarray
    msd_sem_xyz_A2: np.ndarray

    def summary(self) -> dict:
        """Scalars only (no curves), for JSON reports."""
        return {
            "species": self.species, "n_ions": self.n_ions, "timestep_fs": self.timestep_fs,
            "D_xyz_cm2_s": [float(v) for v in self.D_xyz_cm2_s],
            "D_err_xyz_cm2_s": [float(v) for v in self.D_err_xyz_cm2_s],
            "D_cm2_s": float(self.D_cm2_s), "D_err_cm2_s": float(self.D_err_cm2_s),
            "fit_window_ps": [float(v) for v in self.fit_window_ps],
            "error_method": self.error_method, "drift": self.drift,
        }

    def plot(self, ax=None):
        """MSD_x, MSD_y, MSD_z with their fitted lines and the fit window shaded (cf. Figure 2a)."""
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(5, 3.6)) if ax is None else (ax.figure, ax))
        t = self.time_ps
        for k, lab in enumerate("xyz"):
            line, = ax.plot(t, self.msd_xyz_A2[:, k], label=(
                f"{lab}: D = {self.D_xyz_cm2_s[k]:.2e} $\\pm$ {self.D_err_xyz_cm2_s[k]:.1e} cm$^2$/s"))
            ax.fill_between(t, self.msd_xyz_A2[:, k] - self.msd_sem_xyz_A2[:, k],
                            self.msd_xyz_A2[:, k] + self.msd_sem_xyz_A2[:, k],
                            color=line.get_color(), alpha=0.25, lw=0)
            slope = 2.0 * self.D_xyz_cm2_s[k] / A2_per_ps_to_cm2_per_s
            ax.plot(t, self.intercept_xyz_A2[k] + slope * t, "--", color=line.get_color(), lw=1)
        ax.axvspan(*self.fit_window_ps, color="0.9", zorder=0)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel(r"MSD ($\AA^2$)")
        ax.set_title(f"{self.species}: D = {self.D_cm2_s:.2e} $\\pm$ {self.D_err_cm2_s:.1e} cm$^2$/s",
                     fontsize=9)
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        return fig


def _window(time_ps: np.ndarray, start: float, end: float) -> np.ndarray:
    w = np.flatnonzero((time_ps >= start - 1e-12) & (time_ps <= end + 1e-12))
    if w.size < 3:
        raise ValueError(f"fit window [{start}, {end}] ps holds {w.size} MSD points; need >= 3 "
                         f"(lags run from 0 to {time_ps[-1]:.4g} ps)")
    return w


def _slope_weights(t: np.ndarray) -> np.ndarray:
    """OLS weights a with slope = a @ y for a line with intercept through (t, y)."""
    tc = t - t.mean()
    return tc / (tc @ tc)


def _fit_lines(time_ps, msd_mean, w):
    a = _slope_weights(time_ps[w])
    slope = a @ msd_mean[w]  # (3,)
    intercept = msd_mean[w].mean(axis=0) - slope * time_ps[w].mean()
    return slope, intercept


def diffusion(frames_or_path, species: str | int = "Cu", timestep_fs: float | None = None, *,
              fit_start_ps: float | None = None, fit_end_ps: float | None = None,
              error_method: str = "auto", n_blocks: int = 8, drift: str = "framework",
              max_lag_ps: float | None = None) -> DiffusionResult:
    """D_x, D_y, D_z and D (cm^2/s) of ``species`` with one-sigma errors.

    frames_or_path : Trajectory, list of ASE Atoms, or a trajectory file (see
        ``incipient.md.trajectory.read_trajectory``); ``timestep_fs`` is the time between frames.
    fit_start_ps, fit_end_ps : fit window on the lag axis; defaults 10 % and 50 % of the
        trajectory duration (skips the ballistic/vibrational rise, avoids the noisy long lags).
    error_method : "ions", "blocks" or "auto" (see module docstring).
    """
    from incipient.md.trajectory import read_trajectory

    if error_method not in ERROR_METHODS:
        raise ValueError(f"error_method must be one of {ERROR_METHODS}, got {error_method!r}")
    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    if traj.n_frames < 8:
        raise ValueError(f"trajectory has {traj.n_frames} frames; need at least 8 for a fit")
    disp = drift_corrected_displacements(traj, species, drift)
    n_ions = disp.shape[1]
    dt_ps = traj.dt_fs / 1000.0
    duration = (traj.n_frames - 1) * dt_ps
    start = 0.1 * duration if fit_start_ps is None else float(fit_start_ps)
    end = 0.5 * duration if fit_end_ps is None else float(fit_end_ps)
    if not 0 <= start < end:
        raise ValueError(f"fit window must satisfy 0 <= fit_start_ps < fit_end_ps, got [{start}, {end}]")
    n_lag = max(_lag_count(traj.n_frames, traj.dt_fs, max_lag_ps),
                min(traj.n_frames, int(np.floor(end / dt_ps)) + 1))
    time_ps = np.arange(n_lag) * dt_ps
    w = _window(time_ps, start, end)
    a = _slope_weights(time_ps[w])

    # per-ion slopes (N, 3) and ion-averaged MSD in one pass over chunks of ions
    slopes = np.empty((n_ions, 3))
    s = np.zeros((n_lag, 3))
    s2 = np.zeros((n_lag, 3))
    for sl, m in iter_ion_msd(disp, max_lag=n_lag):
        slopes[sl] = np.einsum("l,lnk->nk", a, m[w])
        s += m.sum(axis=1)
        s2 += (m * m).sum(axis=1)
    msd_mean = s / n_ions
    if n_ions > 1:
        sem = np.sqrt(np.maximum(s2 / n_ions - msd_mean**2, 0.0) * (n_ions / (n_ions - 1)) / n_ions)
    else:
        sem = np.full_like(msd_mean, np.nan)
    slope, intercept = _fit_lines(time_ps, msd_mean, w)
    d_xyz = slope / 2.0
    d_iso = d_xyz.mean()

    method = error_method
    if method == "auto":
        method = "ions" if n_ions >= 10 else "blocks"
    if method == "ions":
        if n_ions < 2:
            raise ValueError("error_method='ions' needs at least 2 ions; use 'blocks'")
        per_ion = slopes / 2.0
        err_xyz = per_ion.std(axis=0, ddof=1) / np.sqrt(n_ions)
        err_iso = per_ion.mean(axis=1).std(ddof=1) / np.sqrt(n_ions)
        window = np.array([time_ps[w[0]], time_ps[w[-1]]])
    else:
        d_xyz, err_xyz, d_iso, err_iso, window = _block_estimates(disp, dt_ps, start, end, n_blocks)
        wb = _window(time_ps, *window)
        intercept = msd_mean[wb].mean(axis=0) - 2.0 * d_xyz * time_ps[wb].mean()

    c = A2_per_ps_to_cm2_per_s
    return DiffusionResult(
        species=_species_name(traj, species), n_ions=int(n_ions), timestep_fs=float(traj.dt_fs),
        D_xyz_cm2_s=d_xyz * c, D_err_xyz_cm2_s=np.asarray(err_xyz) * c, D_cm2_s=float(d_iso * c),
        D_err_cm2_s=float(err_iso * c), fit_window_ps=window,
        intercept_xyz_A2=intercept, error_method=method, n_blocks=int(n_blocks) if method == "blocks" else 0,
        drift=drift, time_ps=time_ps, msd_xyz_A2=msd_mean, msd_sem_xyz_A2=sem)


def _block_estimates(disp, dt_ps, start, end, n_blocks):
    """Block means and standard errors: (D_xyz, err_xyz, D, err, window) in A^2/ps and ps."""
    n_blocks = int(n_blocks)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2, got {n_blocks}")
    n_t = disp.shape[0] // n_blocks
    if n_t < 8:
        raise ValueError(f"{disp.shape[0]} frames cannot be cut into {n_blocks} blocks of >= 8 frames")
    t_block = np.arange(n_t) * dt_ps
    b_end = min(end, 0.5 * t_block[-1])
    b_start = min(start, 0.2 * t_block[-1])
    w = _window(t_block, b_start, b_end)
    d = []
    for b in range(n_blocks):
        mean, _ = msd_stats(disp[b * n_t:(b + 1) * n_t], n_t)
        slope, _ = _fit_lines(t_block, mean, w)
        d.append(slope / 2.0)
    d = np.array(d)
    root = np.sqrt(n_blocks)
    return (d.mean(axis=0), d.std(axis=0, ddof=1) / root, float(d.mean()),
            float(d.mean(axis=1).std(ddof=1) / root), np.array([t_block[w[0]], t_block[w[-1]]]))
