"""Batch evaluation (MTP.evaluate_batch, MTP.calculate_batch): equal to one call per structure and to motep.

One-by-one and batch evaluations sum a structure's pairs in different SIMD layouts when the
structure shares a block with others, so they agree to rounding (1e-12), not bit for bit; two
batch evaluations with different thread counts are bit-identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from incipient.data import cscu2i3_mtp
from incipient.data.cscu2i3 import cscu2i3_conventional, cscu2i3_primitive
from incipient.errors import InputError, RunError
from incipient.potentials import MTP


@pytest.fixture(scope="module")
def calc():
    return MTP(cscu2i3_mtp())


def _structures(seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(5):  # 1-atom cells of each species, strained
        cell = np.eye(3) * (2.5 + 0.1 * k) + 0.05 * rng.normal(size=(3, 3))
        out.append(Atoms(["Cs", "Cu", "I"][k % 3], positions=[[0.1 * k, 0, 0]], cell=cell, pbc=True))
    prim = cscu2i3_primitive()
    for _ in range(3):
        a = prim.copy()
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        out.append(a)
    conv = cscu2i3_conventional()
    conv.positions += rng.normal(0, 0.05, conv.positions.shape)
    out.append(conv)
    big = cscu2i3_conventional().repeat((1, 1, 2))
    big.positions += rng.normal(0, 0.05, big.positions.shape)
    out.append(big)
    return out


def _check_equal(r, ref, tol=1e-12):
    assert abs(r["energy"] - ref["energy"]) <= tol * max(1.0, abs(ref["energy"]))
    for key in ("energies", "forces", "virials"):
        np.testing.assert_allclose(r[key], ref[key], rtol=0, atol=tol * max(1.0, np.abs(ref[key]).max()))


def test_batch_equals_one_by_one(calc):
    structures = _structures()
    batch = calc.evaluate_batch(structures)
    assert len(batch) == len(structures)
    for a, r in zip(structures, batch, strict=True):
        ref = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers)
        assert r["forces"].shape == (len(a), 3) and r["virials"].shape == (len(a), 3, 3)
        _check_equal(r, ref)
        vol = a.get_volume()
        w = ref["virials"].sum(axis=0)
        w = 0.5 * (w + w.T)
        np.testing.assert_allclose(r["stress"], np.array([w[0, 0], w[1, 1], w[2, 2], w[1, 2], w[0, 2], w[0, 1]]) / vol,
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(r["stresses"].sum(axis=0), r["stress"], rtol=0, atol=1e-12)


def test_batch_of_many_one_atom_cells_and_tuples(calc):
    rng = np.random.default_rng(5)
    cells = [Atoms("Cu", positions=[[0, 0, 0]], cell=np.eye(3) * 2.6 + 0.1 * rng.random((3, 3)), pbc=True)
             for _ in range(40)]
    batch = calc.evaluate_batch([(a.positions, a.cell.array, a.pbc, a.numbers) for a in cells], virials=False)
    for a, r in zip(cells, batch, strict=True):
        ref = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers, virials=False)
        assert "virials" not in r and "stress" not in r
        assert abs(r["energy"] - ref["energy"]) < 1e-12 * abs(ref["energy"])
        np.testing.assert_allclose(r["forces"], ref["forces"], rtol=0, atol=1e-12)


def test_batch_matches_motep(calc):
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp as motep_read_mtp

    structures = _structures(seed=1)
    batch = calc.evaluate_batch(structures)
    data = motep_read_mtp(str(cscu2i3_mtp()))
    data.species = [55, 29, 53]
    for a, r in zip(structures, batch, strict=True):
        b = a.copy()
        b.calc = MotepMTP(data, engine="cext")
        assert abs(r["energy"] - b.get_potential_energy()) / len(a) < 1e-8
        assert np.abs(r["forces"] - b.get_forces()).max() < 1e-6
        assert np.abs(r["stress"] - b.get_stress()).max() < 1e-8


def test_batch_with_clusters_and_slabs(calc):
    structures = _structures()[4:8]
    cluster = Atoms("CsI2", positions=[[0, 0, 0], [3.5, 0, 0], [0, 3.6, 0.2]])
    slab = cscu2i3_primitive()
    slab.pbc = (True, True, False)
    structures += [cluster, slab]
    batch = calc.evaluate_batch(structures)
    for a, r in zip(structures, batch, strict=True):
        _check_equal(r, calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers))
    assert "stress" not in batch[-1] and "stress" not in batch[-2]


def test_batch_threads_are_bit_identical(calc):
    import numba

    structures = _structures() * 3
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = calc.evaluate_batch(structures)
        numba.set_num_threads(max(2, min(3, numba.config.NUMBA_NUM_THREADS)))
        many = calc.evaluate_batch(structures)
    finally:
        numba.set_num_threads(threads)
    for r1, r2 in zip(one, many, strict=True):
        assert r1["energy"] == r2["energy"]
        np.testing.assert_array_equal(r1["forces"], r2["forces"])
        np.testing.assert_array_equal(r1["virials"], r2["virials"])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_batch_other_backends(backend):
    calc = MTP(cscu2i3_mtp(), backend=backend)
    structures = _structures()[3:9]
    for a, r in zip(structures, calc.evaluate_batch(structures), strict=True):
        _check_equal(r, calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers), tol=1e-11)


def test_calculate_batch_fills_each_image(calc):
    images = _structures()[:8]
    images[0].calc = calc
    own = MTP(cscu2i3_mtp())
    images[1].calc = own
    calc.calculate_batch(images)
    assert images[0].calc is not calc and images[1].calc is own
    assert len({id(a.calc) for a in images}) == len(images)
    for a in images:
        res = dict(a.calc.results)
        ref = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers)
        # served from the stored results (ASE's cache), and equal to a fresh evaluation
        assert a.get_potential_energy() == res["energy"]
        np.testing.assert_array_equal(a.get_forces(), res["forces"])
        np.testing.assert_array_equal(a.get_stress(), res["stress"])
        _check_equal(res, ref)
    # a moved image recomputes on its own
    images[2].positions[0] += 0.01
    e = images[2].get_potential_energy()
    ref = calc.evaluate(images[2].positions, images[2].cell.array, images[2].pbc, images[2].numbers)
    assert e == ref["energy"]


def test_calculate_batch_refuses_foreign_or_shared_calculators(calc):
    from ase.calculators.emt import EMT

    images = _structures()[:3]
    images[1].calc = EMT()
    with pytest.raises(InputError, match="image 1 has another calculator"):
        calc.calculate_batch(images)
    shared = MTP(cscu2i3_mtp())
    images[1].calc = shared
    images[2].calc = shared
    with pytest.raises(InputError, match="share one calculator"):
        calc.calculate_batch(images)


def test_batch_errors_name_the_structure(calc):
    structures = _structures()[:4]
    bad = cscu2i3_conventional()
    bad.positions[5] = bad.positions[2]
    with pytest.raises(RunError, match=r"structure 4: atoms 2 \(Cu\) and 5 \(Cu\) are 0 A apart"):
        calc.evaluate_batch(structures + [bad])
    nan = cscu2i3_primitive()
    nan.positions[3, 1] = np.nan
    with pytest.raises(InputError, match="structure 2: atom 3 has a non-finite position"):
        calc.evaluate_batch(structures[:2] + [nan])
    assert calc.evaluate_batch([]) == []
