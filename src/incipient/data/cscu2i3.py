"""Data access for the built-in CsCu2I3 system: its cells as ASE Atoms (for tests, benchmarks, examples).

Library code never calls these: stages take the System of ``data/CsCu2I3/system.toml``
(``incipient.system.load_system("CsCu2I3")``); these shortcuts return the same cells.
Conventions: the conventional Cmcm cell has Cartesian x, y, z along a, b, c
(a ~ 10.04, b ~ 12.94, c ~ 6.05 A for PBEsol), 24 atoms; the primitive cell has 12 atoms.
"""

from __future__ import annotations

from ase import Atoms

from incipient.data import cscu2i3_cif, cscu2i3_control


def cscu2i3_primitive() -> Atoms:
    """The paper's PBEsol-relaxed primitive cell (12 atoms), from its ShengBTE CONTROL file."""
    from incipient.lattice.shengbte_control import read_shengbte_control

    atoms, _ = read_shengbte_control(cscu2i3_control())
    return atoms


def cscu2i3_system():
    """The built-in CsCu2I3 System (its system file)."""
    from incipient.system import load_system

    return load_system("CsCu2I3")


def cscu2i3_conventional() -> Atoms:
    """Conventional Cmcm cell (24 atoms), orthogonal, x, y, z = a, b, c: the system's study cell."""
    return cscu2i3_system().structure


def cscu2i3_mtp_calculator():
    """The paper's MTP as an ASE calculator (the system's potential)."""
    return cscu2i3_system().calculator()


def cscu2i3_supercell(repeat=(3, 3, 5)) -> Atoms:
    """Conventional-cell supercell; the paper's MD used 3x3x5 (1080 atoms)."""
    return cscu2i3_conventional().repeat(tuple(int(n) for n in repeat))


def cscu2i3_experimental(temperature_K: int) -> Atoms:
    """Measured structure at 100, 200, 300, 400 or 500 K (single-crystal synchrotron XRD)."""
    from incipient.experiment.cif import read_structure_from_cif

    return read_structure_from_cif(cscu2i3_cif(temperature_K))
