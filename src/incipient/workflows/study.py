"""Run a whole study: the stage graph of ``stages`` under a results folder, then the report."""

from __future__ import annotations

from pathlib import Path

from incipient.workflows.config import ALL_STAGES, StudyConfig, load_config
from incipient.workflows.graph import Stage, run_graph


def build_stages() -> dict[str, Stage]:
    from incipient.workflows import stages as s

    table = [
        ("relax", (), ("structure", "potential"), s.stage_relax, "relax positions and cell with the MTP"),
        ("md", ("relax",), ("structure", "potential", "md"), s.stage_md, "NVT then NVE MD at each temperature"),
        ("migration", ("md",), ("migration",), s.stage_migration, "MSD, diffusion, hops by pathway"),
        ("barriers", ("relax",), ("potential", "migration"), s.stage_barriers, "NEB barriers of the x, z and MID hops"),
        ("force_constants", ("md",), ("force_constants",), s.stage_force_constants, "effective force constants from MD snapshots"),
        ("spectra", ("md",), (), s.stage_spectra, "VACF DOS and S(Q,w)", ("force_constants",)),
        ("kappa_bte", ("force_constants",), ("kappa",), s.stage_kappa_bte, "Wigner conductivity (phono3py)"),
        ("kappa_gk", ("md",), (), s.stage_kappa_gk, "Green-Kubo conductivity from the NVE heat currents"),
        ("mem", (), ("mem",), s.stage_mem, "maximum-entropy densities from the measured CIFs"),
        ("classify", ("migration",), (), s.stage_classify, "conductor class",
         ("spectra", "kappa_bte", "kappa_gk")),
    ]
    return {row[0]: Stage(row[0], row[1], row[2], row[3], row[4], row[5] if len(row) > 5 else ())
            for row in table if row[3] is not None}


def run_study(config: StudyConfig | str | Path | None = None, *, preset: str = "quick", output_dir: str | Path | None = None,
              force: tuple[str, ...] = (), scheduler: str | None = None, progress: bool = True, log=print):
    """Run the stages named in ``config.stages`` (and their dependencies); write ``report.html``.

    Returns (outcomes, path of the report).
    """
    from incipient.workflows.report import write_report

    if not isinstance(config, StudyConfig):
        config = load_config(config, preset=preset)
    root = Path(output_dir or config.output_dir)
    stages = build_stages()
    wanted = [s for s in config.stages if s in stages]
    missing = [s for s in config.stages if s not in stages and s != "report"]
    for m in missing:
        log(f"[{m}] not available in this build; skipped")
    outcomes = run_graph(stages, config, root, wanted, force=force, scheduler=scheduler, progress=progress, log=log)
    report = write_report(root, config, outcomes) if "report" in config.stages else None
    return outcomes, report


__all__ = ["ALL_STAGES", "run_study"]
