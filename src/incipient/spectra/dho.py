"""Damped-harmonic-oscillator fits of constant-Q spectra (paper eq. 3) with resolution and detailed balance.

Own code around ``scipy.optimize.curve_fit``. Model (energies in meV, E > 0 energy loss):

    I(E) = R * [ sum_j DHO_j(E) + A_el delta(E) ] + B,
    DHO_j(E) = A_j (n(E) + 1) (4 gamma_j E / pi) / ((E^2 - Ec_j^2)^2 + (2 gamma_j E)^2),

with n(E) = 1/(exp(E/kT) - 1), so (n(E)+1) = 1/(1 - exp(-E/kT)) obeys detailed balance
I(-E) = exp(-E/kT) I(E) (Fak & Dorner, Physica B 234, 1107 (1997)). Near Ec the DHO is a
Lorentzian of FWHM 2 gamma, the paper's linewidth. Note: the paper's eq. 3 prints the Bose
factor as 1/n(E); that would break detailed balance, so the standard (n+1) form is used here.
R is a :class:`~incipient.spectra.resolution.Resolution` (a FWHM means a Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from incipient.results import Result
from incipient.spectra.resolution import as_resolution, convolve
from incipient.units import bose_einstein, kB_eV_K


def bose_factor_times_E(e_meV, temperature_K: float) -> np.ndarray:
    """E (n(E) + 1) in meV, finite at E = 0 (= kT) and for T = 0 (= max(E, 0))."""
    e = np.asarray(e_meV, dtype=float)
    if temperature_K <= 0:
        return np.clip(e, 0, None)
    kt = kB_eV_K * 1e3 * temperature_K
    x = e / kt
    small = np.abs(x) < 1e-8
    with np.errstate(over="ignore", invalid="ignore"):
        out = -e * bose_einstein(-np.where(small, 1.0, x))  # E (n(x) + 1) = -E n(-x)
    return np.where(small, kt, np.nan_to_num(out, nan=0.0, posinf=0.0))


def dho(e_meV, amplitude, e_c_meV, gamma_meV, temperature_K: float) -> np.ndarray:
    """One DHO with detailed balance (unconvolved), see module docstring."""
    e = np.asarray(e_meV, dtype=float)
    den = (e**2 - e_c_meV**2) ** 2 + (2 * gamma_meV * e) ** 2
    return amplitude * 4 * gamma_meV / np.pi * bose_factor_times_E(e, temperature_K) / np.maximum(den, 1e-300)


def dho_model(e_meV, params, *, temperature_K: float, resolution=None, n_modes: int = 1,
              elastic: bool = True) -> np.ndarray:
    """Full model: params = [background, elastic amplitude, (A, Ec, gamma) x n_modes]."""
    res = as_resolution(resolution)
    bkg, a_el = params[0], params[1]
    modes = np.asarray(params[2:]).reshape(n_modes, 3)

    def inelastic(x):
        return sum(dho(x, a, ec, g, temperature_K) for a, ec, g in modes)

    out = convolve(inelastic, e_meV, res) if res is not None else inelastic(np.asarray(e_meV, float))
    if elastic:
        if res is None:
            raise ValueError("an elastic line needs a resolution (delta function otherwise)")
        out = out + a_el * res(np.asarray(e_meV, float))
    return out + bkg


@dataclass(frozen=True)
class DhoFitResult(Result):
    """DHO fit of one constant-Q spectrum (meV; errors are 1 sigma from the covariance).

    E_c_meV, E_c_err_meV, fwhm_meV (= 2 gamma), fwhm_err_meV, amplitude, amplitude_err: (n_modes,);
    elastic_amplitude, background (+ _err); chi2_reduced; energy_meV, intensity, errors, model:
    (NE,) data and best fit; params, covariance: raw fit vector [bkg, A_el, (A, Ec, gamma)...].
    """

    E_c_meV: np.ndarray
    E_c_err_meV: np.ndarray
    fwhm_meV: np.ndarray
    fwhm_err_meV: np.ndarray
    amplitude: np.ndarray
    amplitude_err: np.ndarray
    elastic_amplitude: float
    elastic_amplitude_err: float
    background: float
    background_err: float
    chi2_reduced: float
    energy_meV: np.ndarray
    intensity: np.ndarray
    errors: np.ndarray | None
    model: np.ndarray
    params: np.ndarray
    covariance: np.ndarray
    temperature_K: float
    resolution: dict = field(default_factory=dict)
    n_modes: int = 1
    elastic: bool = True

    def plot(self, ax=None, *, log_scale: bool = False):
        """Constant-Q scan with the fit, its DHO components and the elastic line."""
        import matplotlib.pyplot as plt

        from incipient.spectra.resolution import Resolution

        fig, ax = (plt.subplots(figsize=(4.5, 3.2)) if ax is None else (ax.figure, ax))
        e = self.energy_meV
        ax.errorbar(e, self.intensity, yerr=self.errors, fmt="o", ms=3, color="k", label="data")
        fine = np.linspace(e.min(), e.max(), 600)
        res = Resolution(**self.resolution) if self.resolution else None
        kw = dict(temperature_K=self.temperature_K, resolution=res, n_modes=self.n_modes,
                  elastic=self.elastic)
        ax.plot(fine, dho_model(fine, self.params, **kw), "r-", label="fit")
        for j in range(self.n_modes):
            p = np.zeros_like(self.params)
            p[2 + 3 * j: 5 + 3 * j] = self.params[2 + 3 * j: 5 + 3 * j]
            ax.plot(fine, dho_model(fine, p, **{**kw, "elastic": False}), "--", lw=1,
                    label=f"E_c={self.E_c_meV[j]:.2f}±{self.E_c_err_meV[j]:.2f}, "
                          f"2γ={self.fwhm_meV[j]:.2f}±{self.fwhm_err_meV[j]:.2f} meV")
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("Energy (meV)")
        ax.set_ylabel("Intensity")
        ax.legend(fontsize=6)
        fig.tight_layout()
        return fig


def _initial_modes(e, y, n_modes, min_e) -> list[list[float]]:
    """Starting mode energies: the most prominent peaks at E > min_e, completed (for shoulders)
    by a few alternative positions; each returned list is one start."""
    from scipy.signal import find_peaks

    pos = e > min_e
    e_hi = float(e.max())
    if pos.sum() < 3:
        return [list(np.linspace(max(min_e, 0.1) * 2, e_hi * 0.8, n_modes))]
    ys = np.convolve(y[pos], np.ones(3) / 3, mode="same")
    peaks, props = find_peaks(ys, prominence=0.05 * float(np.ptp(ys)))
    order = np.argsort(props["prominences"])[::-1] if peaks.size else []
    found = [float(x) for x in e[pos][peaks[order[:n_modes]]]] if peaks.size else []
    lo = max(min_e, 0.1)
    starts = [sorted(found)] if len(found) == n_modes else []
    for n_keep in sorted({len(found), max(len(found) - 1, 0), min(len(found), 1)}, reverse=True):
        missing = n_modes - n_keep
        if missing == 0:
            continue
        for shift in (0.0, 0.33, 0.66):
            extra = [lo + (e_hi - lo) * ((k + 0.5 + shift) / (missing + 1)) for k in range(missing)]
            starts.append(sorted(found[:n_keep] + extra))
    return starts


def fit_dho(energy_meV, intensity, *, temperature_K: float, resolution_fwhm_meV=1.5,
            n_modes: int = 1, errors=None, initial_E_c_meV=None, initial_fwhm_meV: float = 0.5,
            elastic: bool = True, resolution=None) -> DhoFitResult:
    """Fit one or several DHO modes + elastic line + constant background to a constant-Q scan.

    Parameters
    ----------
    energy_meV, intensity : 1-D arrays (E > 0: energy loss of the probe).
    temperature_K : sample temperature (detailed balance).
    resolution_fwhm_meV : Gaussian resolution FWHM; ``resolution=`` (a Resolution, e.g. a
        pseudo-Voigt or measured profile) overrides it.
    n_modes : number of DHO modes.
    errors : 1-sigma intensity errors; None -> unit weights with the covariance scaled by the
        reduced chi^2 (curve_fit's absolute_sigma=False).
    initial_E_c_meV : starting mode energies (default: the largest peaks at E > 0).
    """
    from scipy.optimize import curve_fit

    e = np.asarray(energy_meV, dtype=float)
    y = np.asarray(intensity, dtype=float)
    if e.ndim != 1 or e.shape != y.shape:
        raise ValueError(f"energy_meV and intensity must be 1-D of equal length, got {e.shape}, {y.shape}")
    if not np.all(np.isfinite(e)) or not np.all(np.isfinite(y)):
        raise ValueError("energy_meV/intensity contain NaN or inf")
    if n_modes < 1:
        raise ValueError(f"n_modes must be >= 1, got {n_modes}")
    n_par = 2 + 3 * n_modes
    if e.size <= n_par:
        raise ValueError(f"{e.size} points cannot constrain {n_par} parameters")
    res = as_resolution(resolution if resolution is not None else resolution_fwhm_meV)
    sig = None if errors is None else np.asarray(errors, dtype=float)
    if sig is not None and (sig.shape != y.shape or np.any(sig <= 0)):
        raise ValueError("errors must be positive and have the shape of intensity")
    order = np.argsort(e)
    e, y = e[order], y[order]
    sig = None if sig is None else sig[order]
    fw = res.fwhm_meV if res is not None and res.kind != "measured" else 0.5
    if initial_E_c_meV is not None:
        starts = [list(initial_E_c_meV)]
        if len(starts[0]) != n_modes:
            raise ValueError(f"initial_E_c_meV has {len(starts[0])} values for n_modes={n_modes}")
    else:
        starts = _initial_modes(e, y, n_modes, 0.5 * fw)
    g0 = 0.5 * initial_fwhm_meV
    kt = kB_eV_K * 1e3 * max(temperature_K, 1e-9)
    bkg0 = float(np.percentile(y, 5))
    el0 = float(max(y[np.argmin(np.abs(e))] - bkg0, 0.0)) * fw if elastic else 0.0
    e_cap = 1.5 * float(np.abs(e).max())
    lo = [-np.inf, 0.0] + [0.0, 1e-3, 1e-4] * n_modes
    hi = [np.inf, np.inf] + [np.inf, e_cap, e_cap] * n_modes

    def p_start(ecs):
        p0 = [bkg0, el0]
        for ec in ecs:
            h = float(max(np.interp(ec, e, y) - bkg0, 1e-12 * max(abs(y).max(), 1.0)))
            bf = -bose_einstein(-ec / kt) if temperature_K > 0 else 1.0  # n + 1
            p0 += [h * np.pi * max(g0, fw / 2) * ec / bf, float(np.clip(ec, 2e-3, e_cap * 0.99)), g0]
        return np.asarray(p0)

    free = np.array([i for i in range(n_par) if elastic or i != 1])

    def full(pf):
        p = np.zeros(n_par)
        p[free] = pf
        return p

    def f(x, *pf):
        return dho_model(x, full(pf), temperature_K=temperature_K, resolution=res,
                         n_modes=n_modes, elastic=elastic)

    best = None
    w = 1.0 if sig is None else sig
    for ecs in starts:
        try:
            pf, cf = curve_fit(f, e, y, p0=p_start(ecs)[free], sigma=sig,
                               absolute_sigma=sig is not None,
                               bounds=(np.asarray(lo)[free], np.asarray(hi)[free]), maxfev=20000)
        except RuntimeError:
            continue
        cost = float(np.sum(((y - f(e, *pf)) / w) ** 2))
        if best is None or cost < best[0]:
            best = (cost, pf, cf)
    if best is None:
        raise RuntimeError("DHO fit did not converge from any starting point; pass initial_E_c_meV")
    _, pf, cf = best
    popt = full(pf)
    pcov = np.zeros((n_par, n_par))
    pcov[np.ix_(free, free)] = cf
    perr = np.sqrt(np.clip(np.diag(pcov), 0, None))
    model = f(e, *pf)
    chi2 = float(np.sum(((y - model) / w) ** 2) / max(e.size - n_par, 1))
    m = popt[2:].reshape(n_modes, 3)
    me = perr[2:].reshape(n_modes, 3)
    order_m = np.argsort(m[:, 1])
    m, me = m[order_m], me[order_m]
    popt = np.concatenate([popt[:2], m.ravel()])
    res_dict = {} if res is None else {k: getattr(res, k) for k in ("kind", "fwhm_meV", "eta",
                                                                     "energy_meV", "profile")}
    return DhoFitResult(
        E_c_meV=m[:, 1], E_c_err_meV=me[:, 1], fwhm_meV=2 * m[:, 2], fwhm_err_meV=2 * me[:, 2],
        amplitude=m[:, 0], amplitude_err=me[:, 0], elastic_amplitude=float(popt[1]),
        elastic_amplitude_err=float(perr[1]), background=float(popt[0]),
        background_err=float(perr[0]), chi2_reduced=chi2, energy_meV=e, intensity=y, errors=sig,
        model=model, params=popt, covariance=pcov, temperature_K=float(temperature_K),
        resolution=res_dict, n_modes=n_modes, elastic=elastic)


def load_scan_csv(path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read a constant-Q scan: columns energy_meV, intensity[, error]; '#' comments and a header
    line are skipped; comma, semicolon, tab or space separated. Returns (energy, intensity, errors)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such scan file")
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in line.replace(",", " ").replace(";", " ").split() if p]
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            if rows:
                raise ValueError(f"{path}:{k}: cannot read numbers from {line!r}") from None
            continue  # header
        if len(vals) < 2:
            raise ValueError(f"{path}:{k}: need at least 2 columns (energy_meV, intensity)")
        rows.append(vals[:3])
    if len(rows) < 3:
        raise ValueError(f"{path}: fewer than 3 data rows")
    ncol = min(len(r) for r in rows)
    a = np.array([r[:ncol] for r in rows])
    return a[:, 0], a[:, 1], (a[:, 2] if ncol >= 3 else None)
