"""Velocity-operator conventions of the Wigner assembly: crystal (atomic-position phases, the
default) vs lattice-vector phases (ShengBTE's D(q)), complex or with real off-diagonal elements."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.lattice.phonons import make_phonopy, set_displacement_forces
from incipient.transport.wigner_assembly import (
    VELOCITY_CONVENTIONS,
    irreducible_mesh,
    lattice_phase_dynamical_matrix,
    point_group_cartesian,
    velocity_operator,
    wigner_kappa,
)

Q_GENERIC = np.array([0.13, 0.27, -0.31])


def _phonopy(atoms, supercell):
    ph = make_phonopy(atoms, supercell)
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, EMT())
    ph.produce_force_constants()
    return ph


@pytest.fixture(scope="module")
def pmmm():
    """Orthorhombic (Pmmm, point group mmm) 3-atom crystal, Cu at (+-x, 0, 0): the mirror x -> -x
    moves one Cu into the next cell, so the lattice-phase gauge is not covariant."""
    a = Atoms("Cu2Al", cell=[6.0, 2.7, 3.0], scaled_positions=[[0.22, 0, 0], [0.78, 0, 0], [0.5, 0.5, 0.5]],
              pbc=True)
    return a, _phonopy(a, [2, 3, 3])


@pytest.fixture(scope="module")
def fcc_al():
    a = bulk("Al", "fcc", a=4.05)  # one atom per primitive cell, at the origin
    return a, _phonopy(a, [3, 3, 3])


def _kappa(ph, atoms, q, conv, *, scale=1.0, weights=None, rotations=None):
    f, v = velocity_operator(ph, q, velocity_convention=conv)
    G = scale * (0.3 + 0.2 * np.abs(f))  # 1/ps, a smooth made-up linewidth, the same in every convention
    return f, v, wigner_kappa(f, v, G, [300.0, 600.0], atoms.get_volume(), weights=weights,
                              rotations_cartesian=rotations)


def test_options_and_errors(pmmm):
    a, ph = pmmm
    assert VELOCITY_CONVENTIONS == ("crystal", "lattice_phase", "lattice_phase_real")
    f0, v0 = velocity_operator(ph, [Q_GENERIC])
    f1, v1 = velocity_operator(ph, [Q_GENERIC], velocity_convention="crystal")
    np.testing.assert_array_equal(v0, v1)  # the default is the crystal convention, bit for bit
    np.testing.assert_array_equal(f0, f1)
    with pytest.raises(ValueError, match="velocity_convention"):
        velocity_operator(ph, [Q_GENERIC], velocity_convention="shengbte")
    with pytest.raises(ValueError, match="gv_delta_q"):
        velocity_operator(ph, [Q_GENERIC], velocity_convention="lattice_phase", gv_delta_q=1e-5)


def test_one_atom_basis_all_conventions_agree(fcc_al):
    """tau = 0: D^L = D^c, so "lattice_phase" is phono3py's operator bit for bit; at q-points
    without degeneracy D (real for a Bravais lattice with inversion) has real eigenvectors, so the
    real part changes nothing there either. Inside degenerate subspaces LAPACK mixes the
    eigenvectors with complex coefficients, which "lattice_phase_real" does not undo: there (and
    only there) it differs even for one atom per cell."""
    a, ph = fcc_al
    m = irreducible_mesh(a, [4, 4, 4], use_symmetry=False)
    ref_f, ref_v, ref = _kappa(ph, a, m.qpoints_frac, "crystal")
    assert ref.kappa_c[0, 0, 0] > 1e-3 * ref.kappa_p[0, 0, 0] > 0
    f, v, k = _kappa(ph, a, m.qpoints_frac, "lattice_phase")
    np.testing.assert_array_equal(f, ref_f)
    np.testing.assert_array_equal(v, ref_v)
    np.testing.assert_array_equal(k.kappa_c, ref.kappa_c)
    f, v, k = _kappa(ph, a, m.qpoints_frac, "lattice_phase_real")
    np.testing.assert_allclose(k.kappa_p, ref.kappa_p, rtol=1e-12, atol=1e-14)
    q = np.random.default_rng(1).uniform(-0.5, 0.5, (6, 3))  # generic points: no degeneracy
    fg, vg = velocity_operator(ph, q)
    assert (np.diff(fg, axis=1) > 1e-3).all()
    _, vr = velocity_operator(ph, q, velocity_convention="lattice_phase_real")
    np.testing.assert_allclose(vr, vg, rtol=0, atol=1e-12 * np.abs(vg).max())


def test_lattice_phase_dynamical_matrix_periodic_and_derivative(pmmm):
    a, ph = pmmm
    DL, dDL = lattice_phase_dynamical_matrix(ph, Q_GENERIC)
    assert np.allclose(DL, DL.conj().T, atol=1e-12)
    fac2 = ph.unit_conversion_factor ** 2
    for G in np.eye(3):
        D2, _ = lattice_phase_dynamical_matrix(ph, Q_GENERIC + G)
        np.testing.assert_allclose(D2, DL, rtol=0, atol=1e-10 * np.abs(DL).max())  # periodic in q
    ph.dynamical_matrix.run(Q_GENERIC)
    Dc = ph.dynamical_matrix.dynamical_matrix * fac2
    ph.dynamical_matrix.run(Q_GENERIC + [1, 0, 0])
    assert np.abs(ph.dynamical_matrix.dynamical_matrix * fac2 - Dc).max() > 1e-3 * np.abs(Dc).max()  # D^c is not
    np.testing.assert_allclose(np.linalg.eigvalsh(DL), np.linalg.eigvalsh(Dc), atol=1e-9)
    h = 1e-5  # 1/A, Cartesian central differences
    for ax in range(3):
        dq = a.cell[:] @ (h * np.eye(3)[ax])  # Cartesian step -> reduced coordinates
        Dp, _ = lattice_phase_dynamical_matrix(ph, Q_GENERIC + dq)
        Dm, _ = lattice_phase_dynamical_matrix(ph, Q_GENERIC - dq)
        np.testing.assert_allclose((Dp - Dm) / (2 * h), dDL[ax], rtol=0, atol=1e-6 * np.abs(dDL[ax]).max())


@pytest.mark.parametrize("conv", ["crystal", "lattice_phase"])
def test_velocity_operator_equals_finite_difference_of_D(pmmm, conv):
    """v_ss' = <e_s|dD/dq|e_s'>/(2 sqrt(f_s f_s')) with dD/dq by central differences of D(q) in the
    convention's own gauge (compared by modulus: eigenvector phases are arbitrary)."""
    a, ph = pmmm
    fac2 = ph.unit_conversion_factor ** 2

    def D(q):
        if conv == "lattice_phase":
            return lattice_phase_dynamical_matrix(ph, q)[0]
        ph.dynamical_matrix.run(q)
        return ph.dynamical_matrix.dynamical_matrix * fac2

    f, v = velocity_operator(ph, [Q_GENERIC], velocity_convention=conv)
    f, v = f[0], v[0]
    assert np.min(np.diff(f)) > 1e-3 and f[0] > 0.05  # generic q of this crystal: no degeneracy
    ev, e = np.linalg.eigh(D(Q_GENERIC))
    h = 1e-5
    for ax in range(3):
        dq = a.cell[:] @ (h * np.eye(3)[ax])
        dD = (D(Q_GENERIC + dq) - D(Q_GENERIC - dq)) / (2 * h)
        vfd = e.conj().T @ dD @ e / (2 * np.sqrt(np.outer(f, f)))
        np.testing.assert_allclose(np.abs(v[ax]), np.abs(vfd), rtol=0, atol=1e-6 * np.abs(vfd).max())
        # diagonal = group velocity df/dq
        fp = np.sqrt(np.linalg.eigvalsh(D(Q_GENERIC + dq)))
        fm = np.sqrt(np.linalg.eigvalsh(D(Q_GENERIC - dq)))
        np.testing.assert_allclose(np.diagonal(v[ax]).real, (fp - fm) / (2 * h), rtol=0, atol=1e-5)


def test_lattice_phase_is_crystal_plus_position_operator_term(pmmm):
    """v^L_ss' = v^c_ss' + 2 pi i (f_s'^2 - f_s^2)/(2 sqrt(f_s f_s')) <e^c_s|tau_a|e^c_s'>."""
    a, ph = pmmm
    f, vc = velocity_operator(ph, [Q_GENERIC])
    _, vl = velocity_operator(ph, [Q_GENERIC], velocity_convention="lattice_phase")
    ph.dynamical_matrix.run(Q_GENERIC)
    _, ec = np.linalg.eigh(ph.dynamical_matrix.dynamical_matrix)  # phono3py's eigenvectors (no degeneracy here)
    f = f[0]
    # phono3py's v^c uses these eigenvectors; fix the phases of v^c by recomputing it in this basis
    DL, dDL = lattice_phase_dynamical_matrix(ph, Q_GENERIC)
    u = np.repeat(np.exp(2j * np.pi * a.get_scaled_positions() @ Q_GENERIC), 3)
    el = u[:, None] * ec  # eigenvectors of D^L, e^L = U e^c
    norm = 2 * np.sqrt(np.outer(f, f))
    vl_same_basis = np.einsum("is,aij,jt->ast", el.conj(), dDL, el) / norm
    tau = np.repeat(a.get_positions(), 3, axis=0)
    X = np.einsum("is,ia,it->ast", ec.conj(), tau, ec)
    df2 = f[None, :] ** 2 - f[:, None] ** 2  # f_s'^2 - f_s^2
    extra = 2j * np.pi * df2[None] / norm[None] * X
    fac2 = ph.unit_conversion_factor ** 2
    ph_ddm = np.einsum("is,aij,jt->ast", ec.conj(), _dDc(ph, Q_GENERIC) * fac2, ec) / norm
    np.testing.assert_allclose(vl_same_basis, ph_ddm + extra, rtol=0, atol=1e-8 * np.abs(vl_same_basis).max())
    np.testing.assert_allclose(np.abs(ph_ddm), np.abs(vc[0]), rtol=0, atol=1e-8 * np.abs(vc).max())
    np.testing.assert_allclose(np.abs(vl_same_basis), np.abs(vl[0]), rtol=0, atol=1e-8 * np.abs(vl).max())
    assert np.abs(extra).max() > 0.1 * np.abs(vc).max()  # the term is not small
    np.testing.assert_allclose(np.diagonal(extra, axis1=1, axis2=2), 0, atol=1e-14)


def _dDc(ph, q):
    from phonopy.harmonic.derivative_dynmat import DerivativeOfDynamicalMatrix

    ddm = DerivativeOfDynamicalMatrix(ph.dynamical_matrix)
    ddm.run(q)
    return np.asarray(ddm.d_dynamical_matrix)[:3]


def test_multi_atom_kappa_p_invariant_kappa_c_and_symmetry_not(pmmm):
    """Full 4x4x4 mesh, no symmetry operation: the crystal convention gives an mmm-symmetric
    (diagonal) tensor equal to the irreducible + point-group result; the lattice conventions give
    the same kappa_p but a different kappa_c with nonzero off-diagonal (yz) elements."""
    a, ph = pmmm
    full = irreducible_mesh(a, [4, 4, 4], use_symmetry=False)
    ir = irreducible_mesh(a, [4, 4, 4])
    rots = point_group_cartesian(a)
    assert len(rots) == 8
    _, _, kc_full = _kappa(ph, a, full.qpoints_frac, "crystal")
    _, _, kc_ir = _kappa(ph, a, full.qpoints_frac[ir.ir_index], "crystal", weights=ir.weights, rotations=rots)
    scale = np.abs(kc_full.kappa_c).max()
    off = ~np.eye(3, dtype=bool)
    assert np.abs(kc_full.kappa_c[:, off]).max() < 1e-10 * scale
    assert np.abs(kc_full.kappa_p[:, off]).max() < 1e-10 * np.abs(kc_full.kappa_p).max()
    np.testing.assert_allclose(kc_full.kappa_c, kc_ir.kappa_c, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(kc_full.kappa_p, kc_ir.kappa_p, rtol=1e-9, atol=1e-12)
    f_c, v_c = velocity_operator(ph, full.qpoints_frac)
    for conv in ("lattice_phase", "lattice_phase_real"):
        f, v, k = _kappa(ph, a, full.qpoints_frac, conv)
        np.testing.assert_allclose(f, f_c, atol=1e-9)
        ok = f > 1e-3
        np.testing.assert_allclose(np.einsum("qass->qsa", v).real[ok], np.einsum("qass->qsa", v_c).real[ok],
                                   rtol=0, atol=1e-8 * np.abs(v_c).max())  # group velocities: gauge-invariant
        np.testing.assert_allclose(k.kappa_p, kc_full.kappa_p, rtol=1e-9, atol=1e-12)
        assert np.abs(np.diagonal(k.kappa_c, axis1=1, axis2=2) / np.diagonal(kc_full.kappa_c, axis1=1, axis2=2)
                      - 1).max() > 0.05
        assert abs(k.kappa_c[0, 1, 2]) > 1e-3 * scale  # yz != 0 in an mmm crystal: symmetry broken
        assert np.allclose(k.kappa_c, np.swapaxes(k.kappa_c, 1, 2), rtol=1e-10, atol=1e-14 * scale)
