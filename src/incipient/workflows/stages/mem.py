"""Stage ``mem``: maximum-entropy densities from the system's measured CIFs and channel profiles."""

from __future__ import annotations

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows
from incipient.workflows.summaries import MEMRun, MEMSummary

SYSTEM_PARTS = ("mobile", "published", "pathways")


def supports(system, config) -> str | None:
    if not system.published.cifs:
        return "the system has no CIFs with measured structure factors ([published] cifs)"
    missing = [T for T in config.mem.temperatures_K if float(T) not in system.published.cifs]
    if missing:
        return (f"no CIF at {', '.join(f'{T:g} K' for T in missing)}; the system has "
                f"{', '.join(f'{T:g} K' for T in sorted(system.published.cifs))} (set mem.temperatures_K)")
    return None


def run(ctx: StageContext) -> MEMSummary:
    from incipient.experiment.cif import read_structure_from_cif
    from incipient.experiment.mem import mem_from_cif
    from incipient.experiment.profiles import (
        channel_profiles,
        mobile_paths,
        plot_plane_section,
        plot_profiles,
    )

    c = ctx.config.mem
    system = ctx.system
    species = ctx.config.migration.species or system.mobile_species
    figs, runs, profiles = [], [], []
    for T in c.temperatures_K:
        path = system.published.cifs[float(T)]
        res = mem_from_cif(path, grid_A=c.grid_A)
        res.write_ccp4(ctx.path(f"mem_{T:g}K.ccp4"))
        paths = mobile_paths(read_structure_from_cif(path), species, system.pathway_names or None)
        prof = channel_profiles(res.density_e_A3, res.lattice, paths, species, float(T))
        prof.save(ctx.path(f"profiles_{T:g}K.json"))
        profiles.append(prof)
        figs.append(figure(ctx, plot_plane_section(res.density_e_A3, res.lattice, paths, species,
                                                   title=f"{T:g} K: MEM density through {species}"),
                           f"section_{T:g}K.png", f"MEM electron density at {T:g} K on the plane of the two shortest "
                                                  f"{species} paths (Figure 1b); arrows: the paths."))
        runs.append(MEMRun(temperature_K=float(T), R=float(res.R), wR=float(res.wR), converged=bool(res.converged),
                           n_eval=int(res.n_eval), time_s=float(res.time_s), paths=list(prof.paths),
                           min_to_peak=prof.min_to_peak.tolist(), ridge_to_peak=prof.bottleneck_to_peak.tolist()))
    comps = []
    for name in profiles[0].paths:
        figs.append(figure(ctx, plot_profiles(profiles, name), f"profiles_{name}.png",
                           f"Normalised density along the {species} {name} path at each temperature (Figure 1c)."))
        for r in runs:
            k = r.paths.index(name)
            comps += rows(system.reference_row(f"mem_{name}_ridge_to_peak_{r.temperature_K:g}K",
                                               f"MEM {name} channel max / {species} peak at {r.temperature_K:g} K",
                                               f"{100 * r.ridge_to_peak[k]:.2f} %", "",
                                               f"R = {100 * r.R:.1f} %, grid {c.grid_A} A"))
    return MEMSummary(runs=runs, figures=figs, comparisons=comps,
                      text="MEM (orders 2 and 4 of the F-constraint, uniform prior, L-BFGS, coarse-to-fine) on the measured "
                           f"structure factors; density profiles along the {species} paths of the site graph.")
