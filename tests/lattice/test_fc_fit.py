"""hiPhive force-constant fits, compact fc3 export, ShengBTE->phono3py mapping and file formats.

Reference system: fcc Al with ASE's EMT potential in a 2x2x2 conventional supercell (32 atoms),
cheap enough to compare against phonopy finite differences and hiPhive's own dense arrays.
"""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.lattice.fc3_convert import shengbte_fc3_to_phono3py
from incipient.lattice.fit import compact_fc3_from_hiphive, fit_force_constants, to_phono3py_order
from incipient.lattice.phonons import (
    check_stability,
    make_phono3py,
    make_phonopy,
    set_displacement_forces,
)
from incipient.lattice.phonopy_io import (
    read_fc2,
    read_fc3_hdf5,
    reorder_fc2,
    supercell_permutation,
    write_fc2,
    write_fc3_hdf5,
)
from incipient.lattice.shengbte import read_shengbte_fc3

A_AL = 4.05


@pytest.fixture(scope="module")
def al_fit():
    prim = bulk("Al", "fcc", a=A_AL)
    ideal = bulk("Al", "fcc", a=A_AL, cubic=True).repeat((2, 2, 2))
    rng = np.random.default_rng(42)
    disps = rng.normal(0.0, 0.02, size=(8, len(ideal), 3))
    forces = []
    for u in disps:
        a = ideal.copy()
        a.positions += u
        a.calc = EMT()
        forces.append(a.get_forces())
    res = fit_force_constants(ideal, (disps, np.array(forces)), prim, cutoffs_A=(4.0, 3.0),
                              test_fraction=0.25, rng=1)
    return prim, ideal, res


def test_fit_quality_and_sum_rules(al_fit):
    _, ideal, res = al_fit
    assert res.n_snapshots_train == 6 and res.n_snapshots_test == 2
    # EMT at 0.02 A rattles is nearly harmonic: the held-out forces are predicted to R^2 > 0.99
    assert res.r2_test > 0.99
    assert res.rmse_test_eV_A < 0.02
    scale2 = np.abs(res.fc2).max()
    # acoustic sum rules (translational invariance) and fc2 index symmetry
    assert np.abs(res.fc2.sum(axis=1)).max() < 1e-10 * scale2
    np.testing.assert_allclose(res.fc2, res.fc2.transpose(1, 0, 3, 2), atol=1e-12 * scale2)
    assert res.fc3.shape == (1, len(ideal), len(ideal), 3, 3, 3)
    scale3 = np.abs(res.fc3).max()
    assert scale3 > 0.1
    assert np.abs(res.fc3.sum(axis=2)).max() < 1e-10 * scale3
    assert np.abs(res.fc3.sum(axis=1)).max() < 1e-10 * scale3


def test_compact_fc3_equals_dense_slice(al_fit):
    _, ideal, res = al_fit
    fcs = res.fcp.get_force_constants(ideal)
    dense = fcs.get_fc_array(order=3)  # 32^3 * 27 doubles: fine here, not at 324 atoms
    np.testing.assert_allclose(res.fc3, dense[res.p2s_map], atol=1e-12)
    np.testing.assert_allclose(compact_fc3_from_hiphive(fcs, [5])[0], dense[5], atol=1e-12)


def test_fitted_fc2_matches_finite_differences(al_fit):
    prim, ideal, res = al_fit
    ph = make_phonopy(prim, [[-2, 2, 2], [2, -2, 2], [2, 2, -2]])  # same 32-atom cubic supercell
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, EMT())
    ph.produce_force_constants()
    ph_fit = make_phonopy(prim, [[-2, 2, 2], [2, -2, 2], [2, 2, -2]])
    # map the hiPhive supercell ordering onto phonopy's by positions
    ph_fit.force_constants = reorder_fc2(res.fc2, supercell_permutation(ideal, ph.supercell))
    q = [[0, 0, 0.5], [0.5, 0.5, 0.5], [0.5, 0.25, 0.75]]
    ph.run_qpoints(q)
    ph_fit.run_qpoints(q)
    f_fd = ph.qpoints.frequencies
    f_fit = ph_fit.qpoints.frequencies
    # the 4.0 A cutoff keeps only the first neighbour shell (2.86 A; the second is at 4.05 A)
    # while EMT reaches further: the fitted effective model is within 7 % of finite differences
    np.testing.assert_allclose(f_fit, f_fd, rtol=0.07)
    assert check_stability(ph_fit, mesh=(4, 4, 4)) == []


def test_stability_reports_imaginary_modes():
    prim = bulk("Al", "fcc", a=A_AL)
    ph = make_phonopy(prim, [2, 2, 2])
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, EMT())
    ph.produce_force_constants()
    assert check_stability(ph, mesh=(3, 3, 3)) == []
    ph.force_constants = -ph.force_constants  # every optical/acoustic mode becomes imaginary
    bad = check_stability(ph, mesh=(3, 3, 3))
    assert len(bad) > 0 and all(f < 0 for _, f in bad)
    assert bad[0][1] == min(f for _, f in bad)


def test_shengbte_export_maps_back_onto_compact_fc3(al_fit, tmp_path):
    """hiPhive's own ShengBTE writer -> our reader -> our mapper == our compact export (10 decimals)."""
    prim, ideal, res = al_fit
    fcs = res.fcp.get_force_constants(ideal)
    fcs.write_to_shengBTE(str(tmp_path / "FC3"), prim)
    fc = read_shengbte_fc3(tmp_path / "FC3")
    ph3 = make_phono3py(prim, [[-2, 2, 2], [2, -2, 2], [2, 2, -2]])
    conv = shengbte_fc3_to_phono3py(fc, ph3)
    assert conv.n_collisions == 0
    # reorder our compact fc3 (hiPhive supercell order) into phono3py's supercell order
    perm = supercell_permutation(ideal, ph3.supercell)
    p_fit = perm[ph3.primitive.p2s_map[0]]
    expect = compact_fc3_from_hiphive(fcs, [p_fit])[0][np.ix_(perm, perm)]
    np.testing.assert_allclose(conv.fc3[0], expect, atol=2e-10)
    assert conv.drift_before_eV_A3 < 1e-8
    # the same reordering through the public helper
    fc2_ph, fc3_ph = to_phono3py_order(res, ideal, ph3)
    np.testing.assert_allclose(fc3_ph, conv.fc3, atol=2e-10)
    np.testing.assert_array_equal(fc2_ph, res.fc2[np.ix_(perm, perm)])


def test_phonopy_formats_round_trip(tmp_path, al_fit):
    _, _, res = al_fit
    for name in ("fc2.hdf5", "FORCE_CONSTANTS"):
        p = write_fc2(tmp_path / name, res.fc2)
        np.testing.assert_allclose(read_fc2(p), res.fc2, atol=1e-14 if name.endswith("hdf5") else 1e-13)
    p = write_fc3_hdf5(tmp_path / "fc3.hdf5", res.fc3, p2s_map=res.p2s_map)
    np.testing.assert_array_equal(read_fc3_hdf5(p), res.fc3)
    files = res.write_phonopy(tmp_path / "out")
    np.testing.assert_array_equal(read_fc2(files["fc2"]), res.fc2)
    with pytest.raises(FileNotFoundError):
        read_fc2(tmp_path / "nope.hdf5")


def test_shengbte_mapping_sum_rules_and_errors(al_fit, tmp_path):
    from incipient.lattice.shengbte import ShengBTEFC3

    prim, ideal, res = al_fit
    res.fcp.get_force_constants(ideal).write_to_shengBTE(str(tmp_path / "FC3"), prim)
    fc = read_shengbte_fc3(tmp_path / "FC3")
    rng = np.random.default_rng(5)
    noisy = ShengBTEFC3(fc.R2_A, fc.R3_A, fc.atoms, fc.phi_eV_A3 + rng.normal(0, 1e-3, fc.phi_eV_A3.shape))
    ph3 = make_phono3py(prim, [[-2, 2, 2], [2, -2, 2], [2, 2, -2]])
    raw = shengbte_fc3_to_phono3py(noisy, ph3)
    fixed = shengbte_fc3_to_phono3py(noisy, ph3, sum_rules="translational")
    assert raw.drift_before_eV_A3 > 1e-3
    assert fixed.drift_after_eV_A3 < 1e-6 * raw.drift_before_eV_A3 * 1e3
    assert fixed.nonzero_indices is None and raw.nonzero_indices.sum() > 0
    # symmetrisation only removes the noise: still close to the clean constants
    clean = shengbte_fc3_to_phono3py(fc, ph3).fc3
    assert np.abs(fixed.fc3 - clean).max() < 5e-3
    wrong = make_phono3py(bulk("Al", "fcc", a=4.0), [2, 2, 2])
    with pytest.raises(ValueError, match="not lattice vectors"):
        shengbte_fc3_to_phono3py(fc, wrong)
    with pytest.raises(ValueError, match="sum_rules"):
        shengbte_fc3_to_phono3py(fc, ph3, sum_rules="symfc")


def test_snapshot_with_an_atom_off_its_site_is_left_out():
    """A hopped atom (here: moved 60 % of the way to a neighbour site) is no small displacement:
    the snapshot is dropped and named, the fit uses the others; too few left is an error."""
    from incipient.lattice.fit import fit_potential, off_site_snapshots

    prim = bulk("Al", "fcc", a=A_AL)
    ideal = bulk("Al", "fcc", a=A_AL, cubic=True).repeat((2, 2, 2))
    rng = np.random.default_rng(3)
    snaps = []
    for k in range(6):
        a = ideal.copy()
        a.positions += rng.normal(0.0, 0.02, size=a.positions.shape)
        if k == 2:
            a.positions[0] += 0.6 * (ideal.positions[1] - ideal.positions[0])  # 1.72 A of the 2.86 A spacing
        a.calc = EMT()
        a.get_forces()
        snaps.append(a)
    bad, limit = off_site_snapshots(snaps, ideal)
    assert bad.tolist() == [2] and limit == pytest.approx(0.5 * A_AL / np.sqrt(2))
    fit = fit_potential(ideal, snaps, prim, (4.0,), test_fraction=0.2, rng=0)
    assert fit.dropped_idx.tolist() == [2] and len(fit.train_idx) + len(fit.test_idx) == 5
    assert fit.r2_test > 0.99
    with pytest.raises(ValueError, match="too few left to fit"):
        fit_potential(ideal, [snaps[2], snaps[2]], prim, (4.0,))


def test_underdetermined_and_meaningless_fits_are_refused():
    """Fewer force rows than parameters is refused before fitting; a fit that predicts held-out forces
    worse than their mean (forces unrelated to the displacements) is refused after it."""
    from incipient.errors import InputError, RunError
    from incipient.lattice.fit import fit_potential

    prim = bulk("Al", "fcc", a=A_AL)
    ideal = bulk("Al", "fcc", a=A_AL, cubic=True).repeat((2, 2, 2))
    rng = np.random.default_rng(5)
    disps = rng.normal(0.0, 0.02, size=(6, len(ideal), 3))
    nacl, nacl_sc = bulk("NaCl", "rocksalt", a=5.64), bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 2, 2))
    u = rng.normal(0.0, 0.02, size=(2, len(nacl_sc), 3))
    with pytest.raises(InputError, match="225 force-constant parameters .* only 192 force rows"):
        fit_potential(nacl_sc, (u, rng.normal(size=u.shape)), nacl, (5.5, 5.5, 4.0), test_fraction=0.5)
    # forces with no relation to the displacements: noise on a uniform push, which no
    # translation-invariant force-constant model can give
    junk = 5.0 + rng.normal(size=disps.shape)
    with pytest.raises(RunError, match="worse than their mean"):
        fit_potential(ideal, (disps, junk), prim, (4.0, 3.0), test_fraction=0.34, rng=0)
