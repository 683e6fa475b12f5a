"""``incipient spectra``: VACF DOS, S(Q,w) from MD, harmonic S(Q,E) and DHO fits (thin CLI layer).

Wraps :func:`incipient.analysis.vdos`, :func:`incipient.spectra.sqw`,
:func:`incipient.spectra.harmonic_sqe` and :func:`incipient.spectra.fit_dho`; prints a JSON
summary to stdout, writes the full result with ``--output`` and a figure with ``--plot``.

Numeric options are checked (finite; > 0 or >= 0 as their meaning needs) and ``--output`` /
``--plot`` probed for writing before any work. Phonopy yaml files are read with
:func:`incipient.spectra.harmonic.load_phonopy` (safe YAML only: no code from a data file).
"""

from __future__ import annotations

import json
import math

import numpy as np

from incipient.cli._checks import numbers
from incipient.errors import InputError


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="mode", required=True)
    v = sub.add_parser("vdos", help="VACF density of states (total, species, directions)")
    v.add_argument("trajectory")
    v.add_argument("--timestep-fs", type=float, default=None)
    v.add_argument("--correlation-time-fs", type=float, default=None)
    v.add_argument("--window", default="hann", choices=["hann", "gaussian", "none"])
    v.add_argument("--mass-weighted", action="store_true")
    v.add_argument("--finite-differences", action="store_true",
                   help="accept velocities from central differences of positions when the trajectory "
                        "stores none (without this flag that fallback is used with a warning)")

    s = sub.add_parser("sqw", help="coherent S(Q,w) along a path in r.l.u.")
    s.add_argument("trajectory")
    s.add_argument("--path", help="start:end in r.l.u., e.g. '7,7,0:7,6,0'")
    s.add_argument("--named-path", help="a path named in the system file's [sqw_paths], e.g. '(H,4,0)'")
    s.add_argument("--system", help="built-in system name or system file holding --named-path (default: the built-in default)")
    s.add_argument("--reference-cell", default=None,
                   help="a,b,c (A) of the orthorhombic cell defining r.l.u. (default: MD cell)")
    s.add_argument("--timestep-fs", type=float, default=None)
    s.add_argument("--window-size", type=int, default=500)
    s.add_argument("--window-step", type=int, default=1)
    s.add_argument("--weighting", default="xray", choices=["xray", "neutron", "none"])
    s.add_argument("--taper", default="none", choices=["none", "hann"])

    h = sub.add_parser("harmonic", help="harmonic S(Q,E) from a phonopy yaml with force constants")
    h.add_argument("phonopy_yaml")
    h.add_argument("--path", required=True, help="start:end in r.l.u. of the unit cell")
    h.add_argument("--n-points", type=int, default=41)
    h.add_argument("--temperature-K", type=float, required=True)
    h.add_argument("--weighting", default="xray", choices=["xray", "neutron", "none"])
    h.add_argument("--fwhm-meV", type=float, default=0.5)

    f = sub.add_parser("fit", help="DHO fit of a constant-Q scan (CSV: energy_meV, intensity[, error])")
    f.add_argument("scan_csv")
    f.add_argument("--temperature-K", type=float, required=True)
    f.add_argument("--resolution-fwhm-meV", type=float, default=1.5)
    f.add_argument("--n-modes", type=int, default=1)
    f.add_argument("--no-elastic", action="store_true")

    for p in (v, s, h, f):
        p.add_argument("--output", help="write the full result as JSON")
        p.add_argument("--plot", help="write a figure (PNG/PDF)")


def _triple(text: str, what: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise InputError(f"{what}: expected three finite comma-separated numbers, got {text!r}")
    return vals


def check_arguments(args) -> None:
    """Validate the numbers and output locations of ``args`` before any work."""
    from incipient.results import check_output_file

    if args.mode in ("vdos", "sqw"):
        numbers(args, {"timestep_fs": {"optional": True}})
    if args.mode == "vdos":
        numbers(args, {"correlation_time_fs": {"optional": True}})
    if args.mode == "sqw":
        numbers(args, {"window_size": {"minimum": 1, "strict": False}, "window_step": {"minimum": 1, "strict": False}})
        if args.reference_cell is not None and min(_triple(args.reference_cell, "--reference-cell")) <= 0:
            raise InputError(f"--reference-cell: lengths must be > 0, got {args.reference_cell!r}")
    if args.mode == "harmonic":
        numbers(args, {"n_points": {"minimum": 1, "strict": False}, "temperature_K": {"strict": False},
                       "fwhm_meV": {}})
        _segment(args.path)
    if args.mode == "fit":
        numbers(args, {"temperature_K": {"strict": False}, "resolution_fwhm_meV": {"strict": False},
                       "n_modes": {"minimum": 1, "strict": False}})
    if getattr(args, "path", None) and args.mode == "sqw":
        _segment(args.path)
    for opt in ("output", "plot"):
        if getattr(args, opt, None):
            check_output_file(getattr(args, opt), f"--{opt}")


def _segment(text: str) -> tuple[list[float], list[float]]:
    if ":" not in text:
        raise InputError(f"--path {text!r}: use start:end, e.g. '7,7,0:7,6,0'")
    a, b = text.split(":", 1)
    return _triple(a, "--path start"), _triple(b, "--path end")


def _finish(result, summary: dict, args) -> int:
    if args.output:
        summary["output"] = str(result.save(args.output))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        result.plot().savefig(args.plot, dpi=150)
        summary["plot"] = args.plot
    print(json.dumps(summary, indent=1, default=float))
    return 0


def run(args) -> int:
    check_arguments(args)
    if args.mode == "vdos":
        from incipient.analysis import vdos

        r = vdos(args.trajectory, timestep_fs=args.timestep_fs,
                 correlation_time_fs=args.correlation_time_fs, window=args.window,
                 mass_weighted=args.mass_weighted, finite_differences=args.finite_differences or None)
        return _finish(r, {"integral_total": r.integral(), "counts": r.counts, "velocity_source": r.velocity_source,
                           "frequency_step_THz": float(r.frequency_THz[1])}, args)
    if args.mode == "sqw":
        from incipient.md.trajectory import read_trajectory
        from incipient.spectra import commensurate_path, sqw

        traj = read_trajectory(args.trajectory, timestep_fs=args.timestep_fs)
        ref = (traj.cell if args.reference_cell is None
               else np.diag(_triple(args.reference_cell, "--reference-cell")))
        if (args.path is None) == (args.named_path is None):
            raise ValueError("give exactly one of --path or --named-path")
        if args.named_path:
            from incipient.system import load_system
            from incipient.workflows.config import DEFAULT_SYSTEM

            paths = load_system(args.system or DEFAULT_SYSTEM).sqw_paths
            if args.named_path not in paths:
                raise ValueError(f"--named-path {args.named_path!r}: the system names {', '.join(paths) or 'no paths'}")
            start, end = paths[args.named_path]
        else:
            start, end = _segment(args.path)
        q = commensurate_path(start, end, ref, traj.cell)
        r = sqw(traj, q, reference_cell=ref, window_size=args.window_size,
                window_step=args.window_step, weighting=args.weighting, window=args.taper)
        return _finish(r, {"n_q": len(q), "q_rlu": q.tolist(),
                           "energy_step_meV": float(r.energy_meV[1])}, args)
    if args.mode == "harmonic":
        from incipient.spectra import harmonic_sqe
        from incipient.spectra.harmonic import load_phonopy

        ph = load_phonopy(args.phonopy_yaml)
        start, end = _segment(args.path)
        q = np.linspace(start, end, args.n_points)
        r = harmonic_sqe(ph, q, temperature_K=args.temperature_K, weighting=args.weighting,
                         fwhm_meV=args.fwhm_meV)
        return _finish(r, {"n_q": len(q), "max_energy_meV": float(r.frequencies_meV.max())}, args)
    from incipient.spectra import fit_dho, load_scan_csv

    e, y, err = load_scan_csv(args.scan_csv)
    r = fit_dho(e, y, errors=err, temperature_K=args.temperature_K,
                resolution_fwhm_meV=args.resolution_fwhm_meV, n_modes=args.n_modes,
                elastic=not args.no_elastic)
    return _finish(r, {"E_c_meV": r.E_c_meV.tolist(), "E_c_err_meV": r.E_c_err_meV.tolist(),
                       "fwhm_meV": r.fwhm_meV.tolist(), "fwhm_err_meV": r.fwhm_err_meV.tolist(),
                       "chi2_reduced": r.chi2_reduced}, args)
