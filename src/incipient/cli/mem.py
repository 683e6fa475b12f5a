"""``incipient mem``: maximum-entropy electron density from a CIF with measured F^2.

Thin layer over :func:`incipient.experiment.mem.mem_from_cif` and
:mod:`incipient.experiment.profiles`. ``--grid-A``, ``--orders`` and ``--order-weights`` and
the ``--output`` folder are checked before the (long) MEM iteration starts.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from incipient.cli._checks import number
from incipient.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cif", help="CIF with the refined model and a _refln_ loop (F^2 meas, sigma)")
    parser.add_argument("--grid-A", type=float, default=0.05, help="pixel size in A (default 0.05)")
    parser.add_argument("--prior", choices=("uniform", "procrystal"), default="uniform")
    parser.add_argument("--orders", default="2,4", help="orders n of the F-constraint (default 2,4)")
    parser.add_argument("--order-weights", default="0.5,0.5", help="relative weights lambda_n")
    parser.add_argument("--counting-sigma", action="store_true",
                        help="use sigma(F^2) of the CIF alone, not the refinement weighting")
    parser.add_argument("--species", help="mobile ion whose site-to-site paths are profiled (default: the system's)")
    parser.add_argument("--system", help="built-in system name or system file giving the mobile species and pathway "
                                         "names (default: the built-in default system)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for the CCP4 map, section/profile PNGs and JSON summaries")


def run(args: argparse.Namespace) -> int:
    import logging

    from incipient.experiment.cif import read_cif_model, read_structure_from_cif
    from incipient.experiment.mem import mem_from_cif
    from incipient.experiment.profiles import channel_profiles, mobile_paths
    from incipient.system import load_system
    from incipient.workflows.config import DEFAULT_SYSTEM

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    number(args.grid_A, "--grid-A")
    try:
        orders = tuple(int(x) for x in args.orders.split(","))
        weights = tuple(float(x) for x in args.order_weights.split(","))
    except ValueError as exc:
        raise InputError(f"--orders/--order-weights must be comma-separated numbers: {exc}") from exc
    if any(o < 1 for o in orders):
        raise InputError(f"--orders must be integers >= 1, got {args.orders!r}")
    if len(weights) != len(orders) or not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"--order-weights must be {len(orders)} finite numbers >= 0 (one per order, not all 0), "
                         f"got {args.order_weights!r}")
    if args.output is not None:
        from incipient.results import check_output_dir

        check_output_dir(args.output, "--output")
    system = load_system(args.system or DEFAULT_SYSTEM)
    species = args.species or system.mobile_species
    structure = read_structure_from_cif(args.cif)
    if species not in structure.get_chemical_symbols():
        raise InputError(f"{args.cif}: no {species} in the structure; give --species")
    paths = mobile_paths(structure, species, system.pathway_names or None)
    res = mem_from_cif(args.cif, grid_A=args.grid_A, prior=args.prior, orders=orders,
                       order_weights=weights, refinement_sigma=not args.counting_sigma)
    model = read_cif_model(args.cif)
    summary = {"cif": str(args.cif), "temperature_K": model.temperature_K, **res.summary()}
    prof = channel_profiles(res.density_e_A3, res.lattice, paths, species, model.temperature_K)
    summary["peak_e_A3"] = prof.peak_e_A3
    summary["min_to_peak"] = dict(zip(prof.paths, prof.min_to_peak.tolist(), strict=True))
    summary["ridge_to_peak"] = dict(zip(prof.paths, prof.bottleneck_to_peak.tolist(), strict=True))
    if args.output is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from incipient.experiment.profiles import plot_plane_section
        from incipient.results import atomic_write_text

        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        stem = Path(args.cif).stem
        res.write_ccp4(out / f"mem_{stem}.ccp4")
        fig = plot_plane_section(res.density_e_A3, res.lattice, paths, species, title=f"{stem}: section through {species}")
        fig.savefig(out / f"mem_{stem}_section.png", dpi=90)
        plt.close(fig)
        prof.save(out / f"mem_{stem}_profiles.json")
        fig = prof.plot()
        fig.savefig(out / f"mem_{stem}_profiles.png", dpi=90)
        plt.close(fig)
        atomic_write_text(out / f"mem_{stem}_summary.json", json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0 if res.converged else 3
