"""NVT-then-NVE molecular dynamics with velocity Verlet, checkpoints and on-the-fly heat current.

Own loop (rather than ASE's ``MolecularDynamics`` classes) so that the per-step overhead stays
small, the state (positions, velocities, thermostat random state) is checkpointed atomically and
a killed run resumes exactly, and the heat current J = sum_i v_i e_i - sum_i W_i . v_i is
computed from the calculator's centroid per-atom virials ('virials', eV) in the same force call.
Any ASE calculator works; the heat current needs 'energies' and 'virials'.

Units: positions in A, velocities stored in A/fs, time in fs, energies in eV, heat currents in
eV*A/fs (not divided by the volume).

Heat current: ``heat_current_virial`` = -sum_i W_i . v_i; ``heat_current_conv`` =
sum_i (e_i - <e>_s(i)) v_i with e_i = U_i + K_i and <e>_s the instantaneous mean energy of atom
i's species. Removing the species means drops the term <e>_s sum_{i in s} v_i, which carries no
heat (the mass flux of a species in a solid integrates to zero) but whose absolute energies
(~ -3 eV/atom) swamp the Green-Kubo integral with noise in multi-component systems.
``heat_current_conv_raw`` keeps the absolute energies (what LAMMPS' compute heat/flux gives).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units

from incipient.md.thermostats import bussi_scale, langevin_ou
from incipient.md.trajectory import H5MDWriter
from incipient.results import Result, atomic_write_text


class MDBlowUpError(RuntimeError):
    """The simulation became unphysical (NaN, atoms too close, energy drift)."""


class CheckpointMismatchError(ValueError):
    """A checkpoint exists beside the output but was written with other settings."""


@dataclass(frozen=True)
class MDResult(Result):
    """Summary of an MD run.

    steps_nvt, steps_nve : steps done in each phase; timestep_fs.
    time_fs, temperature_K, potential_eV, total_eV : per logged step (NVE and NVT).
    phase : per logged step, 0 = NVT, 1 = NVE.
    nve_drift_meV_atom_ns : linear drift of the NVE total energy (meV/atom/ns).
    mean_temperature_nve_K : mean kinetic temperature in NVE.
    wall_s, force_s : wall time of the run and of the force calls (the rest is overhead).
    ns_per_day, atom_steps_per_s : throughput.
    trajectory : path of the H5MD file.
    """

    n_atoms: int
    steps_nvt: int
    steps_nve: int
    timestep_fs: float
    time_fs: np.ndarray
    temperature_K: np.ndarray
    potential_eV: np.ndarray
    total_eV: np.ndarray
    phase: np.ndarray
    nve_drift_meV_atom_ns: float
    mean_temperature_nve_K: float
    wall_s: float
    force_s: float
    ns_per_day: float
    atom_steps_per_s: float
    trajectory: str

    @property
    def overhead_fraction(self) -> float:
        return 1.0 - self.force_s / self.wall_s if self.wall_s > 0 else float("nan")

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
        t_ps = self.time_fs / 1000.0
        ax[0].plot(t_ps, self.temperature_K, lw=0.8)
        ax[0].set_ylabel("temperature (K)")
        nve = self.phase == 1
        ax[1].plot(t_ps, (self.total_eV - self.total_eV[nve][0] if nve.any() else self.total_eV) / self.n_atoms * 1000, lw=0.8, label="total")
        ax[1].set_ylabel("E - E(NVE start) (meV/atom)")
        ax[1].set_xlabel("time (ps)")
        if nve.any():
            ax[1].axvline(t_ps[nve][0], color="k", ls=":", lw=0.8)
        ax[0].set_title(f"MD: NVT {self.steps_nvt} + NVE {self.steps_nve} steps of {self.timestep_fs} fs; drift {self.nve_drift_meV_atom_ns:.2f} meV/atom/ns")
        fig.tight_layout()
        return fig


@dataclass
class MDSettings:
    """Settings of ``run_md`` (see its docstring); stored in the checkpoint to check a resume."""

    temperature_K: float
    timestep_fs: float = 2.0
    steps_nvt: int = 1000
    steps_nve: int = 1000
    thermostat: str = "bussi"
    tau_fs: float = 100.0
    friction_per_fs: float = 0.01
    save_every: int = 10
    heat_current_every: int = 0
    checkpoint_every: int = 500
    seed: int = 0
    save_nvt: bool = False
    min_distance_A: float = 1.2
    max_energy_jump_eV_atom: float = 0.05
    extra: dict = field(default_factory=dict)


def _kinetic(masses, v):
    return 0.5 * float(np.sum(masses[:, None] * v * v))


def _min_distance(atoms: Atoms, cutoff: float) -> float:
    from incipient.potentials.neighbors import neighbor_list

    _, _, vec = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    return float(np.sqrt((vec * vec).sum(1)).min()) if len(vec) else np.inf


def run_md(atoms: Atoms, calc, output: str | os.PathLike, *, temperature_K: float,
           timestep_fs: float = 2.0, steps_nvt: int = 1000, steps_nve: int = 1000,
           thermostat: str = "bussi", tau_fs: float = 100.0, friction_per_fs: float = 0.01,
           save_every: int = 10, heat_current_every: int = 0, checkpoint_every: int = 500,
           seed: int = 0, save_nvt: bool = False, resume: bool = True, progress: bool = True,
           min_distance_A: float = 1.2, max_energy_jump_eV_atom: float = 0.05) -> MDResult:
    """NVT equilibration (Bussi or Langevin) then NVE production, velocity Verlet.

    Frames (unwrapped positions, velocities) of the NVE phase (and of NVT if ``save_nvt``) go to
    the H5MD file ``output`` every ``save_every`` steps; the heat current (conv and virial parts)
    every ``heat_current_every`` NVE steps (0: never). A checkpoint ``output + '.ckpt.npz'`` is
    written atomically every ``checkpoint_every`` steps; with ``resume`` a rerun continues from it
    (frames after the checkpoint are dropped and recomputed identically). A run that blows up
    (NaN, atoms closer than ``min_distance_A``, NVE energy jump above ``max_energy_jump_eV_atom``)
    stops with MDBlowUpError after saving what it had.
    """
    settings = MDSettings(temperature_K=float(temperature_K), timestep_fs=float(timestep_fs),
                          steps_nvt=int(steps_nvt), steps_nve=int(steps_nve), thermostat=thermostat,
                          tau_fs=float(tau_fs), friction_per_fs=float(friction_per_fs), save_every=int(save_every),
                          heat_current_every=int(heat_current_every), checkpoint_every=int(checkpoint_every),
                          seed=int(seed), save_nvt=bool(save_nvt), min_distance_A=float(min_distance_A),
                          max_energy_jump_eV_atom=float(max_energy_jump_eV_atom))
    if thermostat not in ("bussi", "langevin"):
        raise ValueError(f"thermostat must be 'bussi' or 'langevin', got {thermostat!r}")
    if timestep_fs <= 0 or temperature_K <= 0:
        raise ValueError("timestep_fs and temperature_K must be positive")
    if save_every < 1 or checkpoint_every < 1:
        raise ValueError("save_every and checkpoint_every must be >= 1")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(str(output) + ".ckpt.npz")
    log_path = Path(str(output) + ".log.npz")
    want_heat = heat_current_every > 0

    atoms = atoms.copy()
    atoms.calc = calc
    n = len(atoms)
    masses = atoms.get_masses()
    dt = timestep_fs * units.fs
    kT = units.kB * temperature_K
    n_dof = 3 * n - 3
    rng = np.random.default_rng(seed)
    total_steps = steps_nvt + steps_nve

    step = 0
    log = {"step": [], "temperature_K": [], "potential_eV": [], "total_eV": [], "phase": []}
    start_positions = None
    if resume and ckpt_path.exists():
        ck = np.load(ckpt_path, allow_pickle=False)
        saved = json.loads(str(ck["settings"]))
        mine = {k: v for k, v in settings.__dict__.items() if k not in ("extra",)}
        if {k: saved.get(k) for k in mine} != mine or int(ck["n_atoms"]) != n:
            raise CheckpointMismatchError(f"{ckpt_path}: checkpoint was written with other settings; delete it or change 'output'")
        step = int(ck["step"])
        atoms.positions = ck["positions"]
        vel = np.array(ck["velocities"])  # ASE velocity units; kept as saved (no momenta round trip)
        rng.bit_generator.state = json.loads(str(ck["rng_state"]))
        start_positions = ck["start_positions"]
        if log_path.exists():
            lg = np.load(log_path)
            keep = lg["step"] <= step
            log = {k: list(lg[k][keep]) for k in log}
    else:
        if output.exists():
            output.unlink()
        # Maxwell-Boltzmann velocities, zero total momentum, kinetic temperature exactly T
        v = rng.standard_normal((n, 3)) * np.sqrt(kT / masses)[:, None]
        v -= (masses[:, None] * v).sum(0) / masses.sum()
        v *= np.sqrt(0.5 * n_dof * kT / _kinetic(masses, v))
        vel = v
        start_positions = atoms.positions.copy()

    writer = H5MDWriter(output, atoms.numbers, atoms.cell.array, timestep_fs, mode="a",
                        attrs={"temperature_K": temperature_K, "thermostat": thermostat})
    writer.truncate_after(step)

    # positions are kept unwrapped throughout (no wrapping in this loop)
    pos = atoms.positions.copy()

    def forces_and_more():
        atoms.positions = pos
        t0 = time.perf_counter()
        f = atoms.get_forces()
        e_pot_i = calc.results.get("energies") if want_heat else None
        W = calc.results.get("virials") if want_heat else None
        epot = atoms.get_potential_energy()
        return f, epot, e_pot_i, W, time.perf_counter() - t0

    f, epot, e_i, W, tf = forces_and_more()
    force_s = tf
    kinds = np.unique(atoms.numbers)
    species_sum = (atoms.numbers[None, :] == kinds[:, None]).astype(float)  # (S, N) indicator
    species_count = species_sum.sum(1)
    e_nve_ref = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=step, unit="step", desc=f"MD {temperature_K:g} K", smoothing=0.05)
    t_wall0 = time.perf_counter()
    steps_done_here = 0

    def checkpoint():
        writer.flush()
        np.savez(str(ckpt_path) + ".tmp.npz", step=step, positions=pos, velocities=vel, n_atoms=n,
                 rng_state=json.dumps(rng.bit_generator.state), start_positions=start_positions,
                 settings=json.dumps({k: v for k, v in settings.__dict__.items() if k != "extra"}))
        os.replace(str(ckpt_path) + ".tmp.npz", ckpt_path)
        tmp = str(log_path) + ".tmp.npz"
        np.savez(tmp, **{k: np.asarray(v) for k, v in log.items()})
        os.replace(tmp, log_path)

    def fail(msg):
        writer.close()
        if bar is not None:
            bar.close()
        raise MDBlowUpError(f"MD at {temperature_K:g} K stopped at step {step}: {msg}. "
                            f"Frames up to the last checkpoint are kept in {output}.")

    try:
        while step < total_steps:
            in_nvt = step < steps_nvt
            # velocity Verlet (with the thermostat's O step in the middle for Langevin: BAOAB)
            vel += 0.5 * dt * f / masses[:, None]
            pos += 0.5 * dt * vel
            if in_nvt and thermostat == "langevin":
                vel = langevin_ou(vel, masses, kT, dt, friction_per_fs / units.fs, rng)
            pos += 0.5 * dt * vel
            f, epot, e_i, W, tf = forces_and_more()
            force_s += tf
            vel += 0.5 * dt * f / masses[:, None]
            if in_nvt and thermostat == "bussi":
                kin = _kinetic(masses, vel)
                vel *= bussi_scale(kin, 0.5 * n_dof * kT, n_dof, timestep_fs / tau_fs, rng)
            step += 1
            steps_done_here += 1
            kin = _kinetic(masses, vel)
            etot = epot + kin
            if not np.isfinite(etot) or not np.all(np.isfinite(f)):
                fail("energy or forces are not finite (NaN/inf)")
            if step == steps_nvt + 1 or (e_nve_ref is None and not in_nvt):
                e_nve_ref = etot
            if not in_nvt and abs(etot - e_nve_ref) / n > max_energy_jump_eV_atom:
                fail(f"NVE total energy moved by {(etot - e_nve_ref) / n * 1000:.1f} meV/atom (limit {max_energy_jump_eV_atom * 1000:.0f})")
            if step % save_every == 0 or step == total_steps:
                temp = 2.0 * kin / (n_dof * units.kB)
                log["step"].append(step)
                log["temperature_K"].append(temp)
                log["potential_eV"].append(epot)
                log["total_eV"].append(etot)
                log["phase"].append(0 if in_nvt else 1)
                if step % (save_every * 10) == 0:
                    atoms.positions = pos
                    dmin = _min_distance(atoms, max(min_distance_A, 0.1) * 1.0001)
                    if dmin < min_distance_A:
                        fail(f"two atoms are {dmin:.2f} A apart (limit {min_distance_A} A)")
                if save_nvt or not in_nvt:
                    writer.append(step, pos, vel * units.fs)
            if want_heat and not in_nvt and step % heat_current_every == 0:
                v_fs = vel * units.fs  # A/fs
                e_tot_i = e_i + 0.5 * masses * (vel * vel).sum(1)
                j_raw = (v_fs * e_tot_i[:, None]).sum(0)
                # convective part with each species' mean energy removed: sum_s (e_i - <e>_s) v_i
                e_rel = e_tot_i - species_sum.T @ (species_sum @ e_tot_i / species_count)
                j_conv = (v_fs * e_rel[:, None]).sum(0)
                j_vir = -np.einsum("iab,ib->a", W, v_fs)
                writer.append_observable("heat_current_conv_eV_A_fs", step, j_conv, "eV*angstrom/fs")
                writer.append_observable("heat_current_virial_eV_A_fs", step, j_vir, "eV*angstrom/fs")
                writer.append_observable("heat_current_conv_raw_eV_A_fs", step, j_raw, "eV*angstrom/fs")
            if step % checkpoint_every == 0 or step == total_steps:
                checkpoint()
            if bar is not None:
                bar.update(1)
                if steps_done_here % 20 == 0:
                    el = time.perf_counter() - t_wall0
                    bar.set_postfix(ns_day=f"{steps_done_here * timestep_fs * 1e-6 / (el / 86400):.3f}", T=f"{2.0 * kin / (n_dof * units.kB):.0f}K")
    finally:
        if bar is not None:
            bar.close()
        writer.close()

    wall = time.perf_counter() - t_wall0
    lg = {k: np.asarray(v) for k, v in log.items()}
    nve = lg["phase"] == 1
    drift = float("nan")
    tmean = float("nan")
    if nve.sum() > 2:
        tt = lg["step"][nve] * timestep_fs * 1e-6  # ns
        slope = np.polyfit(tt, lg["total_eV"][nve] / n, 1)[0]
        drift = float(slope * 1000.0)
        tmean = float(lg["temperature_K"][nve].mean())
    per_step = wall / max(steps_done_here, 1)
    return MDResult(
        n_atoms=n, steps_nvt=steps_nvt, steps_nve=steps_nve, timestep_fs=timestep_fs,
        time_fs=lg["step"] * timestep_fs, temperature_K=lg["temperature_K"], potential_eV=lg["potential_eV"],
        total_eV=lg["total_eV"], phase=lg["phase"], nve_drift_meV_atom_ns=drift, mean_temperature_nve_K=tmean,
        wall_s=wall, force_s=force_s, ns_per_day=timestep_fs * 1e-6 / (per_step / 86400) if steps_done_here else float("nan"),
        atom_steps_per_s=n / per_step if steps_done_here else float("nan"), trajectory=str(output),
    )


def write_json_summary(result: MDResult, path: str | os.PathLike) -> None:
    d = {k: v for k, v in result.to_dict().items() if not isinstance(v, np.ndarray)}
    atomic_write_text(path, json.dumps(d, indent=1))
