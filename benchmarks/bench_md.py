
"""Benchmark: MD throughput vs bare force calls (overhead %), with and without the heat current.

Run: ``python benchmarks/bench_md.py [--repeat 2 2 4] [--steps 200]``. Same process, same cell:
(1) N bare MTP force calls, (2) N MD steps (NVE) without heat current, (3) N MD steps saving the
heat current every step. Prints atom-steps/s and the overhead of (2) and (3) over (1).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, nargs=3, default=(2, 2, 4))
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()

    from incipient.data import cscu2i3_mtp
    from incipient.data.cscu2i3 import cscu2i3_supercell
    from incipient.md import run_md
    from incipient.potentials import MTP

    atoms = cscu2i3_supercell(tuple(args.repeat))
    n = len(atoms)
    calc = MTP(cscu2i3_mtp())
    rng = np.random.default_rng(0)
    pos0 = atoms.positions.copy()
    calc.evaluate(pos0, atoms.cell.array, atoms.pbc, atoms.numbers)  # compile
    t = time.perf_counter()
    for _ in range(args.steps):
        pos = pos0 + rng.normal(0, 0.01, pos0.shape)
        calc.evaluate(pos, atoms.cell.array, atoms.pbc, atoms.numbers, virials=True)
    bare = time.perf_counter() - t
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, hc in (("MD (NVE, frames every 10 steps)", 0), ("MD + heat current every step", 1)):
            res = run_md(atoms, MTP(cscu2i3_mtp()), Path(tmp) / f"b{hc}.h5md", temperature_K=300, timestep_fs=2.0, steps_nvt=0,
                         steps_nve=args.steps, save_every=10, heat_current_every=hc, progress=False, resume=False)
            out[label] = res.wall_s
    print(f"CsCu2I3 {tuple(args.repeat)} supercell, {n} atoms, {args.steps} steps")
    print(f"  bare force calls (energy, forces, virials): {n * args.steps / bare:10.0f} atom-steps/s")
    for label, wall in out.items():
        print(f"  {label:38s} {n * args.steps / wall:10.0f} atom-steps/s   overhead {100 * (wall / bare - 1):5.1f} %")


if __name__ == "__main__":
    main()
