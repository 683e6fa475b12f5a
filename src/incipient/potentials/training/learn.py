"""Active learning of an MTP (MLIP-2's protocol): train, graded MD, MaxVol selection, oracle labels, repeat.

Own code around :func:`~.fit.train_mtp`, the MaxVol grade (:mod:`.grade`) and the graded MD
(:mod:`.monitor`); the oracle is any ASE calculator (a DFT code, or a universal potential such as
CHGNet or SevenNet-0 from :mod:`incipient.potentials.universal`). One round k:

1. train the MTP on the seeds and every configuration selected before (round 0: from a fresh
   template of the requested level; later rounds: starting from round k-1's potential);
2. select the MaxVol active set of the training set (``grade_mode``: "atom" = neighbourhoods,
   the default, or "configuration");
3. run NVT MD with this MTP at every temperature and volume scaling (``md_ps`` each, from the
   start structure), grading every ``grade_every`` steps; frames with gamma > ``gamma_select``
   are candidates, a run stops at gamma > ``gamma_break``;
4. choose among all candidates by MaxVol (MLIP-2's ``select-add``, at most
   ``max_selected_per_round``), label them with the oracle and add them to the training set.

The loop ends when a round's MD runs (all of the requested length, none stopped) leave no
candidate: that round's potential is the result (``converged``), or after ``max_rounds``.
Defaults follow the paper's protocol (gamma_select 3, gamma_break 10; MLIP-2's default
gamma_select is 2).

State folder (every file written atomically; a killed run resumes at the last finished step)::

    settings.json                      the settings (a resume must match them; max_rounds may change)
    seeds.extxyz                       the seeds with the oracle's labels (seeds.partial.extxyz while labelling)
    round_000/pot.mtp, fit.json        the trained MTP and its TrainingResult (fit.ckpt.npz: fit checkpoint)
    round_000/active_set.npz           the active set (grade.ActiveSet.save)
    round_000/md_T300K_V1.000.json     each MD run's GradedMDResult; .extxyz: its graded frames;
                                       .candidates.extxyz: its candidates
    round_000/selected.extxyz          the configurations chosen for the oracle
    round_000/labelled.extxyz          ... with the oracle's labels (labelled.partial.extxyz while labelling)
    round_000/round.json               the round's log (written last: the round is finished)
    log.json, result.json, final.mtp   all rounds so far; the LearnResult; the final potential

Errors logged per round: the fit's training and validation RMSEs, the errors of the round's MTP on
the configurations it selected (before they enter the fit: the honest error where it extrapolates)
and on an optional held-out test set (``test_configurations``). Units: eV, A, fs, K; RMSEs in
meV/atom, meV/A, GPa.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import InputError, RunError
from incipient.results import Result, atomic_write_text
from incipient.units import eV_A3_to_GPa

#: edges of the gamma histograms in the log (every graded MD frame of a round)
GAMMA_BIN_EDGES = np.array([0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 50.0, 100.0, np.inf])

#: settings a resumed run may change
RESUMABLE_CHANGES = ("max_rounds",)


@dataclass(frozen=True)
class LearnResult(Result):
    """Outcome of :func:`learn_mtp`, one entry per round in the arrays (n_rounds,).

    selected_per_round, candidates_per_round, n_train_per_round : counts.
    md_steps_per_round, md_breaks_per_round : MD steps done and runs stopped (gamma_break or unphysical).
    max_gamma_per_round : the largest grade seen in the round's MD.
    gamma_histogram : (n_rounds, len(gamma_bin_edges) - 1) graded frames per gamma bin.
    *_rmse_* : the round's MTP on its training set, its validation split, the configurations it
        selected (nan when none) and the held-out test set (nan without one).
    train_s_per_round, md_s_per_round, label_s_per_round : wall times (of the process that ran the step).
    oracle_calls : labels in all (seeds and selected); oracle_s_per_call : mean time of the oracle
        calls this process made (nan when it made none, e.g. a resume of a finished run).
    """

    species: tuple
    level: int
    converged: bool
    n_rounds: int
    n_seed_configurations: int
    n_train_final: int
    potential: str
    state_dir: str
    grade_mode: str
    gamma_select: float
    gamma_break: float
    selected_per_round: np.ndarray
    candidates_per_round: np.ndarray
    n_train_per_round: np.ndarray
    md_steps_per_round: np.ndarray
    md_breaks_per_round: np.ndarray
    max_gamma_per_round: np.ndarray
    gamma_bin_edges: np.ndarray
    gamma_histogram: np.ndarray
    train_energy_rmse_meV_atom: np.ndarray
    train_force_rmse_meV_A: np.ndarray
    validation_energy_rmse_meV_atom: np.ndarray
    validation_force_rmse_meV_A: np.ndarray
    selected_energy_rmse_meV_atom: np.ndarray
    selected_force_rmse_meV_A: np.ndarray
    test_energy_rmse_meV_atom: np.ndarray
    test_force_rmse_meV_A: np.ndarray
    test_stress_rmse_GPa: np.ndarray
    train_s_per_round: np.ndarray
    md_s_per_round: np.ndarray
    label_s_per_round: np.ndarray
    oracle_calls: int
    oracle_s_per_call: float
    wall_s: float

    def summary(self) -> str:
        sel = ", ".join(str(int(v)) for v in self.selected_per_round)
        last = f"test RMSE E {self.test_energy_rmse_meV_atom[-1]:.2f} meV/atom, F {self.test_force_rmse_meV_A[-1]:.1f} meV/A" \
            if np.isfinite(self.test_force_rmse_meV_A[-1]) else \
            f"validation RMSE F {self.validation_force_rmse_meV_A[-1]:.1f} meV/A"
        state = "converged" if self.converged else "not converged"
        return (f"{state} after {self.n_rounds} rounds; selected per round: {sel}; {self.n_train_final} training "
                f"configurations; {last}; potential {self.potential}")

    def plot(self):
        import matplotlib.pyplot as plt

        r = np.arange(self.n_rounds)
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
        ax[0].bar(r, self.selected_per_round, color="C0", label="selected")
        ax[0].plot(r, self.n_train_per_round, "k.-", label="training set")
        ax[0].set_xlabel("round")
        ax[0].set_ylabel("configurations")
        ax[0].legend()
        for y, lab in ((self.validation_force_rmse_meV_A, "validation"), (self.selected_force_rmse_meV_A, "selected"),
                       (self.test_force_rmse_meV_A, "held-out test")):
            if np.isfinite(y).any():
                ax[1].plot(r, y, ".-", label=lab)
        ax[1].set_xlabel("round")
        ax[1].set_ylabel("force RMSE (meV/A)")
        ax[1].legend()
        edges = self.gamma_bin_edges.copy()
        edges[-1] = edges[-2] * 2
        centres = np.sqrt(np.maximum(edges[:-1], 0.25) * edges[1:])
        for k in r:
            ax[2].step(centres, self.gamma_histogram[k], where="mid", label=f"round {k}")
        ax[2].set_xscale("log")
        ax[2].axvline(self.gamma_select, color="k", ls=":", lw=0.8)
        ax[2].axvline(self.gamma_break, color="k", ls="--", lw=0.8)
        ax[2].set_xlabel("extrapolation grade")
        ax[2].set_ylabel("graded MD frames")
        if self.n_rounds <= 8:
            ax[2].legend(fontsize=7)
        fig.tight_layout()
        return fig


# ----------------------------------------------------------------------------- files


def _write_extxyz(path: Path, images) -> None:
    import ase.io

    buf = io.StringIO()
    ase.io.write(buf, list(images), format="extxyz")
    atomic_write_text(path, buf.getvalue())


def _read_extxyz(path: Path) -> list:
    import ase.io

    if not path.exists() or path.stat().st_size == 0:
        return []
    return list(ase.io.read(path, index=":", format="extxyz"))


def _write_json(path: Path, data) -> None:
    from incipient.results import _encode

    atomic_write_text(path, json.dumps(_encode(data), indent=1))


def _read_json(path: Path):
    from incipient.results import _decode

    return _decode(json.loads(path.read_text()))


# ----------------------------------------------------------------------------- oracle and errors


class _Oracle:
    """The labelling calculator, built on first use (a factory) and timed."""

    def __init__(self, oracle):
        self._given = oracle
        self._calc = None
        self.calls = 0
        self.seconds = 0.0

    @property
    def name(self) -> str:
        o = self._given
        if isinstance(o, str):
            return o
        if hasattr(o, "factory") and hasattr(o, "make"):  # a system's PotentialSpec
            return f"{o.factory} {json.dumps(dict(o.kwargs), sort_keys=True)}"
        return getattr(o, "__qualname__", None) or type(o).__name__

    def calc(self):
        if self._calc is None:
            o = self._given
            if isinstance(o, str):
                from incipient.system import PotentialSpec

                self._calc = PotentialSpec(factory=o).make()
            elif hasattr(o, "factory") and hasattr(o, "make"):
                self._calc = o.make()
            elif hasattr(o, "get_potential_energy") or hasattr(o, "calculate"):
                self._calc = o
            elif callable(o):
                self._calc = o()
            else:
                raise InputError(f"oracle: expected an ASE calculator, a factory or 'package.module:factory', "
                                 f"got {type(o).__name__}")
        return self._calc

    def label(self, atoms, where: str):
        from ase.calculators.calculator import PropertyNotImplementedError
        from ase.calculators.singlepoint import SinglePointCalculator

        a = atoms.copy()
        for key in ("gamma", "md_step"):
            a.info.pop(key, None)
        a.arrays.pop("gamma_atoms", None)
        a.calc = self.calc()
        t0 = time.perf_counter()
        try:
            e = float(a.get_potential_energy())
            f = np.array(a.get_forces(), dtype=float)
            s = None
            if a.pbc.all():
                try:
                    s = np.array(a.get_stress(), dtype=float)
                except PropertyNotImplementedError:
                    s = None
        except Exception as exc:
            raise RunError(f"the oracle failed on {where} ({type(exc).__name__}: {exc}); fix it and rerun to resume") \
                from exc
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1
        if not (np.isfinite(e) and np.isfinite(f).all()):
            raise RunError(f"the oracle gave a non-finite energy or forces on {where}")
        a.calc = SinglePointCalculator(a, energy=e, forces=f, **({} if s is None else {"stress": s}))
        return a


def _label_all(oracle: _Oracle, images, out: Path, what: str, log) -> list:
    """Label ``images`` into ``out`` (extxyz); ``out.partial`` keeps the finished ones for a resume."""
    partial = out.with_name(out.stem + ".partial.extxyz")
    done = _read_extxyz(partial)
    if len(done) > len(images):
        raise InputError("holds more labelled configurations than there are to label; delete it", source=partial)
    for k in range(len(done), len(images)):
        done.append(oracle.label(images[k], f"{what} {k}"))
        _write_extxyz(partial, done)
        log(f"  labelled {what} {k + 1}/{len(images)}")
    _write_extxyz(out, done)
    if partial.exists():
        partial.unlink()
    return _read_extxyz(out)


def errors(calc, labelled, species) -> tuple[float, float, float]:
    """(energy meV/atom, force meV/A, stress GPa) RMSEs of ``calc`` on labelled configurations."""
    from incipient.potentials.training.data import read_configurations

    if not labelled:
        return (float("nan"),) * 3
    dE, dF, dS = [], [], []
    for d in read_configurations(labelled, species):
        a = d.atoms.copy()
        a.calc = calc
        if d.energy is not None:
            dE.append((a.get_potential_energy() - d.energy) / len(a))
        dF.append((a.get_forces() - d.forces).ravel())
        if d.stress is not None:
            dS.append(a.get_stress() - d.stress)
    e = 1e3 * float(np.sqrt(np.mean(np.square(dE)))) if dE else float("nan")
    f = 1e3 * float(np.sqrt(np.mean(np.square(np.concatenate(dF)))))
    s = eV_A3_to_GPa * float(np.sqrt(np.mean(np.square(dS)))) if dS else float("nan")
    return e, f, s


# ----------------------------------------------------------------------------- the loop


def _check(name, value, *, low=None, integer=False, above=False):
    try:
        x = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if integer and x != value:
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not np.isfinite(x) or (low is not None and (x <= low if above else x < low)):
        raise InputError(f"{name} must be {'>' if above else '>='} {low}, got {value!r}")
    return x


def _run_tag(T: float, vs: float) -> str:
    return f"T{T:g}K_V{vs:.3f}"


def learn_mtp(seeds, oracle, *, species, level: int, state_dir, start=None, test_configurations=None,
              temperatures_K=(300.0,), volume_scales=(1.0,), md_ps: float = 10.0, timestep_fs: float = 2.0,
              gamma_select: float = 3.0, gamma_break: float = 10.0, grade_every: int = 10,
              grade_mode: str = "atom", max_selected_per_round: int = 20, max_rounds: int = 20,
              swap_threshold: float = 1.1, cutoff_A=None, radial_basis_size: int = 8,
              weights=(1.0, 0.1, 0.01), max_iter: int = 500, validation_fraction: float = 0.1,
              label_seeds: bool = True, seed: int = 0, threads: int = 1, progress: bool = False,
              log=None) -> LearnResult:
    """Active learning of an MTP of MLIP-2 ``level`` (see the module docstring); returns a :class:`LearnResult`.

    Parameters
    ----------
    seeds : the first training configurations (path of any ASE-readable file, or Atoms), e.g. a
        few frames of short AIMD or rattled cells; labelled by the oracle (``label_seeds=False``
        keeps the labels they carry).
    oracle : an ASE calculator, a zero-argument factory of one, ``"package.module:factory"`` or a
        :class:`~incipient.system.PotentialSpec` (built on the first label, i.e. at once unless resumed).
    start : the structure the MD runs start from (default the first seed); each volume scaling
        s multiplies its cell volume by s (atoms scaled with it).
    test_configurations : labelled configurations (path or Atoms) never trained on: the held-out
        errors of every round's MTP.
    md_ps, timestep_fs, grade_every : length of each MD run, its step, how often it is graded (steps).
    max_selected_per_round : cap of MaxVol's selection per round; ``swap_threshold`` its swap grade.
    cutoff_A : (min_dist, max_dist) of the radial basis (default: 90% of the shortest seed
        distance rounded down to 0.05 A, and 5.0 A); fixed for all rounds.
    max_iter, weights, validation_fraction, radial_basis_size : the fits' (see ``train_mtp``).
    log : callable for one line per step (default ``print``).
    """
    from incipient.potentials.calculator import MTP
    from incipient.potentials.mtp_file import read_mtp
    from incipient.potentials.training.data import min_distance, read_configurations
    from incipient.potentials.training.fit import TrainingResult, train_mtp
    from incipient.potentials.training.grade import MODES, ActiveSet, select_active_set
    from incipient.potentials.training.monitor import GradedMDResult, run_graded_md
    from incipient.potentials.training.templates import LEVELS
    from incipient.results import check_output_dir

    log = log or print
    t_start = time.perf_counter()
    # -- inputs, before any oracle call or fit
    species = tuple(species)
    if level not in LEVELS:
        raise InputError(f"level must be one of {', '.join(map(str, LEVELS))}, got {level!r}")
    temps = tuple(_check("temperatures_K", t, low=0, above=True) for t in np.atleast_1d(temperatures_K))
    vscales = tuple(_check("volume_scales", v, low=0, above=True) for v in np.atleast_1d(volume_scales))
    if not temps or not vscales:
        raise InputError("give at least one temperature and one volume scaling")
    md_ps = _check("md_ps", md_ps, low=0, above=True)
    timestep_fs = _check("timestep_fs", timestep_fs, low=0, above=True)
    steps = int(round(md_ps * 1000.0 / timestep_fs))
    if steps < 1:
        raise InputError(f"md_ps = {md_ps} is shorter than one step of {timestep_fs} fs")
    gamma_select = _check("gamma_select", gamma_select, low=1, above=True)
    gamma_break = _check("gamma_break", gamma_break)
    if not gamma_break > gamma_select:
        raise InputError(f"gamma_break ({gamma_break}) must be larger than gamma_select ({gamma_select})")
    swap_threshold = _check("swap_threshold", swap_threshold, low=1, above=True)
    if swap_threshold >= gamma_select:
        raise InputError(f"swap_threshold ({swap_threshold}) must be below gamma_select ({gamma_select})")
    grade_every = _check("grade_every", grade_every, low=1, integer=True)
    max_sel = _check("max_selected_per_round", max_selected_per_round, low=1, integer=True)
    max_rounds = _check("max_rounds", max_rounds, low=1, integer=True)
    max_iter = _check("max_iter", max_iter, low=0, integer=True)
    if grade_mode not in MODES:
        raise InputError(f"grade_mode must be one of {', '.join(MODES)}, got {grade_mode!r}")
    what = str(seeds) if isinstance(seeds, (str, os.PathLike)) else "seeds"
    if label_seeds:
        seed_atoms = _seed_structures(seeds, species, what)
    else:
        seed_atoms = None
        seed_data = read_configurations(seeds, species, what=what)
    test = [] if test_configurations is None else _as_labelled(test_configurations, species)
    state = check_output_dir(state_dir, "state_dir")
    oracle_ = _Oracle(oracle)

    n_seed = len(seed_atoms) if seed_atoms is not None else len(seed_data)
    if start is None:
        start_atoms = (seed_atoms[0] if seed_atoms is not None else seed_data[0].atoms).copy()
    elif isinstance(start, (str, os.PathLike)):
        import ase.io

        start_atoms = ase.io.read(start)
    else:
        start_atoms = start.copy()
    start_atoms.calc = None
    bad = sorted(set(start_atoms.get_chemical_symbols()) - set(species))
    if bad:
        raise InputError(f"the start structure contains {', '.join(bad)}, not in the species list {' '.join(species)}")
    if cutoff_A is None:
        from incipient.potentials.training.data import Labelled

        probe = seed_atoms if seed_atoms is not None else [d.atoms for d in seed_data]
        dmin = min_distance([Labelled(a, None, np.zeros((len(a), 3)), None) for a in probe])
        cutoff = (float(np.floor(0.9 * dmin / 0.05) * 0.05), 5.0)
    else:
        cutoff = tuple(float(v) for v in cutoff_A)
        if len(cutoff) != 2 or not (0 <= cutoff[0] < cutoff[1]):
            raise InputError(f"cutoff_A must be (min_dist, max_dist) with 0 <= min < max, got {cutoff_A!r}")

    settings = {"species": list(species), "level": int(level), "temperatures_K": list(temps),
                "volume_scales": list(vscales), "md_ps": md_ps, "timestep_fs": timestep_fs,
                "gamma_select": gamma_select, "gamma_break": gamma_break, "grade_every": grade_every,
                "grade_mode": grade_mode, "max_selected_per_round": max_sel, "max_rounds": max_rounds,
                "swap_threshold": swap_threshold, "cutoff_A": list(cutoff), "radial_basis_size": int(radial_basis_size),
                "weights": [float(w) for w in weights], "max_iter": max_iter,
                "validation_fraction": float(validation_fraction), "label_seeds": bool(label_seeds),
                "seed": int(seed), "n_seeds": n_seed, "oracle": oracle_.name}
    sfile = state / "settings.json"
    if sfile.exists():
        old = json.loads(sfile.read_text())
        for k, v in settings.items():
            if k not in RESUMABLE_CHANGES and k != "oracle" and old.get(k) != v:
                raise InputError(f"the state folder was started with {k} = {old.get(k)!r}, not {v!r}; give another "
                                 "state folder or the same settings", source=sfile)
    _write_json(sfile, settings)
    log(f"active learning: level {level}, species {' '.join(species)}, {len(temps)} x {len(vscales)} MD runs of "
        f"{md_ps:g} ps per round ({steps} steps of {timestep_fs:g} fs), gamma_select {gamma_select:g}, "
        f"gamma_break {gamma_break:g}, grade per {grade_mode}, state {state}")

    # -- seeds
    seeds_file = state / "seeds.extxyz"
    if not seeds_file.exists():
        if label_seeds:
            _label_all(oracle_, seed_atoms, seeds_file, "seed", log)
        else:
            _write_extxyz(seeds_file, [_labelled_atoms(d) for d in seed_data])
    training = _read_extxyz(seeds_file)

    rounds: list[dict] = []
    converged = False
    prev_pot = None
    for k in range(max_rounds):
        rdir = state / f"round_{k:03d}"
        rdir.mkdir(exist_ok=True)
        rfile = rdir / "round.json"
        if rfile.exists():
            entry = _read_json(rfile)
            rounds.append(entry)
            prev_pot = rdir / "pot.mtp"
            training += _read_extxyz(rdir / "labelled.extxyz")
            if entry["converged"]:
                converged = True
                break
            continue
        entry = {"round": k, "n_train": len(training)}
        # 1. fit
        pot, fit_json = rdir / "pot.mtp", rdir / "fit.json"
        t0 = time.perf_counter()
        if fit_json.exists() and pot.exists():
            fit = TrainingResult.load(fit_json)
        else:
            initial = read_mtp(prev_pot) if prev_pot is not None else None
            _, fit = train_mtp(training, level=level, species=species, cutoff_A=cutoff if initial is None else None,
                               radial_basis_size=radial_basis_size, weights=tuple(weights),
                               validation_fraction=validation_fraction, max_iter=max_iter,
                               checkpoint=rdir / "fit.ckpt.npz", progress=progress, output=pot, seed=seed,
                               initial=initial, threads=threads)
            fit.save(fit_json)
        entry["train_s"] = time.perf_counter() - t0
        log(f"round {k}: {fit.summary()}")
        model = read_mtp(pot)
        calc = MTP(pot, species=species)
        # 2. active set
        af = rdir / "active_set.npz"
        if af.exists():
            act = ActiveSet.load(af, model)
        else:
            act = select_active_set(model, training, species, mode=grade_mode)
            act.save(af)
        # 3. graded MD
        t0 = time.perf_counter()
        candidates, runs = [], []
        for T in temps:
            for vs in vscales:
                tag = _run_tag(T, vs)
                jf = rdir / f"md_{tag}.json"
                cf = rdir / f"md_{tag}.candidates.extxyz"
                if jf.exists():
                    res = GradedMDResult.load(jf)
                else:
                    a = start_atoms.copy()
                    a.set_cell(a.cell.array * vs ** (1.0 / 3.0), scale_atoms=True)
                    md_seed = int(seed) * 100003 + 1009 * k + 17 * len(runs) + 1
                    res, cand = run_graded_md(a, calc, act, temperature_K=T, steps=steps, timestep_fs=timestep_fs,
                                              grade_every=grade_every, gamma_select=gamma_select,
                                              gamma_break=gamma_break, seed=md_seed,
                                              trajectory=rdir / f"md_{tag}.extxyz", volume_scale=vs)
                    if cand:
                        _write_extxyz(cf, cand)
                    elif cf.exists():
                        cf.unlink()
                    res.save(jf)
                runs.append(res)
                candidates += _read_extxyz(cf)
                log(f"round {k}: MD {T:g} K, volume x{vs:g}: {res.steps_done}/{res.steps_requested} steps, "
                    f"{res.stopped}, max gamma {res.max_gamma:.3g}, {res.n_candidates} candidates")
        entry["md_s"] = time.perf_counter() - t0
        all_gamma = np.concatenate([r.gamma for r in runs]) if runs else np.zeros(0)
        entry.update({
            "n_candidates": len(candidates), "md_steps": int(sum(r.steps_done for r in runs)),
            "md_breaks": int(sum(r.stopped != "completed" for r in runs)),
            "max_gamma": float(all_gamma.max()) if all_gamma.size else float("nan"),
            "gamma_histogram": np.histogram(all_gamma, bins=GAMMA_BIN_EDGES)[0].astype(np.int64),
            "md_runs": [{"temperature_K": r.temperature_K, "volume_scale": r.volume_scale, "steps_done": r.steps_done,
                         "stopped": r.stopped, "max_gamma": r.max_gamma, "n_candidates": r.n_candidates,
                         "force_s": r.force_s, "grade_s": r.grade_s, "wall_s": r.wall_s} for r in runs],
            "train": [fit.train_energy_rmse_meV_atom, fit.train_force_rmse_meV_A, fit.train_stress_rmse_GPa],
            "validation": [fit.validation_energy_rmse_meV_atom, fit.validation_force_rmse_meV_A,
                           fit.validation_stress_rmse_GPa],
            "test": list(errors(calc, test, species)),
        })
        # 4. select and label
        t0 = time.perf_counter()
        sel_file = rdir / "selected.extxyz"
        if not candidates:
            selected = []
        elif sel_file.exists():
            selected = _read_extxyz(sel_file)
        else:
            idx = act.select(candidates, max_configs=max_sel, swap_threshold=swap_threshold)
            selected = [candidates[i] for i in idx]
            _write_extxyz(sel_file, selected)
            selected = _read_extxyz(sel_file)
        labelled = _label_all(oracle_, selected, rdir / "labelled.extxyz", f"round {k} configuration", log) \
            if selected else []
        entry["label_s"] = time.perf_counter() - t0
        entry["n_selected"] = len(selected)
        entry["selected"] = list(errors(calc, labelled, species))
        entry["converged"] = not candidates and entry["md_breaks"] == 0
        _write_json(rfile, entry)
        rounds.append(_read_json(rfile))
        _write_json(state / "log.json", rounds)
        log(f"round {k}: {len(candidates)} candidates, {len(selected)} selected and labelled"
            + (" -- converged" if entry["converged"] else ""))
        prev_pot = pot
        training += labelled
        if entry["converged"]:
            converged = True
            break
    final = state / "final.mtp"
    atomic_write_text(final, prev_pot.read_text())
    result = _result(rounds, settings, converged, n_seed, len(training), final, state, oracle_,
                     time.perf_counter() - t_start)
    result.save(state / "result.json")
    log(result.summary())
    return result


def _seed_structures(seeds, species, what) -> list:
    import ase.io

    if isinstance(seeds, (str, os.PathLike)):
        path = Path(seeds)
        if not path.is_file():
            raise InputError("no such file (seed configurations)", source=what)
        try:
            frames = ase.io.read(path, index=":")
        except Exception as exc:
            raise InputError(f"cannot read seed configurations ({type(exc).__name__}: {exc})", source=what) from None
    else:
        frames = list(seeds)
    if not frames:
        raise InputError("no seed configurations", source=what)
    out = []
    for k, a in enumerate(frames):
        bad = sorted(set(a.get_chemical_symbols()) - set(species))
        if bad:
            raise InputError(f"configuration {k} contains {', '.join(bad)}, not in the species list "
                             f"{' '.join(species)}", source=what)
        if not np.isfinite(a.positions).all():
            raise InputError(f"configuration {k}: non-finite positions", source=what)
        b = a.copy()
        b.calc = None
        out.append(b)
    return out


def _as_labelled(source, species) -> list:
    """Labelled Atoms (SinglePointCalculator) of ``source`` after the checks of ``read_configurations``."""
    from incipient.potentials.training.data import read_configurations

    return [_labelled_atoms(d) for d in read_configurations(
        source, species, what=str(source) if isinstance(source, (str, os.PathLike)) else "test configurations")]


def _labelled_atoms(d):
    """ASE Atoms carrying a configuration's labels (forces, and energy and stress where given)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    a = d.atoms.copy()
    kw = {"forces": d.forces}
    if d.energy is not None:
        kw["energy"] = d.energy
    if d.stress is not None:
        kw["stress"] = d.stress
    a.calc = SinglePointCalculator(a, **kw)
    return a


def _result(rounds, settings, converged, n_seed, n_train, final, state, oracle_, wall) -> LearnResult:
    def col(key, i=None, dtype=float):
        vals = [r[key] if i is None else r[key][i] for r in rounds]
        return np.array(vals, dtype=dtype)

    nb = len(GAMMA_BIN_EDGES) - 1
    return LearnResult(
        species=tuple(settings["species"]), level=int(settings["level"]), converged=bool(converged),
        n_rounds=len(rounds), n_seed_configurations=n_seed, n_train_final=n_train, potential=str(final),
        state_dir=str(state), grade_mode=settings["grade_mode"], gamma_select=settings["gamma_select"],
        gamma_break=settings["gamma_break"], selected_per_round=col("n_selected", dtype=np.int64),
        candidates_per_round=col("n_candidates", dtype=np.int64), n_train_per_round=col("n_train", dtype=np.int64),
        md_steps_per_round=col("md_steps", dtype=np.int64), md_breaks_per_round=col("md_breaks", dtype=np.int64),
        max_gamma_per_round=col("max_gamma"), gamma_bin_edges=GAMMA_BIN_EDGES.copy(),
        gamma_histogram=np.array([r["gamma_histogram"] for r in rounds], dtype=np.int64).reshape(-1, nb),
        train_energy_rmse_meV_atom=col("train", 0), train_force_rmse_meV_A=col("train", 1),
        validation_energy_rmse_meV_atom=col("validation", 0), validation_force_rmse_meV_A=col("validation", 1),
        selected_energy_rmse_meV_atom=col("selected", 0), selected_force_rmse_meV_A=col("selected", 1),
        test_energy_rmse_meV_atom=col("test", 0), test_force_rmse_meV_A=col("test", 1),
        test_stress_rmse_GPa=col("test", 2), train_s_per_round=col("train_s"), md_s_per_round=col("md_s"),
        label_s_per_round=col("label_s"),
        oracle_calls=int((n_seed if settings["label_seeds"] else 0) + sum(r["n_selected"] for r in rounds)),
        oracle_s_per_call=oracle_.seconds / oracle_.calls if oracle_.calls else float("nan"), wall_s=wall)


__all__ = ["GAMMA_BIN_EDGES", "LearnResult", "errors", "learn_mtp"]
