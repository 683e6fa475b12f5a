"""How far the universal potentials can be trusted here: the numbers in examples/README.md.

    python examples/compare_universal.py        # ~10 min on 2 quiet cores; writes universal_ev.png here

1. CsCu2I3: lattice constants relaxed (cell + positions, Cmcm kept) with the paper's MTP,
   CHGNet 0.3.0 and SevenNet-0, from the paper's PBEsol cell.
2. CsCu2I3: forces of CHGNet and SevenNet-0 against the MTP on six 300 K MTP snapshots
   (Langevin, 192 atoms in the PBEsol cell, 0.4 ps apart after 1 ps): RMSE overall and per element.
3. Energy-volume curves (isotropic scaling of the input cell, internal positions relaxed under
   symmetry; Birch-Murnaghan fit) for CsCu2I3, CsAg2I3 (Cmcm) and PbF2 (fluorite).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import units
from ase.constraints import FixSymmetry
from ase.eos import EquationOfState, birchmurnaghan
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.optimize import FIRE

from incipient.potentials.universal import chgnet, sevennet
from incipient.structures.io import read_structure
from incipient.system import load_system

HERE = Path(__file__).resolve().parent


def relaxed_cell(atoms, calc, fmax=0.005):
    a = atoms.copy()
    a.calc = calc
    a.set_constraint(FixSymmetry(a))
    FIRE(FrechetCellFilter(a), logfile=None).run(fmax=fmax, steps=2000)
    return a


def force_comparison(system, calcs, n_snap=6, seed=1):
    cell = system.structure.repeat((2, 2, 2))
    cell.calc = calcs["MTP (paper)"]
    MaxwellBoltzmannDistribution(cell, temperature_K=300, rng=np.random.default_rng(seed))
    dyn = Langevin(cell, 2 * units.fs, temperature_K=300, friction=0.02, rng=np.random.default_rng(seed + 1))
    dyn.run(500)
    snaps = []
    for _ in range(n_snap):
        dyn.run(200)
        snaps.append(cell.copy())
    forces = {k: np.array([_forces(s, c) for s in snaps]) for k, c in calcs.items()}
    sym = np.array(cell.get_chemical_symbols())
    ref = forces["MTP (paper)"]
    print(f"MTP force RMS on the snapshots: {np.sqrt((ref**2).mean()):.3f} eV/A")
    for k in calcs:
        if k == "MTP (paper)":
            continue
        d = forces[k] - ref
        per = ", ".join(f"{e} {np.sqrt((d[:, sym == e] ** 2).mean()):.3f}" for e in sorted(set(sym)))
        print(f"{k} vs MTP: force RMSE {np.sqrt((d**2).mean()):.3f} eV/A ({per})")


def _forces(atoms, calc):
    b = atoms.copy()
    b.calc = calc
    return b.get_forces()


SCALES = np.linspace(0.94, 1.08, 8)  # cell-length scale factors of the E-V curves


def ev_curve(ref, calc, scales=SCALES):
    V, E = [], []
    for s in scales:
        a = ref.copy()
        a.set_cell(ref.cell.array * s, scale_atoms=True)
        a.calc = calc
        if len(a) > 12:  # fluorite positions are fixed by symmetry
            a.set_constraint(FixSymmetry(a))
            FIRE(a, logfile=None).run(fmax=0.01, steps=300)
        V.append(a.get_volume() / len(a))
        E.append(a.get_potential_energy() / len(a))
    eos = EquationOfState(V, E, eos="birchmurnaghan")
    v0, e0, b0 = eos.fit()
    return np.array(V), np.array(E), v0, e0, b0 / units.GPa, eos.eos_parameters


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cu = load_system("CsCu2I3")
    calcs = {"MTP (paper)": cu.calculator(), "CHGNet": chgnet(), "SevenNet-0": sevennet()}
    for k, c in calcs.items():
        a = relaxed_cell(cu.structure, c)
        print(f"CsCu2I3 relaxed with {k}: a, b, c = {np.round(a.cell.lengths(), 3)} A")
    force_comparison(cu, calcs)
    crystals = {"CsCu2I3 (Cmcm)": (cu.structure, ["MTP (paper)", "CHGNet", "SevenNet-0"]),
                "CsAg2I3 (Cmcm, hypothetical)": (read_structure(HERE / "CsAg2I3" / "CsAg2I3.cif"), ["CHGNet", "SevenNet-0"]),
                "PbF2 (fluorite)": (read_structure(HERE / "PbF2" / "PbF2.cif"), ["CHGNet", "SevenNet-0"])}
    fig, axs = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (title, (ref, names)) in zip(axs, crystals.items(), strict=True):
        for k in names:
            V, E, v0, e0, b0, p = ev_curve(ref, calcs[k])
            print(f"{title} / {k}: V0 {v0:.3f} A^3/atom, B0 {b0:.1f} GPa, E0 {e0:.4f} eV/atom")
            line = ax.plot(V, (E - e0) * 1e3, "o", label=f"{k}: V0 {v0:.2f} A^3, B0 {b0:.1f} GPa")[0]
            vv = np.linspace(V.min(), V.max(), 100)
            ax.plot(vv, (birchmurnaghan(vv, *p) - e0) * 1e3, "-", color=line.get_color())
        vin = ref.get_volume() / len(ref)
        ax.axvline(vin, color="0.6", ls=":", label=f"input cell {vin:.2f} A^3")
        ax.set(title=title, xlabel="volume per atom (A^3)", ylabel="E - E0 (meV/atom)")
        ax.legend(fontsize=7)
    fig.suptitle("Energy-volume, fixed cell shape (isotropic scaling of the input cell), internal positions relaxed under symmetry")
    fig.tight_layout()
    fig.savefig(HERE / "universal_ev.png", dpi=110)
    print(f"wrote {HERE / 'universal_ev.png'}")


if __name__ == "__main__":
    main()
