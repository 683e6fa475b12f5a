"""Benchmark: MEM of the 500 K CsCu2I3 CIF on the 0.05 A grid (paper section 2.1).

No reference MEM program (Dysnomia, BayMEM) can be installed here, so the reference timing is
the same solver run directly on the fine grid without the coarse-to-fine warm start; the
ratio shows what the grid-independent coefficient parametrisation buys. Run as
``python benchmarks/bench_mem.py [--skip-reference]``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from incipient.experiment.cif import read_cif_model, read_reflections
from incipient.experiment.mem import grid_shape_for, mem_from_cif, prepare_mem_data, solve_mem

CIF = Path(__file__).resolve().parents[1] / "src" / "incipient" / "data" / "CsCu2I3" / "cif" / "500K.cif"


def main() -> None:
    print(f"cores: {os.cpu_count()}  CIF: {CIF.name}")
    t = time.perf_counter()
    res = mem_from_cif(CIF, grid_A=0.05)
    t_inc = time.perf_counter() - t
    print(f"incipient mem_from_cif  grid {res.grid_shape}: {t_inc:7.1f} s, {res.n_iter} L-BFGS iterations, "
          f"{res.n_eval} evaluations, C = {res.constraint:.4f}, R = {res.R:.4f}, wR = {res.wR:.4f}")
    if "--skip-reference" in sys.argv:
        return
    model = read_cif_model(CIF)
    data = prepare_mem_data(model, read_reflections(CIF))
    t = time.perf_counter()
    ref = solve_mem(data, grid_shape_for(data.lattice, 0.05), max_eval=600)
    t_ref = time.perf_counter() - t
    print(f"reference fine grid only grid {ref.grid_shape}: {t_ref:7.1f} s, {ref.n_iter} L-BFGS iterations, "
          f"{ref.n_eval} evaluations, C = {ref.constraint:.4f}, R = {ref.R:.4f}")
    print(f"ratio reference / incipient: {t_ref / t_inc:.1f}")


if __name__ == "__main__":
    main()
