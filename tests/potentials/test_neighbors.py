"""The numba cell list equals ASE's neighbour list pair for pair (vectors compared after rounding to 1e-6 A)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import primitive_neighbor_list

from incipient.data.cscu2i3 import cscu2i3_conventional, cscu2i3_primitive
from incipient.potentials.neighbors import neighbor_list, periodic_neighbor_list


def _pairs(offsets, nbr, vec):
    out = set()
    for i in range(len(offsets) - 1):
        for p in range(offsets[i], offsets[i + 1]):
            out.add((i, int(nbr[p]), *np.round(vec[p], 6)))
    return out


def _cells():
    yield "CsCu2I3 conventional (24 atoms, thinner than the cutoff)", cscu2i3_conventional()
    yield "CsCu2I3 primitive (triclinic-like, 12 atoms)", cscu2i3_primitive()
    yield "CsCu2I3 2x2x3", cscu2i3_conventional().repeat((2, 2, 3))
    yield "fcc Cu primitive (1 atom, strongly oblique)", bulk("Cu", "fcc", a=3.6)
    a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 3))
    a.set_cell(a.cell.array + np.array([[0.0, 0.3, 0.1], [0.5, 0.0, 0.2], [0.4, -0.6, 0.0]]), scale_atoms=True)
    yield "sheared Cu 2x1x3", a


@pytest.mark.parametrize("cutoff", [3.1, 7.0])
def test_cell_list_matches_ase(cutoff):
    rng = np.random.default_rng(3)
    for name, atoms in _cells():
        atoms = atoms.copy()
        atoms.positions += rng.normal(0, 0.1, atoms.positions.shape)
        atoms.positions[0] += 5 * atoms.cell[0]  # unwrapped input must give the same pairs
        i, j, D = primitive_neighbor_list("ijD", atoms.pbc, atoms.cell.array, atoms.positions, cutoff)
        ref = {(int(a), int(b), *np.round(d, 6)) for a, b, d in zip(i, j, D, strict=True)}
        got = periodic_neighbor_list(atoms.positions, atoms.cell.array, cutoff)
        assert np.all(np.diff(got[0]) >= 0), name
        assert _pairs(*got) == ref, name
        assert _pairs(*neighbor_list(atoms.positions, atoms.cell.array, True, cutoff)) == ref, name


def test_cell_list_rejects_flat_cell():
    with pytest.raises(ValueError, match="non-zero volume"):
        periodic_neighbor_list(np.zeros((2, 3)), np.diag([1.0, 1.0, 0.0]), 3.0)
