"""Run every benchmark in this folder (``python benchmarks/run_all.py [name ...]``).

Each ``bench_*.py`` times incipient and the reference tool in the same run and prints the ratio.
Benchmarks take minutes on 2 cores; pass names (e.g. ``mtp msd``) to run a subset.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    wanted = set(sys.argv[1:])
    rc = 0
    for script in sorted(here.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"=== {name} ({script.name}) ===", flush=True)
        rc |= subprocess.call([sys.executable, str(script)])
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
