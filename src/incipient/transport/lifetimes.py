"""Classify phonon lifetimes into particle-like, wave-like and overdamped regimes (Figure 4a,b).

Own code (a few array comparisons on phono3py's output). Following Simoncelli et al.
(PRX 12, 041011 (2022)), a mode with lifetime tau is

* particle-like  if tau > tau_W = 1 / dw_avg, with dw_avg = omega_max / (3 n_at) the average
  interband spacing (angular frequency), i.e. its linewidth is smaller than the spacing;
* overdamped     if tau < 1 / omega (Ioffe-Regel limit: it does not survive one oscillation);
* wave-like      otherwise (tau_IR < tau < tau_W: coherences between bands carry heat).

The overdamped test is applied first, so low-frequency modes with 1/omega > tau_W are classified
by the Ioffe-Regel limit. Lifetimes come from phono3py's Gamma (THz): tau = 1 / (4 pi Gamma) ps.
Fractions are given per mode (weighted by q-point multiplicity) and per conductivity (the share
of kappa_p / kappa_c carried by modes in each regime; kappa_c of a band pair is split half/half
between the two modes, as in :mod:`incipient.transport.wigner`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

__all__ = ["REGIMES", "LifetimeRegimes", "classify_lifetimes"]

REGIMES = ("particle", "wave", "overdamped")


@dataclass(frozen=True, eq=False)
class LifetimeRegimes(Result):
    """Lifetime regimes of all modes.

    temperatures_K : (nT,). frequencies_THz : (ng, nb). weights : (ng,) q multiplicities.
    tau_ps : (nT, ng, nb) lifetimes (inf where Gamma = 0).
    tau_wigner_ps : scalar 1/dw_avg = 3 n_at / (2 pi f_max).  f_max_THz : highest frequency.
    tau_ioffe_regel_ps : (ng, nb) 1/omega = 1/(2 pi f) (inf for f <= 0).
    regime : (nT, ng, nb) int, index into REGIMES (0 particle, 1 wave, 2 overdamped; -1 for
        modes with f <= 0 that phono3py ignores).
    fraction_modes : (nT, 3) weighted fraction of modes per regime.
    fraction_kappa_p, fraction_kappa_c : (nT, 3 regimes, 3 directions) share of the diagonal
        kappa_p / kappa_c carried by modes of each regime (NaN where that kappa is zero).
    """

    temperatures_K: np.ndarray
    frequencies_THz: np.ndarray
    weights: np.ndarray
    tau_ps: np.ndarray
    tau_wigner_ps: float
    f_max_THz: float
    tau_ioffe_regel_ps: np.ndarray
    regime: np.ndarray
    fraction_modes: np.ndarray
    fraction_kappa_p: np.ndarray
    fraction_kappa_c: np.ndarray

    def summary(self) -> str:
        rows = ["  T(K)  modes: particle wave overdamped | kappa_p(trace): particle wave overdamped"]
        for i, T in enumerate(self.temperatures_K):
            fk = np.nanmean(self.fraction_kappa_p[i], axis=1)
            rows.append(f"{T:6.0f}        " + " ".join(f"{v:7.3f}" for v in self.fraction_modes[i])
                        + "   |           " + " ".join(f"{v:7.3f}" for v in fk))
        return "\n".join(rows)

    def plot(self, temperature_index: int = 0):
        """tau vs frequency with the Wigner and Ioffe-Regel limits (Figure 4a,b); returns the Figure."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.8, 3.8), constrained_layout=True)
        it = temperature_index
        f = self.frequencies_THz.ravel()
        tau = self.tau_ps[it].ravel()
        reg = self.regime[it].ravel()
        for k, (name, c) in enumerate(zip(REGIMES, ("C0", "C2", "C3"), strict=True)):
            m = (reg == k) & np.isfinite(tau)
            ax.scatter(f[m], tau[m], s=4, color=c, alpha=0.6,
                       label=f"{name} ({self.fraction_modes[it, k]:.0%})")
        fg = np.linspace(max(f[f > 0].min(), 1e-3), f.max(), 200)
        ax.plot(fg, 1.0 / (2 * np.pi * fg), "k--", lw=1, label="Ioffe-Regel 1/omega")
        ax.axhline(self.tau_wigner_ps, color="k", lw=1, label="Wigner limit 1/dw_avg")
        ax.set_yscale("log")
        ax.set_xlabel("frequency (THz)")
        ax.set_ylabel("lifetime (ps)")
        ax.set_title(f"T = {self.temperatures_K[it]:.0f} K")
        ax.legend(fontsize=7)
        return fig


def classify_lifetimes(frequencies_THz, gamma_THz, weights, n_atoms_prim: int, temperatures_K,
                       mode_kappa_p=None, mode_kappa_c=None) -> LifetimeRegimes:
    """Classify modes by lifetime (see module docstring).

    frequencies_THz : (ng, nb); gamma_THz : (nT, ng, nb) phono3py Gamma (3ph + isotope);
    weights : (ng,); mode_kappa_p/c : (nT, ng, nb, 3) per-mode diagonal contributions (optional).
    Use :func:`from_wigner` for a :class:`~incipient.transport.wigner.WignerResult`.
    """
    f = np.asarray(frequencies_THz, dtype=float)
    g = np.asarray(gamma_THz, dtype=float)
    w = np.asarray(weights, dtype=float)
    T = np.atleast_1d(np.asarray(temperatures_K, dtype=float))
    if g.ndim == 2:
        g = g[None]
    if g.shape[1:] != f.shape or g.shape[0] != len(T) or w.shape != f.shape[:1]:
        raise ValueError(f"shapes: frequencies {f.shape}, gamma {g.shape}, weights {w.shape}, {len(T)} temperatures")
    if n_atoms_prim < 1:
        raise ValueError(f"n_atoms_prim must be >= 1, got {n_atoms_prim}")
    f_max = float(f.max())
    tau_w = 3 * n_atoms_prim / (2 * np.pi * f_max)
    with np.errstate(divide="ignore"):
        tau = np.where(g > 0, 1.0 / (4 * np.pi * g), np.inf)
        tau_ir = np.where(f > 0, 1.0 / (2 * np.pi * f), np.inf)
    regime = np.where(tau < tau_ir[None], 2, np.where(tau > tau_w, 0, 1))
    regime = np.where((f > 0)[None], regime, -1)
    ww = np.broadcast_to(w[:, None], f.shape)
    frac_modes = np.stack([np.sum(ww * (regime == k), axis=(1, 2)) for k in range(3)], axis=1)
    frac_modes = frac_modes / np.sum(ww * (regime >= 0), axis=(1, 2))[:, None]

    def share(mk):
        out = np.full((len(T), 3, 3), np.nan)
        if mk is None:
            return out
        mk = np.asarray(mk, dtype=float)
        total = mk.sum(axis=(1, 2))  # (nT, 3)
        for k in range(3):
            part = np.sum(mk * (regime == k)[..., None], axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = np.where(total != 0, part / total, np.nan)
        return out

    return LifetimeRegimes(temperatures_K=T, frequencies_THz=f, weights=w, tau_ps=tau, tau_wigner_ps=float(tau_w),
                           f_max_THz=f_max, tau_ioffe_regel_ps=tau_ir, regime=regime.astype(np.int64),
                           fraction_modes=frac_modes, fraction_kappa_p=share(mode_kappa_p),
                           fraction_kappa_c=share(mode_kappa_c))


def from_wigner(result) -> LifetimeRegimes:
    """Classify the modes of a :class:`~incipient.transport.wigner.WignerResult`."""
    return classify_lifetimes(result.frequencies_THz, result.gamma_THz, result.weights, result.n_atoms_prim,
                              result.temperatures_K, result.mode_kappa_p_W_mK, result.mode_kappa_c_W_mK)


__all__.append("from_wigner")
