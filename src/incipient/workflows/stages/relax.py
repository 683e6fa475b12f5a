"""Stage ``relax``: positions and cell relaxed with the system's potential."""

from __future__ import annotations

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import rows
from incipient.workflows.summaries import RelaxSummary

SYSTEM_PARTS = ("structure", "potential")


def supports(system, config) -> str | None:
    return None


def run(ctx: StageContext) -> RelaxSummary:
    import ase.io

    from incipient.structures.relax import relax

    system = ctx.system
    atoms = system.structure
    relaxed, res = relax(atoms, system.calculator(), fmax_eV_A=ctx.config.structure.relax_fmax_eV_A)
    ase.io.write(ctx.path("relaxed.extxyz"), relaxed)
    ase.io.write(ctx.path("input.extxyz"), atoms)
    res.save(ctx.path("relax.json"))
    minimum = ""
    if ctx.config.structure.find_minimum:
        from incipient.structures.minimum import find_minimum

        low, mres = find_minimum(relaxed, system.calculator(), n_starts=ctx.config.structure.minimum_starts,
                                 fmax_eV_A=ctx.config.structure.relax_fmax_eV_A, relax_symmetric=False)
        ase.io.write(ctx.path("minimum.extxyz"), low)
        mres.save(ctx.path("minimum.json"))
        minimum = "\nMinimum search: " + mres.summary() + "." + "".join(f"\nWARNING: {w}" for w in mres.warnings)
    a0 = atoms.cell.lengths()
    comps = rows(*(system.reference_row(f"lattice_{n}_A", f"lattice {n} (relaxed)", f"{res.lattice_A[k]:.3f}", "A")
                   for k, n in enumerate("abc")))
    table = "\n".join(f"{n}: {a0[k]:.4f} -> {res.lattice_A[k]:.4f} A ({100 * (res.lattice_A[k] / a0[k] - 1):+.2f} %)"
                      for k, n in enumerate("abc"))
    return RelaxSummary(
        lattice_A=list(res.lattice_A), energy_eV_per_atom=res.energy_eV_per_atom, converged=res.converged,
        comparisons=comps,
        text=f"{len(atoms)} atoms relaxed with the potential ({system.potential.kind}; FIRE, FrechetCellFilter, "
             f"fmax {ctx.config.structure.relax_fmax_eV_A} eV/A): {'converged' if res.converged else 'NOT converged'}, "
             f"E = {res.energy_eV_per_atom:.4f} eV/atom.\nInput -> relaxed lattice:\n{table}" + minimum,
        minimum_file=str(ctx.path("minimum.json")) if minimum else None)
