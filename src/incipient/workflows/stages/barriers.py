"""Stage ``barriers``: climbing-image NEB barriers of the mobile ion's hops, one per pathway class."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows
from incipient.workflows.summaries import BarriersSummary

SYSTEM_PARTS = ("structure", "potential", "mobile", "pathways")


def supports(system, config) -> str | None:
    return None


def run(ctx: StageContext) -> BarriersSummary:
    import ase.io

    from incipient.analysis.barriers import migration_barriers, neb_supercell

    c = ctx.config.migration
    system = ctx.system
    species = c.species or system.mobile_species
    mfile = ctx.stage_dir("relax") / "minimum.json"
    minimum = None
    if mfile.exists():  # start from the true minimum (structure.find_minimum)
        from incipient.structures.minimum import MinimumResult

        minimum = MinimumResult.load(mfile)
        start, reference = minimum.minimum_atoms(), minimum.symmetric_atoms()
    else:
        start = ase.io.read(ctx.stage_dir("relax") / "relaxed.extxyz")
        reference = None
    repeat = tuple(c.neb_repeat) or neb_supercell(start)
    atoms = start.repeat(repeat)
    mb = migration_barriers(atoms, system.calculator(), species=species, n_images=c.neb_images, fmax=c.neb_fmax_eV_A,
                            pathway_names=system.pathway_names or None, size_check=c.neb_size_check, minimum=minimum,
                            reference=None if reference is None else reference.repeat(repeat))
    mb.save(ctx.path("barriers.json"))
    finite = {k: float(v) for k, v in mb.barriers_eV.items() if np.isfinite(v)}
    comps = rows(*(system.reference_row(f"barrier_{k}_eV", f"NEB barrier {k}", f"{v:.3f}" if np.isfinite(v) else "no valid band",
                                        "eV", f"vacancy hop from the {'minimum' if minimum else 'relaxed cell'}, {len(atoms)} atoms, "
                                              f"{c.neb_images} images, fmax {c.neb_fmax_eV_A}")
                   for k, v in mb.barriers_eV.items()))
    listing = ", ".join(f"{k} {v:.3f} eV" if np.isfinite(v) else f"{k}: no valid band" for k, v in mb.barriers_eV.items())
    notes = "".join(f"\n{n}" for n in getattr(mb, "notes", ()))
    table = mb.table() if hasattr(mb, "table") else ""
    return BarriersSummary(
        barriers_eV=finite, comparisons=comps, repeat=list(repeat),
        figures=[figure(ctx, mb.plot(), "neb.png", f"Climbing-image NEB energy profiles of the {species} vacancy hops (Figure 1f).")],
        text=f"Vacancy-hop CI-NEB from the {'lowest minimum found (relax stage)' if minimum else 'relaxed cell'} in a "
             f"{len(atoms)}-atom cell ({list(repeat)}), {c.neb_images} images, fmax {c.neb_fmax_eV_A} eV/A, several "
             f"starting paths per hop (straight and through empty face-sharing tetrahedra): {listing}.\n{table}{notes}")
