"""Benchmark: MTP energy+forces on rattled CsCu2I3 (1440 atoms) - incipient vs motep (cext), same run.

Run: ``python benchmarks/bench_mtp.py [--repeat 3 4 5] [--calls 5]``. Prints microseconds per atom
per call (neighbour list included) for incipient's C kernel (1 thread and all threads), its numba
kernel (1 thread) and motep's fastest engine (cext, 1 thread), the per-core ratio, and checks that
they agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, nargs=3, default=(3, 4, 5))
    p.add_argument("--calls", type=int, default=5)
    args = p.parse_args()

    import numba
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp

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

    data = read_mtp(str(cscu2i3_mtp()))
    data.species = [55, 29, 53]
    b = a.copy()
    b.calc = MotepMTP(data, engine="cext")
    b.get_forces()
    ts = []
    for k in range(max(2, args.calls // 2)):
        b.positions[0, 0] += 1e-7 * (k + 1)  # force a recomputation
        t = time.perf_counter()
        f_ref = b.get_forces()
        ts.append(time.perf_counter() - t)
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


if __name__ == "__main__":
    main()
