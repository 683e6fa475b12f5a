"""Time per force call of a learned MTP against the universal potential it was learned from (same process).

    python benchmarks/bench_learned_vs_oracle.py [--mtp FILE] [--species Cs Ag I] [--structure CIF]

Defaults: the CsAg2I3 MTP of ``examples/CsAg2I3/mtp`` (level 12, learned by ``incipient learn``
from CHGNet 0.3.0) and CHGNet itself, both single-threaded, on the 24-atom cell and its 96-atom
2x1x2 supercell (the example study's MD cell). Each call moves the atoms by ~1e-4 A first (so no
calculator returns a cached result); the median over the calls is reported, and the ratio
CHGNet / MTP. Needs the universal extra (``pip install 'incipient[universal]'``); without it the
script says so and exits with status 0 (nothing to compare against).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "CsAg2I3"


def _time_calls(atoms, calc, n: int) -> list[float]:
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.rattle(0.02, seed=0)
    atoms.get_forces()  # warm-up (neighbour lists, JIT, torch graph)
    ts = []
    rng = np.random.default_rng(1)
    for _ in range(n):
        atoms.positions += 1e-4 * rng.standard_normal(atoms.positions.shape)
        t0 = time.perf_counter()
        atoms.get_forces()
        ts.append(time.perf_counter() - t0)
    return ts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mtp", default=str(EXAMPLE / "mtp" / "CsAg2I3_level12.mtp"))
    p.add_argument("--species", nargs="+", default=["Cs", "Ag", "I"])
    p.add_argument("--structure", default=str(EXAMPLE / "CsAg2I3.cif"))
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args(argv)
    try:
        from incipient.potentials.universal import chgnet
    except ImportError as exc:
        print(f"skipped: the oracle needs the universal extra ({exc}); pip install 'incipient[universal]'")
        return 0
    import ase.io

    from incipient.potentials import MTP

    base = ase.io.read(args.structure)
    mtp = MTP(args.mtp, species=tuple(args.species))
    try:
        oracle = chgnet(threads=1)
    except ImportError as exc:
        print(f"skipped: the oracle needs the universal extra ({exc}); pip install 'incipient[universal]'")
        return 0
    load0 = os.getloadavg()[0]
    out = {}
    print(f"{'atoms':>6} {'MTP ms/call':>12} {'CHGNet ms/call':>15} {'ratio':>8}")
    for rep in ((1, 1, 1), (2, 1, 2)):
        a = base.repeat(rep)
        t_m = _time_calls(a, mtp, 400)
        t_o = _time_calls(a, oracle, 20 if len(a) < 50 else 10)
        row = {"mtp_ms_median": 1e3 * float(np.median(t_m)), "oracle_ms_median": 1e3 * float(np.median(t_o)),
               "mtp_ms_min": 1e3 * float(np.min(t_m)), "oracle_ms_min": 1e3 * float(np.min(t_o))}
        row["ratio_median"] = row["oracle_ms_median"] / row["mtp_ms_median"]
        out[str(len(a))] = row
        print(f"{len(a):>6} {row['mtp_ms_median']:>12.3f} {row['oracle_ms_median']:>15.1f} {row['ratio_median']:>7.0f}x")
    out["loadavg_start_end"] = [load0, os.getloadavg()[0]]
    print(f"(single-threaded, medians; load average {load0:.1f} -> {os.getloadavg()[0]:.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
