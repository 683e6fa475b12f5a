"""Benchmark: incipient.spectra.sqw against dynasor's compute_dynamic_structure_factors.

Same trajectory file, same Q points (the paper's three paths, all Q commensurate with the
supercell), same window_size/window_step, in one run. Prints both times, the ratio and the
largest relative difference of S(Q,w) (partials and total, no weighting, no taper).

Synthetic data: a CsCu2I3-sized orthorhombic cell (a, b, c = 10.0, 12.9, 6.05 A, 4 Cs + 8 Cu +
12 I at random sites) repeated 3 x 3 x 5 like the paper's MD cell, atoms vibrating as random
walks around their sites. Runs window_step = 1 (every frame a time origin) and window_step = window_size.
Usage: python benchmarks/bench_sqw.py [n_frames] [window_size]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_trajectory(path: Path, n_frames: int, rng) -> tuple[np.ndarray, np.ndarray]:
    from ase import Atoms
    from ase.io import Trajectory as AseTraj

    ref = np.diag([10.0, 12.9, 6.05])
    rep = np.array([3, 3, 5])
    frac = rng.uniform(0, 1, (24, 3))
    numbers = np.array([55] * 4 + [29] * 8 + [53] * 12)
    shifts = np.array([[i, j, k] for i in range(rep[0]) for j in range(rep[1]) for k in range(rep[2])])
    sites = ((frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)) @ ref
    nums = np.tile(numbers, len(shifts))
    cell = ref * rep[:, None]
    disp = np.zeros_like(sites)
    with AseTraj(str(path), "w") as tw:
        for _ in range(n_frames):
            disp = 0.9 * disp + 0.03 * rng.normal(size=disp.shape)
            tw.write(Atoms(numbers=nums, positions=sites + disp, cell=cell, pbc=True))
    return ref, cell


def main(n_frames: int = 1000, window_size: int = 200) -> None:
    for window_step in (1, window_size):
        run(n_frames, window_size, window_step)


def run(n_frames: int, window_size: int, window_step: int) -> None:
    import dynasor

    from incipient.md.trajectory import read_trajectory
    from incipient.spectra import commensurate_path, sqw
    from incipient.system import load_system

    logging.getLogger("dynasor").setLevel(logging.WARNING)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.traj"
        ref, cell = make_trajectory(path, n_frames, rng)
        q = np.vstack([commensurate_path(a, b, ref, cell) for a, b in load_system("CsCu2I3").sqw_paths.values()])
        n_atoms = len(read_trajectory(path, timestep_fs=2.0).numbers)
        print(f"trajectory: {n_atoms} atoms x {n_frames} frames; {len(q)} Q points; "
              f"window_size {window_size}, window_step {window_step}")
        # warm-up (numba compilation of both codes) on a short slice, not timed
        short = read_trajectory(path, timestep_fs=2.0).slice(0, 20)
        sqw(short, q, reference_cell=ref, window_size=5, weighting="none")

        t0 = time.perf_counter()
        traj = read_trajectory(path, timestep_fs=2.0)
        t_read = time.perf_counter() - t0
        t1 = time.perf_counter()
        ours = sqw(traj, q, reference_cell=ref, window_size=window_size, window_step=window_step,
                   weighting="none")
        t_ours = time.perf_counter() - t1

        idx = {s: list(np.flatnonzero(traj.numbers == z)) for s, z in (("Cs", 55), ("Cu", 29), ("I", 53))}
        dtraj = dynasor.Trajectory(str(path), trajectory_format="ase", atomic_indices=idx,
                                   frame_stop=20)
        dynasor.compute_dynamic_structure_factors(dtraj, ours.q_cart_invA, dt=2.0, window_size=5)
        t2 = time.perf_counter()
        dtraj = dynasor.Trajectory(str(path), trajectory_format="ase", atomic_indices=idx)
        ref_s = dynasor.compute_dynamic_structure_factors(dtraj, ours.q_cart_invA, dt=2.0,
                                                          window_size=window_size,
                                                          window_step=window_step)
        t_dyn = time.perf_counter() - t2

    worst = 0.0
    for key, val in ours.partials_sqw.items():
        a, b = key.split("-")
        theirs = getattr(ref_s, f"Sqw_coh_{a}_{b}", None)
        theirs = getattr(ref_s, f"Sqw_coh_{b}_{a}") if theirs is None else theirs
        worst = max(worst, float(np.abs(val - theirs).max() / np.abs(theirs).max()))
    worst = max(worst, float(np.abs(ours.sqw - ref_s.Sqw_coh).max() / np.abs(ref_s.Sqw_coh).max()))
    print(f"incipient sqw : {t_ours:8.2f} s (+ {t_read:.2f} s reading the file with ASE)")
    print(f"dynasor       : {t_dyn:8.2f} s (reads the file itself while computing)")
    print(f"speed-up      : {t_dyn / t_ours:8.1f} x  (including our file read: {t_dyn / (t_ours + t_read):.1f} x)")
    print(f"max relative difference of S(Q,w) (partials and total): {worst:.2e}")


if __name__ == "__main__":
    args = [int(x) for x in sys.argv[1:]]
    main(*args)
