"""kappa(T) with a temperature-dependent effective fc2: one Wigner (3ph) run per temperature.

The paper fixed the harmonic force constants at their 300 K effective values and let only the
Bose factors change with T; it cites a self-consistent-phonon study that found a weaker decay
(kappa_y ~ T^0.13). With effective fc2 fitted to the MD at each temperature (TDEP-like, by
:mod:`incipient.lattice.effective`), the phonon frequencies and velocities change with T too.
This module runs :func:`incipient.transport.wigner.wigner_conductivity` (phono3py SMM19) once per
temperature with that temperature's fc2 (fc3 fixed) and compares the two kappa(T), each with its
T^alpha fit. Own code: the loop, the pairing of temperatures and the comparison; the science is
phono3py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from incipient.errors import InputError
from incipient.results import Result

__all__ = ["TemperatureDependentKappa", "wigner_temperature_dependent_fc2", "pair_fc2_temperatures"]


@dataclass(frozen=True, eq=False)
class TemperatureDependentKappa(Result):
    """kappa(T) two ways: fc2 fixed at ``fixed_fc2_temperature_K`` and fc2 fitted at each T.

    temperatures_K : (nT,) kappa temperatures.
    fc2_temperatures_K : (nT,) the MD temperature whose effective fc2 each kappa used.
    fixed_fc2_temperature_K : temperature of the fixed fc2.
    kappa_p_fixed_W_mK, kappa_c_fixed_W_mK, kappa_p_tdep_W_mK, kappa_c_tdep_W_mK : (nT, 3)
        diagonals (x, y, z), W/m/K, 3ph + isotope scattering, point-group symmetrised.
    alpha_fixed, alpha_tdep : (3,) exponents of kappa_p + kappa_c ~ T^alpha per direction (NaN
        for fewer than 2 temperatures).
    n_imaginary_tdep : (nT,) imaginary modes of each fc2 on phono3py's mesh (dropped from kappa).
    mesh : (3,) q mesh.
    """

    temperatures_K: np.ndarray
    fc2_temperatures_K: np.ndarray
    fixed_fc2_temperature_K: float
    kappa_p_fixed_W_mK: np.ndarray
    kappa_c_fixed_W_mK: np.ndarray
    kappa_p_tdep_W_mK: np.ndarray
    kappa_c_tdep_W_mK: np.ndarray
    alpha_fixed: np.ndarray
    alpha_tdep: np.ndarray
    n_imaginary_tdep: np.ndarray
    mesh: np.ndarray

    def plot(self):
        """kappa_p + kappa_c (and kappa_p, kappa_c) vs T per direction, fixed vs T-dependent fc2, log-log."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), constrained_layout=True, sharey=True)
        T = self.temperatures_K
        for j, ax in enumerate(axes):
            for kp, kc, a, style, lab in (
                    (self.kappa_p_fixed_W_mK, self.kappa_c_fixed_W_mK, self.alpha_fixed, "o-",
                     f"fc2 fixed at {self.fixed_fc2_temperature_K:g} K"),
                    (self.kappa_p_tdep_W_mK, self.kappa_c_tdep_W_mK, self.alpha_tdep, "s--", "fc2 fitted at each T")):
                line, = ax.plot(T, kp[:, j] + kc[:, j], style, label=f"{lab}: p + c, T^{a[j]:.2f}")
                ax.plot(T, kp[:, j], style, color=line.get_color(), alpha=0.45, ms=3, lw=0.9, label=f"{lab}: p")
                ax.plot(T, kc[:, j], style, color=line.get_color(), alpha=0.45, ms=3, lw=0.9, mfc="none",
                        label=f"{lab}: c")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("T (K)")
            ax.set_title("xyz"[j])
            ax.set_xticks(T, [f"{t:g}" for t in T])
            ax.minorticks_off()
        axes[0].set_ylabel("kappa (W/m/K)")
        axes[0].legend(fontsize=6)
        fig.suptitle(f"Wigner kappa (3ph), mesh {[int(m) for m in self.mesh]}: fixed vs temperature-dependent effective fc2",
                     fontsize=9)
        return fig


def pair_fc2_temperatures(temperatures_K, fc2_temperatures_K, *, tolerance_K: float = 1.0) -> list[float]:
    """For each kappa temperature the fc2 temperature it uses: the one within ``tolerance_K``.

    A kappa temperature with no fc2 fitted at it is an InputError (an fc2 from another
    temperature would silently mix the two ways of computing kappa(T)).
    """
    have = np.asarray(sorted(float(t) for t in fc2_temperatures_K))
    out = []
    for T in temperatures_K:
        d = np.abs(have - float(T))
        if not have.size or d.min() > tolerance_K:
            raise InputError(f"no effective fc2 fitted at {float(T):g} K (fc2 at {have.tolist()} K): temperature-"
                             "dependent kappa needs an MD run at every kappa temperature")
        out.append(float(have[int(np.argmin(d))]))
    return out


def wigner_temperature_dependent_fc2(primitive, fc2_by_temperature: Mapping[float, object], fc3, *,
                                     fixed: object, fixed_fc2_temperature_K: float, supercell_matrix,
                                     temperatures_K, mesh=(5, 5, 5), phonon_supercell_matrix=None,
                                     symprec: float = 1e-5, **wigner_kwargs) -> TemperatureDependentKappa:
    """kappa(T) with the fc2 of each temperature, beside kappa(T) with one fixed fc2.

    fc2_by_temperature : {T_K: fc2 array or file} (effective fc2 fitted to MD at T_K, all on the
        same phonon supercell of ``primitive``).
    fixed : a :class:`~incipient.transport.wigner.WignerResult` already computed with the fixed
        fc2 at (at least) ``temperatures_K`` (reused, not recomputed), or that fc2 itself.
    Other arguments as :func:`incipient.transport.wigner.wigner_conductivity`.
    """
    from incipient.transport.fits import power_law_alpha
    from incipient.transport.wigner import WignerResult, wigner_conductivity

    Ts = [float(t) for t in temperatures_K]
    fc2_T = pair_fc2_temperatures(Ts, list(fc2_by_temperature))
    by_T = {float(k): v for k, v in fc2_by_temperature.items()}
    common = dict(supercell_matrix=supercell_matrix, phonon_supercell_matrix=phonon_supercell_matrix,
                  mesh=tuple(mesh), symprec=symprec, **wigner_kwargs)
    if isinstance(fixed, WignerResult):
        have = np.asarray(fixed.temperatures_K, dtype=float)
        idx = [int(np.argmin(abs(have - T))) for T in Ts]
        if any(abs(have[i] - T) > 1e-6 for i, T in zip(idx, Ts, strict=True)):
            raise InputError(f"the fixed-fc2 result has temperatures {have.tolist()} K, not all of {Ts}")
    else:
        fixed = wigner_conductivity(primitive, fixed, fc3, temperatures_K=tuple(Ts), **common)
        idx = list(range(len(Ts)))
    kp_f = np.array([np.diag(fixed.kappa_p_W_mK[i]) for i in idx])
    kc_f = np.array([np.diag(fixed.kappa_c_W_mK[i]) for i in idx])
    kp_t, kc_t, n_im = [], [], []
    for T, Tf in zip(Ts, fc2_T, strict=True):
        r = wigner_conductivity(primitive, by_T[Tf], fc3, temperatures_K=(T,), **common)
        kp_t.append(np.diag(r.kappa_p_W_mK[0]))
        kc_t.append(np.diag(r.kappa_c_W_mK[0]))
        n_im.append(int((r.frequencies_THz < 0).sum()))
    kp_t, kc_t = np.array(kp_t), np.array(kc_t)
    return TemperatureDependentKappa(
        temperatures_K=np.asarray(Ts), fc2_temperatures_K=np.asarray(fc2_T),
        fixed_fc2_temperature_K=float(fixed_fc2_temperature_K),
        kappa_p_fixed_W_mK=kp_f, kappa_c_fixed_W_mK=kc_f, kappa_p_tdep_W_mK=kp_t, kappa_c_tdep_W_mK=kc_t,
        alpha_fixed=power_law_alpha(Ts, kp_f + kc_f), alpha_tdep=power_law_alpha(Ts, kp_t + kc_t),
        n_imaginary_tdep=np.asarray(n_im), mesh=np.asarray(mesh))
