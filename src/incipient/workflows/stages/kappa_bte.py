"""Stage ``kappa_bte``: Wigner kappa_p + kappa_c with 3ph (phono3py) and optionally 3+4ph scattering."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows

SYSTEM_PARTS = ("published",)


def _fc_source(system, config, order: int) -> str | None:
    """'published', 'fitted' or None: where the fc of ``order`` (3 or 4) comes from."""
    if getattr(system.published, f"fc{order}") is not None:
        return "published"
    if len(config.force_constants.cutoffs_A) >= order - 1:
        return "fitted"
    return None


def supports(system, config) -> str | None:
    if _fc_source(system, config, 3) is None:
        return ("no third-order force constants: the system has no published fc3 and force_constants.cutoffs_A "
                "has no third-order cutoff (give two or three cutoffs)")
    return None


def four_phonon_note(system, config) -> str | None:
    """Why 3+4ph is left out although requested (kappa.four_phonon), or None."""
    if config.kappa.four_phonon and _fc_source(system, config, 4) is None:
        return ("kappa.four_phonon: no fourth-order force constants (no published fc4, and force_constants.cutoffs_A "
                "has no fourth-order cutoff): 3ph only")
    return None


def run(ctx: StageContext) -> dict:
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.transport.lifetimes import from_wigner
    from incipient.transport.wigner import wigner_conductivity

    c = ctx.config.kappa
    system = ctx.system
    fc = ctx.inputs["force_constants"]
    import ase.io

    prim = ase.io.read(fc["primitive_file"])  # the cell the force constants were fitted in
    sc = tuple(fc["fc_supercell"])
    fc3 = str(system.published.fc3) if _fc_source(system, ctx.config, 3) == "published" else fc["fc3_file"]
    Ts = tuple(float(t) for t in c.temperatures_K)
    res = wigner_conductivity(prim, read_fc2(fc["fc2_file"]), fc3, supercell_matrix=sc, phonon_supercell_matrix=sc,
                              mesh=tuple(c.mesh), temperatures_K=Ts, symprec=system.symprec)
    res.save(ctx.path("wigner.json"))
    figs = [figure(ctx, res.plot(), "wigner.png", "Wigner conductivity (3ph): spectral and cumulative kappa_p, kappa_c at "
                                                  "the lowest T; kappa(T) with T^alpha fits (Figure 4c-f).")]
    figs.append(figure(ctx, from_wigner(res).plot(), "lifetimes.png",
                       "Phonon lifetimes (3ph) vs the Wigner limit and the Ioffe-Regel limit (Figure 4a,b)."))
    T = np.asarray(res.temperatures_K)
    kp = np.asarray(res.kappa_p_W_mK)
    kc = np.asarray(res.kappa_c_W_mK)
    j = int(np.argmin(abs(T - 300)))
    src3 = "published fc3" if fc3 == str(system.published.fc3) else "fitted fc3"
    note = f"3ph only, mesh {list(c.mesh)}, tetrahedron, {src3}"
    comps = []
    for k, ax in enumerate("xyz"):
        comps += rows(system.reference_row(f"kappa_p_{ax}_{T[j]:g}K_3p4ph_W_mK", f"kappa_p,{ax} at {T[j]:g} K (3ph)",
                                           f"{kp[j, k, k]:.3f}", "W/m/K", note + " (reference: 3+4ph)"))
    avg = float(np.trace(kp[j] + kc[j]) / 3)
    comps += rows(system.reference_row(f"kappa_avg_{T[j]:g}K_3p4ph_W_mK", f"kappa_p + kappa_c average at {T[j]:g} K (3ph)",
                                       f"{avg:.3f}", "W/m/K", note + " (reference: 3+4ph)"))
    summary = {"temperatures_K": T.tolist(), "kappa_p_xyz_W_mK": [[float(kp[i, k, k]) for k in range(3)] for i in range(len(T))],
               "kappa_c_xyz_W_mK": [[float(kc[i, k, k]) for k in range(3)] for i in range(len(T))],
               "kappa_avg_W_mK": avg, "kappa_avg_T_K": float(T[j]), "fc3": src3}
    text = f"phono3py Wigner RTA (SMM19) with the effective fc2 from MD and the {src3}; tensors symmetrised with the point group."
    by_T = fc.get("fc2_by_temperature") or []
    if len(by_T) > 1:
        from incipient.errors import InputError
        from incipient.transport.wigner_tdep import wigner_temperature_dependent_fc2

        have = [b["temperature_K"] for b in by_T]
        Ts_td = tuple(T for T in Ts if min(abs(T - h) for h in have) <= 1.0)
        if len(Ts_td) < len(Ts):
            text += (f" Temperature-dependent fc2: none at {', '.join(f'{T:g}' for T in Ts if T not in Ts_td)} K "
                     "(see force_constants), so kappa(T) both ways only at " + ", ".join(f"{T:g}" for T in Ts_td) + " K.")
        try:
            if len(Ts_td) < 2:
                raise InputError("fewer than two kappa temperatures have an fc2 of their own")
            td = wigner_temperature_dependent_fc2(
                prim, {b["temperature_K"]: read_fc2(b["fc2_file"]) for b in by_T}, fc3, fixed=res,
                fixed_fc2_temperature_K=fc["temperature_K"], supercell_matrix=sc, phonon_supercell_matrix=sc,
                temperatures_K=Ts_td, mesh=tuple(c.mesh), symprec=system.symprec)
        except InputError as exc:
            text += f" Temperature-dependent fc2 left out: {exc}."
        else:
            td.save(ctx.path("wigner_tdep.json"))
            figs.append(figure(ctx, td.plot(), "wigner_tdep.png",
                               f"kappa(T) (3ph) with the fc2 fixed at {fc['temperature_K']:g} K (the paper's way) and with "
                               "the effective fc2 fitted to the MD at each temperature."))
            for k, ax in enumerate("xyz"):
                comps += rows(system.reference_row(f"kappa_alpha_{ax}_3ph_tdep", f"kappa_{ax} (3ph, p + c) ~ T^alpha, fc2 at each T",
                                                   f"{td.alpha_tdep[k]:.2f}", "",
                                                   f"fixed {fc['temperature_K']:g} K fc2: {td.alpha_fixed[k]:.2f}; "
                                                   f"T = {min(Ts_td):g}-{max(Ts_td):g} K, mesh {list(c.mesh)}"))
            summary.update({"kappa_p_tdep_xyz_W_mK": td.kappa_p_tdep_W_mK.tolist(),
                            "kappa_c_tdep_xyz_W_mK": td.kappa_c_tdep_W_mK.tolist(),
                            "alpha_3ph_fixed_fc2_xyz": td.alpha_fixed.tolist(), "alpha_3ph_tdep_fc2_xyz": td.alpha_tdep.tolist()})
            text += (f" kappa(T) both ways (3ph): T^alpha of kappa_p + kappa_c (x, y, z) "
                     f"{', '.join(f'{a:.2f}' for a in td.alpha_fixed)} with the {fc['temperature_K']:g} K fc2, "
                     f"{', '.join(f'{a:.2f}' for a in td.alpha_tdep)} with the fc2 of each temperature.")
    why4 = four_phonon_note(system, ctx.config)
    if why4:
        text += " " + why4
    elif c.four_phonon:
        from incipient.transport.wigner34 import wigner_3ph_4ph

        fc4 = str(system.published.fc4) if _fc_source(system, ctx.config, 4) == "published" else fc["fc4_file"]
        r34 = wigner_3ph_4ph(prim, read_fc2(fc["fc2_file"]), fc3, fc4, supercell_matrix=sc, mesh=tuple(c.mesh),
                             temperatures_K=Ts, n_samples=c.four_phonon_samples or None,
                             velocity_convention=c.velocity_convention)
        r34.save(ctx.path("wigner_3ph_4ph.json"))
        figs.append(figure(ctx, r34.plot(), "wigner_3ph_4ph.png", "kappa_p + kappa_c with 3ph vs 3+4ph scattering and T^alpha fits (Figure 4d-f)."))
        j = int(np.argmin(abs(r34.temperatures_K - 300)))
        Tj = r34.temperatures_K[j]
        a34 = r34.alpha("34ph")
        n4 = f"mesh {list(c.mesh)}, {c.four_phonon_samples or 'all'} q-pairs/q"
        for k, ax in enumerate("xyz"):
            comps += rows(system.reference_row(f"kappa_p_{ax}_{Tj:g}K_3p4ph_W_mK", f"kappa_p,{ax} at {Tj:g} K (3+4ph)",
                                               f"{r34.kappa_p_34ph[j, k]:.3f} +- {r34.kappa_p_34ph_err[j, k]:.3f}", "W/m/K", n4),
                          system.reference_row(f"kappa_alpha_{ax}_3p4ph", f"kappa_{ax} (3+4ph, p + c) ~ T^alpha", f"{a34[k]:.2f}", "",
                                               f"T = {min(Ts):g}-{max(Ts):g} K"))
        avg34 = float(np.mean(r34.kappa_p_34ph[j] + r34.kappa_c_34ph[j]))
        comps += rows(system.reference_row(f"kappa_avg_{Tj:g}K_3p4ph_W_mK", f"kappa_p + kappa_c average at {Tj:g} K (3+4ph)",
                                           f"{avg34:.3f}", "W/m/K", n4))
        summary.update({"kappa_p_34ph_xyz_W_mK": r34.kappa_p_34ph.tolist(), "kappa_c_34ph_xyz_W_mK": r34.kappa_c_34ph.tolist(),
                        "alpha_34ph_xyz": a34.tolist(), "kappa_avg_W_mK": avg34, "kappa_avg_T_K": float(Tj)})
        text += f" 3+4ph: sampled 4ph rates ({n4}), jackknife errors."
        if c.velocity_convention != "crystal":
            text += (f" The 3ph/3+4ph comparison uses the {c.velocity_convention!r} velocity operator (lattice-vector "
                     "phases, as in ShengBTE-based Wigner add-ons: same kappa_p, symmetry-breaking kappa_c); the "
                     "3ph-only figure above uses phono3py's (crystal) one.")
    return {**summary, "figures": figs, "comparisons": comps, "text": text}
