"""Stage ``md``: NVT then NVE molecular dynamics at each temperature and seed (Dask fan-out)."""

from __future__ import annotations

import os

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, md_cell_path, rows
from incipient.workflows.summaries import MDRun, MDSummary

SYSTEM_PARTS = ("structure", "potential")


def supports(system, config) -> str | None:
    return None


def md_task(*, structure_file: str, repeat, potential, output: str, temperature_K: float, timestep_fs: float,
            steps_nvt: int, steps_nve: int, save_every: int, heat_current_every: int, seed: int, thermostat: str,
            threads: int = 1) -> dict:
    """One MD run (module-level so that Dask can ship it to a worker process).

    ``potential``: a PotentialSpec payload (dict) or a zero-argument calculator factory.
    """
    import sys

    import ase.io
    import numba

    from incipient.md.dynamics import CheckpointMismatchError, run_md
    from incipient.system import PotentialSpec

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    if "torch" in sys.modules:  # torch-based potentials: as many threads as this task has cores
        sys.modules["torch"].set_num_threads(max(1, threads))
    atoms = ase.io.read(structure_file).repeat(tuple(repeat))
    kw = dict(temperature_K=temperature_K, timestep_fs=timestep_fs, steps_nvt=steps_nvt, steps_nve=steps_nve,
              save_every=save_every, heat_current_every=heat_current_every, seed=seed, thermostat=thermostat,
              progress=False, checkpoint_every=max(50, 10 * save_every))
    calc = PotentialSpec.from_payload(potential).make() if isinstance(potential, dict) else potential()
    try:  # resume a killed run of the same settings
        res = run_md(atoms, calc, output, **kw)
    except CheckpointMismatchError:  # the study's MD settings changed: start this run over
        res = run_md(atoms, calc, output, resume=False, **kw)
    res.save(output + ".result.json")
    return {"trajectory": output, "temperature_K": temperature_K, "seed": seed, "n_atoms": res.n_atoms,
            "nve_drift_meV_atom_ns": res.nve_drift_meV_atom_ns, "mean_temperature_nve_K": res.mean_temperature_nve_K,
            "ns_per_day": res.ns_per_day, "overhead_percent": 100 * res.overhead_fraction, "result": output + ".result.json",
            "heat_current": heat_current_every > 0}


def run(ctx: StageContext) -> MDSummary:
    from incipient.md.dynamics import MDResult
    from incipient.transport.ensemble import run_ensemble

    c = ctx.config
    system = ctx.system
    repeat = c.md_repeat(system)
    heat_every = c.md.heat_current_every if system.provides_heat_current() else 0
    potential = system._factory or system.potential.to_payload()
    tasks = []
    for T in c.md.temperatures_K:
        for seed in c.md.seeds:
            tasks.append(dict(structure_file=str(md_cell_path(ctx)), repeat=list(repeat), potential=potential,
                              output=str(ctx.path(f"T{T:g}K_seed{seed}.h5md")), temperature_K=float(T),
                              timestep_fs=c.md.timestep_fs, steps_nvt=int(round(c.md.nvt_ps * 1000 / c.md.timestep_fs)),
                              steps_nve=int(round(c.md.nve_ps_at(T) * 1000 / c.md.timestep_fs)), save_every=c.md.save_every,
                              heat_current_every=heat_every, seed=int(seed), thermostat=c.md.thermostat))
    tasks.sort(key=lambda t: -t["steps_nve"])  # the longest runs start first (stable: equal lengths keep their order)
    cores = os.cpu_count() or 1
    if len(tasks) == 1:
        runs = [md_task(**tasks[0], threads=cores)]
    else:
        workers = min(len(tasks), cores)
        for t in tasks:
            t["threads"] = max(1, cores // workers)
        runs = run_ensemble(md_task, tasks, scheduler=ctx.scheduler, n_workers=workers, progress=ctx.progress)
    runs = [MDRun.from_dict(r) for r in runs]
    _check_readable(runs)
    figs = [figure(ctx, MDResult.load(r.result).plot(), f"energy_T{r.temperature_K:g}K_seed{r.seed}.png",
                   f"MD at {r.temperature_K:g} K: temperature and total energy (NVT then NVE).") for r in runs]
    comps = rows(*(system.reference_row(f"nve_drift_{r.temperature_K:g}K_meV_atom_ns", f"NVE drift at {r.temperature_K:g} K",
                                        f"{r.nve_drift_meV_atom_ns:.2f}", "meV/atom/ns") for r in runs))
    drift = "; ".join(f"{r.temperature_K:g} K: drift {r.nve_drift_meV_atom_ns:.2f} meV/atom/ns, "
                      f"NVE mean T {r.mean_temperature_nve_K:.0f} K, {r.ns_per_day:.1f} ns/day" for r in runs)
    return MDSummary(runs=runs, figures=figs, comparisons=comps, repeat=list(repeat), heat_current=heat_every > 0,
                     text=f"{len(runs)} MD runs of {runs[0].n_atoms} atoms ({list(repeat)} supercell): {c.md.nvt_ps} ps NVT "
                          f"({c.md.thermostat}) then {_nve_text(c.md)} NVE, {c.md.timestep_fs} fs steps. {drift}."
                          + ("" if heat_every else " No heat current: the potential gives no per-atom energies and virials."))


def _nve_text(md) -> str:
    if not md.nve_ps_by_temperature:
        return f"{md.nve_ps:g} ps"
    return ", ".join(f"{ps:g} ps at {T:g} K" for T, ps in zip(md.temperatures_K, md.nve_ps_by_temperature, strict=True))


def _check_readable(runs) -> None:
    """Every frame of every trajectory reads back (FileFormatError naming the file and the first
    bad frame otherwise) before the stage is marked done."""
    from incipient.md.trajectory import check_trajectory

    for r in runs:
        check_trajectory(r.trajectory)
