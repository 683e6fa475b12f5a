"""Stage ``classify``: the conductor class with the evidence it rests on (Figure 5)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows
from incipient.workflows.summaries import ClassifySummary

SYSTEM_PARTS = ("mobile",)


def supports(system, config) -> str | None:
    return None


def _reference_points(system) -> list[tuple]:
    """(name, T, sigma, kappa, class, note) points from the system's reference table
    (keys ``sigma_<T>K_S_m`` with ``kappa_avg_<T>K_W_mK``)."""
    out = []
    for key, ref in system.reference.items():
        m = re.fullmatch(r"sigma_([0-9.]+)K_S_m", key)
        k = system.reference.get(f"kappa_avg_{m.group(1)}K_W_mK") if m else None
        if m and k is not None and isinstance(ref.value, float | int) and isinstance(k.value, float | int):
            cls = system.reference.get("class")
            out.append((f"{system.name} (reference)", float(m.group(1)), float(ref.value), float(k.value),
                        cls.text() if cls else "", ref.note))
    return out


def run(ctx: StageContext) -> ClassifySummary:
    from incipient.units import THz_to_meV
    from incipient.workflows.classify import classify, molten_classification, solid_runs

    system = ctx.system
    mig = ctx.inputs["migration"].runs
    mig, solid, melted_note = solid_runs(mig)
    hot = max(mig, key=lambda r: r.temperature_K)
    at_T = [r for r in mig if r.temperature_K == hot.temperature_K]
    kappa_avg, kappa_note = None, ""
    if "kappa_gk" in ctx.inputs:
        gk = [r for r in ctx.inputs["kappa_gk"].runs if r.temperature_K == hot.temperature_K]
        if gk:
            kappa_avg, kappa_note = gk[0].kappa_avg_W_mK, f"Green-Kubo at {hot.temperature_K:g} K"
    if kappa_avg is None and "kappa_bte" in ctx.inputs:
        kb = ctx.inputs["kappa_bte"]
        kappa_avg, kappa_note = kb.kappa_avg_W_mK, f"Wigner at {kb.kappa_avg_T_K:g} K"
    period = float("nan")
    peak = ctx.inputs["spectra"].mobile_peak_meV_xyz(hot.temperature_K) if "spectra" in ctx.inputs else None
    if peak:
        period = 1.0 / (float(np.mean(peak)) / THz_to_meV)  # ps
    barrier = None
    finite = [v for v in ctx.inputs["barriers"].barriers_eV.values() if np.isfinite(v)] if "barriers" in ctx.inputs else []
    if finite:
        barrier = float(min(finite))
    c = classify(D_cm2_s=float(np.mean([r.D_cm2_s for r in at_T])), temperature_K=hot.temperature_K,
                 n_mobile_per_A3=hot.n_mobile_per_A3, hop_rate_per_ps=float(np.mean([r.hop_rate_per_ion_ps for r in at_T])),
                 return_fraction=hot.return_fraction, mean_residence_ps=hot.mean_residence_time_ps, phonon_period_ps=period,
                 kappa_avg_W_mK=kappa_avg, name=system.name, msd_A2=hot.msd_end_of_fit_A2,
                 site_spacing_A=hot.site_spacing_A, n_hops=int(sum(r.n_hops for r in at_T)), n_ions=hot.n_ions,
                 duration_ps=float(sum(r.duration_ps for r in at_T)), charge_e=system.mobile_charge_e, barrier_eV=barrier,
                 barrier_note="lowest vacancy hop; the MD cell has no vacancy, so an upper bound on its rate" if barrier else "",
                 reference_points=tuple(_reference_points(system)),
                 n_hop_pairs=int(sum(r.n_hop_pairs for r in at_T)) or None)
    if not solid:
        c = molten_classification(c, hot)
    elif melted_note:
        c = dataclasses.replace(c, reasons=(*c.reasons, melted_note))
    c.save(ctx.path("classification.json"))
    comps = rows(system.reference_row("class", "conductor class", c.label, "", "; ".join(c.reasons)))
    return ClassifySummary(label=c.label, reasons=list(c.reasons), sigma_S_m=c.sigma_S_m, sigma_upper_S_m=c.sigma_upper_S_m,
                           evidence=c.evidence, kappa_note=kappa_note, comparisons=comps,
                           figures=[figure(ctx, c.plot(), "classification.png",
                                           "Where this material sits among electronic, incipient and superionic conductors "
                                           "(Figure 5); a bar with an arrow is an upper bound on sigma (no hop seen).")],
                           text=f"Classified as {c.label}: " + "; ".join(c.reasons) + ".")
