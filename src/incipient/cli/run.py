"""``incipient run``: a whole study of one system (default: the built-in study) and its HTML report."""

from __future__ import annotations


def add_arguments(p) -> None:
    from incipient.workflows.config import PRESETS

    p.add_argument("study", nargs="?", help="study file (TOML); default: the built-in default system's study")
    p.add_argument("--preset", default="quick", choices=list(PRESETS),
                   help="quick: minutes on 2 cores (default); validate: 1 ns at 600 K, 300 ps at 450 K, 50 ps at "
                        "300 K (~2 h on 2 cores for a ~400-atom MTP cell); paper: the paper's sizes and lengths")
    p.add_argument("--output-dir", help="results folder (default: the study's output_dir, 'incipient-study', "
                                        "relative to the study file)")
    p.add_argument("--force", nargs="*", default=[], metavar="STAGE", help="rerun these stages even if cached")
    p.add_argument("--scheduler", help="Dask scheduler address for the independent runs (default: a local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from incipient.workflows.study import run_study

    outcomes, report = run_study(args.study, preset=args.preset, output_dir=args.output_dir, force=tuple(args.force),
                                 scheduler=args.scheduler, progress=not args.quiet)
    failed = [o.name for o in outcomes if o.status == "failed"]
    if report is not None:
        print(f"report: {report.resolve()}")
    if failed:
        print(f"failed stages: {', '.join(failed)} (see their error.txt)")
        return 1
    return 0
