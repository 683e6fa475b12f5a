"""Power-law fits kappa = A T^alpha by weighted least squares in log-log space.

Own code (a two-parameter linear least-squares problem; numpy only). Used for the temperature
exponents of Figure 4d-f (Green-Kubo and Wigner conductivities alike).

With ``y = ln kappa``, ``x = ln(T / T_ref)`` (``T_ref`` the geometric mean temperature, which
decorrelates the two parameters) and ``sigma_y = kappa_err / kappa`` (first-order error
propagation), the fit minimises ``sum ((y - ln kappa_ref - alpha x) / sigma_y)^2``. With errors
given, parameter errors are the absolute ones from the covariance ``(X^T W X)^-1`` (and
``chi2_red`` tells whether the errors are consistent with the scatter); without errors the fit is
unweighted and the covariance is scaled by the residual variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result


@dataclass(frozen=True)
class PowerLawFit(Result):
    """kappa(T) = prefactor * T^alpha = kappa_ref * (T / T_ref_K)^alpha.

    Scalars for a 1-D kappa; arrays of shape (k,) when kappa was (n, k) (one fit per column,
    e.g. per direction x, y, z).

    Attributes
    ----------
    alpha, alpha_err : exponent and its one-sigma error.
    prefactor, prefactor_err : A in kappa = A T^alpha (units of kappa / K^alpha).
    kappa_ref, kappa_ref_err : fitted kappa at T_ref_K (units of kappa).
    T_ref_K : geometric mean of the temperatures.
    chi2_red : chi-square per degree of freedom (NaN for 2 points).
    temperature_K : (n,) input temperatures; kappa, kappa_err : (n,) or (n, k) inputs.
    weighted : whether errors were used.
    """

    alpha: float | np.ndarray
    alpha_err: float | np.ndarray
    prefactor: float | np.ndarray
    prefactor_err: float | np.ndarray
    kappa_ref: float | np.ndarray
    kappa_ref_err: float | np.ndarray
    T_ref_K: float
    chi2_red: float | np.ndarray
    temperature_K: np.ndarray
    kappa: np.ndarray
    kappa_err: np.ndarray | None
    weighted: bool

    def predict(self, temperature_K) -> np.ndarray:
        """Fitted kappa at the given temperatures ((m,) or (m, k))."""
        T = np.asarray(temperature_K, dtype=float)
        a = np.asarray(self.alpha)
        return np.asarray(self.kappa_ref) * (T[..., None] / self.T_ref_K) ** a if a.ndim else \
            float(self.kappa_ref) * (T / self.T_ref_K) ** float(a)

    def plot(self, ax=None, labels=None):
        """log-log kappa against T with the fitted lines; returns the Figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(4.5, 3.6), constrained_layout=True)
        else:
            fig = ax.figure
        k = np.asarray(self.kappa).reshape(len(self.temperature_K), -1)
        e = None if self.kappa_err is None else np.asarray(self.kappa_err).reshape(k.shape)
        alpha = np.atleast_1d(self.alpha)
        aerr = np.atleast_1d(self.alpha_err)
        T = np.geomspace(np.min(self.temperature_K), np.max(self.temperature_K), 50)
        fit = np.asarray(self.predict(T)).reshape(len(T), -1)
        for j in range(k.shape[1]):
            lab = labels[j] if labels is not None else f"col {j}"
            c = f"C{j}"
            ax.errorbar(self.temperature_K, k[:, j], None if e is None else e[:, j], fmt="o",
                        color=c, capsize=3)
            ax.plot(T, fit[:, j], color=c, label=f"{lab}: T^({alpha[j]:.2f} +- {aerr[j]:.2f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("T (K)")
        ax.set_ylabel("kappa")
        ax.legend(fontsize=8)
        return fig


def _fit_one(x, y, sy):
    w = 1.0 / sy ** 2
    X = np.stack([np.ones_like(x), x], axis=1)
    A = X.T @ (X * w[:, None])
    cov = np.linalg.inv(A)
    beta = cov @ (X.T @ (w * y))
    resid = y - X @ beta
    dof = len(x) - 2
    chi2 = float(np.sum(w * resid ** 2))
    return beta, cov, chi2, dof


def fit_power_law(temperature_K, kappa, kappa_err=None) -> PowerLawFit:
    """Fit kappa = A T^alpha (weighted log-log least squares).

    Parameters
    ----------
    temperature_K : (n,) temperatures (n >= 2, positive).
    kappa : (n,) or (n, k) positive conductivities (one fit per column).
    kappa_err : same shape as kappa, one-sigma errors (positive), or None for an unweighted fit.
    """
    T = np.asarray(temperature_K, dtype=float)
    k = np.asarray(kappa, dtype=float)
    if T.ndim != 1 or T.size < 2:
        raise ValueError(f"temperature_K must be 1-D with >= 2 values, got shape {T.shape}")
    if k.shape[0] != T.size or k.ndim not in (1, 2):
        raise ValueError(f"kappa must have shape ({T.size},) or ({T.size}, k), got {k.shape}")
    if np.any(T <= 0):
        raise ValueError("temperature_K must be positive")
    if np.any(~np.isfinite(k)) or np.any(k <= 0):
        raise ValueError(f"kappa must be finite and positive for a log-log fit, got {k}")
    weighted = kappa_err is not None
    if weighted:
        ke = np.asarray(kappa_err, dtype=float)
        if ke.shape != k.shape:
            raise ValueError(f"kappa_err shape {ke.shape} != kappa shape {k.shape}")
        if np.any(~np.isfinite(ke)) or np.any(ke <= 0):
            raise ValueError("kappa_err must be finite and positive")
    T_ref = float(np.exp(np.mean(np.log(T))))
    x = np.log(T / T_ref)
    k2 = k.reshape(T.size, -1)
    ke2 = ke.reshape(k2.shape) if weighted else np.ones_like(k2)
    res = {n: [] for n in ("alpha", "alpha_err", "pre", "pre_err", "kref", "kref_err", "chi2")}
    for j in range(k2.shape[1]):
        y = np.log(k2[:, j])
        sy = ke2[:, j] / k2[:, j] if weighted else np.ones_like(y)
        beta, cov, chi2, dof = _fit_one(x, y, sy)
        chi2_red = chi2 / dof if dof > 0 else np.nan
        if not weighted:
            cov = cov * (chi2_red if dof > 0 else np.nan)
        lnk, alpha = beta
        kref = float(np.exp(lnk))
        # A = kref * T_ref^-alpha: ln A = lnk - alpha ln T_ref
        g = np.array([1.0, -np.log(T_ref)])
        pre = float(np.exp(lnk - alpha * np.log(T_ref)))
        res["alpha"].append(float(alpha))
        res["alpha_err"].append(float(np.sqrt(cov[1, 1])))
        res["kref"].append(kref)
        res["kref_err"].append(kref * float(np.sqrt(cov[0, 0])))
        res["pre"].append(pre)
        res["pre_err"].append(pre * float(np.sqrt(g @ cov @ g)))
        res["chi2"].append(float(chi2_red))

    def out(name):
        v = np.array(res[name])
        return float(v[0]) if k.ndim == 1 else v

    return PowerLawFit(alpha=out("alpha"), alpha_err=out("alpha_err"), prefactor=out("pre"),
                       prefactor_err=out("pre_err"), kappa_ref=out("kref"),
                       kappa_ref_err=out("kref_err"), T_ref_K=T_ref, chi2_red=out("chi2"),
                       temperature_K=T, kappa=k, kappa_err=ke if weighted else None,
                       weighted=weighted)


def power_law_alpha(temperature_K, kappa) -> np.ndarray:
    """Exponents alpha of unweighted fits kappa ~ T^alpha per column of ``kappa`` (n, k).

    :func:`fit_power_law` column by column; NaN for a column with a non-positive or non-finite
    value, and for all columns when there are fewer than 2 temperatures.
    """
    T = np.asarray(temperature_K, dtype=float)
    k = np.asarray(kappa, dtype=float).reshape(T.size, -1)
    out = np.full(k.shape[1], np.nan)
    if T.size < 2:
        return out
    for j in range(k.shape[1]):
        if np.all(np.isfinite(k[:, j]) & (k[:, j] > 0)):
            out[j] = float(fit_power_law(T, k[:, j]).alpha)
    return out


def log_temperature_axes(ax, temperatures_K) -> None:
    """Log-log axes for kappa(T) with the temperatures themselves as x ticks (no minor ticks)."""
    T = np.asarray(temperatures_K, float)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(T)
    ax.set_xticklabels([f"{t:g}" for t in T])
    ax.minorticks_off()
    ax.set_xlabel("T (K)")
