"""Place a material among electronic, incipient and superionic conductors (the paper's Figure 5).

Own code: the paper's thesis turned into explicit, documented rules that say what they rest
on. Inputs are the study's results: diffusivity of the mobile ion, hop counts (with the number
of ions and the run length, so that a rate carries a Poisson interval), locality (fraction of
hops that return; residence time vs phonon period), optionally a migration barrier for a
transition-state-theory rate, and the average thermal conductivity. The ionic conductivity is
estimated with Nernst-Einstein (Haven ratio 1): sigma = n q^2 D / (kB T).

Rules (thresholds stated so that a user can disagree with them):
- superionic: long-range diffusion, D >= 1e-6 cm^2/s (liquid-like sublattice; e.g. beta-Ag2S),
  and the run actually saw long-range motion (MSD above the squared site spacing); in a run
  too short for that, D is only an upper bound and cannot make the material superionic;
- incipient: hops are seen (hop count > 0, or D > 1e-10 cm^2/s with long-range motion) but
  diffusion stays below 1e-6 cm^2/s and most hops are local (return fraction >= 0.5, or
  D < 1e-7 cm^2/s);
- electronic (non-ionic) conductor: no hop, D from the MSD below 1e-10 cm^2/s, and the hop rate
  shown to be below RATE_ELECTRONIC_PER_PS = 1e-6 per ion per ps (less than one hop per ion per
  microsecond) either by the run itself (its 95 % Poisson upper bound, -ln 0.05 / ion-ps) or by
  harmonic transition-state theory, rate = nu exp(-E_a / kB T), from a computed barrier, when
  the run's hop count agrees with that rate;
- undecided (incipient or superionic): hops are seen, but too few (< 10) for a return fraction
  and too short a run for long-range motion, with D (an upper bound) above 1e-7 cm^2/s: the
  label says so and names the run that would decide (MSD past the squared site spacing, >= 10 hops);
- a framework that diffuses (a non-mobile species whose MSD exceeds the squared nearest distance
  between its atoms) is a melt or an amorphised lattice, to which no conductor class applies: the
  class is decided at the hottest temperature where the framework holds (:func:`solid_runs`), or
  is "undecided (the framework diffuses at every temperature)" (:func:`molten_classification`);
- undecided (electronic or incipient): no hop, and neither bound reaches that: the label says so, gives the bound on the
  rate and on sigma (D <= rate l^2 / 6 for hops of length l, Nernst-Einstein), and names the run
  that would decide (ion-ps needed; with a barrier, the run length in which TST predicts three
  hops).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result
from incipient.workflows.summaries import MigrationRun

SUPERIONIC_D_CM2_S = 1e-6
MOBILE_D_CM2_S = 1e-10
LOCAL_D_CM2_S = 1e-7
MIN_HOPS_FOR_RETURNS = 10  # fewer hops give no usable return fraction
SIGMA_ELECTRONIC_S_M = 1e-12  # the electronic / incipient boundary of the Figure-5 map
RATE_ELECTRONIC_PER_PS = 1e-6  # hops per ion per ps below which the ions "only vibrate"
POISSON_95_ZERO = 2.995732  # -ln(0.05): 95 % one-sided upper bound on a Poisson mean when 0 events are seen

# Literature points quoted in the text of Li et al. (2025) (section 2.4 and introduction).
# (name, temperature_K, sigma_S_m, kappa_W_mK, class, source); a system's own reference point is
# added from its reference table.
PAPER_REFERENCE_POINTS = (
    ("beta-Ag2S", 600, 1048.0, 0.20, "superionic", "Li et al. 2025, text; ref. 33"),
    ("Ag8SnSe6", 300, 1.0, 0.5, "superionic", "Li et al. 2025, intro: sigma 0.1-10 S/m, kappa < 0.5; ref. 6"),
)


def poisson_interval(n: int, exposure: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval of a Poisson rate from ``n`` events in ``exposure``
    (e.g. ion-ps); for n = 0 the upper end is the one-sided bound -ln(1 - confidence) / exposure."""
    from scipy.stats import chi2

    if exposure <= 0:
        return 0.0, float("inf")
    if n == 0:
        return 0.0, float(-np.log(1 - confidence) / exposure)
    a = 1 - confidence
    return float(chi2.ppf(a / 2, 2 * n) / 2 / exposure), float(chi2.ppf(1 - a / 2, 2 * n + 2) / 2 / exposure)


def wilson_interval(p: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial fraction ``p`` observed in ``n`` trials."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    n = int(n)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


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
    sigma_upper_S_m: float = float("nan")  # 95 % upper bound when no hop was seen
    hop_rate_interval_per_ps: tuple = (float("nan"), float("nan"))  # 95 % Poisson interval per ion
    evidence: dict = field(default_factory=dict)  # the numbers the label rests on
    reference_points: tuple = ()  # extra (name, T, sigma, kappa, class, source) points for the plot

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.4))
        lo, hi = 1e-17, 1e5
        ax.axvspan(lo, 1e-12, color="#cfe3f7", label="electronic")
        ax.axvspan(1e-12, 1.0, color="#f9d5e5", label="incipient")
        ax.axvspan(1.0, hi, color="#d5f5d5", label="superionic")
        for name, T, s, k, _, _ in tuple(PAPER_REFERENCE_POINTS) + tuple(self.reference_points):
            ax.plot(s, k, "o", color="0.3")
            ax.annotate(f"{name} ({T:g} K)", (s, k), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if self.kappa_avg_W_mK is not None:
            k = self.kappa_avg_W_mK
            if self.label.startswith("undecided"):
                # no hop seen: only an upper bound on sigma; the point is the bound, the arrow what is allowed
                s = max(self.sigma_upper_S_m, 1.1e-16)
                ax.annotate("", xy=(max(s * 1e-5, 1.1e-16), k), xytext=(s, k),
                            arrowprops={"arrowstyle": "->", "color": "crimson", "lw": 1.5})
                ax.plot(s, k, "|", ms=16, mew=2, color="crimson")
            else:
                s = max(self.sigma_S_m, 1.1e-16)
                ax.plot(s, k, "*", ms=14, color="crimson")
            ax.annotate(f"{self.name} ({self.temperature_K:g} K): {self.label}", (s, k), textcoords="offset points",
                        xytext=(0, -26), ha="right", color="crimson", fontsize=9)
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
             msd_A2: float | None = None, site_spacing_A: float | None = None,
             n_hops: int | None = None, n_ions: int | None = None, duration_ps: float | None = None,
             charge_e: float = 1.0, barrier_eV: float | None = None, attempt_THz: float | None = None,
             barrier_note: str = "", reference_points: tuple = (), n_hop_pairs: int | None = None) -> Classification:
    """Apply the rules in the module docstring.

    ``msd_A2`` (total MSD at the end of the fit window) and ``site_spacing_A`` (nearest
    site-to-site distance) tell whether the run saw long-range motion at all; ``n_hops``,
    ``n_ions`` and ``duration_ps`` give the hop count's Poisson interval (without them a run with
    no hops cannot be decided); ``barrier_eV`` and ``attempt_THz`` (default 1 / phonon period)
    give the transition-state-theory rate that says how long a deciding run must be;
    ``barrier_note`` says what the barrier is for (e.g. a vacancy hop, which a perfect MD cell
    cannot make: then the TST rate is only an upper bound for that cell). ``n_hop_pairs`` (the
    consecutive hop pairs the return fraction counts) gives its 95 % Wilson interval: "most hops
    return" then needs the interval's lower end at or above 0.5.
    """
    D = float(max(D_cm2_s, 0.0))
    T = float(temperature_K)
    reasons = []
    evidence: dict = {}
    long_range_seen = msd_A2 is None or site_spacing_A is None or msd_A2 > site_spacing_A**2
    if not long_range_seen:
        reasons.append(f"MSD {msd_A2:.2f} A^2 < (site spacing {site_spacing_A:.2f} A)^2: no long-range motion in this run, "
                       f"D = {D:.1e} cm^2/s is an upper bound")
    exposure = (n_ions or 0) * (duration_ps or 0.0)  # ion-ps observed
    if n_hops is None:
        n_hops = 1 if hop_rate_per_ps > 0 else 0
        counted = False
    else:
        counted = True
    interval = poisson_interval(int(n_hops), exposure) if counted and exposure > 0 else (float("nan"), float("nan"))
    evidence.update({"n_hops": int(n_hops), "ion_ps": float(exposure), "hop_rate_per_ion_ps": float(hop_rate_per_ps),
                     "hop_rate_95_per_ion_ps": list(interval), "D_cm2_s": D, "long_range_seen": bool(long_range_seen)})
    sigma = nernst_einstein_sigma_S_m(D, n_mobile_per_A3, T, charge_e)
    sigma_upper = float("nan")
    if D >= SUPERIONIC_D_CM2_S and long_range_seen:
        label = "superionic"
        reasons.append(f"D = {D:.2e} cm^2/s >= {SUPERIONIC_D_CM2_S:g} (long-range, liquid-like diffusion)")
    elif n_hops > 0 or (D > MOBILE_D_CM2_S and long_range_seen):
        ci = f", 95 % interval {interval[0]:.2g}-{interval[1]:.2g}" if np.isfinite(interval[1]) else ""
        reasons.append(f"ions hop ({n_hops if counted else 'some'} hops, rate {hop_rate_per_ps:.3g} /ps per ion{ci}; "
                       f"D = {D:.2e} cm^2/s)")
        returns_known = np.isfinite(return_fraction) and (not counted or n_hops >= MIN_HOPS_FOR_RETURNS)
        rf_ci = wilson_interval(return_fraction, n_hop_pairs) if returns_known and n_hop_pairs else None
        if rf_ci is not None:
            evidence["return_fraction_95"] = list(rf_ci)
            if return_fraction >= 0.5 > rf_ci[0]:
                reasons.append(f"the return fraction {return_fraction:.2f} (95 % {rf_ci[0]:.2f}-{rf_ci[1]:.2f}, "
                               f"{n_hop_pairs} hop pairs) does not exclude 0.5: it cannot show by itself that the hops stay local")
        if D < LOCAL_D_CM2_S:
            label = "incipient"
            reasons.append(f"but migration stays local: D < {LOCAL_D_CM2_S:g} cm^2/s")
        elif returns_known and return_fraction >= 0.5 and (rf_ci is None or rf_ci[0] >= 0.5):
            label = "incipient"
            ci_txt = f", 95 % {rf_ci[0]:.2f}-{rf_ci[1]:.2f} from {n_hop_pairs} hop pairs" if rf_ci else ""
            reasons.append(f"but migration stays local: most hops return (return fraction {return_fraction:.2f}{ci_txt})")
        elif not long_range_seen:
            label = "undecided (incipient or superionic)"
            sigma_upper = sigma  # from D, itself an upper bound here
            evidence["sigma_upper_S_m"] = sigma_upper
            grow = duration_ps * site_spacing_A**2 / max(msd_A2, 1e-12) if duration_ps else float("nan")
            need = (f"a run of >= ~{grow:.3g} ps, in which the MSD passes the squared site spacing at its present rise"
                    if np.isfinite(grow) else "a run in which the MSD passes the squared site spacing")
            if counted and hop_rate_per_ps > 0 and n_ions:
                need += f", with >= {MIN_HOPS_FOR_RETURNS} hops (~{MIN_HOPS_FOR_RETURNS / (hop_rate_per_ps * n_ions):.3g} ps) for a return fraction"
            reasons.append(f"too few hops and too short a run to tell local from long-range migration (D up to {D:.1e} "
                           f"cm^2/s{'' if returns_known else f', return fraction from {n_hops} hops'}); deciding needs {need}")
        elif D < SUPERIONIC_D_CM2_S:
            label = "incipient"
            reasons.append(f"long-range but slow diffusion: D < {SUPERIONIC_D_CM2_S:g} cm^2/s")
        else:
            label = "superionic"
    else:
        spacing = site_spacing_A or float("nan")
        if np.isfinite(interval[1]) and np.isfinite(spacing):
            D_hop_upper = interval[1] * spacing**2 / 6 * 1e-4  # A^2/ps -> cm^2/s
            sigma_upper = nernst_einstein_sigma_S_m(max(D_hop_upper, D if long_range_seen else 0.0), n_mobile_per_A3, T, charge_e)
        evidence["sigma_upper_S_m"] = sigma_upper
        rate_tst = _tst_rate(barrier_eV, attempt_THz, phonon_period_ps, T)
        tst_agrees = rate_tst is not None and (not np.isfinite(interval[1]) or rate_tst * exposure < 3.0)
        if D < MOBILE_D_CM2_S and np.isfinite(interval[1]) and interval[1] < RATE_ELECTRONIC_PER_PS:
            label = "electronic"
            reasons.append(f"no hop in {exposure:.3g} ion-ps: hop rate < {interval[1]:.2g} /ps per ion (95 %) "
                           f"< {RATE_ELECTRONIC_PER_PS:g}: the ions only vibrate")
        elif D < MOBILE_D_CM2_S and tst_agrees and rate_tst < RATE_ELECTRONIC_PER_PS:
            label = "electronic"
            reasons.append(f"no hop, and transition-state theory from the barrier gives {rate_tst:.2g} hops /ps per ion "
                           f"< {RATE_ELECTRONIC_PER_PS:g}: the ions only vibrate")
        else:
            label = "undecided (electronic or incipient)"
            if np.isfinite(interval[1]):
                need = POISSON_95_ZERO / RATE_ELECTRONIC_PER_PS
                reasons.append(f"no hop in {exposure:.3g} ion-ps ({n_ions} ions x {duration_ps:.3g} ps): the hop rate is only "
                               f"bounded, < {interval[1]:.2g} /ps per ion (95 %; sigma < {sigma_upper:.1e} S/m), which does not "
                               f"separate electronic (< {RATE_ELECTRONIC_PER_PS:g} /ps) from incipient; deciding needs a hop, "
                               f"or ~{need:.2g} ion-ps without one")
            else:
                reasons.append("no hop in this run, and its length and ion count are not known: the hop rate cannot be bounded")
    rate_tst = _tst_rate(barrier_eV, attempt_THz, phonon_period_ps, T)
    if rate_tst is not None:
        attempt = attempt_THz or 1.0 / phonon_period_ps
        evidence["rate_tst_per_ion_ps"] = float(rate_tst)
        expected = rate_tst * exposure
        msg = (f"transition-state theory (barrier {barrier_eV:.3f} eV{', ' + barrier_note if barrier_note else ''}, "
               f"attempt {attempt:.2g} THz): {rate_tst:.2g} hops /ps per ion, {expected:.2g} expected in this run")
        if n_hops == 0 and rate_tst > 0:
            msg += f"; {POISSON_95_ZERO / rate_tst / max(n_ions or 1, 1):.3g} ps with {n_ions or 1} ions would show ~3"
        elif counted and np.isfinite(interval[0]) and interval[0] > rate_tst:
            evidence["rate_exceeds_tst"] = True
            msg += (f"; the observed rate ({interval[0]:.2g}-{interval[1]:.2g} /ps per ion, 95 %) is "
                    f"{hop_rate_per_ps / rate_tst:.2g}x that: the hops are not (only) single hops over this barrier "
                    "with this attempt frequency (lower collective barriers, or a higher attempt frequency)")
        reasons.append(msg)
    ratio = mean_residence_ps / phonon_period_ps if phonon_period_ps and np.isfinite(phonon_period_ps) else float("nan")
    if np.isfinite(ratio):
        reasons.append(f"mean residence time = {ratio:.1f} phonon periods")
    if ta_mode_persists is not None:
        reasons.append("TA mode stays well defined" if ta_mode_persists else "TA mode is overdamped")
    return Classification(label=label, reasons=tuple(reasons), temperature_K=T, D_cm2_s=D,
                          sigma_S_m=sigma, hop_rate_per_ps=float(hop_rate_per_ps), return_fraction=float(return_fraction),
                          residence_over_phonon_period=float(ratio), ta_mode_persists=ta_mode_persists,
                          kappa_avg_W_mK=None if kappa_avg_W_mK is None else float(kappa_avg_W_mK), name=name,
                          sigma_upper_S_m=float(sigma_upper), hop_rate_interval_per_ps=tuple(interval), evidence=evidence,
                          reference_points=tuple(tuple(p) for p in reference_points))


def _tst_rate(barrier_eV, attempt_THz, phonon_period_ps, temperature_K) -> float | None:
    """Harmonic TST rate nu exp(-E_a / kB T) per ps (nu = attempt_THz, else 1 / phonon period), or None."""
    from incipient.units import kB_eV_K

    nu = attempt_THz or (1.0 / phonon_period_ps if phonon_period_ps and np.isfinite(phonon_period_ps) else None)
    if barrier_eV is None or not np.isfinite(barrier_eV) or not nu:
        return None
    return float(nu * np.exp(-barrier_eV / (kB_eV_K * temperature_K)))


def _framework_text(run: MigrationRun) -> str:
    fw = run.framework
    return ", ".join(f"{k} MSD {fw[k].msd_end_of_fit_A2:.1f} A^2 > ({fw[k].nearest_A:.2f} A)^2" for k in run.molten_species())


def solid_runs(runs: list[MigrationRun]) -> tuple[list[MigrationRun], list[MigrationRun], str]:
    """(runs to classify, runs whose framework holds, note) from the migration stage's runs.

    A run's ``framework`` (per non-mobile species: ``msd_end_of_fit_A2``, ``nearest_A``,
    ``diffuses``) says whether the lattice itself moved long-range. The runs to classify are
    those whose framework holds, or all runs when none does (then the second list is empty, see
    :func:`molten_classification`); the note names the temperatures left out and why.
    """
    solid = [r for r in runs if not r.molten_species()]
    if not solid:
        return list(runs), [], ""
    if len(solid) == len(runs):
        return list(runs), solid, ""
    bad = [r for r in runs if r.molten_species()]
    temps = ", ".join(f"{t:g}" for t in sorted({r.temperature_K for r in bad}))
    note = (f"at {temps} K the framework itself diffuses "
            f"({_framework_text(bad[0])}): not a crystal there, so the class is decided at the hottest temperature "
            "where it holds")
    return solid, solid, note


def molten_classification(c: Classification, run: MigrationRun) -> Classification:
    """``c`` relabelled when the framework diffuses in every run: no conductor class applies."""
    import dataclasses

    return dataclasses.replace(
        c, label="undecided (the framework diffuses at every temperature)",
        reasons=(f"the framework diffuses in every run (at {run.temperature_K:g} K: {_framework_text(run)}): a melt "
                 "or an amorphised lattice, not a solid ionic conductor; deciding needs MD at temperatures where the "
                 "framework stays crystalline (or a potential that keeps it so)", *c.reasons))
