"""Stage ``force_constants``: temperature-effective force constants fitted to MD snapshots (hiPhive)."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, md_cell_path, md_supercell
from incipient.workflows.summaries import FC2AtTemperature, ForceConstantsSummary, MDRun

SYSTEM_PARTS = ("structure", "potential", "published")


def supports(system, config) -> str | None:
    return None


def check_before_md(system, config) -> None:
    """Raise InputError now (before any MD) when a cutoff does not fit the MD supercell, or when
    the MD cell is not the cell the system's published force constants refer to."""
    from incipient.errors import InputError
    from incipient.lattice import effective

    cell = system.supercell(config.md_repeat(system)).cell.array
    effective.check_cutoffs(cell, tuple(config.force_constants.cutoffs_A))
    if config.structure.md_cell == "relaxed" and system.published.fc_cell is not None:
        raise InputError("structure.md_cell = 'relaxed' with published force constants: the published fc3/fc4 refer to "
                         "the system's own cell; use md_cell = 'input' (or a system without published FCs)")


def fc_primitive(ctx: StageContext):
    """The primitive cell the force constants are fitted in: the published FCs' cell, or the
    primitive cell found from the cell the MD ran in (the relaxed one with md_cell = 'relaxed')."""
    import ase.io

    from incipient.system import find_primitive

    system = ctx.system
    if system.published.fc_cell is not None or ctx.config.structure.md_cell != "relaxed":
        return system.phonon_primitive()
    return find_primitive(ase.io.read(md_cell_path(ctx)), system.symprec)[0]


def fc_supercell(system, config) -> tuple[int, int, int]:
    """The supercell of the phonon primitive cell the force constants are written for: the
    published FCs' supercell when the system has one, else chosen from the largest cutoff."""
    from incipient.lattice import effective

    if system.published.fc_supercell is not None:
        return tuple(system.published.fc_supercell)
    return effective.choose_supercell(system.phonon_primitive(), max(config.force_constants.cutoffs_A))


def snapshots(ctx: StageContext, run: MDRun):
    """Frames of the NVE part of ``run`` (after the first fifth) with the potential's forces."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from incipient.md.trajectory import read_trajectory

    traj = read_trajectory(run.trajectory)
    ideal = md_supercell(ctx)
    n = min(ctx.config.force_constants.n_snapshots, traj.n_frames)
    idx = np.linspace(traj.n_frames // 5, traj.n_frames - 1, n).astype(int)
    calc = ctx.system.calculator()
    out = []
    for k in idx:
        a = ideal.copy()
        a.positions = traj.positions[k]
        a.wrap()
        a.calc = calc
        a.calc = SinglePointCalculator(a, forces=a.get_forces())
        out.append(a)
    return ideal, out


def run(ctx: StageContext) -> ForceConstantsSummary:
    import ase.io

    from incipient.lattice import effective

    c = ctx.config.force_constants
    system = ctx.system
    run_ = min(ctx.inputs["md"].runs, key=lambda r: abs(r.temperature_K - c.temperature_K))
    ideal, snaps = snapshots(ctx, run_)
    prim = fc_primitive(ctx)
    ase.io.write(ctx.path("primitive.extxyz"), prim)
    sc = fc_supercell(system, ctx.config) if system.published.fc_supercell else effective.choose_supercell(
        prim, max(c.cutoffs_A))
    res = effective.effective_force_constants(prim, ideal, snaps, tuple(c.cutoffs_A), fc_supercell=sc, out_dir=ctx.dir,
                                              symprec=system.symprec)
    figs = [figure(ctx, effective.plot_bands(res.phonopy()), "bands.png",
                   f"Phonon dispersion of the {run_.temperature_K:g} K effective fc2 (path through the special points of the primitive cell).")]
    orders = {2: "fc2", 3: "fc3", 4: "fc4"}
    fitted = [orders[k + 2] for k in range(len(c.cutoffs_A))]
    dropped = (f" {res.n_snapshots_dropped} of them left out: an atom more than {res.max_displacement_A:.2f} A from its "
               "site (a hopped ion is no small displacement)." if res.n_snapshots_dropped else "")
    text = (f"{len(snaps)} snapshots from the {run_.temperature_K:g} K MD ({len(ideal)} atoms);{dropped} hiPhive cutoffs "
            f"{list(c.cutoffs_A)} A ({', '.join(fitted)}); held-out force RMSE {res.rmse_test_eV_A:.3f} eV/A, R^2 {res.r2_test:.2f}; "
            f"written for the {list(sc)} supercell of the {len(prim)}-atom primitive cell. "
            + ("Dynamically stable on the check mesh." if not res.n_imaginary else f"{res.n_imaginary} imaginary modes "
               f"(lowest {res.lowest_frequency_THz:.2f} THz)."))
    by_T = []
    if c.fc2_per_temperature:
        for r in sorted(ctx.inputs["md"].runs, key=lambda r: r.temperature_K):
            if r is run_:
                by_T.append(FC2AtTemperature(temperature_K=r.temperature_K, fc2_file=str(res.fc2_file),
                                             n_imaginary=int(res.n_imaginary), rmse_test_eV_A=float(res.rmse_test_eV_A)))
                continue
            ideal_T, snaps_T = snapshots(ctx, r)
            try:
                rT = effective.effective_force_constants(prim, ideal_T, snaps_T, tuple(c.cutoffs_A[:1]), fc_supercell=sc,
                                                         out_dir=ctx.dir / f"fc2_{r.temperature_K:g}K",
                                                         symprec=system.symprec)
            except ValueError as exc:  # e.g. every snapshot has a hopped ion
                text += f" No fc2 at {r.temperature_K:g} K: {exc}."
                continue
            by_T.append(FC2AtTemperature(temperature_K=r.temperature_K, fc2_file=str(rT.fc2_file),
                                         n_imaginary=int(rT.n_imaginary), rmse_test_eV_A=float(rT.rmse_test_eV_A)))
        text += (" fc2 fitted at " + ", ".join(f"{b.temperature_K:g} K ({b.n_imaginary} imaginary modes, held-out "
                                               f"RMSE {b.rmse_test_eV_A:.3f} eV/A)" for b in by_T) + ".")
    return ForceConstantsSummary(
        fc2_by_temperature=by_T, fc2_file=str(res.fc2_file), fc3_file=str(res.fc3_file) if res.fc3_file else None,
        fc4_file=str(res.fc4_file) if res.fc4_file else None, phonopy_params=str(res.phonopy_params_file),
        fc_supercell=list(sc), primitive_file=str(ctx.path("primitive.extxyz")), temperature_K=run_.temperature_K,
        rmse_test_eV_A=float(res.rmse_test_eV_A), r2_test=float(res.r2_test), n_imaginary=int(res.n_imaginary),
        text=text, figures=figs)
