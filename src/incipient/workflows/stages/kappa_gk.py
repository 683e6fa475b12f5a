"""Stage ``kappa_gk``: Green-Kubo conductivity from the NVE heat currents (cepstral estimate)."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows
from incipient.workflows.summaries import KappaGKRun, KappaGKSummary

SYSTEM_PARTS = ()
MIN_SAMPLES = 200


def supports(system, config) -> str | None:
    if config.md.heat_current_every < 1:
        return "md.heat_current_every = 0: the MD stores no heat current"
    if not system.provides_heat_current():
        return "the potential gives no per-atom energies and centroid virials, so the MD has no heat current"
    return None


def run(ctx: StageContext) -> KappaGKSummary:
    from incipient.transport.fits import fit_power_law
    from incipient.transport.green_kubo import green_kubo, read_heat_currents

    system = ctx.system
    runs, figs, comps = [], [], []
    by_T: dict[float, list] = {}
    for r in ctx.inputs["md"].runs:
        by_T.setdefault(r.temperature_K, []).append(r)
    for T, rs in sorted(by_T.items()):
        currents = [read_heat_currents(r.trajectory) for r in rs]
        if any(c[0].shape[0] < MIN_SAMPLES for c in currents):
            raise ValueError(f"the NVE runs at {T:g} K store fewer than {MIN_SAMPLES} heat-current samples; "
                             "set md.heat_current_every = 1 or run longer")
        jc = [c[0] for c in currents]
        jv = [c[1] for c in currents]
        dt, vol = currents[0][2], currents[0][3]
        T_runs = [float(r.mean_temperature_nve_K) for r in rs]  # the temperatures the currents belong to
        T_nve = float(np.mean(T_runs))
        total_ps = sum(len(x) for x in jc) * dt / 1000
        n_seg = 1 if (len(rs) > 1 or total_ps < 40) else 4
        seg_ps = total_ps / (len(rs) * n_seg)
        fstar = max(5.0, 12.0 / seg_ps)  # keep >= ~12 frequencies below f* for the cepstral fit
        res = green_kubo(jc, jv, volume_A3=vol, temperature_K=T_runs if len(T_runs) > 1 else T_nve, dt_fs=dt, n_segments=n_seg, fstar_THz=fstar)
        res.save(ctx.path(f"gk_T{T:g}K.json"))
        figs.append(figure(ctx, res.plot(), f"gk_T{T:g}K.png",
                           f"Green-Kubo running integrals at {T:g} K (virial, convective, cross, total) with the cepstral estimate."))
        k, e = res.kappa("total", "cepstral")
        kv, _ = res.kappa("V", "cepstral")
        kcr, _ = res.kappa("CROSS", "cepstral")
        kxyz, kerr = [float(k[i, i]) for i in range(3)], [float(e[i, i]) for i in range(3)]
        entry = KappaGKRun(temperature_K=T, mean_temperature_nve_K=T_nve, kappa_xyz_W_mK=kxyz, kappa_err_xyz_W_mK=kerr,
                           kappa_V_xyz_W_mK=[float(kv[i, i]) for i in range(3)],
                           kappa_CROSS_xyz_W_mK=[float(kcr[i, i]) for i in range(3)],
                           simulated_ns=float(sum(len(x) for x in jc) * dt * 1e-6), kappa_avg_W_mK=float(np.mean(kxyz)),
                           kappa_avg_err_W_mK=float(np.sqrt(np.sum(np.square(kerr))) / 3))
        runs.append(entry)
        comps += rows(system.reference_row("kappa_gk_avg_W_mK", f"kappa_GK average at {T:g} K",
                                           f"{entry.kappa_avg_W_mK:.2f} +- {entry.kappa_avg_err_W_mK:.2f}", "W/m/K",
                                           f"{entry.simulated_ns * 1000:.0f} ps of heat current"))
    alpha = alpha_err = None
    if len(runs) >= 2:
        T = np.array([r.mean_temperature_nve_K for r in runs])
        kap = np.array([r.kappa_xyz_W_mK for r in runs])
        err = np.array([r.kappa_err_xyz_W_mK for r in runs])
        if np.all(kap > 0):
            fit = fit_power_law(T, kap, np.maximum(err, 1e-6))
            alpha = [float(a) for a in np.atleast_1d(fit.alpha)]
            alpha_err = [float(a) for a in np.atleast_1d(fit.alpha_err)]
            for i, ax in enumerate("xyz"):
                comps += rows(system.reference_row(f"kappa_gk_alpha_{ax}", f"kappa_GK,{ax} ~ T^alpha",
                                                   f"{alpha[i]:.2f} +- {alpha_err[i]:.2f}", "",
                                                   f"T = {T.min():.0f}-{T.max():.0f} K"))
    return KappaGKSummary(runs=runs, figures=figs, comparisons=comps, alpha_xyz=alpha, alpha_err_xyz=alpha_err,
                          text="Green-Kubo conductivity from the NVE heat currents (centroid virials), cepstral estimate "
                               "with errors, at the NVE mean temperature; short runs give large error bars.")
