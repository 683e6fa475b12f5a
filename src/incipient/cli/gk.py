"""``incipient gk``: Green-Kubo conductivity from heat currents stored in H5MD files.

A thin layer over :func:`incipient.transport.green_kubo` and
:func:`incipient.transport.green_kubo.read_heat_currents`; each file is one independent run.
Numeric options and the ``--output`` / ``--plot`` locations are checked before any file is read.
"""

from __future__ import annotations

import json
import math

from incipient.cli._checks import numbers
from incipient.errors import InputError


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="H5MD_FILE",
                        help="H5MD files with /observables/heat_current_{conv,virial}_eV_A_fs")
    parser.add_argument("--temperature-K", type=float, required=True, help="temperature in K")
    parser.add_argument("--volume-A3", type=float, default=None,
                        help="cell volume in A^3 (default: from the box of the first file)")
    parser.add_argument("--n-segments", type=int, default=1,
                        help="split every run into this many independent blocks (paper: 25)")
    parser.add_argument("--cutoff", default="first_dip",
                        help="'first_dip', 'first_avalanche' or a correlation time in fs")
    parser.add_argument("--fstar-THz", type=float, default=5.0, help="cepstral filter frequency")
    parser.add_argument("--max-lag-fs", type=float, default=None, help="longest correlation time")
    parser.add_argument("--output", default=None, help="write the full result (JSON) here")
    parser.add_argument("--plot", default=None, help="save the running-integral figure here")


def check_arguments(args):
    """Validate numbers and outputs; returns the cutoff (a method name or a time in fs)."""
    from incipient.results import check_output_file

    numbers(args, {"temperature_K": {}, "volume_A3": {"optional": True}, "n_segments": {"minimum": 1, "strict": False},
                   "fstar_THz": {}, "max_lag_fs": {"optional": True}})
    try:
        cutoff = float(args.cutoff)
    except ValueError:
        cutoff = args.cutoff  # a method name, checked by green_kubo
    else:
        if not (math.isfinite(cutoff) and cutoff > 0):
            raise InputError(f"--cutoff as a correlation time must be a finite number > 0 fs, got {args.cutoff}")
    for opt in ("output", "plot"):
        if getattr(args, opt, None):
            check_output_file(getattr(args, opt), f"--{opt}")
    return cutoff


def run(args) -> int:
    from incipient.transport.green_kubo import green_kubo, read_heat_currents

    cutoff = check_arguments(args)

    conv, vir, dts, vols = [], [], [], []
    for path in args.files:
        c, v, dt, vol = read_heat_currents(path)
        conv.append(c)
        vir.append(v)
        dts.append(dt)
        vols.append(vol)
    if any(abs(d - dts[0]) > 1e-9 * dts[0] for d in dts):
        raise ValueError(f"files have different heat-current time steps: {dts} fs")
    volume = args.volume_A3 if args.volume_A3 is not None else vols[0]
    result = green_kubo(conv, vir, volume_A3=volume, temperature_K=args.temperature_K,
                        dt_fs=dts[0], n_segments=args.n_segments, cutoff=cutoff,
                        fstar_THz=args.fstar_THz, max_lag_fs=args.max_lag_fs)
    if args.output:
        result.save(args.output)
    if args.plot:
        fig = result.plot()
        fig.savefig(args.plot, dpi=120)
    print(json.dumps(result.summary(), indent=1))
    return 0
