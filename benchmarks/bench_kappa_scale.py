"""Benchmark: 3+4ph Wigner kappa cost per q-mesh, phono3py's exact 3ph + 4ph vs the fast paths (issue 17).

CsCu2I3 (published fc3/fc4, a 3x3x3 fc2 in phonopy order of the system's primitive cell). For
each mesh (default 5^3, 8^3, 13^3) it times, in this one process, on ``--points`` irreducible
q-points spread over phono3py's list:

* phono3py's exact 3ph RTA as wigner34 ran it before (``run_thermal_conductivity`` on those grid
  points, no fc3 sparsity mask),
* the same exact sum with the fc3 sparsity mask (``fc3_nonzero_indices``, now wigner34's default;
  the same rates bit for bit),
* the sampled 3ph rates (``three_phonon_rates``, ``--samples-3ph`` triplets per point) plus the
  isotope rates (``isotope_rates``; the exact path has them inside phono3py's run),
* the 4ph rates (``four_phonon_rates``, ``--samples-4ph`` q-pairs per point, complex64, one batch;
  the stratified sampler's pair-width table, built once per mesh, timed on its own),

and projects each to the whole mesh: the exact sums by time per triplet x all irreducible
triplets of the mesh (their cost is proportional to the triplets), the sampled 3ph and 4ph by
time per point x irreducible points (+ the one width table). Every projected number is marked "(proj.)". Times are wall
seconds with the thread counts of the environment (RAYON_NUM_THREADS for phono3py, NUMBA for 4ph);
the 1-minute load average is printed beside each mesh. ``--measured a.json b.json`` adds whole-mesh
``Wigner34Result`` runs (``incipient kappa wigner34 --output``) with their measured stage times.

    RAYON_NUM_THREADS=2 NUMBA_NUM_THREADS=2 python benchmarks/bench_kappa_scale.py \\
        [--fc2 fc2.hdf5] [--meshes 5 8 13] [--points 3] [--samples-3ph 32] [--samples-4ph 40]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

DEFAULT_FC2 = "/work/runs/quick4/force_constants/fc2.hdf5"


def _load1() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"


def _ph3(prim, fc2, fc3, mesh, mask):
    from incipient.lattice.fc3_convert import shengbte_fc3_to_phono3py
    from incipient.lattice.phonons import make_phono3py
    from incipient.transport.threephonon import fc3_sparsity_mask

    ph3 = make_phono3py(prim, (3, 3, 3), symprec=1e-3, fc2=fc2)
    ph3.fc3 = shengbte_fc3_to_phono3py(fc3, ph3).fc3
    if mask:
        ph3.fc3_nonzero_indices = fc3_sparsity_mask(ph3.fc3)
    ph3.mesh_numbers = [mesh] * 3
    ph3.init_phph_interaction()
    return ph3


def _triplet_counts(ph3, gps) -> np.ndarray:
    """Irreducible triplets of each grid point (phono3py's ``get_triplets_at_q``)."""
    pp = ph3.phph_interaction
    n = []
    for g in gps:
        pp.set_grid_point(int(g))
        n.append(len(pp.get_triplets_at_q()[0]))
    return np.array(n)


def main(argv=None) -> int:
    from phonopy.phonon.grid import get_ir_grid_points

    from incipient.lattice.phonons import make_phonopy
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.lattice.shengbte import read_shengbte_fc3, read_shengbte_fc4
    from incipient.system import load_system
    from incipient.transport import fourphonon as F4
    from incipient.transport.fourphonon import four_phonon_rates, mesh_phonons
    from incipient.transport.threephonon import isotope_rates, three_phonon_rates

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fc2", default=DEFAULT_FC2, help=f"3x3x3 fc2 (phonopy order; default {DEFAULT_FC2})")
    ap.add_argument("--system", default="CsCu2I3")
    ap.add_argument("--meshes", type=int, nargs="+", default=[5, 8, 13])
    ap.add_argument("--points", type=int, default=3, help="irreducible q-points timed per mesh")
    ap.add_argument("--samples-3ph", type=int, default=32)
    ap.add_argument("--samples-4ph", type=int, default=100)
    ap.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 450.0, 600.0])
    ap.add_argument("--measured", nargs="*", default=[], help="Wigner34Result JSON files of whole-mesh runs")
    a = ap.parse_args(argv)
    if not os.path.exists(a.fc2):
        print(f"bench_kappa_scale: no fc2 at {a.fc2} (pass --fc2): skipped")
        return 0
    s = load_system(a.system)
    prim = s.phonon_primitive()
    fc2 = read_fc2(a.fc2)
    fc3 = read_shengbte_fc3(str(s.published.fc3))
    fc4 = read_shengbte_fc4(str(s.published.fc4))
    T = a.temperatures
    rows = []
    for m in a.meshes:
        ref = _ph3(prim, fc2, fc3, m, mask=False)
        new = _ph3(prim, fc2, fc3, m, mask=True)
        pp = new.phph_interaction
        pp.run_phonon_solver()
        bz = pp.bz_grid
        ir, _, _ = get_ir_grid_points(bz)
        gps = np.asarray(bz.grg2bzg)[ir]
        n_ir = len(gps)
        ntr = _triplet_counts(new, gps)
        pick = np.unique(np.linspace(0, n_ir - 1, min(a.points, n_ir)).round().astype(int))
        sel = gps[pick]
        load = _load1()
        t0 = time.perf_counter()
        ref.run_thermal_conductivity(temperatures=T, transport_type="SMM19", grid_points=sel, is_isotope=True)
        t_ref = (time.perf_counter() - t0) / ntr[pick].sum()  # per triplet
        t0 = time.perf_counter()
        new.run_thermal_conductivity(temperatures=T, transport_type="SMM19", grid_points=sel, is_isotope=True)
        t_mask = (time.perf_counter() - t0) / ntr[pick].sum()
        g_ref, g_new = (np.asarray(p.thermal_conductivity.gamma[0]) for p in (ref, new))
        same = float(np.abs(g_ref - g_new).max() / np.abs(g_ref).max())
        t0 = time.perf_counter()
        three_phonon_rates(new, T, n_samples=a.samples_3ph, grid_points=sel, rng=0)
        isotope_rates(new, sel)
        t_s3 = (time.perf_counter() - t0) / len(sel)
        ph = make_phonopy(prim, (3, 3, 3), fc2, symprec=1e-3)
        mp = mesh_phonons(ph, [m] * 3, imaginary="drop", symprec=1e-3)
        qi = np.unique(np.linspace(0, len(mp.grid.ir_index) - 1, len(sel)).round().astype(int))
        four_phonon_rates(mp, fc4, T, n_samples=4, rng=0, q_indices=qi[:1], single_precision=True)  # compile
        F4._WIDTH_TABLE_CACHE.clear()
        t0 = time.perf_counter()
        four_phonon_rates(mp, fc4, T, n_samples=a.samples_4ph, rng=0, q_indices=qi[:1], single_precision=True)
        t_first = time.perf_counter() - t0  # one point + the width table
        t0 = time.perf_counter()
        four_phonon_rates(mp, fc4, T, n_samples=a.samples_4ph, rng=0, q_indices=qi, single_precision=True)
        t_4 = (time.perf_counter() - t0) / len(qi)  # table cached: per point
        t_table = max(t_first - t_4, 0.0)
        rows.append((m, n_ir, int(ntr.sum()), t_ref * ntr.sum(), t_mask * ntr.sum(), t_s3 * n_ir,
                     t_table + t_4 * n_ir, load, same))
        print(f"mesh {m}^3: timed on {len(sel)} of {n_ir} points ({ntr[pick].sum()} of {ntr.sum()} triplets), "
              f"load {load}; mask vs none: max |dGamma|/max Gamma = {same:.1e}; per point: sampled 3ph + isotope "
              f"{t_s3:.2f} s, 4ph {t_4:.2f} s (+ {t_table:.1f} s width table once)", flush=True)
    print(f"\nwhole-mesh wall times (s), projected from the timed points; {len(T)} temperatures; "
          f"3ph sampled: {a.samples_3ph} triplets/point; 4ph: {a.samples_4ph} q-pairs/point (one batch, complex64)")
    print(f"{'mesh':>6} {'n_ir':>5} {'triplets':>9} {'3ph p3py':>10} {'3ph +mask':>10} {'3ph smp':>9} {'4ph':>9} "
          f"{'old 3+4ph':>10} {'mask 3+4ph':>11} {'fast 3+4ph':>11} {'mask x':>7} {'fast x':>7} {'load':>5}")
    for m, n_ir, ntr, tr, tm, ts, t4, load, _ in rows:
        old, msk, fast = tr + t4, tm + t4, ts + t4
        print(f"{m:>4}^3 {n_ir:>5} {ntr:>9} {tr:>10.0f} {tm:>10.0f} {ts:>9.0f} {t4:>9.0f} {old:>10.0f} {msk:>11.0f} "
              f"{fast:>11.0f} {old / msk:>7.1f} {old / fast:>7.1f} {load:>5} (proj.)")
    for path in a.measured:
        from incipient.transport.wigner34 import Wigner34Result

        r = Wigner34Result.load(path)
        st = r.info["stages_s"]
        print(f"measured {path}: mesh {list(r.mesh)}, 3ph {'sampled ' + str(r.n_samples_3ph) if r.n_samples_3ph else 'exact'}"
              f"{' (mask)' if r.info.get('fc3_mask') else ''} {st['3ph_setup_s'] + st['3ph_rates_s']:.0f} s, "
              f"4ph {r.n_samples} q-pairs {st['4ph_phonons_s'] + st['4ph_rates_s']:.0f} s, total {st['total_s']:.0f} s, "
              f"peak RSS {r.info['peak_rss_MB']:.0f} MB, {r.info.get('n_workers', 1)} worker(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
