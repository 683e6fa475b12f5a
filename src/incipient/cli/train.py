"""``incipient train``: fit an MTP (MLIP-2 level 2-28) to labelled configurations and write the .mtp file.

``incipient train DATA --level 16 --species Cs Cu I --output pot.mtp`` reads every frame of DATA
(any ASE-readable labelled file: extxyz with energy/forces/stress, vasprun.xml, OUTCAR, ...),
holds out ``--validation-fraction`` of the configurations, fits (least-squares start, then
L-BFGS; see :mod:`incipient.potentials.training.fit`) with a progress bar, checkpoints to
``--checkpoint`` (default ``OUTPUT.ckpt.npz``; a rerun resumes) and prints the RMSEs. All inputs
are checked before the fit: the data file (exists, not empty, every configuration with forces,
only the given species), the level, the cutoffs, the weights and that ``--output`` can be written.
"""

from __future__ import annotations

import json

from incipient.errors import InputError, RunError


def add_arguments(p) -> None:
    p.add_argument("data", help="labelled configurations (any ASE-readable file, all frames)")
    p.add_argument("--level", type=int, required=True, help="MLIP-2 level: 2, 4, ..., 28")
    p.add_argument("--species", nargs="+", required=True, help="chemical symbols of MTP types 0, 1, ...")
    p.add_argument("--output", required=True, help="trained potential (.mtp, MLIP-2 format)")
    p.add_argument("--cutoff", type=float, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="radial basis range in A (default: shortest distance in the data, 5.0)")
    p.add_argument("--radial-basis-size", type=int, default=8)
    p.add_argument("--weights", type=float, nargs=3, metavar=("E", "F", "S"), default=(1.0, 0.1, 0.01),
                   help="loss weights of energy, forces, stress (default 1 0.1 0.01)")
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--max-iter", type=int, default=1000, help="L-BFGS iterations")
    p.add_argument("--max-time", type=float, default=None, metavar="SECONDS", help="stop after this wall time")
    p.add_argument("--checkpoint", default=None, help="checkpoint (.npz; default OUTPUT.ckpt.npz)")
    p.add_argument("--init", default=None, help="start from this .mtp (its level, cutoffs and coefficients)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the TrainingResult as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from pathlib import Path

    from incipient.potentials.training.templates import LEVELS
    from incipient.results import check_output_file

    data = Path(args.data)
    if not data.exists():
        raise InputError("no such file (training data)", source=data)
    if args.level not in LEVELS:
        raise InputError(f"--level must be one of {', '.join(map(str, LEVELS))}, got {args.level}")
    out = check_output_file(args.output, "--output")
    ckpt = args.checkpoint or str(out) + ".ckpt.npz"
    check_output_file(ckpt, "--checkpoint")
    if args.json:
        check_output_file(args.json, "--json")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RunError("incipient train needs torch: pip install 'incipient[train]'") from None
    from incipient.potentials.training import train_mtp

    initial = None
    if args.init:
        from incipient.potentials import read_mtp

        initial = read_mtp(args.init)
    model, res = train_mtp(
        str(data), level=None if initial is not None and args.level is None else args.level, species=args.species,
        cutoff_A=args.cutoff, radial_basis_size=args.radial_basis_size, weights=tuple(args.weights),
        validation_fraction=args.validation_fraction, max_iter=args.max_iter, checkpoint=ckpt,
        progress=not args.no_progress, output=str(out), seed=args.seed, initial=initial, threads=args.threads,
        max_time_s=args.max_time,
    )
    if args.json:
        res.save(args.json)
    print(res.summary())
    print(json.dumps({"output": res.output, "train_force_rmse_meV_A": round(res.train_force_rmse_meV_A, 3),
                      "validation_force_rmse_meV_A": round(res.validation_force_rmse_meV_A, 3),
                      "validation_energy_rmse_meV_atom": round(res.validation_energy_rmse_meV_atom, 4),
                      "message": res.message}))
    return 0
