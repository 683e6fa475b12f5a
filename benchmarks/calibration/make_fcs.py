"""Force constants for the 4ph sampling calibration: diamond Si (Tersoff) and L1_2 Cu3Au (EMT).

fc2 + fc3 + fc4 from a hiPhive least-squares fit (``incipient.lattice.effective``) to rattled
supercells; writes ``<out>/<crystal>/`` with fc2.hdf5, FORCE_CONSTANTS_3RD, FORCE_CONSTANTS_4TH
and primitive.json. Run once (about a minute per crystal on one core):

    python benchmarks/calibration/make_fcs.py [--out runs/calibration/fcs]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def tersoff_si():
    """Tersoff, PRB 38, 9902 (1988), Si(C) parameters, in ASE's Tersoff calculator."""
    from ase.calculators.tersoff import Tersoff, TersoffParameters

    p = TersoffParameters(m=3.0, gamma=1.0, lambda3=0.0, c=100390.0, d=16.217, h=-0.59825, n=0.78734,
                          beta=1.1e-6, lambda2=1.7322, B=471.18, R=2.85, D=0.15, lambda1=2.4799, A=1830.8)
    return Tersoff({("Si", "Si", "Si"): p})


def crystals():
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.spacegroup import crystal

    si = bulk("Si", "diamond", a=5.432)  # Tersoff(1988 Si(C)) zero-stress lattice constant, +-0.002 A
    cu3au = crystal(["Au", "Cu"], basis=[(0, 0, 0), (0, 0.5, 0.5)], spacegroup=221,
                    cellpar=[3.708, 3.708, 3.708, 90, 90, 90])  # EMT zero stress +-0.002 A
    return {
        # name: (primitive, calculator, supercell repeat, cutoffs fc2/fc3/fc4 (A), snapshots)
        "Si": (si, tersoff_si(), (4, 4, 4), (5.0, 4.0, 3.0), 40),
        "Cu3Au": (cu3au, EMT(), (3, 3, 3), (5.0, 4.0, 3.0), 40),
    }


def make(name, out, rattle_A=0.04, seed=0):
    from incipient.lattice.effective import effective_force_constants

    prim, calc, rep, cutoffs, n_snap = crystals()[name]
    ideal = prim.repeat(rep)
    rng = np.random.default_rng(seed)
    disps, forces = [], []
    t0 = time.perf_counter()
    for _ in range(n_snap):
        a = ideal.copy()
        u = rng.normal(0.0, rattle_A, size=(len(a), 3))
        a.positions += u
        a.calc = calc
        disps.append(u)
        forces.append(a.get_forces())
    t_forces = time.perf_counter() - t0
    res = effective_force_constants(prim, ideal, (np.array(disps), np.array(forces)), cutoffs,
                                    out_dir=Path(out) / name, stability_mesh=(8, 8, 8))
    meta = {"symbols": prim.get_chemical_symbols(), "cell": prim.cell[:].tolist(),
            "scaled_positions": prim.get_scaled_positions().tolist(), "fc_supercell": list(res.fc_supercell),
            "cutoffs_A": list(cutoffs), "n_snapshots": n_snap, "rattle_A": rattle_A,
            "forces_s": t_forces, "summary": res.text()}
    (Path(out) / name / "primitive.json").write_text(json.dumps(meta, indent=1))
    print(name, f"forces {t_forces:.1f} s;", res.text(), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "runs" / "calibration" / "fcs"))
    ap.add_argument("crystals", nargs="*", default=["Si", "Cu3Au"])
    args = ap.parse_args()
    for c in args.crystals:
        make(c, args.out)
