"""Relax positions and cell with any ASE calculator (ASE's FrechetCellFilter + FIRE/BFGS).

Plausibility: the start and the end are checked with
:func:`incipient.potentials.calculator.plausibility_warnings` (max force above 5 eV/A or a
positive energy per atom, the signature of a wrong species order for an MTP, which does not
store its species). Each finding is logged as a warning and kept in ``RelaxResult.warnings``;
a relaxation that "converges" with warnings is not trustworthy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from incipient.errors import InputError
from incipient.results import Result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelaxResult(Result):
    """Relaxed structure summary.

    lattice_A : (a, b, c) in Angstrom; angles_deg : (alpha, beta, gamma);
    energy_eV_per_atom; max_force_eV_A and max_stress_GPa at the end; steps taken;
    warnings: plausibility findings (see the module docstring), empty when none.
    """

    lattice_A: tuple
    angles_deg: tuple
    energy_eV_per_atom: float
    max_force_eV_A: float
    max_stress_GPa: float
    steps: int
    converged: bool
    warnings: tuple = ()

    def table(self) -> str:
        """The relaxed lattice as a small text table."""
        rows = ["         relaxed (A)   angle (deg)"]
        for k, name in enumerate("abc"):
            rows.append(f"{name}       {self.lattice_A[k]:9.4f}   {self.angles_deg[k]:9.3f}")
        return "\n".join(rows)


def relax(atoms: Atoms, calc, *, fmax_eV_A: float = 1e-3, relax_cell: bool = True,
          max_steps: int = 2000, optimizer: str = "FIRE", logfile=None) -> tuple[Atoms, RelaxResult]:
    """Relax ``atoms`` (a copy) with the ASE calculator ``calc``.

    The cell keeps its symmetry only as far as the forces do; pass a symmetric start.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    from incipient.units import GPa_eV_A3

    if calc is None:
        raise InputError("relax: give a calculator (e.g. incipient.system.load_system(name).calculator())")
    atoms = atoms.copy()
    atoms.calc = calc
    target = FrechetCellFilter(atoms) if relax_cell else atoms
    opt_cls = {"FIRE": FIRE, "BFGS": BFGS}.get(optimizer)
    if opt_cls is None:
        raise ValueError(f"optimizer must be FIRE or BFGS, got {optimizer!r}")
    if not (np.isfinite(fmax_eV_A) and fmax_eV_A > 0):
        raise InputError(f"fmax must be a finite number > 0 eV/A, got {fmax_eV_A!r}")
    if int(max_steps) < 0:
        raise InputError(f"max_steps must be >= 0, got {max_steps!r}")
    from incipient.potentials.calculator import MTP, plausibility_warnings

    check = isinstance(calc, MTP)  # the heuristic is about MTP species orders
    # the first force call (its results are cached for the optimiser)
    found = [f"start: {w}" for w in plausibility_warnings(atoms)] if check else []
    opt = opt_cls(target, logfile=logfile)
    from incipient.structures.minimum import single_thread_blas

    with single_thread_blas():  # the cell filter's 3x3 solves: one BLAS thread (fast on a loaded machine)
        converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
    if check:
        found += [f"relaxed: {w}" for w in plausibility_warnings(atoms, check_force=False)]
    for w in found:
        log.warning("%s", w)
    f = np.abs(atoms.get_forces()).max()
    s = np.abs(atoms.get_stress()).max() / GPa_eV_A3 if relax_cell else 0.0
    res = RelaxResult(
        lattice_A=tuple(float(x) for x in atoms.cell.lengths()),
        angles_deg=tuple(float(x) for x in atoms.cell.angles()),
        energy_eV_per_atom=float(atoms.get_potential_energy() / len(atoms)),
        max_force_eV_A=float(f), max_stress_GPa=float(s), steps=int(opt.nsteps), converged=converged,
        warnings=tuple(found),
    )
    return atoms, res
