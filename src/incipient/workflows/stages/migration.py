"""Stage ``migration``: MSD and direction-resolved diffusion, site graph and hops by pathway."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, md_supercell, rows
from incipient.workflows.summaries import FrameworkMotion, MigrationRun, MigrationSummary

SYSTEM_PARTS = ("mobile", "pathways")


def supports(system, config) -> str | None:
    return None  # any mobile species has an MSD; its site graph comes from the MD supercell


def mobile_species(ctx: StageContext) -> str:
    return ctx.config.migration.species or ctx.system.mobile_species


def run(ctx: StageContext) -> MigrationSummary:
    from incipient.analysis.density import displacement_traces
    from incipient.analysis.diffusion import diffusion
    from incipient.analysis.hops import detect_hops
    from incipient.analysis.sites import find_sites
    from incipient.md.trajectory import read_trajectory

    c = ctx.config.migration
    system = ctx.system
    species = mobile_species(ctx)
    reference = md_supercell(ctx)
    sites = find_sites(reference, species, pathway_names=system.pathway_names or None)
    spacing = sites.nearest_distance_A
    figs, per_T, comps = [], [], []
    for r in ctx.inputs["md"].runs:
        T, seed = r.temperature_K, r.seed
        traj = read_trajectory(r.trajectory)
        d = diffusion(traj, species=species)
        d.save(ctx.path(f"diffusion_T{T:g}K_seed{seed}.json"))
        h = detect_hops(traj, species=species, sites=sites, min_residence_fs=c.min_residence_fs)
        h.save(ctx.path(f"hops_T{T:g}K_seed{seed}.json"))
        figs.append(figure(ctx, d.plot(), f"msd_T{T:g}K_seed{seed}.png", f"MSD and diffusion fit of {species} at {T:g} K."))
        figs.append(figure(ctx, h.plot(), f"hops_T{T:g}K_seed{seed}.png", f"Hop events of {species} by pathway at {T:g} K."))
        tr = displacement_traces(traj, species, n_ions=1)
        figs.append(figure(ctx, tr.plot("x"), f"trace_T{T:g}K_seed{seed}.png",
                           f"Displacement along x of one {species} ion at {T:g} K (Figure 2b)."))
        duration = float(traj.time_fs[-1] - traj.time_fs[0]) / 1000
        end = max(int(np.searchsorted(d.time_ps, d.fit_window_ps[1])) - 1, 0)
        entry = MigrationRun(
            temperature_K=T, seed=seed, duration_ps=duration, species=species,
            D_xyz_cm2_s=[float(x) for x in d.D_xyz_cm2_s], D_err_xyz_cm2_s=[float(x) for x in d.D_err_xyz_cm2_s],
            D_cm2_s=float(d.D_cm2_s), D_err_cm2_s=float(getattr(d, "D_err_cm2_s", np.nan)),
            hop_rate_per_ion_ps=float(h.rate_per_ion_ps), n_hops=int(getattr(h, "n_hops", 0)),
            n_ions=int(len(traj.indices_of(species))),
            rates_by_class_per_ion_ps={k: float(v) for k, v in h.rates_by_class_per_ion_ps.items()},
            return_fraction=float(h.return_fraction), n_hop_pairs=int(getattr(h, "n_hop_pairs", 0)),
            mean_residence_time_ps=float(h.mean_residence_time_ps),
            n_mobile_per_A3=float(len(traj.indices_of(species)) / abs(np.linalg.det(traj.cell))),
            msd_end_of_fit_A2=float(np.asarray(d.msd_xyz_A2)[end].sum()), site_spacing_A=spacing,
            framework=_framework(traj, reference, species, d.fit_window_ps[1]))
        per_T.append(entry)
        for k, ax in enumerate("xyz"):
            comps += rows(system.reference_row(f"D_{ax}_{T:g}K_cm2_s", f"D_{ax} of {species} at {T:g} K",
                                               f"{d.D_xyz_cm2_s[k]:.2e} +- {d.D_err_xyz_cm2_s[k]:.1e}", "cm^2/s",
                                               f"{duration:.0f} ps NVE, {len(traj.indices_of(species))} ions"))
    melted = [f"{r.temperature_K:g} K ({', '.join(k for k, v in r.framework.items() if v.diffuses)})"
              for r in per_T if any(v.diffuses for v in r.framework.values())]
    shells = "; ".join(f"{s['class']} {s['length_A']:.2f} A (x{s['per_site']:g})" for s in sites.shell_summary())
    return MigrationSummary(
        runs=per_T, figures=figs, comparisons=comps, pathways=sorted(set(sites.edge_classes)),
        text=f"Diffusion of {species} from the MSD (all time origins, framework drift removed, errors over ions or "
             f"time blocks); hops between {species} sites with a {c.min_residence_fs:g} fs residence criterion. "
             f"Pathway classes of the site graph (length, neighbours per site): {shells}."
             + (f" The framework itself diffuses (MSD beyond the squared nearest distance between its atoms) at "
                f"{'; '.join(melted)}: not a crystal there." if melted else ""))


def _framework(traj, reference, mobile: str, fit_end_ps: float) -> dict[str, FrameworkMotion]:
    """Per non-mobile species: D, the MSD at the end of the fit window and whether it exceeds the
    squared nearest distance between atoms of that species in the ideal cell (long-range motion
    of the framework: a melted or amorphised lattice, not an ionic conductor)."""
    from ase.geometry import get_distances

    from incipient.analysis.diffusion import diffusion

    out = {}
    for sp in sorted(set(traj.symbols) - {mobile}):
        d = None
        for method in ("auto", "ions"):  # too few frames for error blocks: ion-to-ion errors
            try:
                d = diffusion(traj, species=sp, error_method=method)
                break
            except ValueError as exc:
                why = str(exc)
        if d is None:
            out[sp] = FrameworkMotion(D_cm2_s=float("nan"), msd_end_of_fit_A2=float("nan"), nearest_A=float("nan"),
                                      diffuses=False, note=f"no MSD: {why}")
            continue
        end = max(int(np.searchsorted(d.time_ps, min(fit_end_ps, d.fit_window_ps[1]))) - 1, 0)
        msd = float(np.asarray(d.msd_xyz_A2)[end].sum())
        pos = reference.positions[np.array(reference.get_chemical_symbols()) == sp]
        if len(pos) > 1:
            _, dist = get_distances(pos, cell=reference.cell, pbc=True)
            nn = float(np.min(dist[dist > 1e-6]))
        else:
            nn = float(np.min(reference.cell.lengths()))
        out[sp] = FrameworkMotion(D_cm2_s=float(d.D_cm2_s), msd_end_of_fit_A2=msd, nearest_A=nn, diffuses=bool(msd > nn**2))
    return out
