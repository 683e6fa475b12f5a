"""Stage ``kappa_bte``: Wigner kappa_p + kappa_c with 3ph (phono3py) and optionally 3+4ph scattering."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows
from incipient.workflows.summaries import KappaBTESummary, Table, VelocityConventionKappa

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


def run(ctx: StageContext) -> KappaBTESummary:
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.transport.lifetimes import from_wigner
    from incipient.transport.wigner import wigner_conductivity

    c = ctx.config.kappa
    system = ctx.system
    fc = ctx.inputs["force_constants"]
    import ase.io

    prim = ase.io.read(fc.primitive_file)  # the cell the force constants were fitted in
    sc = tuple(fc.fc_supercell)
    fc3 = str(system.published.fc3) if _fc_source(system, ctx.config, 3) == "published" else fc.fc3_file
    Ts = tuple(float(t) for t in c.temperatures_K)
    res = wigner_conductivity(prim, read_fc2(fc.fc2_file), fc3, supercell_matrix=sc, phonon_supercell_matrix=sc,
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
    why4 = four_phonon_note(system, ctx.config)
    do4 = c.four_phonon and not why4
    avg = float(np.trace(kp[j] + kc[j]) / 3)
    if not do4:  # with 3+4ph on, its rows compare like with like (the paper's kappa is 3+4ph)
        for k, ax in enumerate("xyz"):
            comps += rows(system.reference_row(f"kappa_p_{ax}_{T[j]:g}K_3p4ph_W_mK", f"kappa_p,{ax} at {T[j]:g} K (3ph)",
                                               f"{kp[j, k, k]:.3f}", "W/m/K", note + " (reference: 3+4ph)"))
        comps += rows(system.reference_row(f"kappa_avg_{T[j]:g}K_3p4ph_W_mK", f"kappa_p + kappa_c average at {T[j]:g} K (3ph)",
                                           f"{avg:.3f}", "W/m/K", note + " (reference: 3+4ph)"))
    summary = {"temperatures_K": T.tolist(), "kappa_p_xyz_W_mK": [[float(kp[i, k, k]) for k in range(3)] for i in range(len(T))],
               "kappa_c_xyz_W_mK": [[float(kc[i, k, k]) for k in range(3)] for i in range(len(T))],
               "kappa_avg_W_mK": avg, "kappa_avg_T_K": float(T[j]), "fc3": src3}
    text = f"phono3py Wigner RTA (SMM19) with the effective fc2 from MD and the {src3}; tensors symmetrised with the point group."
    by_T = fc.fc2_by_temperature
    if len(by_T) > 1:
        from incipient.errors import InputError
        from incipient.transport.wigner_tdep import wigner_temperature_dependent_fc2

        have = [b.temperature_K for b in by_T]
        Ts_td = tuple(T for T in Ts if min(abs(T - h) for h in have) <= 1.0)
        if len(Ts_td) < len(Ts):
            text += (f" Temperature-dependent fc2: none at {', '.join(f'{T:g}' for T in Ts if T not in Ts_td)} K "
                     "(see force_constants), so kappa(T) both ways only at " + ", ".join(f"{T:g}" for T in Ts_td) + " K.")
        try:
            if len(Ts_td) < 2:
                raise InputError("fewer than two kappa temperatures have an fc2 of their own")
            td = wigner_temperature_dependent_fc2(
                prim, {b.temperature_K: read_fc2(b.fc2_file) for b in by_T}, fc3, fixed=res,
                fixed_fc2_temperature_K=fc.temperature_K, supercell_matrix=sc, phonon_supercell_matrix=sc,
                temperatures_K=Ts_td, mesh=tuple(c.mesh), symprec=system.symprec)
        except InputError as exc:
            text += f" Temperature-dependent fc2 left out: {exc}."
        else:
            td.save(ctx.path("wigner_tdep.json"))
            figs.append(figure(ctx, td.plot(), "wigner_tdep.png",
                               f"kappa(T) (3ph) with the fc2 fixed at {fc.temperature_K:g} K (the paper's way) and with "
                               "the effective fc2 fitted to the MD at each temperature."))
            for k, ax in enumerate("xyz"):
                comps += rows(system.reference_row(f"kappa_alpha_{ax}_3ph_tdep", f"kappa_{ax} (3ph, p + c) ~ T^alpha, fc2 at each T",
                                                   f"{td.alpha_tdep[k]:.2f}", "",
                                                   f"fixed {fc.temperature_K:g} K fc2: {td.alpha_fixed[k]:.2f}; "
                                                   f"T = {min(Ts_td):g}-{max(Ts_td):g} K, mesh {list(c.mesh)}"))
            summary.update({"kappa_p_tdep_xyz_W_mK": td.kappa_p_tdep_W_mK.tolist(),
                            "kappa_c_tdep_xyz_W_mK": td.kappa_c_tdep_W_mK.tolist(),
                            "alpha_3ph_fixed_fc2_xyz": td.alpha_fixed.tolist(), "alpha_3ph_tdep_fc2_xyz": td.alpha_tdep.tolist()})
            text += (f" kappa(T) both ways (3ph): T^alpha of kappa_p + kappa_c (x, y, z) "
                     f"{', '.join(f'{a:.2f}' for a in td.alpha_fixed)} with the {fc.temperature_K:g} K fc2, "
                     f"{', '.join(f'{a:.2f}' for a in td.alpha_tdep)} with the fc2 of each temperature.")
    if why4:
        text += " " + why4
    elif do4:
        from incipient.transport.wigner34 import wigner_3ph_4ph

        fc4 = str(system.published.fc4) if _fc_source(system, ctx.config, 4) == "published" else fc.fc4_file
        fc2 = read_fc2(fc.fc2_file)
        r34 = wigner_3ph_4ph(prim, fc2, fc3, fc4, supercell_matrix=sc, mesh=tuple(c.mesh),
                             temperatures_K=Ts, n_samples=c.four_phonon_samples or None,
                             n_workers=c.four_phonon_workers, velocity_convention=c.velocity_convention,
                             three_phonon=res, symprec=system.symprec, progress=ctx.progress)
        r34.save(ctx.path("wigner_3ph_4ph.json"))
        figs.append(figure(ctx, r34.plot(), "wigner_3ph_4ph.png", "kappa_p + kappa_c with 3ph vs 3+4ph scattering and T^alpha fits (Figure 4d-f)."))
        j = int(np.argmin(abs(r34.temperatures_K - 300)))
        Tj = r34.temperatures_K[j]
        a34 = r34.alpha("34ph")
        ae = r34.info.get("alpha_34ph_err") or [float("nan")] * 3
        B4 = r34.info.get("n_batches", 1)
        err_short = ("exact 4ph" if not r34.n_samples else
                     f"jackknife over {B4} batches" if B4 > 1 else "replica errors: a lower bound, docs/fourphonon.md")
        mesh_txt = "x".join(str(m) for m in c.mesh)
        n4_method = f"{mesh_txt} mesh, 4ph {r34.n_samples or 'all'} sampled q-pairs per q-point ({err_short})"
        conv_txt = "" if c.velocity_convention == "crystal" else f", {c.velocity_convention} velocity operator"
        n4 = f"this run: {n4_method}{conv_txt}; paper: 13x13x13, FourPhonon"
        for k, ax in enumerate("xyz"):
            comps += rows(system.reference_row(f"kappa_p_{ax}_{Tj:g}K_3p4ph_W_mK", f"kappa_p,{ax} at {Tj:g} K (3+4ph)",
                                               f"{r34.kappa_p_34ph[j, k]:.4f} +- {r34.kappa_p_34ph_err[j, k]:.4f}", "W/m/K", n4),
                          system.reference_row(f"kappa_alpha_{ax}_3p4ph", f"kappa_{ax} (3+4ph, p + c) ~ T^alpha",
                                               f"{a34[k]:.3f} +- {ae[k]:.3f}", "",
                                               f"T = {min(Ts):g}-{max(Ts):g} K ({len(Ts)} points); " + n4))
        avg34 = float(np.mean(r34.kappa_p_34ph[j] + r34.kappa_c_34ph[j]))
        avg34_err = float(np.sqrt(np.sum(r34.kappa_p_34ph_err[j] ** 2 + r34.kappa_c_34ph_err[j] ** 2)) / 3)
        comps += rows(system.reference_row(f"kappa_avg_{Tj:g}K_3p4ph_W_mK", f"kappa_p + kappa_c average at {Tj:g} K (3+4ph)",
                                           f"{avg34:.4f} +- {avg34_err:.4f}", "W/m/K", n4))
        summary.update({"kappa_p_34ph_xyz_W_mK": r34.kappa_p_34ph.tolist(), "kappa_c_34ph_xyz_W_mK": r34.kappa_c_34ph.tolist(),
                        "kappa_p_34ph_err_xyz_W_mK": r34.kappa_p_34ph_err.tolist(),
                        "alpha_34ph_xyz": a34.tolist(), "kappa_avg_W_mK": avg34, "kappa_avg_T_K": float(Tj),
                        "wall_4ph_s": float(r34.wall_4ph_s)})
        text += f" 3+4ph: sampled 4ph rates ({n4}); the 3ph linewidths are those of the 3ph run above."
        if c.velocity_convention != "crystal":
            text += (f" The 3+4ph rows use the {c.velocity_convention!r} velocity operator (lattice-vector "
                     "phases, as in ShengBTE-based Wigner add-ons: same kappa_p, symmetry-breaking kappa_c); the "
                     "3ph-only figure above uses phono3py's (crystal) one.")
        # the same linewidths in every velocity-operator convention, full-mesh sums (docs/kappa.md)
        from incipient.transport.conventions import conventions_from_wigner34

        conv = conventions_from_wigner34(r34, prim, fc2, supercell_matrix=sc, symprec=system.symprec)
        conv.save(ctx.path("conventions.json"))
        figs.append(figure(ctx, conv.plot(), "conventions.png",
                           "kappa_p + kappa_c and kappa_c (3+4ph) with the velocity operator in each convention: "
                           "crystal (atomic-position phases, correct) and the lattice-phase ones of ShengBTE-based "
                           "Wigner add-ons (docs/kappa.md). Same linewidths; kappa_p is the same in all."))
        tables = []
        for ch in conv.channels:
            head, body = conv.table_rows(ch)
            tables.append(Table(caption=f"Wigner kappa ({ch}) in each velocity-operator convention (W/m/K), the same "
                                      f"linewidths in all ({n4_method}): {conv.n_q_irreducible} irreducible q-points "
                                      "with the point-group average. 'sym.-forbidden': the largest element of the "
                                      f"coherence tensor summed over all {conv.n_q_full} q-points without symmetry "
                                      f"that the crystal's point group ({conv.n_point_group} operations) forbids (pairs "
                                      "of non-degenerate modes; zero to rounding for a covariant velocity operator). "
                                      "alpha: kappa_p + kappa_c ~ T^alpha.",
                                header=head, rows=body))
        summary["tables"] = tables
        ic = list(conv.conventions)
        h = list(conv.channels).index("3+4ph")
        lines = []
        for cv in ic:
            i = ic.index(cv)
            avg = conv.average_W_mK(cv, "3+4ph")
            kc_avg = np.einsum("tii->t", conv.kappa_c_W_mK[i, h]) / 3
            lines.append(f"{cv}: average kappa_c {kc_avg[j]:.3f}, kappa_p + kappa_c {avg[j]:.3f} W/m/K at {Tj:g} K, "
                         f"alpha {' / '.join(f'{a:+.2f}' for a in conv.alpha[i, h])}, largest symmetry-forbidden "
                         f"kappa_c element {conv.asym_c_W_mK[i, h, j]:.1e} W/m/K")
        text += " Velocity-operator conventions (3+4ph): " + "; ".join(lines) + "."
        lp = ic.index("lattice_phase") if "lattice_phase" in ic else None
        if lp is not None:
            kc_lp = np.einsum("tii->t", conv.kappa_c_W_mK[lp, h]) / 3
            comps += rows(system.reference_row(f"kappa_c_avg_{Tj:g}K_3p4ph_W_mK",
                                               f"kappa_c average at {Tj:g} K (3+4ph), crystal / lattice-phase velocity",
                                               f"{np.einsum('tii->t', conv.kappa_c_W_mK[ic.index('crystal'), h])[j] / 3:.3f}"
                                               f" / {kc_lp[j]:.3f}", "W/m/K", f"this run: {n4_method}; paper: 13x13x13, FourPhonon"))
            for k, ax in enumerate("xyz"):
                comps += rows(system.reference_row(f"kappa_alpha_{ax}_3p4ph",
                                                   f"kappa_{ax} (3+4ph, p + c) ~ T^alpha, lattice-phase velocity operator",
                                                   f"{conv.alpha[lp, h, k]:.2f}", "",
                                                   "this run: lattice-phase velocity operator (ShengBTE Wigner add-ons; "
                                                   f"breaks the crystal symmetry), {n4_method}; paper: 13x13x13, FourPhonon"))
        summary["conventions"] = {cv: VelocityConventionKappa(
            alpha_34ph_xyz=conv.alpha[ic.index(cv), h].tolist(),
            kappa_c_34ph_xyz_W_mK=np.einsum("tii->ti", conv.kappa_c_W_mK[ic.index(cv), h]).tolist(),
            asym_c_34ph_W_mK=conv.asym_c_W_mK[ic.index(cv), h].tolist()) for cv in ic}
    return KappaBTESummary(**summary, figures=figs, comparisons=comps, text=text)
