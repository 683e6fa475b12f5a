"""Built-in CsCu2I3 structures: the paper's PBEsol-relaxed cell and the measured 100-500 K ones.

Conventions: the conventional Cmcm cell has Cartesian x, y, z along a, b, c
(a ~ 10.04, b ~ 12.94, c ~ 6.05 A for PBEsol), 24 atoms; the primitive cell has 12 atoms.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import make_supercell

from incipient.data import cscu2i3_cif, cscu2i3_control

# primitive (a/2 -b/2 0), (a/2 b/2 0), (0 0 c) -> conventional a, b, c
PRIMITIVE_TO_CONVENTIONAL = np.array([[1, 1, 0], [-1, 1, 0], [0, 0, 1]])

# Lattice constants quoted in the paper (Angstrom): PBEsol relaxation and experiment at 100 K.
PAPER_LATTICE_PBESOL_A = (10.04, 12.94, 6.05)
PAPER_LATTICE_EXP_100K_A = (10.479, 13.039, 6.0625)


def cscu2i3_primitive() -> Atoms:
    """The paper's PBEsol-relaxed primitive cell (12 atoms), from its ShengBTE CONTROL file."""
    from incipient.lattice.shengbte_control import read_shengbte_control

    atoms, _ = read_shengbte_control(cscu2i3_control())
    return atoms


def cscu2i3_conventional() -> Atoms:
    """Conventional Cmcm cell (24 atoms), orthogonal, x, y, z = a, b, c."""
    conv = make_supercell(cscu2i3_primitive(), PRIMITIVE_TO_CONVENTIONAL)
    a, b, c = conv.cell.lengths()
    conv.set_cell(np.diag([a, b, c]), scale_atoms=True)
    conv.wrap()
    # stable order: by species then position, so supercells are reproducible
    order = np.lexsort((conv.positions[:, 2], conv.positions[:, 1], conv.positions[:, 0], conv.numbers))
    return conv[order]


def cscu2i3_supercell(repeat=(3, 3, 5)) -> Atoms:
    """Conventional-cell supercell; the paper's MD used 3x3x5 (1080 atoms)."""
    return cscu2i3_conventional().repeat(tuple(int(n) for n in repeat))


def cscu2i3_experimental(temperature_K: int) -> Atoms:
    """Measured structure at 100, 200, 300, 400 or 500 K (single-crystal synchrotron XRD)."""
    from incipient.experiment.cif import read_structure_from_cif

    return read_structure_from_cif(cscu2i3_cif(temperature_K))
