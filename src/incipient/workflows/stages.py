"""The stages of a study (relax, md, migration, barriers, spectra, force constants, kappa, mem,
classify, report): each a thin function over the Python API that writes its files and returns a
JSON summary with figures and paper comparisons for the report.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from incipient.workflows.graph import StageContext

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


def _md_base_path(ctx: StageContext) -> Path:
    """The unit cell the MD runs in: the input cell or the MTP-relaxed one (structure.md_cell)."""
    name = "relaxed.extxyz" if ctx.config.structure.md_cell == "relaxed" else "input.extxyz"
    return ctx.stage_dir("relax") / name


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
    ase.io.write(ctx.path("input.extxyz"), atoms)
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

    from incipient.md.dynamics import CheckpointMismatchError, run_md
    from incipient.potentials import MTP

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    atoms = ase.io.read(structure_file).repeat(tuple(repeat))
    kw = dict(temperature_K=temperature_K, timestep_fs=timestep_fs, steps_nvt=steps_nvt, steps_nve=steps_nve,
              save_every=save_every, heat_current_every=heat_current_every, seed=seed, thermostat=thermostat,
              progress=False, checkpoint_every=max(50, 10 * save_every))
    calc = MTP(mtp or None, species=tuple(species))
    try:  # resume a killed run of the same settings
        res = run_md(atoms, calc, output, **kw)
    except CheckpointMismatchError:  # the study's MD settings changed: start this run over
        res = run_md(atoms, calc, output, resume=False, **kw)
    res.save(output + ".result.json")
    return {"trajectory": output, "temperature_K": temperature_K, "seed": seed, "n_atoms": res.n_atoms,
            "nve_drift_meV_atom_ns": res.nve_drift_meV_atom_ns, "mean_temperature_nve_K": res.mean_temperature_nve_K,
            "ns_per_day": res.ns_per_day, "overhead_percent": 100 * res.overhead_fraction, "result": output + ".result.json"}


def stage_md(ctx: StageContext) -> dict:
    from incipient.md.dynamics import MDResult
    from incipient.transport.ensemble import run_ensemble

    c = ctx.config
    structure_file = str(_md_base_path(ctx))
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
        fig = s.plot(harmonic=harmonic, energy_max_meV=20.0)
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
    relaxed = ase.io.read(_md_base_path(ctx))
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
                 "n_mobile_per_A3": float(len(traj.indices_of(c.species)) / abs(np.linalg.det(traj.cell))),
                 "msd_end_of_fit_A2": float(np.asarray(d.msd_xyz_A2)[max(np.searchsorted(d.time_ps, d.fit_window_ps[1]) - 1, 0)].sum()),
                 "site_spacing_A": _site_spacing(reference, c.species)}
        per_T.append(entry)
        if abs(T - 600) < 1:
            for k, ax in enumerate("xyz"):
                comps.append([f"D_{ax} of {c.species} at 600 K", f"{d.D_xyz_cm2_s[k]:.2e} +- {d.D_err_xyz_cm2_s[k]:.1e}",
                              str(PAPER["D_600K_cm2_s"][ax]), "cm^2/s", f"{entry['duration_ps']:.0f} ps NVE (paper: 2 ns)"])
    return {"runs": per_T, "figures": figs, "comparisons": comps,
            "text": "Diffusion from the MSD (all time origins, framework drift removed, errors over ions or time blocks); "
                    "hops between Cu sites with a residence-time criterion, classified as x, z, MID."}


def _site_spacing(reference, species: str) -> float:
    """Shortest distance between two atoms of ``species`` (the hop length scale), Angstrom."""
    idx = [i for i, s in enumerate(reference.get_chemical_symbols()) if s == species]
    d = reference.get_all_distances(mic=True)[np.ix_(idx, idx)]
    return float(d[d > 0.1].min())


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


# --------------------------------------------------------------------------- Green-Kubo
def stage_kappa_gk(ctx: StageContext) -> dict:
    from incipient.transport.fits import fit_power_law
    from incipient.transport.green_kubo import green_kubo, read_heat_currents

    runs, figs, comps = [], [], []
    by_T: dict[float, list] = {}
    for r in ctx.inputs["md"]["runs"]:
        by_T.setdefault(r["temperature_K"], []).append(r)
    for T, rs in sorted(by_T.items()):
        currents = [read_heat_currents(r["trajectory"]) for r in rs]
        if any(c[0].shape[0] < 200 for c in currents):
            raise ValueError(f"the NVE runs at {T:g} K store too few heat-current samples; set md.heat_current_every = 1")
        jc = [c[0] for c in currents]
        jv = [c[1] for c in currents]
        dt, vol = currents[0][2], currents[0][3]
        total_ps = sum(len(x) for x in jc) * dt / 1000
        n_seg = 1 if (len(rs) > 1 or total_ps < 40) else 4
        seg_ps = total_ps / (len(rs) * n_seg)
        fstar = max(5.0, 12.0 / seg_ps)  # keep >= ~12 frequencies below f* for the cepstral fit
        res = green_kubo(jc, jv, volume_A3=vol, temperature_K=float(T), dt_fs=dt, n_segments=n_seg, fstar_THz=fstar)
        res.save(ctx.path(f"gk_T{T:g}K.json"))
        p = ctx.path(f"gk_T{T:g}K.png")
        _save_fig(res.plot(), p)
        figs.append({"path": _rel(ctx, p), "caption": f"Green-Kubo running integrals at {T:g} K (virial, convective, cross, total) with the chosen cutoff."})
        k, e = res.kappa("total", "cepstral")
        kv, _ = res.kappa("V", "cepstral")
        kcr, _ = res.kappa("CROSS", "cepstral")
        entry = {"temperature_K": T, "kappa_xyz_W_mK": [float(k[i, i]) for i in range(3)], "kappa_err_xyz_W_mK": [float(e[i, i]) for i in range(3)],
                 "kappa_V_xyz_W_mK": [float(kv[i, i]) for i in range(3)], "kappa_CROSS_xyz_W_mK": [float(kcr[i, i]) for i in range(3)],
                 "simulated_ns": float(sum(len(x) for x in jc) * dt * 1e-6)}
        entry["kappa_avg_W_mK"] = float(np.mean(entry["kappa_xyz_W_mK"]))
        runs.append(entry)
        comps.append([f"kappa_EMD average at {T:g} K", f"{entry['kappa_avg_W_mK']:.2f}", PAPER["kappa_avg_W_mK"], "W/m/K",
                      f"{entry['simulated_ns'] * 1000:.0f} ps of heat current (paper: 25 ns)"])
    summary = {"runs": runs, "figures": figs, "comparisons": comps,
               "text": "Green-Kubo conductivity from the NVE heat currents (centroid virials), cepstral estimate with errors; "
                       "short runs give large error bars."}
    if len(runs) >= 2:
        T = np.array([r["temperature_K"] for r in runs])
        kap = np.array([r["kappa_xyz_W_mK"] for r in runs])
        err = np.array([r["kappa_err_xyz_W_mK"] for r in runs])
        if np.all(kap > 0):
            fit = fit_power_law(T, kap, np.maximum(err, 1e-6))
            summary["alpha_xyz"] = [float(a) for a in np.atleast_1d(fit.alpha)]
            summary["alpha_err_xyz"] = [float(a) for a in np.atleast_1d(fit.alpha_err)]
            for i, ax in enumerate("xyz"):
                comps.append([f"kappa_EMD,{ax} ~ T^alpha", f"{summary['alpha_xyz'][i]:.2f} +- {summary['alpha_err_xyz'][i]:.2f}", {"x": "0.17", "y": "-0.3", "z": "-0.43"}[ax], "", f"T = {T.min():g}-{T.max():g} K"])
    return summary


# --------------------------------------------------------------------------- force constants
def _md_run_at(ctx: StageContext, temperature_K: float) -> dict:
    """The MD run closest in temperature to ``temperature_K``."""
    return min(ctx.inputs["md"]["runs"], key=lambda r: abs(r["temperature_K"] - temperature_K))


def stage_force_constants(ctx: StageContext) -> dict:
    """Temperature-effective force constants from MD snapshots (hiPhive), as in the paper."""
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from incipient.lattice.fit import fit_force_constants
    from incipient.lattice.phonons import check_stability, make_phonopy
    from incipient.lattice.phonopy_io import write_fc2
    from incipient.md.trajectory import read_trajectory
    from incipient.structures import cscu2i3_primitive

    c = ctx.config
    if c.structure.file:
        raise ValueError("force_constants: only the built-in CsCu2I3 structure has a primitive cell wired in; "
                         "remove 'force_constants' from stages for other structures")
    run = _md_run_at(ctx, c.force_constants.temperature_K)
    traj = read_trajectory(run["trajectory"])
    base = ase.io.read(_md_base_path(ctx))
    ideal = base.repeat(tuple(c.structure.repeat))
    idx = np.linspace(traj.n_frames // 5, traj.n_frames - 1, min(c.force_constants.n_snapshots, traj.n_frames)).astype(int)
    calc = make_calculator(c)
    snaps = []
    for k in idx:
        a = ideal.copy()
        a.positions = traj.positions[k]
        a.wrap()
        a.calc = calc
        a.calc = SinglePointCalculator(a, forces=a.get_forces())
        snaps.append(a)
    prim = cscu2i3_primitive()
    fit = fit_force_constants(ideal, snaps, prim, cutoffs_A=tuple(c.force_constants.cutoffs_A))
    fit.save(ctx.path("fit.json"))
    fit.fcp.write(str(ctx.path("fcp.fcp")))
    # fc2 on the 3x3x3 supercell of the primitive cell (the paper's fc3 supercell), phonopy order
    sc = prim.repeat((3, 3, 3))
    fc2 = fit.fcp.get_force_constants(sc).get_fc_array(order=2)
    ph = make_phonopy(prim, (3, 3, 3))
    from incipient.lattice.phonopy_io import (
        phonopy_to_ase_atoms,
        reorder_fc2,
        supercell_permutation,
    )

    perm = supercell_permutation(sc, phonopy_to_ase_atoms(ph.supercell))
    fc2_ph = reorder_fc2(fc2, perm)
    ph.force_constants = fc2_ph
    write_fc2(ctx.path("fc2.hdf5"), fc2_ph)
    unstable = check_stability(ph, mesh=(6, 6, 6))
    p = ctx.path("bands.png")
    _save_fig(_plot_bands(ph, ideal_conventional=base), p)
    text = (f"{len(snaps)} snapshots from the {run['temperature_K']:g} K MD ({len(ideal)} atoms); hiPhive cutoffs "
            f"{list(c.force_constants.cutoffs_A)} A; held-out force RMSE {fit.rmse_test_eV_A:.3f} eV/A, R^2 {fit.r2_test:.2f}. "
            + ("Dynamically stable on a 6x6x6 mesh." if not unstable else f"{len(unstable)} imaginary modes (lowest {unstable[0][1]:.2f} THz)."))
    return {"fc2_file": str(ctx.path("fc2.hdf5")), "fc2_supercell": [3, 3, 3], "temperature_K": run["temperature_K"],
            "rmse_test_eV_A": float(fit.rmse_test_eV_A), "r2_test": float(fit.r2_test), "n_imaginary": len(unstable),
            "text": text, "figures": [{"path": _rel(ctx, p), "caption": f"Phonon dispersion from the {run['temperature_K']:g} K effective fc2."}]}


def _plot_bands(ph, ideal_conventional):
    """Dispersion along Gamma -> a*, b*, c* zone boundaries of the conventional cell (no seekpath needed)."""
    import matplotlib.pyplot as plt

    A_c = ideal_conventional.cell.array
    A_p = np.asarray(ph.primitive.cell)
    ends = {"x: (1,0,0)": (1.0, 0, 0), "y: (0,1,0)": (0, 1.0, 0), "z: (0,0,1/2)": (0, 0, 0.5)}
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), sharey=True)
    for ax, (label, end) in zip(axes, ends.items(), strict=True):
        t = np.linspace(0, 1, 41)
        q_conv = np.outer(t, end)
        q_prim = (q_conv @ np.linalg.inv(A_c).T) @ A_p.T
        ph.run_qpoints(q_prim)
        f = ph.get_qpoints_dict()["frequencies"]
        ax.plot(t, f, color="C0", lw=0.8)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel(f"Gamma -> {label} (r.l.u. of conv. cell)")
    axes[0].set_ylabel("frequency (THz)")
    fig.suptitle("Phonons from the temperature-effective fc2")
    fig.tight_layout()
    return fig


def _phonopy_from_stage(ctx: StageContext):
    """Phonopy object (CsCu2I3 primitive, 3x3x3) with the effective fc2 of the force_constants stage."""
    from incipient.lattice.phonons import make_phonopy
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.structures import cscu2i3_primitive

    fc = ctx.inputs["force_constants"]
    ph = make_phonopy(cscu2i3_primitive(), tuple(fc["fc2_supercell"]))
    ph.force_constants = read_fc2(fc["fc2_file"])
    return ph


# --------------------------------------------------------------------------- Wigner kappa
def stage_kappa_bte(ctx: StageContext) -> dict:
    """Wigner kappa_p + kappa_c (3ph + isotopes, phono3py) with the effective fc2 and the paper's fc3."""
    from incipient.data import cscu2i3_fc3
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.structures import cscu2i3_primitive
    from incipient.transport.lifetimes import from_wigner
    from incipient.transport.wigner import wigner_conductivity

    if ctx.config.structure.file:
        raise ValueError("kappa_bte: uses the paper's CsCu2I3 fc3; for another crystal use incipient.transport.wigner_conductivity "
                         "with your own fc3, or remove 'kappa_bte' from stages")
    c = ctx.config.kappa
    fc = ctx.inputs["force_constants"]
    prim = cscu2i3_primitive()
    res = wigner_conductivity(prim, read_fc2(fc["fc2_file"]), str(cscu2i3_fc3()), supercell_matrix=(3, 3, 3),
                              phonon_supercell_matrix=tuple(fc["fc2_supercell"]), mesh=tuple(c.mesh),
                              temperatures_K=tuple(float(t) for t in c.temperatures_K))
    res.save(ctx.path("wigner.json"))
    figs = []
    p = ctx.path("wigner.png")
    _save_fig(res.plot(), p)
    figs.append({"path": _rel(ctx, p), "caption": "Wigner conductivity: spectral and cumulative kappa_p, kappa_c at the lowest T; kappa(T) with T^alpha fits (Figure 4c-f, 3ph)."})
    lt = from_wigner(res)
    p = ctx.path("lifetimes.png")
    _save_fig(lt.plot(), p)
    figs.append({"path": _rel(ctx, p), "caption": "Phonon lifetimes vs the Wigner limit and the Ioffe-Regel limit (Figure 4a,b, 3ph)."})
    T = np.asarray(res.temperatures_K)
    kp = np.asarray(res.kappa_p_W_mK)
    kc = np.asarray(res.kappa_c_W_mK)
    i300 = int(np.argmin(abs(T - 300)))
    comps = []
    for k, ax in enumerate("xyz"):
        comps.append([f"kappa_p,{ax} at {T[i300]:g} K (3ph)", f"{kp[i300, k, k]:.3f}", f"{PAPER['kappa_p_3p4ph_300K_W_mK'][k]} (3+4ph)",
                      "W/m/K", f"mesh {list(c.mesh)}, tetrahedron"])
    avg = float(np.trace(kp[i300] + kc[i300]) / 3)
    comps.append([f"kappa_p + kappa_c average at {T[i300]:g} K (3ph)", f"{avg:.3f}", PAPER["kappa_avg_W_mK"], "W/m/K", "paper: 3+4ph"])
    summary_34 = {}
    if c.four_phonon:
        from incipient.data import cscu2i3_fc4
        from incipient.transport.wigner34 import wigner_3ph_4ph

        r34 = wigner_3ph_4ph(prim, read_fc2(fc["fc2_file"]), str(cscu2i3_fc3()), str(cscu2i3_fc4()),
                             supercell_matrix=tuple(fc["fc2_supercell"]), mesh=tuple(c.mesh),
                             temperatures_K=tuple(float(t) for t in c.temperatures_K),
                             n_samples=c.four_phonon_samples or None)
        r34.save(ctx.path("wigner_3ph_4ph.json"))
        p = ctx.path("wigner_3ph_4ph.png")
        _save_fig(r34.plot(), p)
        figs.append({"path": _rel(ctx, p), "caption": "kappa_p + kappa_c with 3ph vs 3+4ph scattering and T^alpha fits (Figure 4d-f)."})
        j = int(np.argmin(abs(r34.temperatures_K - 300)))
        a34 = r34.alpha("34ph")
        for k, ax in enumerate("xyz"):
            comps.append([f"kappa_p,{ax} at {r34.temperatures_K[j]:g} K (3+4ph)", f"{r34.kappa_p_34ph[j, k]:.3f} +- {r34.kappa_p_34ph_err[j, k]:.3f}",
                          str(PAPER["kappa_p_3p4ph_300K_W_mK"][k]), "W/m/K", f"mesh {list(c.mesh)}, {c.four_phonon_samples or 'all'} q-pairs/q"])
            comps.append([f"kappa_{ax} (3+4ph + c) ~ T^alpha", f"{a34[k]:.2f}", {"x": "0.44", "y": "0.66", "z": "-0.3"}[ax], "", ""])
        summary_34 = {"kappa_p_34ph_xyz_W_mK": r34.kappa_p_34ph.tolist(), "kappa_c_34ph_xyz_W_mK": r34.kappa_c_34ph.tolist(),
                      "alpha_34ph_xyz": a34.tolist()}
    return {**summary_34, "temperatures_K": T.tolist(), "kappa_p_xyz_W_mK": [[float(kp[i, k, k]) for k in range(3)] for i in range(len(T))],
            "kappa_c_xyz_W_mK": [[float(kc[i, k, k]) for k in range(3)] for i in range(len(T))], "kappa_avg_300K_W_mK": avg,
            "figures": figs, "comparisons": comps,
            "text": "phono3py Wigner RTA (SMM19) with the effective fc2 from MD and the paper's published fc3; tensors symmetrised with the point group."}


# --------------------------------------------------------------------------- MEM
def stage_mem(ctx: StageContext) -> dict:
    """Maximum-entropy densities from the built-in CIFs; Cu-Cu channel profiles (Figure 1b,c)."""
    from incipient.data import cscu2i3_cif
    from incipient.experiment.cif import read_cif_model
    from incipient.experiment.mem import mem_from_cif
    from incipient.experiment.profiles import cu_channel_profiles, plot_profiles, plot_section

    if ctx.config.structure.file:
        raise ValueError("mem: wired to the built-in CsCu2I3 CIFs; for another crystal run 'incipient mem YOUR.cif' "
                         "or remove 'mem' from stages")
    c = ctx.config.mem
    figs, rows, profiles = [], [], []
    for T in c.temperatures_K:
        path = cscu2i3_cif(int(T))
        res = mem_from_cif(path, grid_A=c.grid_A)
        res.write_ccp4(ctx.path(f"mem_{int(T)}K.ccp4"))
        model = read_cif_model(path)
        prof = cu_channel_profiles(res.density_e_A3, res.lattice, model)
        prof.save(ctx.path(f"profiles_{int(T)}K.json"))
        profiles.append(prof)
        p = ctx.path(f"section_{int(T)}K.png")
        _save_fig(plot_section(res.density_e_A3, res.lattice, model, title=f"{int(T)} K: MEM (010) section through Cu"), p)
        figs.append({"path": _rel(ctx, p), "caption": f"MEM electron density at {int(T)} K, (010) section through Cu (Figure 1b); arrows: x, z, MID."})
        mid = dict(zip(prof.paths, prof.min_to_peak.tolist(), strict=True)).get("MID", float("nan"))
        ridge = dict(zip(prof.paths, prof.bottleneck_to_peak.tolist(), strict=True)).get("MID", float("nan"))
        rows.append({"temperature_K": int(T), "R": float(res.R), "wR": float(res.wR), "converged": bool(res.converged),
                     "n_eval": int(res.n_eval), "time_s": float(res.time_s), "MID_min_to_peak": mid, "MID_ridge_to_peak": ridge})
    p = ctx.path("profiles_MID.png")
    _save_fig(plot_profiles(profiles, "MID"), p)
    figs.append({"path": _rel(ctx, p), "caption": "Normalised density along the Cu-Cu MID path at each temperature (Figure 1c)."})
    comps = [[f"MEM MID channel max / Cu peak at {r['temperature_K']} K", f"{100 * r['MID_ridge_to_peak']:.2f} %",
              "< ~4 % at 500 K" if r["temperature_K"] == 500 else "localised", "", f"R = {100 * r['R']:.1f} %, grid {c.grid_A} A"]
             for r in rows]
    return {"runs": rows, "figures": figs, "comparisons": comps,
            "text": "MEM (orders 2 and 4 of the F-constraint, uniform prior, L-BFGS, coarse-to-fine) on the measured structure factors."}


# --------------------------------------------------------------------------- classify
def stage_classify(ctx: StageContext) -> dict:
    from incipient.workflows.classify import classify

    mig = ctx.inputs["migration"]["runs"]
    hot = max(mig, key=lambda r: r["temperature_K"])
    kappa_avg = None
    if "kappa_gk" in ctx.inputs:
        gk = [r for r in ctx.inputs["kappa_gk"]["runs"] if r["temperature_K"] == hot["temperature_K"]]
        kappa_avg = gk[0]["kappa_avg_W_mK"] if gk else None
    if kappa_avg is None and "kappa_bte" in ctx.inputs:
        kappa_avg = ctx.inputs["kappa_bte"]["kappa_avg_300K_W_mK"]
    period = float("nan")
    dos = ctx.inputs.get("spectra", {}).get("dos", {}).get(f"{hot['temperature_K']:g}K")
    if dos:
        e_meV = float(np.mean(dos["Cu_peak_meV_xyz"]))
        period = 1.0 / (e_meV / 4.135667696)  # ps, f = E/h with h = 4.1357 meV*ps
    c = classify(D_cm2_s=hot["D_cm2_s"], temperature_K=hot["temperature_K"], n_mobile_per_A3=hot["n_mobile_per_A3"],
                 hop_rate_per_ps=hot["hop_rate_per_ion_ps"], return_fraction=hot["return_fraction"],
                 mean_residence_ps=hot["mean_residence_time_ps"], phonon_period_ps=period, kappa_avg_W_mK=kappa_avg,
                 name=ctx.config.name, msd_A2=hot.get("msd_end_of_fit_A2"), site_spacing_A=hot.get("site_spacing_A"))
    c.save(ctx.path("classification.json"))
    p = ctx.path("classification.png")
    _save_fig(c.plot(), p)
    return {"label": c.label, "reasons": list(c.reasons), "sigma_S_m": c.sigma_S_m,
            "comparisons": [["conductor class", c.label, "incipient", "", "; ".join(c.reasons)]],
            "figures": [{"path": _rel(ctx, p), "caption": "Where this material sits among electronic, incipient and superionic conductors (Figure 5)."}],
            "text": f"Classified as {c.label}: " + "; ".join(c.reasons) + "."}
