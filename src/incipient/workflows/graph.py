"""The study as a dependency graph of cached stages: run in order, skip what is already done.

Own code (a dozen lines of topological ordering and hashing; a workflow engine would be a heavy
dependency for this). Each stage writes into its own folder and finishes by writing
``done.json`` atomically: its cache key, a JSON summary and provenance (inputs, package
versions, seeds, wall time). A rerun skips every stage whose key is unchanged; a stage killed
half-way has no ``done.json`` and runs again (the MD stage resumes from its checkpoints).

The key of a stage hashes its configuration sections, the parts of the System it reads, the
incipient version, the source file of its ``run`` and, for each dependency, a fingerprint of that
dependency's key and JSON summary (a dependency rerun with other results reruns its dependants).
A stage returns a typed summary (:mod:`incipient.workflows.summaries`); ``done.json`` holds its
``to_dict()`` and dependants get the typed object back (``ctx.inputs["md"].runs``). A stage
without a summary type (``Stage.summary_type`` None) returns and passes on a plain dict.
An edit of a stage file that changes no result can keep finished studies cached by naming the
digests of the files it replaces (``Stage.same_results_as``; the table in
:mod:`incipient.workflows.stages`): a done.json whose key matches the key with one of those
digests is reused.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incipient import __version__
from incipient.errors import IncipientError
from incipient.results import atomic_write_text
from incipient.workflows.config import StudyConfig


@dataclass(frozen=True)
class Stage:
    """One step of a study: ``func(ctx) -> summary`` (a ``summary_type`` with ``to_dict``, or a
    JSON-able dict when ``summary_type`` is None), run after ``deps``."""

    name: str
    deps: tuple[str, ...]
    sections: tuple[str, ...]
    func: Callable[[StageContext], dict]
    description: str = ""
    optional: tuple[str, ...] = ()  # used (run first, passed as inputs) only when also requested
    system_parts: tuple[str, ...] = ()  # parts of the System it reads (their contents enter its key)
    supports: Callable[[Any, StudyConfig], str | None] | None = None  # reason it cannot run, or None
    summary_type: type | None = None  # what func returns (from_dict reads done.json back); None: a dict
    same_results_as: tuple[str, ...] = ()  # digests of earlier versions of its file that give the same results


@dataclass
class StageContext:
    config: StudyConfig
    root: Path
    dir: Path
    inputs: dict[str, Any] = field(default_factory=dict)  # dependency -> its summary (typed, see Stage)
    system: Any = None  # the incipient.system.System the study runs on
    scheduler: str | None = None
    progress: bool = True

    def path(self, name: str) -> Path:
        return self.dir / name

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"incipient": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "scipy", "ase", "numba", "phonopy", "phono3py", "hiphive", "h5py", "gemmi"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def effective_deps(stages: dict[str, Stage], wanted: list[str]) -> dict[str, tuple[str, ...]]:
    """Each stage's dependencies, with its optional ones when those were requested too."""
    return {n: st.deps + tuple(o for o in st.optional if o in wanted and o in stages) for n, st in stages.items()}


def order(stages: dict[str, Stage], wanted: list[str]) -> list[str]:
    """Wanted stages and everything they depend on, dependencies first."""
    deps = effective_deps(stages, wanted)
    seen: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        if name not in stages:
            raise ValueError(f"unknown stage {name!r}; known: {', '.join(stages)}")
        if name in visiting:
            raise ValueError(f"stage dependency cycle through {name!r}")
        visiting.add(name)
        for d in deps[name]:
            visit(d)
        visiting.discard(name)
        seen.append(name)

    for w in wanted:
        visit(w)
    return seen


def stage_key(stage: Stage, config: StudyConfig, dep_keys: dict[str, str], deps: tuple[str, ...], system=None, *,
              code: str | None = None) -> str:
    """The cache key of ``stage``; ``code`` replaces the digest of its source file (an earlier
    version of it, see ``Stage.same_results_as``)."""
    payload = {"stage": stage.name, "version": __version__, "sections": config.section_hash(*stage.sections) if stage.sections else "",
               "deps": {d: dep_keys[d] for d in deps}}
    if system is not None and stage.system_parts:
        payload["system"] = system.digest(stage.system_parts)
    payload["code"] = code_digest(stage.func) if code is None else code
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def code_digest(func) -> str:
    """Hash of the source file of a stage function (an edited stage reruns; library code is
    covered by the version only)."""
    import inspect

    try:
        return hashlib.sha256(Path(inspect.getfile(func)).read_bytes()).hexdigest()[:16]
    except (TypeError, OSError):
        return ""


def _fingerprint(key: str, summary: dict) -> str:  # summary: the JSON dict of done.json
    """What dependants see of a finished stage: its key and its results (a rerun that changes
    its results invalidates them; an identical rerun does not)."""
    text = json.dumps({"key": key, "summary": summary}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _typed(stage: Stage, summary: dict):
    """The summary dependants get: ``stage.summary_type.from_dict(summary)``, or the dict itself."""
    if not isinstance(summary, dict):
        raise KeyError(f"summary is a {type(summary).__name__}, not a JSON object")
    return stage.summary_type.from_dict(summary) if stage.summary_type is not None else summary


@dataclass
class StageOutcome:
    name: str
    key: str
    status: str  # "ran", "cached", "failed", "skipped"
    wall_s: float
    summary: Any  # the stage's summary (typed, see Stage; {} when it failed or was skipped)
    error: str = ""
    ran_s: float | None = None  # for a cached stage: the wall time of the run that made it
    ran_at: str = ""  # and when that run started


def run_graph(stages: dict[str, Stage], config: StudyConfig, root: Path, wanted: list[str], *,
              force: tuple[str, ...] = (), scheduler: str | None = None, progress: bool = True,
              log: Callable[[str], None] = print, keep_going: bool = True, system=None) -> list[StageOutcome]:
    """Run ``wanted`` stages (and their dependencies) under ``root``; reuse finished ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    keys: dict[str, str] = {}
    summaries: dict[str, Any] = {}  # stage -> its summary as dependants get it (typed)
    failed: set[str] = set()
    outcomes: list[StageOutcome] = []
    deps_of = effective_deps(stages, wanted)
    for name in order(stages, wanted):
        st = stages[name]
        deps = deps_of[name]
        if any(d in failed for d in deps):
            failed.add(name)
            outcomes.append(StageOutcome(name, "", "skipped", 0.0, {}, "a dependency failed"))
            log(f"[{name}] skipped: a dependency failed")
            continue
        key = stage_key(st, config, keys, deps, system)
        keys[name] = key
        d = root / name
        done = d / "done.json"
        if done.exists() and name not in force:
            try:
                rec = json.loads(done.read_text())
            except json.JSONDecodeError:
                rec = {}
            same = {key} | {stage_key(st, config, keys, deps, system, code=c) for c in st.same_results_as}
            cached = None
            if rec.get("key") in same:
                try:
                    cached = _typed(st, rec["summary"])
                except (KeyError, IncipientError) as exc:  # a done.json this version cannot read: run again
                    log(f"[{name}] {done}: summary unreadable ({exc}); running again")
            if cached is not None:
                summaries[name] = cached
                keys[name] = _fingerprint(rec["key"], rec["summary"])  # the stored JSON, as it was written
                prov = rec.get("provenance") or {}
                outcomes.append(StageOutcome(name, rec["key"], "cached", 0.0, cached, ran_s=prov.get("wall_s"),
                                             ran_at=str(prov.get("started", ""))))
                log(f"[{name}] up to date (cached)")
                continue
        d.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(config=config, root=root, dir=d, inputs={x: summaries[x] for x in deps},
                           scheduler=scheduler, progress=progress, system=system)
        log(f"[{name}] running: {st.description}")
        t0 = time.perf_counter()
        started = time.strftime("%Y-%m-%dT%H:%M:%S")
        try:
            result = st.func(ctx)
            summary = result.to_dict() if hasattr(result, "to_dict") else dict(result or {})
            typed = result if hasattr(result, "to_dict") else _typed(st, summary)
        except Exception as exc:  # a stage failure is reported, later independent stages still run
            if not keep_going:
                raise
            failed.add(name)
            msg = str(exc) if isinstance(exc, IncipientError) else f"{type(exc).__name__}: {exc}"
            outcomes.append(StageOutcome(name, key, "failed", time.perf_counter() - t0, {}, msg))
            atomic_write_text(d / "error.txt", msg + "\n")
            log(f"[{name}] FAILED: {msg}")
            continue
        wall = time.perf_counter() - t0
        rec = {"key": key, "stage": name, "summary": summary,
               "provenance": {"config": {s: config.to_dict()[s] for s in st.sections}, "inputs": {x: keys[x] for x in deps},
                              "system": system.to_dict() if system is not None else None,
                              "versions": _versions(), "started": started, "wall_s": wall}}
        atomic_write_text(done, json.dumps(rec, indent=1, default=str))
        (d / "error.txt").unlink(missing_ok=True)
        summaries[name] = typed
        keys[name] = _fingerprint(key, summary)
        outcomes.append(StageOutcome(name, key, "ran", wall, typed))
        log(f"[{name}] done in {wall:.1f} s")
    return outcomes
