"""Relax positions and cell with any ASE calculator (ASE's FrechetCellFilter + FIRE/BFGS).

Reports the lattice of CsCu2I3 beside the paper's PBEsol and 100 K experimental values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from incipient.results import Result
from incipient.structures.builtin import PAPER_LATTICE_EXP_100K_A, PAPER_LATTICE_PBESOL_A


@dataclass(frozen=True)
class RelaxResult(Result):
    """Relaxed structure summary.

    lattice_A : (a, b, c) in Angstrom; angles_deg : (alpha, beta, gamma);
    energy_eV_per_atom; max_force_eV_A and max_stress_GPa at the end; steps taken;
    reference lattices (Angstrom) from the paper for comparison.
    """

    lattice_A: tuple
    angles_deg: tuple
    energy_eV_per_atom: float
    max_force_eV_A: float
    max_stress_GPa: float
    steps: int
    converged: bool
    paper_pbesol_A: tuple = PAPER_LATTICE_PBESOL_A
    paper_exp_100K_A: tuple = PAPER_LATTICE_EXP_100K_A

    def table(self) -> str:
        rows = ["         this MTP    PBEsol   exp. 100 K"]
        for k, name in enumerate("abc"):
            rows.append(f"{name} (A)  {self.lattice_A[k]:9.4f} {self.paper_pbesol_A[k]:9.3f} {self.paper_exp_100K_A[k]:9.4f}")
        return "\n".join(rows)


def relax(atoms: Atoms, calc=None, *, fmax_eV_A: float = 1e-3, relax_cell: bool = True,
          max_steps: int = 2000, optimizer: str = "FIRE", logfile=None) -> tuple[Atoms, RelaxResult]:
    """Relax ``atoms`` (a copy) with ``calc`` (default: the built-in CsCu2I3 MTP).

    The cell keeps its symmetry only as far as the forces do; pass a symmetric start.
    """
    from ase import units
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    if calc is None:
        from incipient.potentials import MTP

        calc = MTP()
    atoms = atoms.copy()
    atoms.calc = calc
    target = FrechetCellFilter(atoms) if relax_cell else atoms
    opt_cls = {"FIRE": FIRE, "BFGS": BFGS}.get(optimizer)
    if opt_cls is None:
        raise ValueError(f"optimizer must be FIRE or BFGS, got {optimizer!r}")
    opt = opt_cls(target, logfile=logfile)
    converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
    f = np.abs(atoms.get_forces()).max()
    s = np.abs(atoms.get_stress()).max() / units.GPa if relax_cell else 0.0
    res = RelaxResult(
        lattice_A=tuple(float(x) for x in atoms.cell.lengths()),
        angles_deg=tuple(float(x) for x in atoms.cell.angles()),
        energy_eV_per_atom=float(atoms.get_potential_energy() / len(atoms)),
        max_force_eV_A=float(f), max_stress_GPa=float(s), steps=int(opt.nsteps), converged=converged,
    )
    return atoms, res
