"""``incipient migration``: MSD, diffusion coefficients and hop statistics of a trajectory as JSON.

Thin layer over ``incipient.analysis.diffusion`` and ``incipient.analysis.hops``. Numeric
options and ``--output`` are checked before the trajectory is read.
"""

from __future__ import annotations

import json
import math

from incipient.cli._checks import numbers
from incipient.errors import InputError


def add_arguments(parser) -> None:
    parser.add_argument("trajectory", help="trajectory file (.h5md, .traj, .xyz, .dump)")
    parser.add_argument("--species", default="Cu", help="mobile species (default Cu)")
    parser.add_argument("--timestep-fs", type=float, default=None,
                        help="time between stored frames in fs (formats without a stored time step)")
    parser.add_argument("--fit-start-ps", type=float, default=None, help="start of the MSD fit window")
    parser.add_argument("--fit-end-ps", type=float, default=None, help="end of the MSD fit window")
    parser.add_argument("--error-method", default="auto", choices=("auto", "ions", "blocks"))
    parser.add_argument("--no-hops", action="store_true", help="skip hop detection")
    parser.add_argument("--r-core", type=float, default=None, help="site core radius in A")
    parser.add_argument("--min-residence-fs", type=float, default=100.0,
                        help="residence criterion separating hops from rattling (fs)")
    parser.add_argument("--phonon-period-ps", type=float, default=None,
                        help="phonon period to compare the mean residence time with")
    parser.add_argument("--output", default=None, help="write the JSON here instead of stdout")
    parser.add_argument("--full", action="store_true", help="include MSD curves and hop lists")


def _finite(obj):
    """Replace inf/nan by None so that the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def check_arguments(args) -> None:
    """Every number finite and in range, the output writable (InputError / OutputError)."""
    from incipient.results import check_output_file

    numbers(args, {"timestep_fs": {"optional": True}, "fit_start_ps": {"optional": True, "strict": False},
                   "fit_end_ps": {"optional": True}, "r_core": {"optional": True},
                   "min_residence_fs": {"strict": False}, "phonon_period_ps": {"optional": True}})
    if args.fit_start_ps is not None and args.fit_end_ps is not None and args.fit_end_ps <= args.fit_start_ps:
        raise InputError(f"--fit-end-ps {args.fit_end_ps} must be larger than --fit-start-ps {args.fit_start_ps}")
    if args.output:
        check_output_file(args.output, "--output")


def run(args) -> int:
    check_arguments(args)
    from incipient.analysis.diffusion import diffusion
    from incipient.analysis.hops import detect_hops
    from incipient.md.trajectory import read_trajectory
    from incipient.results import _encode, atomic_write_text

    traj = read_trajectory(args.trajectory, timestep_fs=args.timestep_fs)
    d = diffusion(traj, args.species, fit_start_ps=args.fit_start_ps, fit_end_ps=args.fit_end_ps,
                  error_method=args.error_method)
    out = {"trajectory": str(args.trajectory), "n_frames": traj.n_frames,
           "diffusion": _encode(d.to_dict()) if args.full else d.summary()}
    if not args.no_hops:
        h = detect_hops(traj, args.species, r_core_A=args.r_core,
                        min_residence_fs=args.min_residence_fs, phonon_period_ps=args.phonon_period_ps)
        out["hops"] = _encode(h.to_dict()) if args.full else _encode(h.summary())
    text = json.dumps(_finite(out), indent=1)
    if args.output:
        atomic_write_text(args.output, text)
    else:
        print(text)
    return 0
