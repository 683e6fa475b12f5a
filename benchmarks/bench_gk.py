"""Benchmark: Green-Kubo analysis of 25 ns of 1 fs heat currents (25 segments x 1e6 steps).

Synthetic Ornstein-Uhlenbeck currents (known kappa) for J_conv and J_virial (3 components
each, partly correlated so that kappa_CROSS is nonzero). Times ``incipient.transport.green_kubo``
(running integrals of all terms and tensor elements + cepstral analysis) against a plain
scipy reference in the same run: ``scipy.signal.correlate`` per segment for the 36 ordered
channel pairs, ``scipy.integrate.cumulative_trapezoid``, mean and standard error over segments.
sportran is not installed (not a dependency), so it is not compared.

    python benchmarks/bench_gk.py [--segments 25] [--steps 1000000] [--ref-segments 25]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.signal import correlate, lfilter

from incipient.transport import green_kubo
from incipient.transport.green_kubo import PAIRS, kappa_prefactor_W_mK

DT = 1.0
VOL = 4 * 3 * 5 * 1000.0  # A^3, order of the paper's 4x3x5 supercell
TEMP = 300.0
SOURCES = [(1e-3, 150.0), (1e-3, 300.0), (1e-3, 80.0), (3e-4, 40.0), (3e-4, 60.0), (3e-4, 30.0)]  # (eV A/fs)^2, fs
MV = np.array([[1.0, 0, 0, 0, 0, 0], [0.3, 1.0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0]])
MC = np.array([[0.3, 0, 0, 1, 0, 0], [0, 0.2, 0, 0, 1, 0], [0, 0, -0.2, 0, 0, 1]])


def generate(n_seg, n, rng):
    jc, jv = [], []
    for _ in range(n_seg):
        z = np.empty((n, 6))
        for k, (C0, tau) in enumerate(SOURCES):
            a = np.exp(-DT / tau)
            xi = rng.standard_normal(n) * np.sqrt(C0 * (1 - a * a))
            xi[0] = rng.standard_normal() * np.sqrt(C0)
            z[:, k] = lfilter([1.0], [1.0, -a], xi)
        jv.append((z @ MV.T).astype(np.float32))
        jc.append((z @ MC.T).astype(np.float32))
    return jc, jv


def analytic_total():
    I = np.array([DT * C * (1 + np.exp(-DT / t)) / (2 * (1 - np.exp(-DT / t))) for C, t in SOURCES])
    M = MV + MC
    return kappa_prefactor_W_mK(VOL, TEMP) * (M * I) @ M.T


def reference(jc, jv, L):
    """Plain scipy: running integrals (4 terms, L+1 lags, 6 pairs), mean and stderr."""
    pref = kappa_prefactor_W_mK(VOL, TEMP)
    runs = []
    for c, v in zip(jc, jv, strict=True):
        x = np.concatenate([c, v], axis=1).astype(float)
        n = x.shape[0]
        norm = n - np.arange(L + 1)
        corr = {}
        for p in range(6):
            for q in range(6):  # <x_p(0) x_q(t)>
                corr[p, q] = correlate(x[:, q], x[:, p], mode="full", method="fft")[n - 1:n + L] / norm
        R = np.zeros((4, L + 1, 6))
        for k, (a, b) in enumerate(PAIRS):
            V = 0.5 * (corr[3 + a, 3 + b] + corr[3 + b, 3 + a])
            C = 0.5 * (corr[a, b] + corr[b, a])
            X = 0.5 * (corr[3 + a, b] + corr[b, 3 + a] + corr[a, 3 + b] + corr[3 + b, a])
            for t, y in enumerate((V, C, X, V + C + X)):
                R[t, :, k] = cumulative_trapezoid(y, dx=DT, initial=0.0)
        runs.append(pref * R)
    runs = np.array(runs)
    return runs.mean(axis=0), runs.std(axis=0, ddof=1) / np.sqrt(len(runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=25)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--ref-segments", type=int, default=None,
                    help="segments given to the reference (default: all; fewer = faster)")
    ap.add_argument("--max-lag-fs", type=float, default=20_000.0)
    args = ap.parse_args()
    rng = np.random.default_rng(2025)
    t0 = time.perf_counter()
    jc, jv = generate(args.segments, args.steps, rng)
    print(f"data: {args.segments} segments x {args.steps} steps x 3 components x 2 terms "
          f"(float32, {sum(a.nbytes for a in jc + jv) / 1e9:.2f} GB), generated in "
          f"{time.perf_counter() - t0:.1f} s")

    # wall and CPU (all threads of this process) time: the CPU time is the fairer number on
    # a shared machine
    times, cpus = {}, {}
    for workers in (1, -1):
        t0, c0 = time.perf_counter(), time.process_time()
        r = green_kubo(jc, jv, volume_A3=VOL, temperature_K=TEMP, dt_fs=DT,
                       max_lag_fs=args.max_lag_fs, workers=workers)
        times[workers] = time.perf_counter() - t0
        cpus[workers] = time.process_time() - c0
        print(f"incipient green_kubo (scipy.fft workers={workers}): wall {times[workers]:.2f} s, "
              f"CPU {cpus[workers]:.2f} s")
    true = analytic_total()
    for a in range(3):
        print(f"  kappa_{'xyz'[a] * 2}: true {true[a, a]:.4f}  cutoff {r.kappa_W_mK[3, a, a]:.4f} +- "
              f"{r.kappa_err_W_mK[3, a, a]:.4f} (t_c {r.cutoff_fs[a, a]:.0f} fs)  cepstral "
              f"{r.cepstral_kappa_W_mK[3, a, a]:.4f} +- {r.cepstral_err_W_mK[3, a, a]:.4f} W/m/K")
    print(f"  kappa_xy: true {true[0, 1]:.4f}  cutoff {r.kappa_W_mK[3, 0, 1]:.4f} +- "
          f"{r.kappa_err_W_mK[3, 0, 1]:.4f}  cepstral {r.cepstral_kappa_W_mK[3, 0, 1]:.4f} +- "
          f"{r.cepstral_err_W_mK[3, 0, 1]:.4f}")

    n_ref = args.ref_segments or args.segments
    L = int(round(args.max_lag_fs / DT))
    t0, c0 = time.perf_counter(), time.process_time()
    ref_mean, ref_err = reference(jc[:n_ref], jv[:n_ref], L)
    t_ref = time.perf_counter() - t0
    c_ref = time.process_time() - c0
    print(f"reference scipy.signal.correlate x36 per segment, {n_ref} segments: wall {t_ref:.2f} s, "
          f"CPU {c_ref:.2f} s")
    if n_ref != args.segments:
        t_ref *= args.segments / n_ref
        c_ref *= args.segments / n_ref
        print(f"  (scaled to {args.segments} segments: wall {t_ref:.1f} s, CPU {c_ref:.1f} s)")
        r_cmp = green_kubo(jc[:n_ref], jv[:n_ref], volume_A3=VOL, temperature_K=TEMP, dt_fs=DT,
                           max_lag_fs=args.max_lag_fs, cepstral=False)
    else:
        r_cmp = r
    idx = np.rint(r_cmp.time_fs / DT).astype(int)
    ours = np.stack([r_cmp.running_W_mK[:, :, a, b] for a, b in PAIRS], axis=-1)
    ours_err = np.stack([r_cmp.running_err_W_mK[:, :, a, b] for a, b in PAIRS], axis=-1)
    scale = np.abs(ref_mean).max()
    print(f"  max |incipient - reference| running integral: {np.abs(ours - ref_mean[:, idx]).max() / scale:.1e}"
          f" (relative to max), stderr: {np.abs(ours_err - ref_err[:, idx]).max() / scale:.1e}")
    for workers in times:
        print(f"speed-up vs reference (incipient workers={workers}, incl. cepstral): "
              f"wall {t_ref / times[workers]:.1f}x, CPU {c_ref / cpus[workers]:.1f}x")


if __name__ == "__main__":
    main()
