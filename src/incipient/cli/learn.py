"""``incipient learn``: active learning of an MTP with an oracle (thin layer over ``training.learn.learn_mtp``).

``incipient learn SEEDS --species Cs Ag I --level 10 --oracle incipient.potentials.universal:chgnet
--oracle-kwargs '{"threads": 1}' --temperatures 300 600 --state-dir al-state`` labels the seed
configurations (any ASE-readable file, all frames) with the oracle (any ASE calculator factory
``package.module:factory``, as a system file's ``[potential] calculator``), then repeats: fit, MD
at every temperature and volume scaling graded by MaxVol, selection (gamma > --gamma-select, a
run stops at --gamma-break), labelling, until a round selects nothing or --max-rounds. Rerunning
the same command resumes from --state-dir. Every input is checked before the oracle is built or
anything is fitted; the final potential is ``STATE_DIR/final.mtp`` (or --output).
"""

from __future__ import annotations

import json

from incipient.errors import InputError, RunError


def add_arguments(p) -> None:
    p.add_argument("seeds", help="seed configurations (any ASE-readable file, all frames)")
    p.add_argument("--species", nargs="+", required=True, help="chemical symbols of MTP types 0, 1, ...")
    p.add_argument("--level", type=int, required=True, help="MLIP-2 level: 2, 4, ..., 28")
    p.add_argument("--oracle", required=True, metavar="MODULE:FACTORY",
                   help="ASE calculator factory that labels configurations, e.g. incipient.potentials.universal:chgnet")
    p.add_argument("--oracle-kwargs", default="{}", metavar="JSON", help="keyword arguments of the factory (JSON)")
    p.add_argument("--state-dir", required=True, help="folder of the rounds (a rerun resumes from it)")
    p.add_argument("--temperatures", type=float, nargs="+", default=[300.0], metavar="K", help="MD temperatures (K)")
    p.add_argument("--volume-scales", type=float, nargs="+", default=[1.0], help="MD cell volume factors")
    p.add_argument("--md-ps", type=float, default=10.0, help="length of each MD run (ps)")
    p.add_argument("--timestep", type=float, default=2.0, metavar="FS", help="MD time step (fs)")
    p.add_argument("--grade-every", type=int, default=10, metavar="STEPS", help="grade the MD every this many steps")
    p.add_argument("--gamma-select", type=float, default=3.0, help="select MD frames above this grade (default 3)")
    p.add_argument("--gamma-break", type=float, default=10.0, help="stop an MD run above this grade (default 10)")
    p.add_argument("--grade-mode", choices=("atom", "configuration"), default="atom",
                   help="active set over neighbourhoods (default) or configurations")
    p.add_argument("--max-selected", type=int, default=20, help="most configurations labelled per round")
    p.add_argument("--max-rounds", type=int, default=20)
    p.add_argument("--start", default=None, help="structure the MD starts from (default the first seed)")
    p.add_argument("--test", default=None, help="labelled held-out configurations (errors per round)")
    p.add_argument("--cutoff", type=float, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="radial basis range in A (default 0.9 x shortest seed distance, 5.0)")
    p.add_argument("--max-iter", type=int, default=500, help="L-BFGS iterations per fit")
    p.add_argument("--keep-seed-labels", action="store_true", help="train on the seeds' own labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the fit")
    p.add_argument("--output", default=None, help="also copy the final potential here (.mtp)")
    p.add_argument("--json", default=None, help="also write the LearnResult as JSON")


def run(args) -> int:
    from pathlib import Path

    from incipient.potentials.training.templates import LEVELS
    from incipient.results import atomic_write_text, check_output_dir, check_output_file
    from incipient.system import PotentialSpec

    seeds = Path(args.seeds)
    if not seeds.is_file():
        raise InputError("no such file (seed configurations)", source=seeds)
    if args.level not in LEVELS:
        raise InputError(f"--level must be one of {', '.join(map(str, LEVELS))}, got {args.level}")
    for name, path in (("--start", args.start), ("--test", args.test)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"no such file ({name})", source=path)
    try:
        kwargs = json.loads(args.oracle_kwargs)
    except json.JSONDecodeError as exc:
        raise InputError(f"--oracle-kwargs is not JSON ({exc.msg}): {args.oracle_kwargs!r}") from None
    if not isinstance(kwargs, dict):
        raise InputError(f"--oracle-kwargs must be a JSON object, got {args.oracle_kwargs!r}")
    spec = PotentialSpec(factory=args.oracle, kwargs=kwargs)  # checks 'module:factory'
    check_output_dir(args.state_dir, "--state-dir")
    for name, path in (("--output", args.output), ("--json", args.json)):
        if path is not None:
            check_output_file(path, name)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RunError("incipient learn needs torch: pip install 'incipient[train]'") from None
    from incipient.potentials.training.learn import learn_mtp

    res = learn_mtp(
        str(seeds), spec, species=args.species, level=args.level, state_dir=args.state_dir, start=args.start,
        test_configurations=args.test, temperatures_K=args.temperatures, volume_scales=args.volume_scales,
        md_ps=args.md_ps, timestep_fs=args.timestep, gamma_select=args.gamma_select, gamma_break=args.gamma_break,
        grade_every=args.grade_every, grade_mode=args.grade_mode, max_selected_per_round=args.max_selected,
        max_rounds=args.max_rounds, cutoff_A=args.cutoff, max_iter=args.max_iter,
        label_seeds=not args.keep_seed_labels, seed=args.seed, threads=args.threads)
    if args.output:
        atomic_write_text(args.output, Path(res.potential).read_text())
    if args.json:
        res.save(args.json)
    print(json.dumps({"converged": res.converged, "rounds": res.n_rounds,
                      "selected_per_round": res.selected_per_round.tolist(), "potential": args.output or res.potential}))
    return 0
