"""Calibration of the 4ph sampling errors: sampled vs exact rates and Wigner kappa (issue 16, 8a).

For each crystal and mesh: the exact 4ph sum, then ``--seeds`` independent sampled runs per
sampler ("uniform", the old one, and "stratified", the default), each with ``--samples``
q-pairs per irreducible q-point in each of ``--batches`` batches, combined exactly as
``incipient.transport.wigner34`` does (batch-weighted mean, errors in quadrature; kappa error =
jackknife over the batches). Reports per sampler: rms and max of z = (sampled - exact)/stated
error over all modes, q-points and temperatures (and over the lowest-frequency 10 % of modes),
the fraction with |z| > 3, and z of kappa_p and kappa_c (3ph + isotope from phono3py's SMM19
Wigner on the same mesh, plus the 4ph rates; direction average, cubic crystals), and the wall
times. Needs the force constants of ``make_fcs.py``. One command prints the table:

    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 RAYON_NUM_THREADS=1
    python benchmarks/calibration/make_fcs.py
    python benchmarks/calibration/calibrate_fourphonon.py   # default cases, ~10 min on one core

``--case Si:6:500`` (crystal:mesh:samples, repeatable) picks cases; ``--json`` saves the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import load  # noqa: E402

DEFAULT_CASES = ["Si:4:100", "Si:6:500", "Cu3Au:4:120", "Cu3Au:5:300"]  # crystal:mesh:pairs per batch


def three_phonon(prim, sc, fc2, fc3, mesh, T):
    """phono3py SMM19 3ph + isotope linewidths (1/ps), frequencies and velocity operator."""
    from incipient.lattice.fc3_convert import shengbte_fc3_to_phono3py
    from incipient.lattice.phonons import make_phono3py
    from incipient.transport.wigner_assembly import point_group_cartesian, velocity_operator

    ph3 = make_phono3py(prim, sc, symprec=1e-3, fc2=fc2)
    ph3.fc3 = shengbte_fc3_to_phono3py(fc3, ph3).fc3
    ph3.mesh_numbers = [mesh] * 3
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=T, transport_type="SMM19", is_isotope=True)
    tc = ph3.thermal_conductivity
    g = 4 * np.pi * (np.asarray(tc.gamma[0]) + np.asarray(tc.gamma_isotope[0])[None])
    f, v = velocity_operator(ph3, tc.qpoints)
    return dict(q=np.asarray(tc.qpoints), w=np.asarray(tc.grid_weights), g3=g, f=f, v=v,
                rots=point_group_cartesian(ph3.primitive, symprec=1e-3), vol=ph3.primitive.volume)


def kappa_pc(p3, g4_ir, mp, T):
    """direction-averaged (kappa_p, kappa_c) (n_T,) with 3ph + 4ph rates g4_ir (n_T, n_ir, nb)."""
    from incipient.transport.wigner_assembly import wigner_kappa

    grid = mp.grid
    mesh = grid.mesh
    rep = grid.mapping[grid.index_of(np.rint(p3["q"] * mesh).astype(int))]
    pos = {int(i): k for k, i in enumerate(grid.ir_index)}
    kk = np.array([pos[int(r)] for r in rep])
    valid = p3["f"] > 0.05
    g4 = np.where(valid[None], g4_ir[:, kk], 0.0)
    k = wigner_kappa(p3["f"], p3["v"], p3["g3"] + g4, T, p3["vol"], weights=p3["w"], rotations_cartesian=p3["rots"])
    tr = lambda a: np.einsum("tii->t", np.asarray(a)) / 3.0  # noqa: E731
    return np.stack([tr(k.kappa_p), tr(k.kappa_c)])  # (2, n_T)


def sampled_run(mp, fc4, T, M, B, seed, sampler, p3):
    """wigner34's batch scheme: B batches of ~M/B pairs; combined rates, errors, jackknife kappa."""
    from incipient.transport.fourphonon import four_phonon_rates

    sizes = [M] * B  # M pairs per batch (wigner34: --samples B*M --batches B)
    seeds = np.random.SeedSequence(seed).spawn(B)
    t0 = time.perf_counter()
    bat = [four_phonon_rates(mp, fc4, T, n_samples=s, rng=np.random.default_rng(sd), sampler=sampler)
           for s, sd in zip(sizes, seeds, strict=True)]
    wall = time.perf_counter() - t0
    wts = np.asarray(sizes, float) / sum(sizes)
    rb = np.stack([r.rates_per_ps for r in bat])
    eb = np.stack([r.rates_stderr_per_ps for r in bat])
    rates = np.einsum("b,btqs->tqs", wts, rb)
    err = np.sqrt(np.einsum("b,btqs->tqs", wts**2, eb**2))
    k = kappa_pc(p3, rates, mp, T)
    jk = []
    for b in range(B):
        keep = np.arange(B) != b
        wk = wts[keep] / wts[keep].sum()
        jk.append(kappa_pc(p3, np.einsum("b,btqs->tqs", wk, rb[keep]), mp, T))
    jk = np.asarray(jk)
    kerr = np.sqrt((B - 1) / B * ((jk - jk.mean(axis=0)) ** 2).sum(axis=0))
    return rates, err, k, kerr, wall


def run_case(name, mesh, M, seeds, B, T):
    from incipient.transport.fourphonon import four_phonon_rates, mesh_phonons

    prim, sc, fc2, ph, fc3, fc4 = load(name)
    mp = mesh_phonons(ph, [mesh] * 3, imaginary="drop", symprec=1e-3)
    t0 = time.perf_counter()
    p3 = three_phonon(prim, sc, fc2, fc3, mesh, T)
    t3 = time.perf_counter() - t0
    four_phonon_rates(mp, fc4, T, n_samples=4, q_indices=[1])  # compile outside the timings
    t0 = time.perf_counter()
    ex = four_phonon_rates(mp, fc4, T)
    t_exact = time.perf_counter() - t0
    k_ex = kappa_pc(p3, ex.rates_per_ps, mp, T)
    k_3 = kappa_pc(p3, np.zeros_like(ex.rates_per_ps), mp, T)
    f = ex.frequencies_THz
    good = ex.rates_per_ps > 0
    low = good & (f[None] <= np.quantile(f[f > 0.05], 0.1))
    out = {"crystal": name, "mesh": mesh, "n_ir": int(len(mp.grid.ir_index)), "N_q2": int(mp.grid.n_q ** 2),
           "M": M, "batches": B, "seeds": seeds, "T": T, "exact_s": t_exact, "three_phonon_s": t3,
           "kappa_p_3ph": k_3[0].tolist(), "kappa_p_exact": k_ex[0].tolist(), "kappa_c_exact": k_ex[1].tolist(),
           "samplers": {}}
    for sampler in ("uniform", "stratified"):
        zs, zl, zk, walls, rel = [], [], [], [], []
        for s in range(seeds):
            rates, err, k, kerr, wall = sampled_run(mp, fc4, T, M, B, 1000 + s, sampler, p3)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (rates - ex.rates_per_ps) / err
            z = np.where(err > 0, z, np.where(rates == ex.rates_per_ps, 0.0, np.inf))
            zs.append(z[good])
            zl.append(z[low])
            zk.append((k - k_ex) / np.where(kerr > 0, kerr, np.nan))
            walls.append(wall)
            rel.append(np.median(err[good] / rates[good]))
        zs, zl, zk = np.concatenate(zs), np.concatenate(zl), np.asarray(zk)
        out["samplers"][sampler] = {
            "rms_z": float(np.sqrt(np.mean(zs**2))), "max_abs_z": float(np.abs(zs).max()),
            "frac_gt3": float(np.mean(np.abs(zs) > 3)), "rms_z_low": float(np.sqrt(np.mean(zl**2))),
            "z_kappa_p": zk[:, 0].tolist(), "z_kappa_c": zk[:, 1].tolist(),
            "rms_z_kappa_p": float(np.sqrt(np.nanmean(zk[:, 0] ** 2))),
            "rms_z_kappa_c": float(np.sqrt(np.nanmean(zk[:, 1] ** 2))),
            "median_rel_err": float(np.median(rel)), "wall_s": float(np.mean(walls))}
        print(f"  {name} {mesh}^3 {sampler}: " + json.dumps(out["samplers"][sampler]), flush=True)
    return out


def table(results) -> str:
    rows = ["| crystal, mesh | N_ir | pairs/q per batch (of N_q^2) | sampler | rms z | max abs z | abs z > 3 | rms z, lowest 10 % "
            "modes | rms z kappa_p | rms z kappa_c | median rel. error | wall (s): sampled / exact |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for s, d in r["samplers"].items():
            rows.append(f"| {r['crystal']} {r['mesh']}^3 | {r['n_ir']} | {r['M']} ({100 * r['M'] / r['N_q2']:.1f} %) | "
                        f"{s} | {d['rms_z']:.2f} | {d['max_abs_z']:.1f} | {100 * d['frac_gt3']:.1f} % | "
                        f"{d['rms_z_low']:.2f} | {d['rms_z_kappa_p']:.2f} | {d['rms_z_kappa_c']:.2f} | "
                        f"{100 * d['median_rel_err']:.1f} % | {d['wall_s']:.1f} / {r['exact_s']:.1f} |")
    rows.append("")
    rows.append("| crystal, mesh | T (K) | kappa_p 3ph | kappa_p 3+4ph exact | kappa_c 3+4ph exact |")
    rows.append("|---|---|---|---|---|")
    for r in results:
        for i, t in enumerate(r["T"]):
            rows.append(f"| {r['crystal']} {r['mesh']}^3 | {t:g} | {r['kappa_p_3ph'][i]:.3f} | {r['kappa_p_exact'][i]:.3f} | "
                        f"{r['kappa_c_exact'][i]:.4f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="4ph sampling calibration (sampled vs exact)")
    ap.add_argument("--case", action="append", help="crystal:mesh:samples (default: {})".format(" ".join(DEFAULT_CASES)))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 600.0])
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    res = []
    for c in a.case or DEFAULT_CASES:
        name, mesh, M = c.split(":")
        print(f"case {c}", flush=True)
        res.append(run_case(name, int(mesh), int(M), a.seeds, a.batches, a.temperatures))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    print(table(res))
