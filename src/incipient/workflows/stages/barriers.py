"""Stage ``barriers``: climbing-image NEB barriers of the mobile ion's hops, one per pathway class."""

from __future__ import annotations

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, rows

SYSTEM_PARTS = ("structure", "potential", "mobile", "pathways")
NEB_MIN_WIDTH_A = 10.0  # default NEB cell width when migration.neb_repeat is empty


def supports(system, config) -> str | None:
    return None


def run(ctx: StageContext) -> dict:
    import ase.io

    from incipient.analysis.barriers import migration_barriers
    from incipient.system import repeat_for_width

    c = ctx.config.migration
    system = ctx.system
    species = c.species or system.mobile_species
    cell = ase.io.read(ctx.stage_dir("relax") / "relaxed.extxyz")
    repeat = tuple(c.neb_repeat) or repeat_for_width(cell.cell.array, NEB_MIN_WIDTH_A)
    atoms = cell.repeat(repeat)
    mb = migration_barriers(atoms, system.calculator(), species=species, n_images=c.neb_images, fmax=c.neb_fmax_eV_A,
                            pathway_names=system.pathway_names or None)
    mb.save(ctx.path("barriers.json"))
    comps = rows(*(system.reference_row(f"barrier_{k}_eV", f"NEB barrier {k}", f"{v:.3f}", "eV",
                                        f"vacancy hop, {len(atoms)}-atom cell, {c.neb_images} images") for k, v in mb.barriers_eV.items()))
    listing = ", ".join(f"{k} {v:.3f} eV" for k, v in mb.barriers_eV.items())
    return {"barriers_eV": {k: float(v) for k, v in mb.barriers_eV.items()}, "comparisons": comps, "repeat": list(repeat),
            "figures": [figure(ctx, mb.plot(), "neb.png", f"Climbing-image NEB energy profiles of the {species} vacancy hops (Figure 1f).")],
            "text": f"Vacancy-hop CI-NEB in a {len(atoms)}-atom cell ({list(repeat)} of the relaxed cell), {c.neb_images} images, "
                    f"fmax {c.neb_fmax_eV_A} eV/A: {listing}."}
