"""Velocity-operator conventions on CsCu2I3: kappa_p and kappa_c (3ph and 3+4ph) in each.

One command (single-threaded; the fc2 is the project's 300 K effective fc2, see docs/fourphonon.md):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 RAYON_NUM_THREADS=1 \\
    python benchmarks/conventions/cscu2i3_conventions.py --fc2 fc2_300K.hdf5 --mesh 4 4 4 \\
        --samples 100 --batches 4 --output conv4.json

Linewidths: 3ph + isotope from phono3py (SMM19 RTA, tetrahedron method) with the paper's fc3,
4ph sampled with the paper's fc4 (``incipient.transport.wigner34.wigner_3ph_4ph``, adaptive
smearing). They do not depend on the velocity convention. The velocity operator is then built in
each convention of ``incipient.transport.wigner_assembly.velocity_operator`` and kappa assembled
twice: (a) on phono3py's irreducible q-points with the point-group average (what wigner34 does;
symmetric by construction) and (b) on the FULL mesh with no symmetry operation at all (linewidths
unfolded from the irreducible points), whose off-diagonal elements show whether the convention
respects the crystal symmetry. The crystal convention's (a) is checked against wigner34's own
result (same numbers) and against (b).

The assembly in every convention is ``incipient.transport.conventions.conventions_from_wigner34``
(the same function the study's kappa_bte stage calls); this script adds the paper's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

CONVENTIONS = ("crystal", "lattice_phase", "lattice_phase_real")
PAPER = {"kappa_p_300K_3p4ph": (0.05, 0.03, 0.13), "alpha_3ph": (-0.14, -0.31, -0.49),
         "alpha_3p4ph": (0.44, 0.66, -0.3), "kappa_avg_3p4ph": "0.27-0.31"}


def _alpha(T, k):
    lt = np.log(T)
    return [float(np.polyfit(lt, np.log(k[:, i]), 1)[0]) for i in range(3)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fc2", required=True, help="300 K effective fc2 (phonopy hdf5, 3x3x3 supercell)")
    p.add_argument("--mesh", type=int, nargs=3, default=[4, 4, 4])
    p.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 400.0, 500.0, 600.0])
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", help="JSON with all tensors")
    p.add_argument("--rates-cache", help="npz: the wigner34 result and q-points are saved here and, if the "
                                         "file exists, read instead of recomputed (same inputs assumed)")
    args = p.parse_args(argv)

    from incipient.lattice.phonopy_io import read_fc2
    from incipient.system import load_system
    from incipient.transport.conventions import conventions_from_wigner34
    from incipient.transport.wigner34 import Wigner34Result, wigner_3ph_4ph

    load0 = os.getloadavg()
    t_all = time.perf_counter()
    system = load_system("CsCu2I3")
    prim = system.phonon_primitive()
    T = np.asarray(args.temperatures, float)
    mesh = tuple(args.mesh)
    fc2 = read_fc2(args.fc2)
    if args.rates_cache and os.path.exists(args.rates_cache):
        r = Wigner34Result.load(args.rates_cache)
        t_rates = float(r.info["stages_s"]["total_s"])
        print(f"rates read from {args.rates_cache} (computed in {t_rates:.0f} s)")
    else:
        r = wigner_3ph_4ph(prim, fc2, str(system.published.fc3), str(system.published.fc4),
                           supercell_matrix=(3, 3, 3), mesh=mesh, temperatures_K=tuple(T),
                           n_samples=args.samples, n_batches=args.batches, single_precision=True,
                           rng=args.seed, progress=True)
        t_rates = time.perf_counter() - t_all
        if args.rates_cache:
            r.save(args.rates_cache)
    t0 = time.perf_counter()
    conv = conventions_from_wigner34(r, prim, fc2, supercell_matrix=(3, 3, 3), symprec=1e-3)
    d = lambda a: np.einsum("...ii->...i", np.asarray(a))  # noqa: E731
    out = {"mesh": list(mesh), "temperatures_K": T.tolist(), "n_samples": r.n_samples,
           "n_irreducible_q": conv.n_q_irreducible, "n_full_q": conv.n_q_full, "wigner34_info": r.info,
           "wigner34": {"kappa_p_3ph": r.kappa_p_3ph.tolist(), "kappa_c_3ph": r.kappa_c_3ph.tolist(),
                        "kappa_p_34ph": r.kappa_p_34ph.tolist(), "kappa_c_34ph": r.kappa_c_34ph.tolist(),
                        "kappa_p_34ph_err": r.kappa_p_34ph_err.tolist(),
                        "kappa_c_34ph_err": r.kappa_c_34ph_err.tolist()},
           "conventions": {}, "timings_s": {"rates_wigner34": t_rates, "conventions": time.perf_counter() - t0}}
    for c, cv in enumerate(conv.conventions):
        out["conventions"][cv] = {
            lab: {"ir_kappa_p": conv.kappa_p_W_mK[c, h].tolist(), "ir_kappa_c": conv.kappa_c_W_mK[c, h].tolist(),
                  "full_kappa_p": conv.kappa_p_full_W_mK[c, h].tolist(),
                  "full_kappa_c": conv.kappa_c_full_W_mK[c, h].tolist(),
                  "asym_c": conv.asym_c_W_mK[c, h].tolist(),
                  "alpha_full": _alpha(T, d(conv.kappa_p_full_W_mK[c, h] + conv.kappa_c_full_W_mK[c, h])),
                  "alpha_ir": conv.alpha[c, h].tolist()}
            for h, lab in enumerate(("3ph", "34ph"))}
    out["timings_s"]["total"] = time.perf_counter() - t_all
    out["loadavg_start_end"] = [list(load0), list(os.getloadavg())]
    # consistency: the crystal convention reproduces wigner34's numbers and is the same on the full mesh
    c = out["conventions"]["crystal"]["34ph"]
    out["check_crystal_vs_wigner34_max_rel"] = float(np.max(np.abs(d(c["ir_kappa_c"]) / r.kappa_c_34ph - 1)))
    out["check_crystal_ir_vs_full_max_rel"] = float(np.max(np.abs(np.asarray(c["full_kappa_c"]) - c["ir_kappa_c"]))
                                                     / np.max(np.abs(c["ir_kappa_c"])))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(out, fh, indent=1)
    print(report(out))
    return out


def report(out: dict) -> str:
    """Markdown tables from the JSON written by :func:`main`."""
    T = out["temperatures_K"]
    L = [f"mesh {out['mesh']} ({out['n_irreducible_q']} irreducible / {out['n_full_q']} q-points), 4ph "
         f"{out['n_samples']} q-pairs per q-point; full-mesh sums, no symmetry operation; W/m/K", ""]
    for lab, name in (("3ph", "3ph + isotope"), ("34ph", "3+4ph + isotope")):
        L += [f"**{name}**", "", "| convention | T (K) | kp xx | kp yy | kp zz | kc xx | kc yy | kc zz | kc yz | kc max off-diag |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for conv, res in out["conventions"].items():
            kp, kc = np.asarray(res[lab]["full_kappa_p"]), np.asarray(res[lab]["full_kappa_c"])
            for it, t in enumerate(T):
                off = np.abs(kc[it] - np.diag(np.diag(kc[it]))).max()
                L.append(f"| {conv} | {t:g} | {kp[it,0,0]:.4f} | {kp[it,1,1]:.4f} | {kp[it,2,2]:.4f} | "
                         f"{kc[it,0,0]:.4f} | {kc[it,1,1]:.4f} | {kc[it,2,2]:.4f} | {kc[it,1,2]:+.4f} | {off:.1e} |")
        L += ["", "| convention | alpha x | alpha y | alpha z | (kappa_p + kappa_c ~ T^alpha, full mesh) |", "|---|---|---|---|---|"]
        for conv, res in out["conventions"].items():
            a = res[lab]["alpha_full"]
            L.append(f"| {conv} | {a[0]:+.2f} | {a[1]:+.2f} | {a[2]:+.2f} | irreducible + point group: "
                     + " / ".join(f"{x:+.2f}" for x in res[lab]["alpha_ir"]) + " |")
        pa = PAPER["alpha_3ph" if lab == "3ph" else "alpha_3p4ph"]
        L += [f"| paper | {pa[0]:+.2f} | {pa[1]:+.2f} | {pa[2]:+.2f} | |", ""]
    L += ["**direction average (xx + yy + zz)/3**", "",
          "| convention | " + " | ".join(f"kc {t:g} K (3+4ph)" for t in T) + " | "
          + " | ".join(f"kp+kc {t:g} K (3+4ph)" for t in T) + " | kp+kc 300 K (3ph) | 4ph change of kp+kc, first T |",
          "|---|" + "---|" * (2 * len(T) + 2)]
    for conv, res in out["conventions"].items():
        avg = {lab: np.einsum("tii->t", np.asarray(res[lab]["full_kappa_p"]) + np.asarray(res[lab]["full_kappa_c"])) / 3
               for lab in ("3ph", "34ph")}
        kc = np.einsum("tii->t", np.asarray(res["34ph"]["full_kappa_c"])) / 3
        L.append(f"| {conv} | " + " | ".join(f"{x:.3f}" for x in kc) + " | "
                 + " | ".join(f"{x:.3f}" for x in avg["34ph"]) + f" | {avg['3ph'][0]:.3f} | "
                 + f"{100 * (avg['34ph'][0] / avg['3ph'][0] - 1):+.0f} % |")
    L += [f"| paper | | | | | {PAPER['kappa_avg_3p4ph']} (300-600 K) | | | | | \"~33 %\" decrease |", ""]
    L.append(f"checks: crystal convention vs wigner34 kappa_c(3+4ph) max rel. diff "
             f"{out['check_crystal_vs_wigner34_max_rel']:.1e}; crystal irreducible vs full mesh "
             f"{out['check_crystal_ir_vs_full_max_rel']:.1e}")
    L.append("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in out["timings_s"].items())
             + f"; load average start {out['loadavg_start_end'][0][0]:.1f}, end {out['loadavg_start_end'][1][0]:.1f}")
    return "\n".join(L)


if __name__ == "__main__":
    main()
