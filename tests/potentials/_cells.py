"""Test cells shared by the training tests: rock-salt NaCl (8 atoms, a = 5 A), strained and rattled."""

import numpy as np
from ase import Atoms


def strained_nacl(rng: np.random.Generator, seed: int, rattle: float) -> Atoms:
    """The 8-atom NaCl cube with a random 2 % strain (from ``rng``) and a rattle of ``rattle`` A (``seed``)."""
    a = Atoms("Na4Cl4", scaled_positions=[[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [.5, 0, 0], [0, .5, 0],
                                          [0, 0, .5], [.5, .5, .5]], cell=[5.0] * 3, pbc=True)
    a.set_cell(a.cell.array @ (np.eye(3) + 0.02 * rng.standard_normal((3, 3))), scale_atoms=True)
    a.rattle(rattle, seed=seed)
    return a
