"""Place a material among electronic, incipient and superionic conductors (the paper's Figure 5).

Own code: the paper's thesis turned into explicit, documented rules. Inputs are the study's
results: diffusivity of the mobile ion, hop statistics (locality: fraction of hops that return;
residence time vs phonon period), TA-mode persistence and the average thermal conductivity.
The ionic conductivity is estimated with Nernst-Einstein (Haven ratio 1):
sigma = n q^2 D / (kB T).

Rules (thresholds stated so that a user can disagree with them):
- superionic: long-range diffusion, D >= 1e-6 cm^2/s (liquid-like sublattice; e.g. beta-Ag2S),
  and the run actually saw long-range motion (MSD above the squared site spacing); in a run
  too short for that, D is only an upper bound and cannot make the material superionic;
- incipient: the ions hop between sites (hop rate > 0, or D > 1e-10 cm^2/s) but diffusion stays
  below 1e-6 cm^2/s and most hops are local (return fraction >= 0.5, or D < 1e-7 cm^2/s);
- electronic (non-ionic) conductor: no hops and D < 1e-10 cm^2/s (ions only vibrate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

SUPERIONIC_D_CM2_S = 1e-6
MOBILE_D_CM2_S = 1e-10
LOCAL_D_CM2_S = 1e-7

# Reference points quoted in the text of Li et al. (2025) (section 2.4 and introduction).
# (name, temperature_K, sigma_S_m, kappa_W_mK, class, source)
PAPER_REFERENCE_POINTS = (
    ("CsCu2I3 (paper)", 600, 1.77e-5, 0.27, "incipient", "Li et al. 2025, text of Fig. 5 / ref. 13"),
    ("beta-Ag2S", 600, 1048.0, 0.20, "superionic", "Li et al. 2025, text; ref. 33"),
    ("Ag8SnSe6", 300, 1.0, 0.5, "superionic", "Li et al. 2025, intro: sigma 0.1-10 S/m, kappa < 0.5; ref. 6"),
)


def nernst_einstein_sigma_S_m(D_cm2_s: float, n_per_A3: float, temperature_K: float, charge_e: float = 1.0) -> float:
    """Ionic conductivity (S/m) from a tracer diffusivity (Haven ratio 1)."""
    from incipient.units import e_C, kB_eV_K

    n_m3 = n_per_A3 * 1e30
    D_m2_s = D_cm2_s * 1e-4
    kT_J = kB_eV_K * temperature_K * e_C
    return float(n_m3 * (charge_e * e_C) ** 2 * max(D_m2_s, 0.0) / kT_J)


@dataclass(frozen=True)
class Classification(Result):
    """Where the material sits. ``label`` in {"electronic", "incipient", "superionic"};
    ``reasons`` the rules that fired; ``sigma_S_m`` the Nernst-Einstein conductivity at
    ``temperature_K``; ``kappa_avg_W_mK`` (kx+ky+kz)/3 when known."""

    label: str
    reasons: tuple
    temperature_K: float
    D_cm2_s: float
    sigma_S_m: float
    hop_rate_per_ps: float
    return_fraction: float
    residence_over_phonon_period: float
    ta_mode_persists: bool | None
    kappa_avg_W_mK: float | None
    name: str = "this run"

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.2))
        lo, hi = 1e-17, 1e5
        ax.axvspan(lo, 1e-12, color="#cfe3f7", label="electronic")
        ax.axvspan(1e-12, 1.0, color="#f9d5e5", label="incipient")
        ax.axvspan(1.0, hi, color="#d5f5d5", label="superionic")
        for name, T, s, k, _, _ in PAPER_REFERENCE_POINTS:
            ax.plot(s, k, "o", color="0.3")
            ax.annotate(f"{name} ({T} K)", (s, k), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if self.kappa_avg_W_mK is not None:
            s = max(self.sigma_S_m, 1.1e-16)
            ax.plot(s, self.kappa_avg_W_mK, "*", ms=14, color="crimson")
            ax.annotate(f"{self.name} ({self.temperature_K:g} K): {self.label}", (s, self.kappa_avg_W_mK),
                        textcoords="offset points", xytext=(-40, 14), color="crimson", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, 1.2)
        ax.set_xlabel("ionic conductivity sigma (S/m); 1e-16 = no ionic conduction")
        ax.set_ylabel("average kappa (W/m/K)")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title("Conductor classes (after Li et al. 2025, Fig. 5)")
        fig.tight_layout()
        return fig


def classify(*, D_cm2_s: float, temperature_K: float, n_mobile_per_A3: float, hop_rate_per_ps: float = 0.0,
             return_fraction: float = float("nan"), mean_residence_ps: float = float("nan"),
             phonon_period_ps: float = float("nan"), ta_mode_persists: bool | None = None,
             kappa_avg_W_mK: float | None = None, name: str = "this run",
             msd_A2: float | None = None, site_spacing_A: float | None = None) -> Classification:
    """Apply the rules in the module docstring.

    ``msd_A2`` (total MSD at the end of the fit window) and ``site_spacing_A`` (nearest
    site-to-site distance) tell whether the run saw long-range motion at all.
    """
    D = float(max(D_cm2_s, 0.0))
    reasons = []
    long_range_seen = msd_A2 is None or site_spacing_A is None or msd_A2 > site_spacing_A**2
    if not long_range_seen:
        reasons.append(f"MSD {msd_A2:.2f} A^2 < (site spacing {site_spacing_A:.2f} A)^2: no long-range motion in this run, "
                       f"D = {D:.1e} cm^2/s is an upper bound")
    if D >= SUPERIONIC_D_CM2_S and long_range_seen:
        label = "superionic"
        reasons.append(f"D = {D:.2e} cm^2/s >= {SUPERIONIC_D_CM2_S:g} (long-range, liquid-like diffusion)")
    elif hop_rate_per_ps > 0 or (D > MOBILE_D_CM2_S and long_range_seen):
        local = (np.isfinite(return_fraction) and return_fraction >= 0.5) or D < LOCAL_D_CM2_S or not long_range_seen
        label = "incipient" if local else "superionic"
        reasons.append(f"ions hop (rate {hop_rate_per_ps:.3g} /ps per ion, D = {D:.2e} cm^2/s)")
        if local:
            reasons.append(f"but migration stays local (return fraction {return_fraction:.2f}, D < {SUPERIONIC_D_CM2_S:g})")
    else:
        label = "electronic"
        if long_range_seen:
            reasons.append(f"no hops and D = {D:.2e} < {MOBILE_D_CM2_S:g} cm^2/s: ions only vibrate")
        else:
            reasons.append("no hops in this run: the ions only vibrate on the time scale simulated")
    ratio = mean_residence_ps / phonon_period_ps if phonon_period_ps and np.isfinite(phonon_period_ps) else float("nan")
    if np.isfinite(ratio):
        reasons.append(f"mean residence time = {ratio:.1f} phonon periods")
    if ta_mode_persists is not None:
        reasons.append("TA mode stays well defined" if ta_mode_persists else "TA mode is overdamped")
    sigma = nernst_einstein_sigma_S_m(D, n_mobile_per_A3, temperature_K)
    return Classification(label=label, reasons=tuple(reasons), temperature_K=float(temperature_K), D_cm2_s=D,
                          sigma_S_m=sigma, hop_rate_per_ps=float(hop_rate_per_ps), return_fraction=float(return_fraction),
                          residence_over_phonon_period=float(ratio), ta_mode_persists=ta_mode_persists,
                          kappa_avg_W_mK=None if kappa_avg_W_mK is None else float(kappa_avg_W_mK), name=name)
