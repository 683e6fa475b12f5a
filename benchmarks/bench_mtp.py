"""Benchmark: MTP energy+forces, incipient vs motep (cext), measured in the same run, interleaved.

Run: ``python benchmarks/bench_mtp.py [--repeat 3 4 5] [--calls 5] [--levels 6 16 22 28]
[--sizes 1 12 192 1440] [--no-levels] [--no-batch]`` (a few minutes on 2 cores).

1. CsCu2I3 (the paper's level-22 potential), rattled 1440-atom supercell: microseconds per atom
   per call (neighbour list included) for incipient's C kernel (1 thread and all threads), its
   numba kernel (1 thread) and motep's fastest engine (cext, 1 thread), the per-core ratio, and
   their agreement.
2. Per-core ratio motep / incipient (1 thread) at MLIP-2 levels 6, 16, 22, 28 (untrained templates
   with random coefficients, 3 species; speed does not depend on the values) on cells of 1 atom
   (Cu in a 2.6 A cube), 12 (CsCu2I3 primitive), 192 (2x2x2 conventional) and 1440 atoms, with
   the energy/force differences to motep. incipient is timed through ``MTP.evaluate``, motep
   through its ASE calculator after a 1e-9 A displacement (its neighbour list is reused within
   its 0.3 A skin, as in MD); the ASE column times incipient through ``atoms.get_forces()`` too.
3. Batch: many 1-atom and 12-atom cells in one ``MTP.evaluate_batch`` call against motep
   evaluating them one call per cell (and incipient one call per cell).

Every timing is the best of several interleaved rounds (incipient, motep, incipient, ...), so a
machine load shared by both shows in the times but less in the ratios; ``uptime`` is printed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from incipient.potentials.training.templates import random_mtp  # noqa: E402


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def _cells(sizes):
    from ase import Atoms

    from incipient.data.cscu2i3 import cscu2i3_conventional, cscu2i3_primitive

    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        if n == 1:
            a = Atoms("Cu", positions=[[0, 0, 0]], cell=np.eye(3) * 2.6, pbc=True)
        elif n == 12:
            a = cscu2i3_primitive()
        elif n % 24 == 0:
            k = n // 24
            reps = {24: (1, 1, 1), 48: (1, 1, 2), 96: (1, 2, 2), 192: (2, 2, 2), 384: (2, 2, 4), 1440: (3, 4, 5)}
            a = cscu2i3_conventional().repeat(reps.get(n, (1, 1, k)))
        else:
            raise SystemExit(f"--sizes: use 1, 12 or a multiple of 24 atoms, not {n}")
        if n > 1:
            a.positions += rng.normal(0, 0.05, a.positions.shape)
        out[n] = a
    return out


def _motep(path: Path, species_z):
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp

    data = read_mtp(str(path))
    data.species = list(species_z)
    return MotepMTP(data, engine="cext")


def _interleaved(funcs, rounds: int, min_s: float = 0.02):
    """Best seconds per call of each function, interleaved over ``rounds``; each sample repeats a
    call until it lasts ``min_s``."""
    reps = []
    for f in funcs:
        t = time.perf_counter()
        f()
        dt = time.perf_counter() - t
        reps.append(max(1, int(min_s / max(dt, 1e-7))))
    best = [np.inf] * len(funcs)
    for _ in range(rounds):
        for k, f in enumerate(funcs):
            t = time.perf_counter()
            for _ in range(reps[k]):
                f()
            best[k] = min(best[k], (time.perf_counter() - t) / reps[k])
    return best


def flop_count(tables, neighbours: float) -> dict:
    """Floating-point operations (an FMA = 2) per pair and per atom of the C kernel's algorithm."""
    nsp, _, nf, nb = tables.radial_coeffs.shape
    used = np.diff(tables.mb_ptr) > 0
    n_deriv = int((tables.mono_pow[used] > 0).sum())
    n_times, n_scalar = len(tables.times_mult), len(tables.mapping)
    cheb = (nb - 2) * (3 + 5)
    radial = 4 * nf * nb + 4 * nf
    fwd = (tables.n_mono - 1) + 2 * tables.n_basic
    bwd = (tables.n_mono - 1) + 4 * tables.n_basic + 2 * int(used.sum()) + 3 * n_deriv + 30
    pair = cheb + radial + fwd + bwd + 12
    pair_exec = pair + (nsp - 1) * radial
    products = 3 * n_times + 6 * n_times + 2 * n_scalar
    return {"pair": pair, "pair_executed": pair_exec, "products": products,
            "atom": neighbours * pair + products, "atom_executed": 1.03 * neighbours * pair_exec + products}


def _clock_ghz() -> float:
    """Rough core clock: a chain of dependent integer additions in numba (1 cycle each)."""
    from numba import njit

    @njit(cache=False)
    def chain(n, x):
        for _ in range(n):
            x = (x + 1) ^ (x >> 60)  # dependent, not folded: 2 cycles per iteration
        return x

    chain(10, 1)
    best = np.inf
    for _ in range(7):
        t = time.perf_counter()
        chain(20_000_000, 1)
        best = min(best, time.perf_counter() - t)
    return 2 * 20_000_000 / best / 1e9


def cscu2i3_section(args) -> None:
    import numba

    from incipient.data import cscu2i3_mtp
    from incipient.data.cscu2i3 import cscu2i3_conventional
    from incipient.potentials import MTP

    a = cscu2i3_conventional().repeat(tuple(args.repeat))
    rng = np.random.default_rng(0)
    a.positions += rng.normal(0, 0.05, a.positions.shape)
    n = len(a)

    calc = MTP(cscu2i3_mtp(), backend="c")
    calc_nb = MTP(cscu2i3_mtp(), backend="numba")

    def time_incipient(threads: int, calc=calc) -> tuple[float, dict]:
        numba.set_num_threads(threads)
        out = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers, virials=False)  # warm-up/compile
        ts = []
        for _ in range(args.calls):
            t = time.perf_counter()
            out = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers, virials=False)
            ts.append(time.perf_counter() - t)
        return min(ts), out

    t1, out = time_incipient(1)
    nmax = numba.config.NUMBA_NUM_THREADS
    tn, _ = time_incipient(nmax)
    tnb, out_nb = time_incipient(1, calc_nb)
    numba.set_num_threads(1)

    b = a.copy()
    b.calc = _motep(cscu2i3_mtp(), [55, 29, 53])
    b.get_forces()
    ts = []
    for k in range(max(2, args.calls // 2)):
        b.positions[0, 0] += 1e-7 * (k + 1)  # force a recomputation
        t = time.perf_counter()
        f_ref = b.get_forces()
        ts.append(time.perf_counter() - t)
        # incipient again between motep's calls (interleaved: the same machine load for both)
        t = time.perf_counter()
        calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers, virials=False)
        t1 = min(t1, time.perf_counter() - t)
    tm = min(ts)
    b.positions[0, 0] = a.positions[0, 0]
    e_ref, f_ref = b.get_potential_energy(), b.get_forces()

    print(f"CsCu2I3 {tuple(args.repeat)} supercell, {n} atoms, rattled 0.05 A; energy+forces per call (best of {args.calls})")
    print(f"  incipient (C, 1 thread):         {t1 * 1e6 / n:8.1f} us/atom   {t1 * 1e3:8.1f} ms/call")
    print(f"  incipient (C, {nmax} threads):        {tn * 1e6 / n:8.1f} us/atom   {tn * 1e3:8.1f} ms/call")
    print(f"  incipient (numba, 1 thread):     {tnb * 1e6 / n:8.1f} us/atom   {tnb * 1e3:8.1f} ms/call")
    print(f"  motep (cext engine, 1 thread):   {tm * 1e6 / n:8.1f} us/atom   {tm * 1e3:8.1f} ms/call")
    print(f"  speed-up per core (motep / incipient 1 thread): {tm / t1:.1f}x")
    print(f"  speed-up per core of the numba fallback: {tm / tnb:.1f}x")
    print(f"  numba vs C: max|dF| = {np.abs(out['forces'] - out_nb['forces']).max():.1e} eV/A")
    print(f"  agreement: |dE|/atom = {abs(out['energy'] - e_ref) / n:.1e} eV, max|dF| = {np.abs(out['forces'] - f_ref).max():.1e} eV/A")
    from incipient.potentials.neighbors import neighbor_list

    off, _, _ = neighbor_list(a.positions, a.cell.array, a.pbc, calc.model.cutoff_A)
    nn = float(np.diff(off).mean())
    fl = flop_count(calc.tables, nn)
    ghz = _clock_ghz()
    peak = ghz * 16  # Zen 4 / AVX-512 or AVX2 with 2 FMA pipes of 4 doubles: 16 flops/cycle
    print(f"  work: {fl['pair']} flops per pair (executed {fl['pair_executed']}: all species rows of the radial basis), "
          f"{fl['products']} per atom in products; {fl['atom'] / 1e3:.0f} kflop/atom useful, "
          f"{fl['atom_executed'] / 1e3:.0f} executed ({nn:.1f} neighbours)")
    print(f"  rate: {fl['atom_executed'] / t1 * n / 1e9:.1f} GFLOP/s per call (1 thread) against a peak of ~{peak:.0f} GFLOP/s "
          f"(clock ~{ghz:.2f} GHz x 16 flops/cycle, assuming 2 FMA pipes of 4 doubles); motep "
          f"{fl['atom_executed'] / tm * n / 1e9:.2f} GFLOP/s")


def levels_section(args, tmp: Path) -> None:
    import numba

    from incipient.potentials import MTP

    numba.set_num_threads(1)
    cells = _cells(args.sizes)
    species, zs = ("Cs", "Cu", "I"), (55, 29, 53)
    print()
    print(f"Per-core ratio motep (cext) / incipient (C), 1 thread, energy+forces+virials per call, best of "
          f"{args.rounds} interleaved rounds ({_load()})")
    print(f"  {'level':>5} {'atoms':>6} {'incipient us':>13} {'(ASE path)':>11} {'motep us':>11} {'ratio':>7} "
          f"{'ratio ASE':>9}  {'|dE|/atom':>9} {'max|dF|':>8}")
    for level in args.levels:
        path = random_mtp(level, species, tmp / f"L{level}.mtp")
        calc = MTP(path, species=species)
        for n in args.sizes:
            a = cells[n]
            mine = a.copy()
            mine.calc = MTP(path, species=species)
            ref = a.copy()
            ref.calc = _motep(path, zs)
            ref.get_forces()
            mine.get_forces()
            k = [0]

            def f_eval(a=a, calc=calc):
                calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers, virials=True)

            def f_ase(mine=mine, k=k):
                k[0] += 1
                mine.positions[0, 0] += 1e-9 * (-1) ** k[0]
                mine.get_forces()

            def f_motep(ref=ref, k=k):
                k[0] += 1
                ref.positions[0, 0] += 1e-9 * (-1) ** k[0]
                ref.get_forces()

            rounds = args.rounds if n < 1000 or level < 26 else max(2, args.rounds // 2)
            t_eval, t_ase, t_motep = _interleaved([f_eval, f_ase, f_motep], rounds, min_s=0.03 if n < 1000 else 0.0)
            ref.positions[:] = a.positions
            ref.calc.results = {}
            out = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers)
            de = abs(out["energy"] - ref.get_potential_energy()) / n
            df = np.abs(out["forces"] - ref.get_forces()).max()
            print(f"  {level:>5} {n:>6} {t_eval * 1e6:>13.1f} {t_ase * 1e6:>11.1f} {t_motep * 1e6:>11.1f} "
                  f"{t_motep / t_eval:>6.1f}x {t_motep / t_ase:>8.1f}x  {de:>9.1e} {df:>8.1e}", flush=True)


def batch_section(args, tmp: Path) -> None:
    import numba
    from ase import Atoms

    from incipient.data import cscu2i3_mtp
    from incipient.data.cscu2i3 import cscu2i3_primitive
    from incipient.potentials import MTP

    numba.set_num_threads(1)
    rng = np.random.default_rng(1)
    sets = {
        "1-atom": [Atoms("Cu", positions=[[0, 0, 0]], cell=np.eye(3) * 2.6 + 0.05 * rng.normal(size=(3, 3)), pbc=True)
                   for _ in range(args.batch)],
    }
    prim = cscu2i3_primitive()
    twelve = []
    for _ in range(max(1, args.batch // 4)):
        a = prim.copy()
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        twelve.append(a)
    sets["12-atom"] = twelve
    pots = [("22 (CsCu2I3)", cscu2i3_mtp())] + [(str(lv), random_mtp(lv, ("Cs", "Cu", "I"), tmp / f"L{lv}.mtp"))
                                                 for lv in args.batch_levels]
    print()
    print(f"Batch: many small cells in one MTP.evaluate_batch call against one call per cell, 1 thread, best of "
          f"{args.rounds} interleaved rounds ({_load()})")
    print(f"  {'level':>12} {'cells':>12} {'batch us/cell':>14} {'1-by-1 us/cell':>15} {'motep us/cell':>14} "
          f"{'ratio batch':>11} {'ratio 1-by-1':>12} {'max|dE|/atom':>12}")
    for name, path in pots:
        calc = MTP(path, species=("Cs", "Cu", "I"))
        for label, structures in sets.items():
            mcalc = _motep(path, [55, 29, 53])
            copies = [s.copy() for s in structures]

            def f_batch(structures=structures, calc=calc):
                calc.evaluate_batch(structures, virials=True)

            def f_single(structures=structures, calc=calc):
                for s in structures:
                    calc.evaluate(s.positions, s.cell.array, s.pbc, s.numbers)

            def f_motep(copies=copies, mcalc=mcalc):
                for s in copies:
                    mcalc.results = {}
                    s.calc = mcalc
                    s.get_forces()

            tb, ts, tm = _interleaved([f_batch, f_single, f_motep], args.rounds, min_s=0.0)
            res = calc.evaluate_batch(structures)
            de = 0.0
            for s, r in zip(copies[:20], res[:20], strict=False):
                mcalc.results = {}
                s.calc = mcalc
                de = max(de, abs(r["energy"] - s.get_potential_energy()) / len(s))
            k = len(structures)
            print(f"  {name:>12} {k:>5} x {label:<6} {tb * 1e6 / k:>14.1f} {ts * 1e6 / k:>15.1f} {tm * 1e6 / k:>14.1f} "
                  f"{tm / tb:>10.1f}x {tm / ts:>11.1f}x {de:>12.1e}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, nargs=3, default=(3, 4, 5))
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--levels", type=int, nargs="+", default=(6, 16, 22, 28))
    p.add_argument("--sizes", type=int, nargs="+", default=(1, 12, 192, 1440))
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the level and batch tables")
    p.add_argument("--batch", type=int, default=200, help="number of 1-atom cells in the batch table (12-atom: a quarter)")
    p.add_argument("--batch-levels", type=int, nargs="*", default=(6, 16, 28))
    p.add_argument("--no-levels", action="store_true")
    p.add_argument("--no-batch", action="store_true")
    args = p.parse_args()

    print(_load())
    cscu2i3_section(args)
    with tempfile.TemporaryDirectory() as d:
        if not args.no_levels:
            levels_section(args, Path(d))
        if not args.no_batch:
            batch_section(args, Path(d))
    print(_load())


if __name__ == "__main__":
    main()
