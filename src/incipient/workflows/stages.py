"""The stages of a study (relax, md, migration, barriers, spectra, force constants, kappa, mem,
classify, report): each a thin function over the Python API that writes its files and returns a
JSON summary with figures and paper comparisons for the report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from incipient.workflows.graph import Stage, StageContext

# Numbers stated in the paper (Li et al. 2025), used in the "this run vs paper" table.
PAPER = {
    "lattice_pbesol_A": (10.04, 12.94, 6.05),
    "D_600K_cm2_s": {"x": 9.3e-8, "y": "< 1e-9", "z": 2.0e-9},
    "neb_eV": {"MID": 0.12, "x": 0.21, "z": 0.56},
    "kappa_p_3p4ph_300K_W_mK": (0.05, 0.03, 0.13),
    "kappa_avg_W_mK": "0.27-0.31",
    "mem_channel_max_over_peak_500K": "< 0.04",
}


def _save_fig(fig, path: Path, dpi: int = 110) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    plt.close(fig)


def _rel(ctx: StageContext, path: Path) -> str:
    return str(Path(path).resolve().relative_to(ctx.root.resolve()))


def base_structure(ctx: StageContext):
    from incipient.structures import cscu2i3_conventional, read_structure

    s = ctx.config.structure
    return read_structure(s.file) if s.file else cscu2i3_conventional()


def make_calculator(config):
    from incipient.potentials import MTP

    return MTP(config.potential.mtp or None, species=tuple(config.potential.species))


# --------------------------------------------------------------------------- relax
def stage_relax(ctx: StageContext) -> dict:
    import ase.io

    from incipient.structures.relax import relax

    atoms = base_structure(ctx)
    relaxed, res = relax(atoms, make_calculator(ctx.config), fmax_eV_A=ctx.config.structure.relax_fmax_eV_A)
    ase.io.write(ctx.path("relaxed.extxyz"), relaxed)
    res.save(ctx.path("relax.json"))
    comps = []
    if not ctx.config.structure.file:
        for k, name in enumerate("abc"):
            comps.append([f"lattice {name} (MTP relaxed)", f"{res.lattice_A[k]:.3f}", f"{PAPER['lattice_pbesol_A'][k]:.2f} (PBEsol)", "A",
                          f"experiment 100 K: {res.paper_exp_100K_A[k]}"])
    return {"lattice_A": list(res.lattice_A), "energy_eV_per_atom": res.energy_eV_per_atom, "converged": res.converged,
            "comparisons": comps, "text": "Positions and cell relaxed with the MTP (FIRE, FrechetCellFilter).\n" + res.table()}


# --------------------------------------------------------------------------- md
def md_task(*, structure_file: str, repeat, mtp: str, species, output: str, temperature_K: float, timestep_fs: float,
            steps_nvt: int, steps_nve: int, save_every: int, heat_current_every: int, seed: int, thermostat: str,
            threads: int = 1) -> dict:
    """One MD run (module-level so that Dask can ship it to a worker process)."""
    import ase.io
    import numba

    from incipient.md.dynamics import run_md
    from incipient.potentials import MTP

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    atoms = ase.io.read(structure_file).repeat(tuple(repeat))
    res = run_md(atoms, MTP(mtp or None, species=tuple(species)), output, temperature_K=temperature_K,
                 timestep_fs=timestep_fs, steps_nvt=steps_nvt, steps_nve=steps_nve, save_every=save_every,
                 heat_current_every=heat_current_every, seed=seed, thermostat=thermostat, progress=False,
                 checkpoint_every=max(50, 10 * save_every))
    res.save(output + ".result.json")
    return {"trajectory": output, "temperature_K": temperature_K, "seed": seed, "n_atoms": res.n_atoms,
            "nve_drift_meV_atom_ns": res.nve_drift_meV_atom_ns, "mean_temperature_nve_K": res.mean_temperature_nve_K,
            "ns_per_day": res.ns_per_day, "overhead_percent": 100 * res.overhead_fraction, "result": output + ".result.json"}


def stage_md(ctx: StageContext) -> dict:
    from incipient.md.dynamics import MDResult
    from incipient.transport.ensemble import run_ensemble

    c = ctx.config
    structure_file = str(ctx.stage_dir("relax") / "relaxed.extxyz")
    tasks = []
    for T in c.md.temperatures_K:
        for seed in c.md.seeds:
            tasks.append(dict(structure_file=structure_file, repeat=list(c.structure.repeat), mtp=c.potential.mtp,
                              species=list(c.potential.species), output=str(ctx.path(f"T{T:g}K_seed{seed}.h5md")),
                              temperature_K=float(T), timestep_fs=c.md.timestep_fs,
                              steps_nvt=int(round(c.md.nvt_ps * 1000 / c.md.timestep_fs)),
                              steps_nve=int(round(c.md.nve_ps * 1000 / c.md.timestep_fs)),
                              save_every=c.md.save_every, heat_current_every=c.md.heat_current_every, seed=int(seed),
                              thermostat=c.md.thermostat))
    cores = os.cpu_count() or 1
    if len(tasks) == 1:
        runs = [md_task(**tasks[0], threads=cores)]
    else:
        workers = min(len(tasks), cores)
        for t in tasks:
            t["threads"] = max(1, cores // workers)
        runs = run_ensemble(md_task, tasks, scheduler=ctx.scheduler, n_workers=workers, progress=ctx.progress)
    figs = []
    for r in runs:
        res = MDResult.load(r["result"])
        p = ctx.path(f"energy_T{r['temperature_K']:g}K_seed{r['seed']}.png")
        _save_fig(res.plot(), p)
        figs.append({"path": _rel(ctx, p), "caption": f"MD at {r['temperature_K']:g} K: temperature and total energy (NVT then NVE)."})
    comps = [[f"NVE drift at {r['temperature_K']:g} K ({r['n_atoms']} atoms, {c.md.timestep_fs} fs)",
              f"{r['nve_drift_meV_atom_ns']:.2f}", "< 1 (issue target)", "meV/atom/ns", f"{c.md.nve_ps} ps NVE"] for r in runs]
    return {"runs": runs, "figures": figs, "comparisons": comps,
            "text": f"{len(runs)} MD runs: {c.md.nvt_ps} ps NVT (Bussi) then {c.md.nve_ps} ps NVE, {c.md.timestep_fs} fs steps, "
                    f"{c.structure.repeat} conventional supercell."}


# --------------------------------------------------------------------------- spectra
def stage_spectra(ctx: StageContext) -> dict:
    from incipient.analysis.vdos import vdos
    from incipient.md.trajectory import read_trajectory
    from incipient.spectra.paths import PAPER_PATHS, commensurate_path
    from incipient.spectra.sqw import sqw
    from incipient.structures import cscu2i3_conventional

    runs = ctx.inputs["md"]["runs"]
    figs, out = [], {}
    ref_cell = cscu2i3_conventional().cell.array if not ctx.config.structure.file else None
    fc = ctx.inputs.get("force_constants", {})
    harmonic = None
    for r in runs:
        T = r["temperature_K"]
        traj = read_trajectory(r["trajectory"])
        d = vdos(traj)
        p = ctx.path(f"vdos_T{T:g}K_seed{r['seed']}.png")
        _save_fig(d.plot(), p)
        figs.append({"path": _rel(ctx, p), "caption": f"VACF phonon DOS at {T:g} K: total, per species and per direction (Figure 3g-i)."})
        d.save(ctx.path(f"vdos_T{T:g}K_seed{r['seed']}.json"))
        cu = d.by_direction.get("Cu")
        f = d.frequency_meV
        band = (f > 2) & (f < 8)
        if cu is not None and band.sum() >= 3:
            out[f"{T:g}K"] = {"Cu_peak_meV_xyz": [float(f[band][np.argmax(c[band])]) for c in cu]}
        if ref_cell is None:
            continue
        start, end = PAPER_PATHS["(H,4,0)"]
        try:
            q = commensurate_path(start, end, ref_cell, traj.cell)
        except ValueError as exc:
            out.setdefault("notes", []).append(str(exc))
            continue
        window = max(20, min(400, traj.n_frames // 3))
        s = sqw(traj, q, reference_cell=ref_cell, window_size=window, window_step=max(1, window // 4))
        if fc.get("fc2_file") and harmonic is None:
            try:
                from incipient.spectra.harmonic import harmonic_sqe

                harmonic = harmonic_sqe(_phonopy_from_stage(ctx), q, temperature_K=float(T), reference_cell=ref_cell)
            except Exception as exc:  # harmonic overlay is optional; report why it is missing
                out.setdefault("notes", []).append(f"harmonic S(Q,E) not overlaid: {exc}")
        fig = s.plot(harmonic=harmonic)
        p = ctx.path(f"sqw_H40_T{T:g}K.png")
        _save_fig(fig, p)
        figs.append({"path": _rel(ctx, p), "caption": f"S(Q,w) from MD along (H,4,0) at {T:g} K, X-ray form factors, log scale"
                                                        + (" (dots: harmonic modes from the effective fc2)" if harmonic is not None else "")})
    return {"figures": figs, "dos": out, "text": "VACF DOS from the NVE runs; S(Q,w) on the Q points the MD supercell allows."}


# --------------------------------------------------------------------------- migration
def stage_migration(ctx: StageContext) -> dict:
    import ase.io

    from incipient.analysis.density import displacement_traces
    from incipient.analysis.diffusion import diffusion
    from incipient.analysis.hops import detect_hops
    from incipient.md.trajectory import read_trajectory

    c = ctx.config.migration
    relaxed = ase.io.read(ctx.stage_dir("relax") / "relaxed.extxyz")
    figs, per_T, comps = [], [], []
    for r in ctx.inputs["md"]["runs"]:
        T = r["temperature_K"]
        traj = read_trajectory(r["trajectory"])
        d = diffusion(traj, species=c.species)
        d.save(ctx.path(f"diffusion_T{T:g}K_seed{r['seed']}.json"))
        reference = relaxed.repeat(ctx.config.structure.repeat)
        h = detect_hops(traj, species=c.species, reference=reference, min_residence_fs=c.min_residence_fs)
        h.save(ctx.path(f"hops_T{T:g}K_seed{r['seed']}.json"))
        for name, res in (("msd", d), ("hops", h)):
            p = ctx.path(f"{name}_T{T:g}K_seed{r['seed']}.png")
            _save_fig(res.plot(), p)
            figs.append({"path": _rel(ctx, p), "caption": f"{'MSD and diffusion fit' if name == 'msd' else 'Hop events by pathway'} of {c.species} at {T:g} K."})
        tr = displacement_traces(traj, c.species, n_ions=1)
        p = ctx.path(f"trace_T{T:g}K.png")
        _save_fig(tr.plot("x"), p)
        figs.append({"path": _rel(ctx, p), "caption": f"Displacement along x of one {c.species} ion at {T:g} K (Figure 2b)."})
        entry = {"temperature_K": T, "seed": r["seed"], "duration_ps": float(traj.time_fs[-1] - traj.time_fs[0]) / 1000,
                 "D_xyz_cm2_s": [float(x) for x in d.D_xyz_cm2_s], "D_err_xyz_cm2_s": [float(x) for x in d.D_err_xyz_cm2_s],
                 "D_cm2_s": float(d.D_cm2_s), "hop_rate_per_ion_ps": float(h.rate_per_ion_ps),
                 "rates_by_class_per_ion_ps": {k: float(v) for k, v in h.rates_by_class_per_ion_ps.items()},
                 "return_fraction": float(h.return_fraction), "mean_residence_time_ps": float(h.mean_residence_time_ps),
                 "n_mobile_per_A3": float(len(traj.indices_of(c.species)) / abs(np.linalg.det(traj.cell)))}
        per_T.append(entry)
        if abs(T - 600) < 1:
            for k, ax in enumerate("xyz"):
                comps.append([f"D_{ax} of {c.species} at 600 K", f"{d.D_xyz_cm2_s[k]:.2e} +- {d.D_err_xyz_cm2_s[k]:.1e}",
                              str(PAPER["D_600K_cm2_s"][ax]), "cm^2/s", f"{entry['duration_ps']:.0f} ps NVE (paper: 2 ns)"])
    return {"runs": per_T, "figures": figs, "comparisons": comps,
            "text": "Diffusion from the MSD (all time origins, framework drift removed, errors over ions or time blocks); "
                    "hops between Cu sites with a residence-time criterion, classified as x, z, MID."}


# --------------------------------------------------------------------------- barriers
def stage_barriers(ctx: StageContext) -> dict:
    import ase.io

    from incipient.analysis.barriers import migration_barriers

    c = ctx.config.migration
    relaxed = ase.io.read(ctx.stage_dir("relax") / "relaxed.extxyz").repeat(tuple(c.neb_repeat))
    mb = migration_barriers(relaxed, make_calculator(ctx.config), species=c.species, n_images=c.neb_images,
                            fmax=c.neb_fmax_eV_A)
    mb.save(ctx.path("barriers.json"))
    p = ctx.path("neb.png")
    _save_fig(mb.plot(), p)
    comps = [[f"NEB barrier {k}", f"{v:.3f}", str(PAPER["neb_eV"].get(k, "")), "eV",
              f"{len(relaxed)}-atom cell, {c.neb_images} images"] for k, v in mb.barriers_eV.items()]
    return {"barriers_eV": {k: float(v) for k, v in mb.barriers_eV.items()}, "comparisons": comps,
            "figures": [{"path": _rel(ctx, p), "caption": "Climbing-image NEB energy profiles of the Cu hops (Figure 1f)."}]}
