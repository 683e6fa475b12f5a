"""Run a whole study: check what the system supports, run the stage graph, write the report."""

from __future__ import annotations

import importlib
from pathlib import Path

from incipient.errors import InputError
from incipient.workflows.config import ALL_STAGES, StudyConfig, build_system, load_config
from incipient.workflows.graph import Stage, order, run_graph

# name, dependencies, config sections in its key, description, optional dependencies
STAGE_TABLE = (
    ("relax", (), ("structure",), "relax positions and cell with the potential", ()),
    ("md", ("relax",), ("structure", "md"), "NVT then NVE MD at each temperature", ()),
    ("migration", ("md",), ("migration",), "MSD, diffusion, hops by pathway", ()),
    ("barriers", ("relax",), ("migration",), "NEB barriers of the mobile ion's hops", ()),
    ("force_constants", ("md",), ("force_constants",), "effective force constants from MD snapshots", ()),
    ("spectra", ("md",), (), "VACF DOS and S(Q,w)", ("force_constants",)),
    ("kappa_bte", ("force_constants",), ("kappa",), "Wigner conductivity (phono3py; 3ph, 3+4ph)", ()),
    ("kappa_gk", ("md",), (), "Green-Kubo conductivity from the NVE heat currents", ()),
    ("mem", (), ("mem",), "maximum-entropy densities from the measured CIFs", ()),
    ("classify", ("migration",), (), "conductor class with its evidence", ("spectra", "kappa_bte", "kappa_gk", "barriers")),
)


def build_stages() -> dict[str, Stage]:
    """The study's stages: each module's ``run`` and ``supports``, its summary type, and the
    earlier versions of its file that give the same results (``stages.SAME_RESULTS``)."""
    from incipient.workflows.graph import code_digest
    from incipient.workflows.stages import SAME_RESULTS
    from incipient.workflows.summaries import BY_STAGE

    out = {}
    for name, deps, sections, description, optional in STAGE_TABLE:
        mod = importlib.import_module(f"incipient.workflows.stages.{name}")
        out[name] = Stage(name, deps, sections, mod.run, description, optional, mod.SYSTEM_PARTS, mod.supports,
                          summary_type=BY_STAGE[name], same_results_as=SAME_RESULTS.get(code_digest(mod.run), ()))
    return out


def plan(stages: dict[str, Stage], config: StudyConfig, system, wanted: list[str]) -> tuple[list[str], dict[str, str]]:
    """The stages to run and {stage: reason} for those removed: unsupported by the system, or
    depending on a removed stage. Also runs each stage's checks that must fail before any MD."""
    removed: dict[str, str] = {}
    for name in order(stages, wanted):
        st = stages[name]
        why = st.supports(system, config) if st.supports else None
        if why is None:
            lost = [d for d in st.deps if d in removed]
            why = f"needs stage {lost[0]!r}, which was removed" if lost else None
        if why:
            removed[name] = why
    keep = [w for w in wanted if w not in removed]
    if "force_constants" in (order(stages, keep) if keep else []):
        from incipient.workflows.stages.force_constants import check_before_md

        check_before_md(system, config)
    return keep, removed


def run_study(config: StudyConfig | str | Path | None = None, *, preset: str = "quick", output_dir: str | Path | None = None,
              force: tuple[str, ...] = (), scheduler: str | None = None, progress: bool = True, log=print, system=None):
    """Run the stages named in ``config.stages`` (and their dependencies) on the study's system;
    write ``report.html``. ``system`` (a :class:`~incipient.system.System`) replaces the one the
    study file describes. Returns (outcomes, path of the report)."""
    from incipient.workflows.report import write_report

    if not isinstance(config, StudyConfig):
        config = load_config(config, preset=preset)
    bad = [f for f in force if f not in ALL_STAGES]
    if bad:
        raise InputError(f"--force {bad[0]!r}: not a stage; stages: {', '.join(s for s in ALL_STAGES if s != 'report')}")
    system = system or build_system(config)
    root = Path(output_dir or config.resolve(config.output_dir))
    stages = build_stages()
    wanted = [s for s in config.stages if s in stages]
    keep, removed = plan(stages, config, system, wanted)
    log(f"system: {system!r}")
    for name, why in removed.items():
        log(f"[{name}] removed: {why}")
    from incipient.workflows.stages.kappa_bte import four_phonon_note

    note4 = four_phonon_note(system, config) if "kappa_bte" in keep else None
    if note4:
        log(f"[kappa_bte] {note4}")
    outcomes = run_graph(stages, config, root, keep, force=force, scheduler=scheduler, progress=progress, log=log, system=system)
    report = write_report(root, config, outcomes, system=system, removed=removed) if "report" in config.stages else None
    return outcomes, report


__all__ = ["ALL_STAGES", "STAGE_TABLE", "build_stages", "plan", "run_study"]
