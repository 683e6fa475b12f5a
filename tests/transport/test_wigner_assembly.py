"""Wigner assembly: analytic two-band case and equality with phono3py's SMM19 Wigner RTA."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.lattice.phonons import set_displacement_forces
from incipient.transport.wigner_assembly import (
    WignerKappa,
    combine_scattering_rates,
    irreducible_mesh,
    mode_heat_capacity_J_K,
    point_group_cartesian,
    velocity_operator,
    wigner_kappa,
)

HBAR, KB = 1.054571817e-34, 1.380649e-23


def test_two_band_analytic_matches_paper_eqs_4_5():
    f = np.array([[2.0, 3.0]])  # THz
    v = np.zeros((1, 3, 2, 2), complex)
    v[0, 0] = [[5.0, 1.0 + 2.0j], [1.0 - 2.0j, -3.0]]  # THz A = 100 m/s, Hermitian
    G = np.array([[0.7, 1.9]])  # 1/ps
    T, V = 250.0, 40.0
    res = wigner_kappa(f, v, G, [T], V)
    w = 2 * np.pi * f[0] * 1e12
    n = 1 / np.expm1(HBAR * w / (KB * T))
    Cs = HBAR**2 * w**2 / (KB * T**2) * n * (n + 1)
    vol = V * 1e-30
    vx = v[0, 0] * 100.0
    Gs = G[0] * 1e12
    kp = np.sum(Cs * vx.diagonal().real ** 2 / Gs) / vol
    # eq. 5 of the paper, written with n(n+1) (independent of the C_ss' rewriting)
    kc = 0.0
    for s, sp in ((0, 1), (1, 0)):
        kc += (HBAR**2 / (KB * T**2 * vol) * (w[s] + w[sp]) / 2 * (vx[s, sp] * vx[sp, s]).real
               * (w[s] * n[s] * (n[s] + 1) + w[sp] * n[sp] * (n[sp] + 1))
               / (4 * (w[s] - w[sp]) ** 2 + (Gs[s] + Gs[sp]) ** 2) * (Gs[s] + Gs[sp]))
    assert res.kappa_p[0, 0, 0] == pytest.approx(kp, rel=1e-10)
    assert res.kappa_c[0, 0, 0] == pytest.approx(kc, rel=1e-10)
    assert res.kappa_c[0, 1, 1] == 0 and res.kappa_p[0, 2, 2] == 0
    np.testing.assert_allclose(res.mode_kappa_p[0].sum(axis=(0, 1)), np.diag(res.kappa_p[0]))
    np.testing.assert_allclose(res.mode_kappa_c[0].sum(axis=(0, 1)), np.diag(res.kappa_c[0]))
    # heat capacity: classical limit kB
    assert mode_heat_capacity_J_K(np.array([0.01]), 3000.0)[0] == pytest.approx(KB, rel=1e-6)


def test_combine_rates_and_validation(tmp_path):
    a, b = np.ones((2, 3)), np.full((2, 3), 2.0)
    np.testing.assert_array_equal(combine_scattering_rates(a, None, b), 3.0)
    with pytest.raises(ValueError, match="non-negative"):
        combine_scattering_rates(-a)
    with pytest.raises(ValueError, match="velocity_operator_THzA"):
        wigner_kappa(np.ones((2, 3)), np.zeros((2, 3, 2, 2)), np.ones((2, 3)), [300.0], 10.0)
    res = wigner_kappa(np.ones((1, 1)), np.ones((1, 3, 1, 1)), np.ones((1, 1)), [300.0], 10.0)
    back = WignerKappa.load(res.save(tmp_path / "k.json"))
    np.testing.assert_array_equal(back.kappa_p, res.kappa_p)


@pytest.fixture(scope="module")
def al_phono3py():
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    a = bulk("Al", "fcc", a=4.05, cubic=True)  # 4-atom cell as primitive: 12 bands, folded
    u = PhonopyAtoms(symbols=a.get_chemical_symbols(), cell=a.cell[:],
                     scaled_positions=a.get_scaled_positions())
    ph3 = Phono3py(u, supercell_matrix=np.eye(3, dtype=int) * 2, primitive_matrix="P", log_level=0)
    ph3.generate_displacements(distance=0.03, cutoff_pair_distance=3.0)
    set_displacement_forces(ph3, EMT())
    ph3.produce_fc3()
    ph3.mesh_numbers = [4, 4, 4]
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=[300.0, 600.0], transport_type="SMM19")
    return u, ph3


def test_equals_phono3py_wigner_rta(al_phono3py):
    u, ph3 = al_phono3py
    tc = ph3.thermal_conductivity
    f, v = velocity_operator(ph3, tc.qpoints)
    np.testing.assert_allclose(f, tc.frequencies, atol=1e-6)
    res = wigner_kappa(f, v, 4 * np.pi * tc.gamma[0], [300.0, 600.0], u.volume,
                       weights=tc.grid_weights, rotations_cartesian=point_group_cartesian(u))
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for i, (a, b) in enumerate(voigt):
        np.testing.assert_allclose(res.kappa_p[:, a, b], tc.kappa_intra[0, :, i], rtol=2e-5, atol=1e-9)
        np.testing.assert_allclose(res.kappa_c[:, a, b], tc.kappa_inter[0, :, i], rtol=2e-5, atol=1e-9)
    assert res.kappa_c[0, 0, 0] > 0.01 * res.kappa_p[0, 0, 0]  # the coherence term is really tested
    # spglib irreducible mesh has the same star sizes as phono3py's
    m = irreducible_mesh(u, [4, 4, 4])
    assert sorted(m.weights.tolist()) == sorted(tc.grid_weights.tolist()) and m.weights.sum() == 64
