"""``incipient kappa``: force-constant fits, stability checks and Wigner thermal conductivity.

Thin layer over :mod:`incipient.lattice.fit`, :mod:`incipient.lattice.phonons`,
:mod:`incipient.transport.wigner` and :mod:`incipient.transport.lifetimes`. Subcommands:

* ``fit``       hiPhive fit of fc2/fc3 to snapshots (extxyz with forces) -> fc2.hdf5, fc3.hdf5,
  FORCE_CONSTANTS_2ND, fit.json
* ``stability`` imaginary modes of an fc2
* ``wigner``    kappa_p + kappa_c (phono3py SMM19 RTA) from an fc2 and an fc3 (default: the
  published fc3 of ``--system``, on the cell it refers to)
* ``wigner34``  kappa_p + kappa_c with 3ph (+isotopes, phono3py) and with 3+4ph (sampled 4ph
  rates; default: the system's published fc4), stage wall times, peak RSS, sampling errors, T exponents

The cell and the default fc3/fc4 come from ``--system`` (a built-in system name or a system
file; default: the built-in default system), or from ``--control``/``--primitive`` with files.

Results are printed as JSON (diagonal components) and saved in full with ``--output``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _system(args):
    from incipient.system import load_system
    from incipient.workflows.config import DEFAULT_SYSTEM

    return load_system(getattr(args, "system", None) or DEFAULT_SYSTEM)


def _primitive(args):
    """(cell, settings): --primitive, --control, or the system's phonon cell with its FC supercell."""
    if getattr(args, "primitive", None):
        from ase.io import read

        return read(args.primitive), None
    if getattr(args, "control", None):
        from incipient.lattice.shengbte_control import read_shengbte_control

        return read_shengbte_control(args.control)
    system = _system(args)
    sc = system.published.fc_supercell
    return system.phonon_primitive(), ({"scell": list(sc)} if sc else None)


def _published(args, order: int) -> str:
    """--fc3/--fc4 if given, else the system's published file of that order."""
    given = getattr(args, f"fc{order}")
    if given:
        return given
    path = getattr(_system(args).published, f"fc{order}")
    if path is None:
        raise ValueError(f"--fc{order} is required: the system has no published fc{order}")
    return str(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)

    def cell_args(p):
        p.add_argument("--system", help="built-in system name or system file giving the cell and published FCs "
                                        "(default: the built-in default system)")
        p.add_argument("--control", help="ShengBTE CONTROL file giving the primitive cell (overrides --system)")
        p.add_argument("--primitive", help="primitive cell file readable by ASE (overrides --control)")
        p.add_argument("--symprec", type=float, default=1e-3)

    p = sub.add_parser("wigner", help="Wigner conductivity kappa_p + kappa_c")
    cell_args(p)
    p.add_argument("--fc2", required=True, help="FORCE_CONSTANTS(_2ND) or fc2.hdf5 for the phonon supercell")
    p.add_argument("--fc2-supercell", type=int, nargs=3, help="fc2 supercell (default: --supercell)")
    p.add_argument("--fc3", help="ShengBTE FORCE_CONSTANTS_3RD or phono3py fc3.hdf5 (default: the system's published fc3)")
    p.add_argument("--supercell", type=int, nargs=3, help="fc3 supercell (default: CONTROL scell)")
    p.add_argument("--mesh", type=int, nargs=3, default=[6, 6, 6])
    p.add_argument("--temperatures", type=float, nargs="+", default=[300.0])
    p.add_argument("--smearing", choices=["tetrahedron", "gaussian"], default="tetrahedron")
    p.add_argument("--sigma-THz", type=float)
    p.add_argument("--no-isotope", action="store_true")
    p.add_argument("--no-symmetrize", action="store_true")
    p.add_argument("--output", help="save the full WignerResult as JSON")
    p.add_argument("--plot", help="save the spectral/cumulative/T figure (PNG)")
    p.add_argument("--lifetimes-plot", help="save the lifetime-regime figure (PNG, first temperature)")

    p = sub.add_parser("wigner34", help="Wigner kappa_p + kappa_c with 3ph vs 3+4ph scattering (sampled 4ph)")
    cell_args(p)
    p.add_argument("--fc2", required=True, help="fc2.hdf5 / FORCE_CONSTANTS for the 3x3x3 supercell of the cell")
    p.add_argument("--fc3", help="ShengBTE fc3 (default: the system's published fc3)")
    p.add_argument("--fc4", help="ShengBTE fc4 (default: the system's published fc4)")
    p.add_argument("--supercell", type=int, nargs=3, help="fc2/fc3 supercell (default: CONTROL scell)")
    p.add_argument("--mesh", type=int, nargs=3, default=[4, 4, 4])
    p.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 400.0, 500.0, 600.0])
    p.add_argument("--samples", type=int, default=100,
                   help="4ph q-pairs sampled per irreducible q-point (0: exact sum)")
    p.add_argument("--batches", type=int, default=4, help="independent sample batches (jackknife error)")
    p.add_argument("--samples-3ph", type=int, default=0,
                   help="3ph triplets sampled per irreducible q-point (0: phono3py's exact sum, default)")
    p.add_argument("--q-groups-4ph", type=int, default=1,
                   help="split each 4ph batch into this many q-point groups run as separate jobs (use with --workers)")
    p.add_argument("--no-fc3-mask", action="store_true",
                   help="give phono3py every fc3 atom triplet (default: only those present in the fc3; same rates)")
    p.add_argument("--smearing4", choices=["adaptive", "fourphonon"], default="adaptive",
                   help="4ph energy conservation: our symmetrised ShengBTE width (3 widths) or FourPhonon's own "
                        "conventions (its width, 1-width truncation, 0.2 THz partner cutoff)")
    p.add_argument("--scalebroad", type=float, default=1.0)
    p.add_argument("--single-precision", action="store_true", help="complex64 4ph contractions (~1.5x faster)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--phono3py-lang", choices=["C", "Rust"],
                   help="phono3py backend for 3ph (C: OMP_NUM_THREADS, Rust: RAYON_NUM_THREADS; default phono3py's)")
    p.add_argument("--workers", type=int, default=1,
                   help="4ph batches run in this many single-threaded processes at once (e.g. the core count)")
    p.add_argument("--max-wall-s", type=float,
                   help="wall-time budget: 4ph batches stop early (after >= 2) when the next would not fit")
    p.add_argument("--velocity-convention", choices=["crystal", "lattice_phase", "lattice_phase_real"], default="crystal",
                   help="velocity operator: crystal = atomic-position phases (correct, default); lattice_phase[_real] = "
                        "ShengBTE-style lattice-vector phases [real off-diagonals] (docs/kappa.md)")
    p.add_argument("--output", help="save the Wigner34Result as JSON")
    p.add_argument("--plot", help="save the kappa(T) figure (PNG)")
    p.add_argument("--lifetimes-plot", help="save lifetimes 3ph vs 3+4ph at the lowest and highest T (PNG)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")

    p = sub.add_parser("fit", help="fit fc2 (and fc3) to snapshots with hiPhive")
    cell_args(p)
    p.add_argument("--ideal", required=True, help="ideal supercell file (ASE-readable)")
    p.add_argument("--snapshots", required=True, help="snapshots with forces (e.g. extxyz)")
    p.add_argument("--cutoffs", type=float, nargs="+", default=[8.0, 6.0, 5.2])
    p.add_argument("--method", default="least-squares")
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outdir", required=True)

    p = sub.add_parser("stability", help="list imaginary modes of an fc2")
    cell_args(p)
    p.add_argument("--fc2", required=True)
    p.add_argument("--supercell", type=int, nargs=3, help="fc2 supercell (default: CONTROL scell)")
    p.add_argument("--mesh", type=int, nargs=3, default=[4, 4, 4])


def _scell(args, settings, name="supercell"):
    v = getattr(args, name, None)
    if v:
        return v
    if settings and "scell" in settings:
        return list(settings["scell"])
    raise ValueError(f"--{name.replace('_', '-')} is required without a CONTROL file")


def run(args) -> int:
    if args.action == "wigner":
        from incipient.transport.lifetimes import from_wigner
        from incipient.transport.wigner import wigner_conductivity

        prim, settings = _primitive(args)
        sc = _scell(args, settings)
        res = wigner_conductivity(
            prim, args.fc2, _published(args, 3), supercell_matrix=sc, phonon_supercell_matrix=args.fc2_supercell or sc,
            mesh=args.mesh, temperatures_K=args.temperatures, smearing=args.smearing, sigma_THz=args.sigma_THz,
            is_isotope=not args.no_isotope, symmetrize=not args.no_symmetrize, symprec=args.symprec)
        lt = from_wigner(res)
        if args.output:
            res.save(args.output)
        if args.plot or args.lifetimes_plot:
            import matplotlib

            matplotlib.use("Agg")
            if args.plot:
                res.plot().savefig(args.plot, dpi=120)
            if args.lifetimes_plot:
                lt.plot().savefig(args.lifetimes_plot, dpi=120)
        d = res.diagonal()
        print(json.dumps({
            "temperatures_K": res.temperatures_K.tolist(), "mesh": res.mesh.tolist(), "smearing": res.smearing,
            "kappa_p_W_mK_xyz": d["p"].tolist(), "kappa_c_W_mK_xyz": d["c"].tolist(),
            "kappa_tot_avg_W_mK": d["tot"].mean(axis=1).tolist(),
            "alpha_p": res.alpha_p.tolist(), "alpha_c": res.alpha_c.tolist(),
            "fraction_modes_particle_wave_overdamped": lt.fraction_modes.tolist(),
            "timings_s": res.timings_s}, indent=1))
        return 0
    if args.action == "wigner34":
        import time

        from incipient.lattice.phonopy_io import read_fc2
        from incipient.transport.wigner34 import wigner_3ph_4ph

        t0 = time.perf_counter()
        prim, settings = _primitive(args)
        res = wigner_3ph_4ph(prim, read_fc2(args.fc2), _published(args, 3), _published(args, 4), supercell_matrix=tuple(_scell(args, settings)),
                             mesh=tuple(args.mesh), temperatures_K=tuple(args.temperatures),
                             n_samples=args.samples or None, n_batches=args.batches, scalebroad=args.scalebroad,
                             smearing4=args.smearing4, single_precision=args.single_precision, rng=args.seed,
                             symprec=args.symprec, max_wall_s=args.max_wall_s, phono3py_lang=args.phono3py_lang,
                             n_workers=args.workers, velocity_convention=args.velocity_convention,
                             n_samples_3ph=args.samples_3ph or None, q_groups_4ph=args.q_groups_4ph,
                             fc3_mask=not args.no_fc3_mask, progress=not args.quiet)
        if args.output:
            res.save(args.output)
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            res.plot().savefig(args.plot, dpi=120)
        if args.lifetimes_plot:
            import matplotlib

            matplotlib.use("Agg")
            res.plot_lifetimes().savefig(args.lifetimes_plot, dpi=150)
        info = res.info
        print(f"mesh {list(res.mesh)}, {info['n_irreducible_q']} irreducible q-points; 4ph: "
              f"{res.n_samples or 'all'} of {info['n_pairs_total']} q-pairs per q-point ({info['n_batches']} batches), "
              f"{info['smearing4']} smearing x{res.scalebroad:g}, cutoff {info['cutoff_sigmas_4ph']:g} widths; "
              f"errors: {info['error_method']}; dropped modes {res.n_dropped_modes}; phono3py {info['phono3py_lang']}")
        if res.n_samples_3ph:
            print(f"3ph: {res.n_samples_3ph} sampled triplets per q-point ({info['n_triplets_3ph_evaluated']} of "
                  f"{info['n_triplets_3ph']} irreducible triplets evaluated); median relative 3ph sampling error: "
                  + ", ".join(f"{T:g} K {e:.3f}" for T, e in
                              zip(res.temperatures_K, info["median_rel_stderr_3ph"], strict=True)))
        print("wall time per stage (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in info["stages_s"].items())
              + f"; whole command {time.perf_counter() - t0:.1f}; peak RSS {info['peak_rss_MB']:.0f} MB"
              + (f" (+ {info['n_workers']} workers, each up to {info['peak_rss_worker_MB']:.0f} MB)"
                 if info.get("n_workers", 1) > 1 else ""))
        print("median relative 4ph sampling error per mode: " + ", ".join(
            f"{T:g} K {e:.3f}" for T, e in zip(res.temperatures_K, info["median_rel_stderr_4ph"], strict=True))
              + "; median 4ph/3ph rate ratio: " + ", ".join(
            f"{T:g} K {e:.2f}" for T, e in zip(res.temperatures_K, info["median_ratio_4ph_3ph"], strict=True)))
        print("kappa (W/m/K):")
        print(res.table())
        return 0
    if args.action == "fit":
        from ase.io import read

        from incipient.lattice.fit import fit_force_constants, to_phono3py_order
        from incipient.lattice.phonons import make_phono3py
        from incipient.lattice.phonopy_io import write_fc2, write_fc3_hdf5
        from incipient.lattice.shengbte import write_shengbte_fc2

        prim, _ = _primitive(args)
        ideal = read(args.ideal)
        snaps = read(args.snapshots, index=":")
        res = fit_force_constants(ideal, snaps, prim, cutoffs_A=args.cutoffs, fit_method=args.method,
                                  test_fraction=args.test_fraction, rng=args.seed, symprec=args.symprec)
        # write in phono3py's atom order for the supercell matrix that maps prim onto ideal
        smat = np.rint(np.array(ideal.cell) @ np.linalg.inv(np.array(prim.cell))).astype(int).T
        ph3 = make_phono3py(prim, smat, symprec=args.symprec)
        fc2, fc3 = to_phono3py_order(res, ideal, ph3)
        out = Path(args.outdir)
        files = {"fc2": str(write_fc2(out / "fc2.hdf5", fc2))}
        if fc3 is not None:
            files["fc3"] = str(write_fc3_hdf5(out / "fc3.hdf5", fc3, p2s_map=np.asarray(ph3.primitive.p2s_map)))
        files["FORCE_CONSTANTS_2ND"] = str(write_shengbte_fc2(out / "FORCE_CONSTANTS_2ND", fc2))
        files["fit"] = str(res.save(out / "fit.json"))
        print(json.dumps({"n_parameters": res.n_parameters, "rmse_train_eV_A": res.rmse_train_eV_A,
                          "rmse_test_eV_A": res.rmse_test_eV_A, "r2_test": res.r2_test,
                          "supercell_matrix": smat.tolist(), "files": files}, indent=1))
        return 0
    if args.action == "stability":
        from incipient.lattice.phonons import check_stability, make_phonopy
        from incipient.lattice.phonopy_io import read_fc2

        prim, settings = _primitive(args)
        ph = make_phonopy(prim, _scell(args, settings), read_fc2(args.fc2), symprec=args.symprec)
        modes = check_stability(ph, mesh=args.mesh)
        print(json.dumps({"n_imaginary": len(modes), "stable": not modes,
                          "modes": [{"q": np.round(q, 6).tolist(), "freq_THz": f} for q, f in modes[:50]]},
                         indent=1))
        return 0
    raise ValueError(f"unknown action {args.action!r}")
