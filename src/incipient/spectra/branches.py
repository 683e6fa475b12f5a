"""The lowest phonon branch of an S(Q,w) map: a DHO fit at each Q (dispersion, linewidth, persistence).

Own code around :func:`incipient.spectra.dho.fit_dho` (paper eq. 3). At each Q of a
:class:`~incipient.spectra.sqw.SqwResult` the lowest prominent
inelastic peak is located on the smoothed spectrum and one damped harmonic oscillator plus an
elastic line and a constant background is fitted in the window [0, 2 E_peak + 2 dE], with the MD
energy resolution dE (the bin spacing) as a Gaussian resolution. MD spectra carry no counting
errors: the fit's covariance is scaled by its reduced chi^2, so the stated errors measure how well
one DHO describes the peak, not statistics. For the transverse acoustic (TA) branch on a path
leaving a Bragg point this gives E_c(Q), the FWHM 2 gamma(Q), and the quality factor
E_c / (2 gamma): a mode with E_c > gamma is underdamped (it persists for more than one period),
one with gamma >= E_c is overdamped (no propagating phonon), the paper's TA-mode question.
A Q with no inelastic peak (e.g. a Bragg point), or whose fit fails, puts E_c at the edge of its
window or leaves E_c uncertain by more than ``MAX_RELATIVE_ERROR`` of itself, is marked False in ``fitted`` and reported as NaN.
Q = 0 is never fitted: the density's Q = 0 component is the constant number of atoms, so
S(0, w) is elastic only and any peak above zero energy is rounding noise. A FWHM well below the bin spacing means
a resolution-limited (long-lived) mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

#: a fit whose E_c error exceeds this fraction of E_c is reported as not resolved
MAX_RELATIVE_ERROR = 0.25


@dataclass(frozen=True)
class BranchFit(Result):
    """DHO fits of the lowest branch along one Q path (energies in meV, errors 1 sigma scaled by chi^2).

    q_rlu: (Nq, 3); q_distance_invA: (Nq,); E_c_meV, E_c_err_meV, fwhm_meV, fwhm_err_meV,
    quality_factor (E_c / FWHM): (Nq,), NaN where not ``fitted``; fitted: (Nq,) bool;
    temperature_K; resolution_meV: the bin spacing used as resolution FWHM; path: its label.
    """

    q_rlu: np.ndarray
    q_distance_invA: np.ndarray
    E_c_meV: np.ndarray
    E_c_err_meV: np.ndarray
    fwhm_meV: np.ndarray
    fwhm_err_meV: np.ndarray
    quality_factor: np.ndarray
    fitted: np.ndarray
    temperature_K: float
    resolution_meV: float
    path: str = ""

    @property
    def underdamped_fraction(self) -> float:
        """Fraction of the fitted Q points whose mode is underdamped (E_c > gamma = FWHM / 2)."""
        ok = self.fitted
        return float(np.mean(self.E_c_meV[ok] > 0.5 * self.fwhm_meV[ok])) if ok.any() else float("nan")

    def table(self) -> str:
        rows = [f"{self.path} at {self.temperature_K:g} K (lowest branch, DHO per Q; resolution {self.resolution_meV:.2f} meV)",
                "  Q (r.l.u.)            E_c (meV)        FWHM (meV)       E_c/FWHM"]
        for k in range(len(self.q_rlu)):
            q = "(" + ",".join(f"{x:.3g}" for x in self.q_rlu[k]) + ")"
            if not self.fitted[k]:
                rows.append(f"  {q:20s}  not resolved")
                continue
            rows.append(f"  {q:20s}  {self.E_c_meV[k]:6.2f} +- {self.E_c_err_meV[k]:5.2f}  "
                        f"{self.fwhm_meV[k]:6.2f} +- {self.fwhm_err_meV[k]:5.2f}  {self.quality_factor[k]:6.2f}")
        return "\n".join(rows)

    def plot(self, ax=None):
        """E_c(Q) with error bars and the FWHM as a shaded band."""
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(4.5, 3.4)) if ax is None else (ax.figure, ax))
        ok = self.fitted
        x = self.q_distance_invA
        ax.fill_between(x[ok], (self.E_c_meV - self.fwhm_meV / 2)[ok], (self.E_c_meV + self.fwhm_meV / 2)[ok],
                        color="tab:blue", alpha=0.25, label="E_c +- FWHM/2")
        ax.errorbar(x[ok], self.E_c_meV[ok], yerr=self.E_c_err_meV[ok], fmt="o", color="tab:blue", ms=4,
                    label="E_c (DHO)")
        ax.set_xlabel("|Q - Q_0| (1/A)")
        ax.set_ylabel("Energy (meV)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{self.path}, {self.temperature_K:g} K: lowest branch, "
                     f"{100 * self.underdamped_fraction:.0f} % underdamped", fontsize=8)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def _lowest_peak(e: np.ndarray, y: np.ndarray, e_min: float) -> float | None:
    """Energy of the lowest prominent peak above ``e_min`` on the 3-point smoothed spectrum."""
    from scipy.signal import find_peaks

    m = e > e_min
    if m.sum() < 5:
        return None
    ys = np.convolve(np.pad(y[m], 1, mode="edge"), np.ones(3) / 3, mode="valid")
    peaks, _ = find_peaks(ys, prominence=max(0.1 * float(np.ptp(ys)), 0.05 * float(np.abs(ys).max())))
    return float(e[m][peaks[0]]) if peaks.size else None


def fit_lowest_branch(s, *, temperature_K: float, path: str = "", energy_max_meV: float | None = None) -> BranchFit:
    """DHO fit of the lowest inelastic peak at every Q of an :class:`SqwResult` (see the module docstring).

    energy_max_meV: only peaks below this are looked for (default: all energies).
    """
    from incipient.spectra.dho import fit_dho

    e = np.asarray(s.energy_meV, float)
    de = float(e[1] - e[0])
    spec = np.asarray(s.sqw_per_meV, float)
    nq = len(s.q_rlu)
    out = {k: np.full(nq, np.nan) for k in ("E_c_meV", "E_c_err_meV", "fwhm_meV", "fwhm_err_meV")}
    fitted = np.zeros(nq, bool)
    top = e[-1] if energy_max_meV is None else float(energy_max_meV)
    q_zero = np.abs(np.asarray(s.q_rlu, float)).max(axis=1) < 1e-9  # S(0, w): elastic only
    for k in range(nq):
        if q_zero[k]:
            continue
        y = spec[k]
        ep = _lowest_peak(e[e <= top], y[e <= top], 1.5 * de)
        if ep is None:
            continue
        w = e <= 2 * ep + 2 * de
        if w.sum() < 8:
            w = np.arange(e.size) < 8
        try:
            f = fit_dho(e[w], y[w], temperature_K=temperature_K, resolution_fwhm_meV=de, n_modes=1,
                        initial_E_c_meV=[ep], initial_fwhm_meV=max(2 * de, 0.1 * ep))
        except (RuntimeError, ValueError):
            continue
        ec, fw = float(f.E_c_meV[0]), float(f.fwhm_meV[0])
        if not (np.isfinite(ec) and np.isfinite(fw)) or ec <= de or ec >= e[w][-1]:
            continue
        if not (f.E_c_err_meV[0] < MAX_RELATIVE_ERROR * ec and np.isfinite(f.fwhm_err_meV[0])):
            continue  # one DHO does not describe this peak (too short a run, or several modes)
        out["E_c_meV"][k], out["E_c_err_meV"][k] = ec, float(f.E_c_err_meV[0])
        out["fwhm_meV"][k], out["fwhm_err_meV"][k] = fw, float(f.fwhm_err_meV[0])
        fitted[k] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        qf = out["E_c_meV"] / out["fwhm_meV"]
    return BranchFit(q_rlu=np.asarray(s.q_rlu, float), q_distance_invA=np.asarray(s.q_distance_invA, float),
                     quality_factor=qf, fitted=fitted, temperature_K=float(temperature_K), resolution_meV=de,
                     path=path, **out)
