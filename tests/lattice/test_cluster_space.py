"""The fast null space of hiPhive's sum-rule constraints gives hiPhive's own constraint map, exactly."""

import numpy as np
from ase.build import bulk

from incipient.lattice.fit import cluster_space


def test_fast_nullspace_equals_hiphive():
    prim = bulk("NaCl", "rocksalt", a=5.64)
    fast = cluster_space(prim, [4.5, 4.0, 3.0])
    slow = cluster_space(prim, [4.5, 4.0, 3.0], fast_nullspace=False)
    a, b = fast._cvs.toarray(), slow._cvs.toarray()
    assert a.shape == b.shape and a.shape[1] == fast.n_dofs
    assert np.array_equal(a, b)
    assert {o: fast.get_n_dofs_by_order(o) for o in (2, 3, 4)} == {o: slow.get_n_dofs_by_order(o) for o in (2, 3, 4)}
    # the patch is undone: hiPhive's own function is back in place
    from hiphive.core import translational_constraints as tc

    assert tc.get_translational_constraint_matrix.__module__ == "hiphive.core.translational_constraints"
