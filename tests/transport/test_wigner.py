"""Wigner conductivity wrapper: parity with plain phono3py, mode sums, symmetrisation, I/O."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.lattice.phonons import make_phono3py, set_displacement_forces
from incipient.lattice.phonopy_io import ase_to_phonopy_atoms
from incipient.transport.wigner import WignerResult, symmetrize_tensor, wigner_conductivity

MESH = [5, 5, 5]
TEMPS = [300.0, 600.0]


@pytest.fixture(scope="module")
def al_fc():
    """fc2/fc3 of fcc Al (EMT) from phono3py finite differences in a 3x3x3 primitive supercell."""
    prim = bulk("Al", "fcc", a=4.05)
    ph3 = make_phono3py(prim, [3, 3, 3])
    ph3.generate_displacements(distance=0.03)
    set_displacement_forces(ph3, EMT())
    ph3.produce_fc3()
    ph3.produce_fc2(is_compact_fc=False)  # full (27, 27, 3, 3): also tests full-fc2 input
    assert ph3.fc2.shape == (27, 27, 3, 3)
    return prim, np.array(ph3.fc2), np.array(ph3.fc3)


def _plain_phono3py(prim, fc2, fc3, transport_type):
    from phono3py import Phono3py

    ph3 = Phono3py(ase_to_phonopy_atoms(prim), supercell_matrix=[3, 3, 3], primitive_matrix="P", log_level=0)
    ph3.fc2, ph3.fc3 = fc2, fc3
    ph3.mesh_numbers = MESH
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=TEMPS, is_isotope=True, transport_type=transport_type)
    return ph3.thermal_conductivity


def test_equals_plain_phono3py(al_fc):
    prim, fc2, fc3 = al_fc
    res = wigner_conductivity(prim, fc2, fc3, supercell_matrix=[3, 3, 3], mesh=MESH, temperatures_K=TEMPS)
    tc = _plain_phono3py(prim, fc2, fc3, "SMM19")
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for k, (i, j) in enumerate(voigt):
        np.testing.assert_allclose(res.kappa_p_raw_W_mK[:, i, j], tc.kappa_intra[0][:, k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(res.kappa_c_raw_W_mK[:, i, j], tc.kappa_inter[0][:, k], rtol=1e-12, atol=1e-14)
    # cubic crystal: isotropic tensors, symmetrisation changes nothing
    np.testing.assert_allclose(res.kappa_p_W_mK, res.kappa_p_raw_W_mK, rtol=1e-10, atol=1e-12)
    assert res.kappa_p_W_mK[0, 0, 0] > 1.0 and res.kappa_c_W_mK[0, 0, 0] > 0.0
    # the particle-like part equals the standard RTA (Peierls-Boltzmann) conductivity
    std = _plain_phono3py(prim, fc2, fc3, None)
    np.testing.assert_allclose(np.diagonal(res.kappa_p_raw_W_mK, axis1=1, axis2=2), std.kappa[0][:, :3], rtol=1e-8)
    # mode, branch and cumulative sums reproduce the tensors
    diag_p = np.diagonal(res.kappa_p_raw_W_mK, axis1=1, axis2=2)
    diag_c = np.diagonal(res.kappa_c_raw_W_mK, axis1=1, axis2=2)
    np.testing.assert_allclose(res.mode_kappa_p_W_mK.sum(axis=(1, 2)), diag_p, rtol=1e-10)
    np.testing.assert_allclose(res.branch_kappa_c_W_mK.sum(axis=1), diag_c, rtol=1e-10)
    np.testing.assert_allclose(res.cumulative_kappa_p_W_mK[:, -1], diag_p, rtol=1e-10)
    np.testing.assert_allclose(res.cumulative_kappa_c_W_mK[:, -1], diag_c, rtol=1e-10)
    assert res.weights.sum() == np.prod(MESH)
    # three-phonon RTA at high T: kappa_p ~ 1/T, so alpha close to -1
    np.testing.assert_allclose(res.alpha_p, -1.0, atol=0.1)


def test_gaussian_smearing_and_round_trip(al_fc, tmp_path):
    prim, fc2, fc3 = al_fc
    res = wigner_conductivity(prim, fc2, fc3, supercell_matrix=[3, 3, 3], mesh=[4, 4, 4], temperatures_K=[300.0],
                              smearing="gaussian", sigma_THz=0.2, is_isotope=False)
    assert res.smearing == "gaussian" and res.sigma_THz == 0.2
    assert np.all(res.gamma_isotope_THz == 0)
    assert res.kappa_p_W_mK[0, 0, 0] > 0
    back = WignerResult.load(res.save(tmp_path / "w.json"))
    np.testing.assert_array_equal(back.kappa_c_W_mK, res.kappa_c_W_mK)
    np.testing.assert_array_equal(back.mode_kappa_p_W_mK, res.mode_kappa_p_W_mK)
    with pytest.raises(ValueError, match="sigma_THz"):
        wigner_conductivity(prim, fc2, fc3, supercell_matrix=[3, 3, 3], smearing="gaussian")
    with pytest.raises(ValueError, match="adaptive"):
        wigner_conductivity(prim, fc2, fc3, supercell_matrix=[3, 3, 3], smearing="adaptive")


def test_fc2_in_md_supercell_order_is_reordered(al_fc):
    from incipient.lattice.phonopy_io import supercell_permutation

    prim, fc2, fc3 = al_fc
    md_cell = prim.repeat((3, 3, 3))
    ph3 = make_phono3py(prim, [3, 3, 3])
    perm = supercell_permutation(md_cell, ph3.supercell)  # phonopy atom i == md atom perm[i]
    inv = np.argsort(perm)
    fc2_md = fc2[np.ix_(inv, inv)]  # the same force constants in the MD cell's atom order
    kw = dict(supercell_matrix=[3, 3, 3], mesh=[3, 3, 3], temperatures_K=[300.0])
    ref = wigner_conductivity(prim, fc2, fc3, **kw)
    got = wigner_conductivity(prim, fc2_md, fc3, fc2_atoms=md_cell, **kw)
    np.testing.assert_allclose(got.kappa_p_W_mK, ref.kappa_p_W_mK, rtol=1e-12)
    with pytest.raises(ValueError, match="phonon supercell"):
        wigner_conductivity(prim, fc2[:5, :5], fc3, **kw)


def test_orthorhombic_symmetrisation_removes_off_diagonals():
    """CsCu2I3 (Cmcm, CONTROL0 cell): the point group mmm forces a diagonal kappa tensor."""
    from importlib import resources

    import spglib

    from incipient.lattice.shengbte_control import read_shengbte_control

    prim, _ = read_shengbte_control(resources.files("incipient") / "data" / "CsCu2I3" / "CONTROL0")
    ds = spglib.get_symmetry_dataset((prim.cell[:], prim.get_scaled_positions(), prim.numbers), symprec=1e-3)
    assert ds.international == "Cmcm"
    # the published coherence tensor at 300 K-like numbers with a spurious yz = -0.02
    k = np.array([[0.22, 0.0, 0.0], [0.0, 0.21, -0.02], [0.0, -0.02, 0.12]])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1e-3, (3, 3))
    ks = symmetrize_tensor(k + noise + noise.T, prim.cell[:], ds.rotations)
    np.testing.assert_allclose(ks - np.diag(np.diagonal(ks)), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.diagonal(ks), np.diagonal(k + noise + noise.T), atol=1e-15)
    np.testing.assert_allclose(ks, ks.T, atol=0)
    # idempotent
    np.testing.assert_allclose(symmetrize_tensor(ks, prim.cell[:], ds.rotations), ks, atol=1e-15)


@pytest.mark.slow
def test_cscu2i3_paper_fc3_with_0K_mtp_fc2():
    """CsCu2I3: the 0 K MTP fc2 is unstable at Gamma (Cu double well); paper fc3 maps and runs."""
    from importlib import resources

    from motep.calculator import MTP
    from motep.io.mlip.mtp import read_mtp

    from incipient.lattice.phonons import check_stability, make_phonopy
    from incipient.lattice.shengbte_control import read_shengbte_control

    data = resources.files("incipient") / "data" / "CsCu2I3"
    prim, settings = read_shengbte_control(data / "CONTROL0")
    ph = make_phonopy(prim, settings["scell"], symprec=1e-3)
    ph.generate_displacements(distance=0.01)
    d = read_mtp(str(data / "cscuI.mtp"))
    d.species = [55, 29, 53]
    calc = MTP(d, engine="cext")
    set_displacement_forces(ph, calc)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    ph.run_qpoints([[0, 0, 0]])
    f_gamma = ph.qpoints.frequencies[0]
    # two imaginary optical modes near -1.3 THz at Gamma
    assert np.sum(f_gamma < -0.5) == 2
    np.testing.assert_allclose(np.sort(f_gamma)[:2], [-1.33, -1.28], atol=0.1)
    assert len(check_stability(ph, mesh=(2, 2, 2))) > 0
    res = wigner_conductivity(prim, ph.force_constants, data / "FORCE_CONSTANTS_3RD", supercell_matrix=settings["scell"],
                              mesh=[2, 2, 2], temperatures_K=[300.0], symprec=1e-3)
    k = res.kappa_p_W_mK[0] + res.kappa_c_W_mK[0]
    assert np.all(np.diagonal(k) > 0)
    np.testing.assert_allclose(k - np.diag(np.diagonal(k)), 0.0, atol=1e-14)
