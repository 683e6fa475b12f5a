"""NVT-then-NVE molecular dynamics: a small velocity-Verlet loop with observers attached to it.

Own loop (rather than ASE's ``MolecularDynamics`` classes) so that the per-step overhead stays
small, the state (positions, velocities, thermostat random state) is checkpointed atomically and
a killed run resumes exactly, and the heat current J = sum_i v_i e_i - sum_i W_i . v_i is
computed from the calculator's centroid per-atom virials ('virials', eV) in the same force call.
Any ASE calculator works; the heat current needs 'energies' and 'virials'.

Structure: ``VelocityVerlet`` is the integrator (velocity Verlet, BAOAB for Langevin, Bussi
rescaling) and, as ASE's ``Dynamics.attach(function, interval)``, calls observers every
``interval`` steps: ``BlowUpGuard`` (every step, and the minimum distance every 10 frames),
``EnergyLog``, ``TrajectoryRecorder``, ``HeatCurrentRecorder`` and ``Checkpointer``; the
caller's ``observers`` of ``run_md`` (``f(atoms, step, phase)``, every step) through
``CallerObservers``, where raising :class:`StopMD` ends the run cleanly after that step.

Files beside ``output`` (see ``incipient.md.trajectory`` for the crash-safe segment scheme):
``output`` (the H5MD trajectory, written when the run ends), ``output.segments/`` (the
committed frames while the run goes on), ``output.ckpt.npz`` (the last checkpoint: state, log,
list of committed segments) and ``output.ckpt.prev.npz`` (the one before, used if the last is
unreadable). Every file is written to a temp name, fsynced and renamed, so a kill -9 or a full
disk at any instant leaves the last checkpoint and every committed frame readable.

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

import io
import json
import math
import numbers
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from incipient import units
from incipient.errors import FileFormatError, InputError, OutputError, RunError
from incipient.md.thermostats import bussi_scale, langevin_ou
from incipient.md.trajectory import (
    POSITION,
    VELOCITY,
    SegmentedH5MDWriter,
    _open_h5,
    _series_groups,
    atomic_write_bytes,
    read_series,
    remove_segments,
    remove_temp_files,
    segments_dir,
)
from incipient.results import Result, atomic_write_text

CHECKPOINT_FORMAT = 2
HEAT_CURRENT_UNIT = "eV*angstrom/fs"
LOG_KEYS = ("step", "temperature_K", "potential_eV", "total_eV", "phase")


class MDBlowUpError(RunError):
    """The simulation became unphysical (NaN, atoms too close, energy drift)."""


class CheckpointMismatchError(InputError):
    """A checkpoint exists beside the output but cannot be used (other settings, or unreadable)."""


class CheckpointUnreadableError(CheckpointMismatchError, FileFormatError):
    """Every checkpoint beside the output is unreadable (truncated, corrupt): the run must start over."""


class StopMD(Exception):  # noqa: N818 - a request, not an error
    """Raised by an observer of ``run_md`` to end the run cleanly after the current step; the message is the reason.

    Not an error: ``run_md`` saves, checkpoints and merges the frames as at a normal end and
    returns an ``MDResult`` whose ``stopped_early_reason`` is the message.
    """


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
    stopped_early_reason : "" for a run of the requested length; else why an observer ended it
        (the message of its :class:`StopMD`). Then ``steps_nvt`` and ``steps_nve`` are the steps
        done, and the last logged step is the step the run stopped at.
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
    stopped_early_reason: str = ""

    @property
    def overhead_fraction(self) -> float:
        """Fraction of the wall time spent outside the force calls, in [0, 1].

        ``force_s`` is timed inside the same window as ``wall_s`` (from the first force call,
        numba compilation included, to the end of the run), so it cannot exceed it; the clip only
        absorbs timer rounding.
        """
        if not self.wall_s > 0:
            return float("nan")
        return min(1.0, max(0.0, 1.0 - self.force_s / self.wall_s))

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

    def key(self) -> dict:
        """What a checkpoint must match to be resumed."""
        return {k: v for k, v in self.__dict__.items() if k != "extra"}


def _kinetic(masses, v):
    return 0.5 * float(np.sum(masses[:, None] * v * v))


def _min_distance(atoms: Atoms, cutoff: float) -> float:
    from incipient.potentials.neighbors import neighbor_list

    _, _, vec = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    return float(np.sqrt((vec * vec).sum(1)).min()) if len(vec) else np.inf


# ----------------------------------------------------------------------------- input checks


def _number(name: str, value, *, positive: bool = True, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (positive and (x < 0 or (x == 0 and not allow_zero))):
        what = "a finite number >= 0" if allow_zero else "a finite positive number"
        raise InputError(f"{name} must be {what}, got {value!r}")
    return x


def _integer(name: str, value, minimum: int) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and value.is_integer():
        ok = True
    if not ok:
        raise InputError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def _check_atoms(atoms: Atoms) -> None:
    if len(atoms) < 2:
        raise InputError(f"MD needs at least 2 atoms, got {len(atoms)}")
    pos = atoms.positions
    bad = np.flatnonzero(~np.isfinite(pos).all(1))
    if bad.size:
        raise InputError(f"atom {bad[0]} has a non-finite position {pos[bad[0]].tolist()}")
    if atoms.has("momenta") and not np.isfinite(atoms.get_momenta()).all():
        raise InputError("the structure has non-finite velocities")
    masses = atoms.get_masses()
    if not (np.isfinite(masses).all() and (masses > 0).all()):
        raise InputError("every atom needs a finite positive mass")
    if atoms.pbc.any():
        cell = atoms.cell.array
        if not np.isfinite(cell).all() or abs(np.linalg.det(cell)) < 1e-9:
            raise InputError("the periodic cell is not finite or has no volume")


# ----------------------------------------------------------------------------- integrator


class VelocityVerlet:
    """The integrator of ``run_md``: velocity Verlet (BAOAB for Langevin, Bussi rescaling in NVT).

    Observers are attached as with ASE's ``Dynamics.attach(function, interval)``: after every
    step whose number is a multiple of ``interval`` (and after the last step with ``last=True``)
    ``function(*args, **kwargs)`` is called. Observers read the state from this object:
    ``step`` (steps done), ``pos`` (unwrapped, A), ``vel`` (ASE units), ``f``, ``epot``, ``kin``
    (eV), ``e_i`` and ``W`` (per-atom energies and virials, with ``per_atom``) and ``in_nvt``
    (the step just done was an NVT step). An observer stops the run by raising (an error), or
    ends it cleanly with ``stop(reason)``: the observers after it are still called for that step
    (the ``last=True`` ones as after the last step), then ``run`` returns; ``stop_reason`` says why.
    """

    def __init__(self, atoms: Atoms, *, positions, velocities, timestep_fs: float, steps_nvt: int,
                 total_steps: int, thermostat: str, temperature_K: float, tau_fs: float,
                 friction_per_fs: float, rng: np.random.Generator, step: int = 0, per_atom: bool = False):
        self.atoms = atoms
        self.calc = atoms.calc
        self.masses = atoms.get_masses()
        self.n_atoms = len(atoms)
        self.pos = np.array(positions, dtype=float)  # unwrapped throughout (never wrapped here)
        self.vel = np.array(velocities, dtype=float)
        self.timestep_fs = float(timestep_fs)
        self.dt = self.timestep_fs * units.fs
        self.steps_nvt = int(steps_nvt)
        self.total_steps = int(total_steps)
        self.thermostat = thermostat
        self.kT = units.kB_eV_K * temperature_K
        self.n_dof = 3 * self.n_atoms - 3
        self.tau_fs = float(tau_fs)
        self.gamma = float(friction_per_fs) / units.fs
        self.rng = rng
        self.step = int(step)
        self.per_atom = per_atom
        self.in_nvt = self.step <= self.steps_nvt
        self.f = None
        self.epot = float("nan")
        self.kin = _kinetic(self.masses, self.vel)
        self.e_i = None
        self.W = None
        self.force_s = 0.0
        self.stop_reason = ""
        self.observers: list[tuple] = []

    def attach(self, function, interval: int = 1, *args, last: bool = False, **kwargs) -> None:
        """Call ``function(*args, **kwargs)`` every ``interval`` steps (and after the last with ``last``)."""
        self.observers.append((function, max(1, int(interval)), bool(last), args, kwargs))

    def stop(self, reason: str) -> None:
        """End the run after the current step (from an observer): ``total_steps`` becomes ``step``."""
        self.stop_reason = str(reason) or "stopped"
        self.total_steps = self.step

    def compute_forces(self) -> None:
        atoms = self.atoms
        atoms.positions = self.pos
        t0 = time.perf_counter()
        self.f = atoms.get_forces()
        if self.per_atom:
            self.e_i = self.calc.results.get("energies")
            self.W = self.calc.results.get("virials")
        self.epot = atoms.get_potential_energy()
        self.force_s += time.perf_counter() - t0

    def run(self) -> None:
        """Step until ``total_steps`` (forces at the current positions must have been computed)."""
        masses, dt, rng = self.masses, self.dt, self.rng
        m = masses[:, None]
        langevin, bussi = self.thermostat == "langevin", self.thermostat == "bussi"
        target = 0.5 * self.n_dof * self.kT
        observers = self.observers
        while self.step < self.total_steps:  # read each step: an observer may stop() the run
            nvt = self.step < self.steps_nvt
            vel, pos = self.vel, self.pos
            vel += 0.5 * dt * self.f / m
            pos += 0.5 * dt * vel
            if nvt and langevin:
                vel = self.vel = langevin_ou(vel, masses, self.kT, dt, self.gamma, rng)
            pos += 0.5 * dt * vel
            self.compute_forces()
            vel += 0.5 * dt * self.f / m
            if nvt and bussi:
                vel *= bussi_scale(_kinetic(masses, vel), target, self.n_dof, self.timestep_fs / self.tau_fs, rng)
            self.step += 1
            self.in_nvt = nvt
            self.kin = _kinetic(masses, vel)
            step = self.step
            for function, interval, last, args, kwargs in observers:
                if step % interval == 0 or (last and step == self.total_steps):
                    function(*args, **kwargs)


# ----------------------------------------------------------------------------- observers


class BlowUpGuard:
    """Observer: stop with MDBlowUpError on NaN/inf energy or forces, an NVE energy jump or close atoms."""

    def __init__(self, md: VelocityVerlet, *, label: str, output: Path, max_energy_jump_eV_atom: float,
                 min_distance_A: float):
        self.md, self.label, self.output = md, label, output
        self.max_jump = max_energy_jump_eV_atom
        self.min_distance = min_distance_A
        self.e_nve_ref = None

    def fail(self, msg: str):
        raise MDBlowUpError(f"{self.label} stopped at step {self.md.step}: {msg}. "
                            f"The frames before it are kept in {self.output}.")

    def __call__(self) -> None:
        md = self.md
        etot = md.epot + md.kin
        if not np.isfinite(etot) or not np.all(np.isfinite(md.f)):
            self.fail("energy or forces are not finite (NaN/inf)")
        if md.step == md.steps_nvt + 1 or (self.e_nve_ref is None and not md.in_nvt):
            self.e_nve_ref = etot
        if not md.in_nvt and abs(etot - self.e_nve_ref) / md.n_atoms > self.max_jump:
            self.fail(f"NVE total energy moved by {(etot - self.e_nve_ref) / md.n_atoms * 1000:.1f} meV/atom "
                      f"(limit {self.max_jump * 1000:.0f})")

    def check_distances(self) -> None:
        self.md.atoms.positions = self.md.pos
        dmin = _min_distance(self.md.atoms, max(self.min_distance, 0.1) * 1.0001)
        if dmin < self.min_distance:
            self.fail(f"two atoms are {dmin:.2f} A apart (limit {self.min_distance} A)")


class EnergyLog:
    """Observer: temperature, potential and total energy and phase (0 NVT, 1 NVE) of logged steps."""

    def __init__(self, md: VelocityVerlet, log: dict[str, list] | None = None):
        self.md = md
        self.log = log or {k: [] for k in LOG_KEYS}

    def __call__(self) -> None:
        md, log = self.md, self.log
        log["step"].append(md.step)
        log["temperature_K"].append(2.0 * md.kin / (md.n_dof * units.kB_eV_K))
        log["potential_eV"].append(md.epot)
        log["total_eV"].append(md.epot + md.kin)
        log["phase"].append(0 if md.in_nvt else 1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.log.items()}


class TrajectoryRecorder:
    """Observer: queue a frame (unwrapped positions in A, velocities in A/fs) of NVE (and NVT) steps.

    The step a stopped run ends at (``md.stop_reason``) is saved also in NVT: the last state is
    always in the file, which is then never empty.
    """

    def __init__(self, md: VelocityVerlet, writer: SegmentedH5MDWriter, save_nvt: bool):
        self.md, self.writer, self.save_nvt = md, writer, save_nvt

    def __call__(self) -> None:
        md = self.md
        if self.save_nvt or not md.in_nvt or md.stop_reason:
            self.writer.append(md.step, md.pos, md.vel * units.fs)


class HeatCurrentRecorder:
    """Observer: heat current (conv with species means removed, raw conv, virial) of NVE steps."""

    names = ("heat_current_conv_eV_A_fs", "heat_current_virial_eV_A_fs", "heat_current_conv_raw_eV_A_fs")

    def __init__(self, md: VelocityVerlet, writer: SegmentedH5MDWriter):
        self.md, self.writer = md, writer
        numbers_ = md.atoms.numbers
        kinds = np.unique(numbers_)
        self.species_sum = (numbers_[None, :] == kinds[:, None]).astype(float)  # (S, N) indicator
        self.species_count = self.species_sum.sum(1)
        for name in self.names:
            writer.declare(f"observables/{name}", (3,), HEAT_CURRENT_UNIT)

    def __call__(self) -> None:
        md = self.md
        if md.in_nvt:
            return
        vel, masses = md.vel, md.masses
        v_fs = vel * units.fs  # A/fs
        e_tot_i = md.e_i + 0.5 * masses * (vel * vel).sum(1)
        j_raw = (v_fs * e_tot_i[:, None]).sum(0)
        # convective part with each species' mean energy removed: sum_s (e_i - <e>_s) v_i
        e_rel = e_tot_i - self.species_sum.T @ (self.species_sum @ e_tot_i / self.species_count)
        j_conv = (v_fs * e_rel[:, None]).sum(0)
        j_vir = -np.einsum("iab,ib->a", md.W, v_fs)
        w = self.writer
        w.append_observable(self.names[0], md.step, j_conv, HEAT_CURRENT_UNIT)
        w.append_observable(self.names[1], md.step, j_vir, HEAT_CURRENT_UNIT)
        w.append_observable(self.names[2], md.step, j_raw, HEAT_CURRENT_UNIT)


class CallerObservers:
    """Observer: the ``observers`` of ``run_md``, each called as ``f(atoms, step, phase)`` after every step.

    ``atoms`` is the run's own Atoms: unwrapped positions (A) and velocities of this step, its
    calculator holding this step's results (``atoms.get_forces()`` costs nothing); ``phase`` is
    "nvt" or "nve". A :class:`StopMD` from one of them ends the run after this step
    (``VelocityVerlet.stop``); the others are still called for it. A stop at the last step is
    a normal end (nothing is shortened, so no reason is recorded).
    """

    def __init__(self, md: VelocityVerlet, functions):
        self.md, self.functions = md, tuple(functions)

    def __call__(self) -> None:
        md = self.md
        atoms = md.atoms  # positions are md.pos since the step's force call
        atoms.set_momenta(md.masses[:, None] * md.vel, apply_constraint=False)
        phase = "nvt" if md.in_nvt else "nve"
        for function in self.functions:
            try:
                function(atoms, md.step, phase)
            except StopMD as exc:
                if md.step < md.total_steps:  # the first stop wins; at the last step it is a normal end
                    md.stop(str(exc) or type(exc).__name__)


class Checkpointer:
    """Observer: commit the queued frames as a segment, then write the checkpoint (both atomically).

    The checkpoint (npz) holds the step, positions, velocities, the thermostat's random state,
    the energy log and the names of the committed segments; the one it replaces is kept as
    ``.ckpt.prev.npz``. The order (segment, then checkpoint) means that every segment a
    checkpoint names is on disk; segments written after it are dropped on resume. The checkpoint
    of a run that an observer stopped (``md.stop_reason``) also holds ``stopped_early_reason``:
    a rerun then ends there too.
    """

    def __init__(self, md: VelocityVerlet, writer: SegmentedH5MDWriter, log: EnergyLog, path: Path,
                 prev_path: Path, settings: MDSettings, start_positions: np.ndarray):
        self.md, self.writer, self.log = md, writer, log
        self.path, self.prev_path = path, prev_path
        self.settings, self.start_positions = settings, start_positions
        self.saved_step = md.step

    def __call__(self) -> None:
        md = self.md
        self.writer.commit()
        bio = io.BytesIO()
        extra = {"stopped_early_reason": md.stop_reason} if md.stop_reason else {}
        np.savez(bio, format=CHECKPOINT_FORMAT, step=md.step, positions=md.pos, velocities=md.vel,
                 n_atoms=md.n_atoms, rng_state=json.dumps(md.rng.bit_generator.state),
                 start_positions=self.start_positions, settings=json.dumps(self.settings.key()),
                 segments=json.dumps(self.writer.committed),
                 **{f"log_{k}": v for k, v in self.log.arrays().items()}, **extra)
        self.writer.submit(self._write, bio.getvalue(), md.step)  # after the segment, in the background

    def _write(self, data: bytes, step: int) -> None:
        try:
            atomic_write_bytes(self.path, data, backup=self.prev_path)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write the MD checkpoint ({exc.strerror or exc})") from exc
        self.saved_step = step


class ProgressBar:
    """Observer: a tqdm bar with ns/day and the temperature."""

    def __init__(self, md: VelocityVerlet, label: str):
        from tqdm.auto import tqdm

        self.md = md
        self.bar = tqdm(total=md.total_steps, initial=md.step, unit="step", desc=label, smoothing=0.05)
        self.t0 = time.perf_counter()
        self.done = 0

    def __call__(self) -> None:
        self.bar.update(1)
        self.done += 1
        if self.done % 20 == 0:
            md = self.md
            el = time.perf_counter() - self.t0
            self.bar.set_postfix(ns_day=f"{self.done * md.timestep_fs * 1e-6 / (el / 86400):.3f}",
                                 T=f"{2.0 * md.kin / (md.n_dof * units.kB_eV_K):.0f}K")

    def close(self) -> None:
        self.bar.close()


# ----------------------------------------------------------------------------- checkpoint files


def _load_checkpoint(paths: list[Path]) -> dict | None:
    """The first readable checkpoint of ``paths`` (newest first) as a dict; None if there is none.

    A truncated or corrupt file is skipped with a warning (the previous checkpoint is used);
    if every existing one is unreadable: CheckpointUnreadableError.
    """
    problems = []
    for p in paths:
        if not p.exists():
            continue
        try:
            with np.load(p, allow_pickle=False) as z:
                ck = {k: z[k] for k in z.files}
            for k in ("step", "positions", "velocities", "n_atoms", "rng_state", "settings"):
                if k not in ck:
                    raise KeyError(f"no {k!r}")
            if not (np.isfinite(ck["positions"]).all() and np.isfinite(ck["velocities"]).all()):
                raise ValueError("non-finite positions or velocities")
            json.loads(str(ck["settings"]))
            json.loads(str(ck["rng_state"]))
        except Exception as exc:  # BadZipFile, EOFError, OSError, ValueError, KeyError, ...
            problems.append(f"{p.name}: {type(exc).__name__}: {' '.join(str(exc).split())}")
            continue
        if problems:
            warnings.warn(f"{problems[0]}: unreadable MD checkpoint; resuming from {p.name} (step {int(ck['step'])})",
                          stacklevel=3)
        ck["_path"] = p
        return ck
    if problems:
        raise CheckpointUnreadableError(f"no readable MD checkpoint ({'; '.join(problems)}); "
                                        "delete it or rerun with resume=False (--no-resume)", source=paths[0])
    return None


def _adopt_legacy(writer: SegmentedH5MDWriter, output: Path, step: int) -> bool:
    """A checkpoint of the older in-place writer: move the frames up to ``step`` into a segment."""
    if not output.is_file():
        return False
    try:
        with _open_h5(output) as f:
            names = [n for n, _ in _series_groups(f)]
        for name in names:
            s = read_series(output, name)
            keep = s.step <= step
            for st, v in zip(s.step[keep], s.value[keep], strict=True):
                writer._queue(name, int(st), v, s.unit)
    except (FileFormatError, OSError) as exc:
        raise FileFormatError(f"cannot resume from the old-style trajectory ({exc}); rerun with resume=False",
                              source=output) from exc
    writer.commit()
    return True


def _last_frame_step(path: Path) -> int | None:
    try:
        s = read_series(path, POSITION).step
    except (FileFormatError, OSError):
        return None
    return int(s[-1]) if len(s) else None


# ----------------------------------------------------------------------------- run_md


def run_md(atoms: Atoms, calc, output: str | os.PathLike, *, temperature_K: float,
           timestep_fs: float = 2.0, steps_nvt: int = 1000, steps_nve: int = 1000,
           thermostat: str = "bussi", tau_fs: float = 100.0, friction_per_fs: float = 0.01,
           save_every: int = 10, heat_current_every: int = 0, checkpoint_every: int = 500,
           seed: int = 0, save_nvt: bool = False, resume: bool = True, progress: bool = True,
           min_distance_A: float = 1.2, max_energy_jump_eV_atom: float = 0.05, observers=()) -> MDResult:
    """NVT equilibration (Bussi or Langevin) then NVE production, velocity Verlet.

    Frames (unwrapped positions, velocities) of the NVE phase (and of NVT if ``save_nvt``) go to
    the H5MD file ``output`` every ``save_every`` steps; the heat current (conv and virial parts)
    every ``heat_current_every`` NVE steps (0: never). Every ``checkpoint_every`` steps the frames
    so far are committed (``output.segments/``) and a checkpoint ``output + '.ckpt.npz'`` is
    written, both atomically; with ``resume`` a rerun continues from it (frames after the
    checkpoint are dropped and recomputed identically, so the result is bit-identical to an
    uninterrupted run). When the run ends, the segments are merged into ``output``. A run that
    blows up (NaN, atoms closer than ``min_distance_A``, NVE energy jump above
    ``max_energy_jump_eV_atom``) stops with MDBlowUpError after saving what it had.

    ``observers``: callables (or one callable) ``f(atoms, step, phase)``, called in order after
    every MD step once its forces are known: ``step`` is the number of steps done (1, 2, ...;
    not called for the starting structure), ``phase`` "nvt" or "nve", ``atoms`` the run's own
    Atoms at that step (unwrapped positions, velocities, the calculator with this step's
    results): read it, do not modify it (copy it to keep it). They run after the NaN/energy
    check and before the step is logged, saved and checkpointed; they do not change the
    trajectory. An observer ends the run early by raising :class:`StopMD` (its message is the
    reason): that step is finished as the last step of a run (logged, its frame saved, in NVT
    too, a checkpoint written), the frames are merged into ``output`` exactly as at a normal
    end, and the result's ``stopped_early_reason`` is the message (``steps_nvt``, ``steps_nve``:
    the steps done). The checkpoint records the stop, so a rerun with ``resume`` returns the
    stopped run as it is (observers are not part of the settings a checkpoint must match);
    ``resume=False`` runs it again. Any other exception from an observer ends the run as an
    error does (frames committed, a rerun resumes from the last checkpoint).

    Raises InputError (bad settings or structure, before any force call), CheckpointMismatchError
    (a checkpoint of other settings, or none readable: rerun with ``resume=False``), OutputError
    (cannot write, e.g. a full disk: committed frames stay readable, a rerun resumes) and
    MDBlowUpError.
    """
    # -- inputs, before anything is written or computed
    if thermostat not in ("bussi", "langevin"):
        raise InputError(f"thermostat must be 'bussi' or 'langevin', got {thermostat!r}")
    settings = MDSettings(
        temperature_K=_number("temperature_K", temperature_K), timestep_fs=_number("timestep_fs", timestep_fs),
        steps_nvt=_integer("steps_nvt", steps_nvt, 0), steps_nve=_integer("steps_nve", steps_nve, 1),
        thermostat=thermostat, tau_fs=_number("tau_fs", tau_fs),
        friction_per_fs=_number("friction_per_fs", friction_per_fs, allow_zero=True),
        save_every=_integer("save_every", save_every, 1),
        heat_current_every=_integer("heat_current_every", heat_current_every, 0),
        checkpoint_every=_integer("checkpoint_every", checkpoint_every, 1), seed=_integer("seed", seed, 0),
        save_nvt=bool(save_nvt), min_distance_A=_number("min_distance_A", min_distance_A, allow_zero=True),
        max_energy_jump_eV_atom=_number("max_energy_jump_eV_atom", max_energy_jump_eV_atom))
    if callable(observers):
        observers = (observers,)
    try:
        observers = tuple(observers)
    except TypeError:
        raise InputError(f"observers must be a sequence of callables f(atoms, step, phase), got {observers!r}") from None
    for f in observers:
        if not callable(f):
            raise InputError(f"observers must be callables f(atoms, step, phase), got {f!r}")
    _check_atoms(atoms)
    s = settings
    total_steps = s.steps_nvt + s.steps_nve
    want_heat = s.heat_current_every > 0
    label = f"MD {s.temperature_K:g} K"

    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{output.parent}: cannot create the output folder ({exc.strerror or exc})") from exc
    ckpt_path = Path(str(output) + ".ckpt.npz")
    prev_path = Path(str(output) + ".ckpt.prev.npz")
    legacy_log = Path(str(output) + ".log.npz")
    for p in (output, ckpt_path, prev_path):
        remove_temp_files(p)  # debris of a killed write

    atoms = atoms.copy()
    atoms.calc = calc
    n = len(atoms)
    masses = atoms.get_masses()
    kT = units.kB_eV_K * s.temperature_K
    n_dof = 3 * n - 3
    rng = np.random.default_rng(s.seed)

    # -- resume or start over
    ck = _load_checkpoint([ckpt_path, prev_path]) if resume else None
    if ck is not None:
        saved = json.loads(str(ck["settings"]))
        mine = s.key()
        if {k: saved.get(k) for k in mine} != mine or int(ck["n_atoms"]) != n:
            raise CheckpointMismatchError(f"{ck['_path']}: checkpoint was written with other settings; "
                                          "delete it or change 'output'")
    # stopped by an observer: that run ends at its checkpoint's step (a rerun only completes the files)
    stopped = str(ck["stopped_early_reason"]) if ck is not None and "stopped_early_reason" in ck else ""
    end_step = int(ck["step"]) if stopped else total_steps
    # finished: the merged file is there (with the last frame also when only an older checkpoint reads)
    finished = ck is not None and output.is_file() and (int(ck["step"]) >= end_step
                                                         or _last_frame_step(output) == total_steps)
    writer = None
    if not finished:
        writer = SegmentedH5MDWriter(output, atoms.numbers, atoms.cell.array, s.timestep_fs,
                                     attrs={"temperature_K": s.temperature_K, "thermostat": thermostat})
    adopted = False
    if ck is not None and not finished:
        if "format" not in ck:  # written by the older in-place writer
            adopted = _adopt_legacy(writer, output, int(ck["step"]))
            ok = adopted
        else:
            missing = writer.recover(json.loads(str(ck["segments"])))
            ok = not missing
            if ok and output.is_file():  # left by another run (this one has not ended): drop it
                output.unlink()
        if not ok:
            warnings.warn(f"{output}: the frames of checkpoint {ck['_path'].name} are missing; starting over",
                          stacklevel=2)
            ck = None
            stopped, end_step = "", total_steps
    if ck is None:  # start over: the checkpoints first, so that a kill in between starts over again
        for p in (prev_path, ckpt_path, legacy_log, output):
            if p.exists():
                p.unlink()
        writer.recover([])

    if ck is not None:
        step = int(ck["step"])
        pos0 = ck["positions"]
        vel0 = np.array(ck["velocities"])  # ASE velocity units; kept as saved (no momenta round trip)
        rng.bit_generator.state = json.loads(str(ck["rng_state"]))
        start_positions = ck["start_positions"]
        if "log_step" in ck:
            log = {k: list(ck[f"log_{k}"]) for k in LOG_KEYS}
        elif legacy_log.exists():
            lg = np.load(legacy_log)
            keep = lg["step"] <= step
            log = {k: list(lg[k][keep]) for k in LOG_KEYS}
        else:
            log = {k: [] for k in LOG_KEYS}
    else:
        step = 0
        # Maxwell-Boltzmann velocities, zero total momentum, kinetic temperature exactly T
        v = rng.standard_normal((n, 3)) * np.sqrt(kT / masses)[:, None]
        v -= (masses[:, None] * v).sum(0) / masses.sum()
        v *= np.sqrt(0.5 * n_dof * kT / _kinetic(masses, v))
        pos0, vel0 = atoms.positions.copy(), v
        start_positions = atoms.positions.copy()
        log = {k: [] for k in LOG_KEYS}

    md = VelocityVerlet(atoms, positions=pos0, velocities=vel0, timestep_fs=s.timestep_fs, steps_nvt=s.steps_nvt,
                        total_steps=end_step, thermostat=thermostat, temperature_K=s.temperature_K,
                        tau_fs=s.tau_fs, friction_per_fs=s.friction_per_fs, rng=rng, step=step, per_atom=want_heat)
    md.stop_reason = stopped
    energy_log = EnergyLog(md, log)
    guard = BlowUpGuard(md, label=f"MD at {s.temperature_K:g} K", output=output,
                        max_energy_jump_eV_atom=s.max_energy_jump_eV_atom, min_distance_A=s.min_distance_A)
    bar = None
    if writer is not None:
        writer.declare(POSITION, (n, 3), "angstrom")
        writer.declare(VELOCITY, (n, 3), "angstrom/fs")
        checkpointer = Checkpointer(md, writer, energy_log, ckpt_path, prev_path, s, start_positions)
        md.attach(guard)
        if observers:  # before the step is logged, saved and checkpointed: a StopMD makes it the last one
            md.attach(CallerObservers(md, observers))
        md.attach(energy_log, s.save_every, last=True)
        md.attach(guard.check_distances, s.save_every * 10)
        md.attach(TrajectoryRecorder(md, writer, s.save_nvt), s.save_every, last=True)
        if want_heat:
            md.attach(HeatCurrentRecorder(md, writer), s.heat_current_every)
        md.attach(checkpointer, s.checkpoint_every, last=True)
        if progress and step < end_step:
            bar = ProgressBar(md, label)
            md.attach(bar)

    t_wall0 = time.perf_counter()  # the force calls (compilation included) are timed inside this window
    try:
        md.compute_forces()
        if not np.all(np.isfinite(md.f)) or not np.isfinite(md.epot):
            guard.fail("the energy or forces of the starting structure are not finite (NaN/inf)")
        if want_heat and (md.e_i is None or md.W is None):
            raise InputError(f"heat_current_every={s.heat_current_every} needs per-atom 'energies' and 'virials', "
                             f"which {type(calc).__name__} does not give; use heat_current_every=0")
        if writer is not None:
            if adopted:  # an old-style trajectory moved into a segment: record that, then drop the old file
                checkpointer()
                writer.wait()
                for p in (output, legacy_log):
                    if p.exists():
                        p.unlink()
            steps_before = md.step
            md.run()
            writer.finalize()  # merge the segments into `output`, remove the segment folder
        else:
            steps_before = md.step
            remove_segments(output)  # leftovers of a kill during the final clean-up
    except OutputError as exc:
        kept = segments_dir(output) if writer is not None else output
        saved = checkpointer.saved_step if writer is not None else md.step
        raise OutputError(f"{exc}; the frames up to step {saved} are kept in {kept}; "
                          "free disk space and rerun to resume") from exc
    except BaseException:
        if writer is not None:  # keep the frames computed since the last checkpoint readable
            try:
                writer.commit()
            except Exception:
                pass
        raise
    finally:
        if writer is not None:
            writer.close()  # waits for the background writes
        if bar is not None:
            bar.close()

    wall = time.perf_counter() - t_wall0
    steps_done_here = md.step - steps_before
    lg = energy_log.arrays()
    nve = lg["phase"] == 1
    drift = float("nan")
    tmean = float("nan")
    if nve.sum() > 2:
        tt = lg["step"][nve] * s.timestep_fs * 1e-6  # ns
        slope = np.polyfit(tt, lg["total_eV"][nve] / n, 1)[0]
        drift = float(slope * 1000.0)
        tmean = float(lg["temperature_K"][nve].mean())
    per_step = wall / max(steps_done_here, 1)
    steps_nvt_done, steps_nve_done = s.steps_nvt, s.steps_nve
    if md.stop_reason:
        steps_nvt_done = min(md.step, s.steps_nvt)
        steps_nve_done = md.step - steps_nvt_done
    return MDResult(
        n_atoms=n, steps_nvt=steps_nvt_done, steps_nve=steps_nve_done, timestep_fs=s.timestep_fs,
        time_fs=lg["step"] * s.timestep_fs, temperature_K=lg["temperature_K"], potential_eV=lg["potential_eV"],
        total_eV=lg["total_eV"], phase=lg["phase"], nve_drift_meV_atom_ns=drift, mean_temperature_nve_K=tmean,
        wall_s=wall, force_s=md.force_s,
        ns_per_day=s.timestep_fs * 1e-6 / (per_step / 86400) if steps_done_here else float("nan"),
        atom_steps_per_s=n / per_step if steps_done_here else float("nan"), trajectory=str(output),
        stopped_early_reason=md.stop_reason,
    )


def write_json_summary(result: MDResult, path: str | os.PathLike) -> None:
    d = {k: v for k, v in result.to_dict().items() if not isinstance(v, np.ndarray)}
    atomic_write_text(path, json.dumps(d, indent=1))
