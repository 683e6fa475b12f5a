"""The extrapolation grade during MD: an observer that grades, collects candidates and stops at gamma_break.

Own code on incipient's integrator (:class:`incipient.md.dynamics.VelocityVerlet`, observers as
ASE's ``Dynamics.attach``) and the MaxVol grade of :mod:`.grade`. This is MLIP-2's MD step of
active learning (LAMMPS with ``mlip.ini``: ``select:threshold`` and ``select:threshold_break``):

* :class:`GammaMonitor` (an observer): every ``interval`` steps it grades the current
  configuration (``gamma`` = the configuration grade, or the maximum per-atom grade for an active
  set of neighbourhoods), keeps every frame with ``gamma > gamma_select`` as a candidate for the
  oracle, appends the graded frame to an extxyz trajectory (one whole frame per write, flushed,
  so the file reads up to the last frame at any time) and, at ``gamma > gamma_break``, stops the
  run by raising :class:`GammaBreak` (the breaking frame is a candidate too). Its method
  :meth:`GammaMonitor.observe` is the same observer for :func:`incipient.md.run_md`
  (``observers=[monitor.observe]``): there GammaBreak is a :class:`~incipient.md.StopMD`, so the
  run ends cleanly with its H5MD file and checkpoint;
* :func:`run_graded_md`: NVT MD (Bussi or Langevin, the integrator of ``run_md``) with the
  monitor, the NaN guard of ``run_md`` and nothing else (no H5MD, no checkpoints: an
  active-learning run lasts picoseconds and is simply rerun when killed). A stop at
  ``gamma_break``, an unphysical state (NaN, atoms too close, which a poor MTP may reach between
  two grades; then the last graded frame is a candidate even below gamma_select) or the end of
  the run all return a :class:`GradedMDResult`;
* :class:`GradedMTP`: the :class:`~incipient.potentials.MTP` calculator that also reports
  ``results["gamma"]`` (the configuration's grade) and ``results["gammas"]`` (per atom, atom
  mode) in every ``grade_every``-th evaluation, for any ASE dynamics.

Units: time in fs, temperature in K; gamma is dimensionless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import InputError, RunError
from incipient.md.dynamics import StopMD, _integer
from incipient.potentials.calculator import MTP
from incipient.results import Result


class GammaBreak(RunError, StopMD):
    """The extrapolation grade passed gamma_break: the MD stops (the frames so far are kept).

    Also a :class:`~incipient.md.StopMD`: raised by an observer of ``run_md`` it ends that run
    cleanly (``MDResult.stopped_early_reason`` is its message).
    """


def _grade(active_set, atoms) -> tuple[float, np.ndarray | None]:
    """(gamma of the configuration, per-atom grades or None in configuration mode)."""
    if active_set.mode == "atom":
        g = active_set.grade_atoms(atoms)
        return float(g.max()), g
    return float(active_set.grade([atoms])[0]), None


class GammaMonitor:
    """Observer of :class:`~incipient.md.dynamics.VelocityVerlet` or ``run_md``: grade, collect, stop at gamma_break.

    Two ways to attach it: ``md.attach(monitor, interval)`` on a ``VelocityVerlet`` ``md`` (then
    it is called without arguments and reads ``md``), or, with ``md=None``,
    ``run_md(..., observers=[monitor.observe])`` (then it grades every ``grade_every``-th step;
    run_md calls no observer for the starting structure: ``monitor.observe(atoms, 0)`` before the
    run grades it). After the run: ``steps`` and ``gamma`` (the graded steps and their grades),
    ``candidates`` (Atoms with ``info["gamma"]`` and ``info["md_step"]``, positions wrapped into
    the cell) and ``broke`` (True when it stopped the run). ``max_candidates`` keeps the last that
    many. ``close()`` (or a ``with`` block) closes the ``trajectory`` file.
    """

    def __init__(self, md, active_set, *, gamma_select: float, gamma_break: float, trajectory=None,
                 max_candidates: int | None = None, grade_every: int = 1):
        if not (1.0 < gamma_select < gamma_break):
            raise InputError(f"need 1 < gamma_select < gamma_break, got {gamma_select} and {gamma_break}")
        self.md, self.active_set = md, active_set
        self.grade_every = _integer("grade_every", grade_every, 1)
        self.gamma_select, self.gamma_break = float(gamma_select), float(gamma_break)
        self.max_candidates = max_candidates
        self.steps: list[int] = []
        self.gamma: list[float] = []
        self.candidates: list = []
        self.broke = False
        self.last_frame = None
        self.grade_s = 0.0
        self._fh = None
        if trajectory is not None:
            self._fh = open(trajectory, "w")  # noqa: SIM115 - kept open for the run, closed by close()

    def frame(self):
        md = self.md
        a = md.atoms.copy()
        a.calc = None
        a.positions = md.pos
        return a

    def __call__(self) -> None:
        """Grade ``md``'s current state (the VelocityVerlet observer); GammaBreak above gamma_break."""
        t0 = time.perf_counter()
        self._record(self.frame(), int(self.md.step), t0)

    def observe(self, atoms, step: int, phase: str = "nvt") -> None:
        """The ``run_md`` observer ``f(atoms, step, phase)``: grade every ``grade_every``-th step.

        Grades a copy of ``atoms`` (no calculator); above gamma_break it raises GammaBreak, a
        StopMD, which ends ``run_md`` cleanly after this step.
        """
        if step % self.grade_every:
            return
        t0 = time.perf_counter()
        a = atoms.copy()
        a.calc = None
        self._record(a, int(step), t0)

    def _record(self, a, step: int, t0: float) -> None:
        import ase.io

        gamma, per_atom = _grade(self.active_set, a)
        self.steps.append(step)
        self.gamma.append(gamma)
        a.info["gamma"] = gamma
        a.info["md_step"] = step
        if per_atom is not None:
            a.arrays["gamma_atoms"] = per_atom
        if self._fh is not None:
            ase.io.write(self._fh, a, format="extxyz")
            self._fh.flush()
        self.last_frame = a
        if gamma > self.gamma_select:
            c = a.copy()
            c.wrap()
            self.candidates.append(c)
            if self.max_candidates is not None and len(self.candidates) > self.max_candidates:
                self.candidates.pop(0)
        self.grade_s += time.perf_counter() - t0
        if gamma > self.gamma_break:
            self.broke = True
            raise GammaBreak(f"extrapolation grade {gamma:.3g} > gamma_break {self.gamma_break:g} at step {step}")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> GammaMonitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class GradedMDResult(Result):
    """One graded MD run: how far it went, why it stopped, the grades.

    stopped : "completed", "gamma_break" or "unphysical" (NaN or atoms too close; ``message``).
    graded_steps, gamma : the graded steps and their grade (configuration, or max over atoms).
    n_candidates : frames with gamma > gamma_select. wall_s, force_s, grade_s : times.
    """

    temperature_K: float
    volume_scale: float
    timestep_fs: float
    steps_requested: int
    steps_done: int
    stopped: str
    message: str
    gamma_select: float
    gamma_break: float
    graded_steps: np.ndarray
    gamma: np.ndarray
    max_gamma: float
    n_candidates: int
    wall_s: float
    force_s: float
    grade_s: float
    trajectory: str | None = None

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3))
        ax.semilogy(self.graded_steps * self.timestep_fs / 1000.0, self.gamma, lw=0.8)
        for g, ls in ((self.gamma_select, ":"), (self.gamma_break, "--")):
            ax.axhline(g, color="k", ls=ls, lw=0.8)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("extrapolation grade")
        ax.set_title(f"{self.temperature_K:g} K, volume x{self.volume_scale:g}: {self.stopped}")
        fig.tight_layout()
        return fig


def run_graded_md(atoms, calc, active_set, *, temperature_K: float, steps: int, timestep_fs: float = 2.0,
                  grade_every: int = 10, gamma_select: float = 2.0, gamma_break: float = 10.0,
                  thermostat: str = "bussi", tau_fs: float = 100.0, friction_per_fs: float = 0.01, seed: int = 0,
                  trajectory=None, volume_scale: float = 1.0, min_distance_A: float = 0.5,
                  max_candidates: int | None = None) -> tuple[GradedMDResult, list]:
    """NVT MD of ``atoms`` with ``calc`` graded by ``active_set``; returns ``(result, candidates)``.

    The grade is computed at step 0 and every ``grade_every`` steps; the run stops at the first
    grade above ``gamma_break`` (MLIP-2's ``threshold_break``). ``candidates`` are the graded
    frames with gamma > ``gamma_select`` (Atoms, positions wrapped). ``trajectory``: extxyz of
    every graded frame (``info["gamma"]``, per-atom ``gamma_atoms`` in atom mode). ``volume_scale``
    is only recorded (scale the cell before calling). Velocities: Maxwell-Boltzmann at
    ``temperature_K`` from ``seed``.
    """
    from incipient import units
    from incipient.md.dynamics import (
        BlowUpGuard,
        MDBlowUpError,
        VelocityVerlet,
        _check_atoms,
        _integer,
        _number,
    )

    temperature_K = _number("temperature_K", temperature_K)
    timestep_fs = _number("timestep_fs", timestep_fs)
    steps = _integer("steps", steps, 1)
    grade_every = _integer("grade_every", grade_every, 1)
    if thermostat not in ("bussi", "langevin"):
        raise InputError(f"thermostat must be 'bussi' or 'langevin', got {thermostat!r}")
    _check_atoms(atoms)
    atoms = atoms.copy()
    atoms.calc = calc
    n = len(atoms)
    masses = atoms.get_masses()
    rng = np.random.default_rng(seed)
    kT = units.kB_eV_K * temperature_K
    v = rng.standard_normal((n, 3)) * np.sqrt(kT / masses)[:, None]
    v -= (masses[:, None] * v).sum(0) / masses.sum()
    n_dof = 3 * n - 3
    v *= np.sqrt(0.5 * n_dof * kT / (0.5 * float(np.sum(masses[:, None] * v * v))))
    md = VelocityVerlet(atoms, positions=atoms.positions.copy(), velocities=v, timestep_fs=timestep_fs,
                        steps_nvt=steps, total_steps=steps, thermostat=thermostat, temperature_K=temperature_K,
                        tau_fs=tau_fs, friction_per_fs=friction_per_fs, rng=rng)
    traj = None if trajectory is None else Path(trajectory)
    monitor = GammaMonitor(md, active_set, gamma_select=gamma_select, gamma_break=gamma_break, trajectory=traj,
                           max_candidates=max_candidates)
    guard = BlowUpGuard(md, label=f"graded MD at {temperature_K:g} K", output=traj or Path("(no trajectory)"),
                        max_energy_jump_eV_atom=np.inf, min_distance_A=min_distance_A)
    md.attach(guard)
    md.attach(guard.check_distances, 10)
    md.attach(monitor, grade_every)
    stopped, message = "completed", ""
    t0 = time.perf_counter()
    try:
        md.compute_forces()
        monitor()  # grade the start
        md.run()
    except GammaBreak as exc:
        stopped, message = "gamma_break", str(exc)
    except (MDBlowUpError, RunError) as exc:  # a poor MTP between two grades; the candidates are kept
        stopped, message = "unphysical", " ".join(str(exc).split())
    finally:
        monitor.close()
    if stopped == "unphysical" and not monitor.candidates and monitor.last_frame is not None:
        c = monitor.last_frame.copy()  # the MTP failed after its last grade: that frame goes to the oracle
        c.wrap()
        monitor.candidates.append(c)
    wall = time.perf_counter() - t0
    g = np.asarray(monitor.gamma, dtype=float)
    result = GradedMDResult(
        temperature_K=temperature_K, volume_scale=float(volume_scale), timestep_fs=timestep_fs,
        steps_requested=steps, steps_done=int(md.step), stopped=stopped, message=message,
        gamma_select=float(gamma_select), gamma_break=float(gamma_break),
        graded_steps=np.asarray(monitor.steps, dtype=np.int64), gamma=g,
        max_gamma=float(g.max()) if g.size else float("nan"), n_candidates=len(monitor.candidates), wall_s=wall,
        force_s=md.force_s, grade_s=monitor.grade_s, trajectory=None if traj is None else str(traj))
    return result, monitor.candidates


class GradedMTP(MTP):
    """:class:`~incipient.potentials.MTP` that also reports the extrapolation grade of what it evaluates.

    ``GradedMTP(path, active_set, grade_every=1, species=...)``: every ``grade_every``-th
    calculation adds ``results["gamma"]`` (float) and, with an active set of neighbourhoods,
    ``results["gammas"]`` (N,); the last ones are also in ``last_gamma`` / ``last_gammas``.
    """

    implemented_properties = [*MTP.implemented_properties, "gamma", "gammas"]

    def __init__(self, path, active_set, *, grade_every: int = 1, **kwargs):
        super().__init__(path, **kwargs)
        if int(grade_every) < 1:
            raise InputError(f"grade_every must be >= 1, got {grade_every}")
        self.active_set = active_set
        self.grade_every = int(grade_every)
        self.calls = 0
        self.last_gamma = float("nan")
        self.last_gammas = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        from ase.calculators.calculator import all_changes

        super().calculate(atoms, properties, all_changes if system_changes is None else system_changes)
        if self.calls % self.grade_every == 0:
            gamma, per_atom = _grade(self.active_set, self.atoms)
            self.last_gamma, self.last_gammas = gamma, per_atom
            self.results["gamma"] = gamma
            if per_atom is not None:
                self.results["gammas"] = per_atom
        self.calls += 1


__all__ = ["GammaBreak", "GammaMonitor", "GradedMDResult", "GradedMTP", "run_graded_md"]
