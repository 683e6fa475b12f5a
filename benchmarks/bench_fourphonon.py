"""Benchmark: four-phonon rates for CsCu2I3 (paper fc4, 1692 quartets) on 2 cores.

Prints, per mesh, the wall time per sampled q-pair (float64 and, with ``--single-precision``,
complex64 contractions), the extrapolated time for all irreducible q-points at the chosen sample
size, the peak memory, and the exact-vs-sampled speed ratio on one q-point of a 3x3x3 mesh (the
exact sum is the reference: no other 4ph Wigner code is installed). Harmonic phonons from a 0 K
fc2 (MTP via motep, or ``--fc2 file.hdf5``); modes with w^2 < 0 are dropped from scattering.
Threads: NUMBA_NUM_THREADS / OPENBLAS_NUM_THREADS from the environment (default 2).

    python benchmarks/bench_fourphonon.py [--fc2 FILE] [--meshes 3 4 6 8] [--samples 100]

The whole 3ph + 4ph Wigner calculation is ``incipient kappa wigner34`` (see docs/fourphonon.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from importlib import resources  # noqa: E402

import numpy as np

from incipient.lattice.phonons import set_displacement_forces  # noqa: E402


def _fc2_from_mtp(prim, scell):
    from motep.calculator import MTP
    from motep.io.mlip.mtp import read_mtp

    from incipient.lattice.phonons import make_phonopy

    data = resources.files("incipient.data") / "CsCu2I3"
    d = read_mtp(str(data / "cscuI.mtp"))
    d.species = [55, 29, 53]
    calc = MTP(d, engine="cext")
    ph = make_phonopy(prim, scell, symprec=1e-3)
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, calc)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph.force_constants


def main() -> int:
    from incipient.lattice.phonons import make_phonopy
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.lattice.shengbte import read_shengbte_fc4
    from incipient.lattice.shengbte_control import read_shengbte_control
    from incipient.transport.fourphonon import four_phonon_rates, mesh_phonons

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--fc2", default=None, help="phonopy fc2 hdf5 for the CONTROL0 3x3x3 supercell")
    p.add_argument("--meshes", type=int, nargs="+", default=[4, 6, 8])
    p.add_argument("--samples", type=int, default=100, help="q-pairs per q-point for the estimate")
    p.add_argument("--pairs-timed", type=int, default=6, help="q-pairs actually timed per mesh")
    p.add_argument("--no-exact", action="store_true", help="skip the exact-vs-sampled comparison")
    p.add_argument("--single-precision", action="store_true", help="also time the complex64 contractions")
    args = p.parse_args()

    data = resources.files("incipient.data") / "CsCu2I3"
    prim, settings = read_shengbte_control(str(data / "CONTROL0"))
    fc4 = read_shengbte_fc4(str(data / "FORCE_CONSTANTS_4TH"))
    t0 = time.perf_counter()
    fc2 = read_fc2(args.fc2) if args.fc2 else _fc2_from_mtp(prim, settings["scell"])
    ph = make_phonopy(prim, settings["scell"], fc2, symprec=1e-3)
    print(f"fc2 ready ({time.perf_counter() - t0:.1f} s); fc4: {fc4.n_blocks} quartets; "
          f"threads: numba {os.environ['NUMBA_NUM_THREADS']}, BLAS {os.environ['OPENBLAS_NUM_THREADS']}")
    # warm-up (numba compile / cache load)
    mp = mesh_phonons(ph, (2, 2, 2), imaginary="drop", symprec=1e-3)
    four_phonon_rates(mp, fc4, [300.0], n_samples=1, rng=0, q_indices=[0])

    if args.single_precision:
        four_phonon_rates(mp, fc4, [300.0], n_samples=1, rng=0, q_indices=[0], single_precision=True)
    print(f"{'mesh':>6} {'N_ir':>5} {'s/pair':>8} {'s/pair c64':>10} {'est. total (s)':>15} {'peak RSS (MB)':>14} "
          f"{'med. rel. err':>13}")
    T4 = [300.0, 400.0, 500.0, 600.0]
    for m in args.meshes:
        mp = mesh_phonons(ph, (m, m, m), imaginary="drop", symprec=1e-3)
        n_ir = len(mp.grid.ir_index)
        t = time.perf_counter()
        r = four_phonon_rates(mp, fc4, T4, n_samples=args.pairs_timed, rng=1, q_indices=[min(1, n_ir - 1)])
        per_pair = (time.perf_counter() - t) / args.pairs_timed
        per_pair_sp = float("nan")
        if args.single_precision:
            t = time.perf_counter()
            four_phonon_rates(mp, fc4, T4, n_samples=args.pairs_timed, rng=1, q_indices=[min(1, n_ir - 1)],
                              single_precision=True)
            per_pair_sp = (time.perf_counter() - t) / args.pairs_timed
        rel = r.rates_stderr_per_ps[0][r.rates_per_ps[0] > 0] / r.rates_per_ps[0][r.rates_per_ps[0] > 0]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{m:>4}^3 {n_ir:>5} {per_pair:>8.3f} {per_pair_sp:>10.3f} {per_pair * args.samples * n_ir:>15.0f} "
              f"{rss:>14.0f} {np.median(rel) * np.sqrt(args.pairs_timed / args.samples):>13.3f}", flush=True)
    print("(s/pair: all 36 scattered bands at 4 temperatures; est. total = s/pair x samples x N_ir; "
          "med. rel. err at 300 K scaled to --samples)")

    if not args.no_exact:
        mp = mesh_phonons(ph, (3, 3, 3), imaginary="drop", symprec=1e-3)
        t = time.perf_counter()
        ex = four_phonon_rates(mp, fc4, [300.0], q_indices=[1])
        t_ex = time.perf_counter() - t
        t = time.perf_counter()
        sa = four_phonon_rates(mp, fc4, [300.0], q_indices=[1], n_samples=100, rng=2)
        t_sa = time.perf_counter() - t
        ok = (ex.rates_per_ps > 0) & (sa.rates_stderr_per_ps > 0)
        z = (sa.rates_per_ps - ex.rates_per_ps)[ok] / sa.rates_stderr_per_ps[ok]
        print(f"3x3x3, one q-point: exact {ex.n_pairs_sampled} slot triples {t_ex:.1f} s; sampled 100 of "
              f"{sa.n_pairs_total} q-pairs {t_sa:.1f} s; speed ratio {t_ex / t_sa:.1f}; "
              f"rms z = {np.sqrt(np.mean(z**2)):.2f}, max |z| = {np.abs(z).max():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
