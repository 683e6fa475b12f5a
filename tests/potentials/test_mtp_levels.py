"""The C kernel against motep at every MLIP-2 level (2-28), for 1, 2 and 3 species and every cell size path.

The potentials are MLIP-2's untrained templates (``training.templates``) with random but
physically sane coefficients (small radial coefficients, so energies are finite and moderate);
parity does not depend on the values. Cells: a 1-atom cube (the kernel's pair-lane path: one
atom's neighbours fill the SIMD lanes), the 12-atom CsCu2I3 primitive cell (atom lanes, a partial
block) and, at a few levels, 40 atoms (two full blocks and a partial one). Tolerances as for the
CsCu2I3 potential: energy 1e-8 eV/atom, forces 1e-6 eV/A, stress 1e-8 eV/A^3.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from incipient.data.cscu2i3 import cscu2i3_conventional, cscu2i3_primitive
from incipient.potentials import MTP
from incipient.potentials.training.templates import random_mtp

LEVELS = tuple(range(2, 29, 2))


def motep_calc(path, species):
    from ase.data import atomic_numbers
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp as motep_read_mtp

    data = motep_read_mtp(str(path))
    data.species = [atomic_numbers[s] for s in species]
    return MotepMTP(data, engine="cext")


def _compare(path, species, atoms, *, expect_forces=True):
    ref = atoms.copy()
    ref.calc = motep_calc(path, species)
    a = atoms.copy()
    a.calc = MTP(path, species=species)
    e_ref, f_ref, s_ref = ref.get_potential_energy(), ref.get_forces(), ref.get_stress()
    e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
    assert np.isfinite(e) and abs(e) / len(a) < 1e3
    assert abs(e - e_ref) / len(a) < 1e-8, (e, e_ref)
    assert np.abs(f - f_ref).max() < 1e-6
    assert np.abs(s - s_ref).max() < 1e-8
    if expect_forces:
        assert np.abs(f).max() > 1e-6  # not vacuous


def _rattled(atoms, seed, sigma=0.05):
    atoms = atoms.copy()
    atoms.positions += np.random.default_rng(seed).normal(0.0, sigma, atoms.positions.shape)
    return atoms


@pytest.fixture(scope="module")
def potentials(tmp_path_factory):
    d = tmp_path_factory.mktemp("mtp_levels")
    return {level: random_mtp(level, ("Cs", "Cu", "I"), d / f"L{level}.mtp") for level in LEVELS}


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_matches_motep_on_1_and_12_atoms(level, potentials):
    path = potentials[level]
    # one atom in a 2.6 A cube: 80 neighbours within 7 A, all of them periodic images
    one = Atoms("Cu", positions=[[0.1, 0.2, 0.3]], cell=np.eye(3) * 2.6 + 0.05 * np.tri(3, k=-1), pbc=True)
    _compare(path, ("Cs", "Cu", "I"), one, expect_forces=False)  # forces vanish by symmetry (one atom)
    _compare(path, ("Cs", "Cu", "I"), _rattled(cscu2i3_primitive(), level), expect_forces=level > 2)


@pytest.mark.parametrize("level", (8, 16, 24))
def test_partial_and_full_blocks_match_motep(level, potentials):
    a = _rattled(cscu2i3_conventional().repeat((1, 1, 2)), level)
    del a[[3, 17, 30, 41, 44, 46, 47, 9]]  # 40 atoms: two 16-atom blocks and a partial one
    _compare(potentials[level], ("Cs", "Cu", "I"), a)


@pytest.mark.parametrize("species", [("Cu",), ("Cu", "I")], ids=["1 species", "2 species"])
@pytest.mark.parametrize("level", (6, 14, 20))
def test_one_and_two_species_match_motep(level, species, tmp_path):
    path = random_mtp(level, species, tmp_path / "p.mtp", seed=len(species))
    rng = np.random.default_rng(level)
    n = 10
    # a random dense cell (no pair below 2 A), types mixed
    pos = []
    lengths = np.array([6.8, 7.1, 7.4])
    cell = np.diag(lengths)
    while len(pos) < n:
        p = rng.random(3) * lengths
        if all(np.linalg.norm((p - q) - np.round((p - q) / lengths) * lengths) > 2.4 for q in pos):
            pos.append(p)
    syms = [species[k % len(species)] for k in range(n)]
    a = Atoms(syms, positions=pos, cell=cell, pbc=True)
    _compare(path, species, a)
    one = Atoms(species[-1], positions=[[0, 0, 0]], cell=np.eye(3) * 2.7, pbc=True)
    _compare(path, species, one, expect_forces=False)
