"""kappa in each velocity convention from the same linewidths (full-mesh sums): the crystal tensor
has the point-group symmetry and equals the irreducible + point-group assembly; the lattice-phase
ones share kappa_p and break the symmetry of kappa_c."""

from __future__ import annotations

import numpy as np
import pytest
from test_velocity_convention import _phonopy

from incipient.transport.conventions import ConventionsResult, compare_velocity_conventions
from incipient.transport.fits import power_law_alpha
from incipient.transport.wigner_assembly import (
    irreducible_mesh,
    point_group_cartesian,
    velocity_operator,
    wigner_kappa,
)

MESH = (4, 4, 4)
T = (300.0, 450.0, 600.0)


@pytest.fixture(scope="module")
def pmmm_rates():
    from ase import Atoms

    a = Atoms("Cu2Al", cell=[6.0, 2.7, 3.0], scaled_positions=[[0.22, 0, 0], [0.78, 0, 0], [0.5, 0.5, 0.5]],
              pbc=True)
    ph = _phonopy(a, [2, 3, 3])
    ir = irreducible_mesh(a, MESH)
    q = ir.qpoints_frac[ir.ir_index]
    f, _ = velocity_operator(ph, q)
    # made-up linewidths, the same in every convention: 3ph-like ~ T, "3+4ph" adds a ~ T^2 part
    g3 = np.array([(0.2 + 0.1 * np.abs(f)) * t / 300 for t in T])
    g34 = g3 + np.array([0.15 * np.abs(f) * (t / 300) ** 2 for t in T])
    return a, ph, q, ir.weights, {"3ph": g3, "3+4ph": g34}


def test_crystal_symmetric_and_equal_to_irreducible_assembly(pmmm_rates, tmp_path):
    a, ph, q, w, rates = pmmm_rates
    r = compare_velocity_conventions(ph, q, w, rates, T, MESH, symprec=1e-5)
    assert r.conventions == ("crystal", "lattice_phase", "lattice_phase_real") and r.channels == ("3ph", "3+4ph")
    assert r.n_q_full == 64 and r.n_q_irreducible == len(q) and r.n_point_group == 8
    c = 0
    scale = np.abs(r.kappa_c_W_mK[c]).max()
    assert np.all(r.asym_c_W_mK[c] < 1e-10 * scale)
    # no degenerate pairs off Gamma here: the crystal full-mesh sum equals the symmetrised one
    np.testing.assert_allclose(r.kappa_c_full_W_mK[c], r.kappa_c_W_mK[c], rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(r.kappa_p_full_W_mK[c], r.kappa_p_W_mK[c], rtol=1e-9, atol=1e-12)
    f, v = velocity_operator(ph, q)
    rots = point_group_cartesian(a)
    for h, ch in enumerate(r.channels):
        ref = wigner_kappa(f, v, rates[ch], T, a.get_volume(), weights=w, rotations_cartesian=rots)
        np.testing.assert_allclose(r.kappa_p_W_mK[c, h], ref.kappa_p, rtol=1e-9, atol=1e-12 * scale)
        np.testing.assert_allclose(r.kappa_c_W_mK[c, h], ref.kappa_c, rtol=1e-9, atol=1e-12 * scale)
        np.testing.assert_allclose(r.alpha[c, h], power_law_alpha(T, np.einsum("tii->ti", ref.kappa)), atol=1e-9)
    # the lattice-phase conventions: same kappa_p, another kappa_c, a symmetry-forbidden yz element
    for c in (1, 2):
        np.testing.assert_allclose(r.kappa_p_W_mK[c], r.kappa_p_W_mK[0], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(r.kappa_p_full_W_mK[c], r.kappa_p_W_mK[0], rtol=1e-8, atol=1e-12)
        assert np.all(r.asym_c_W_mK[c] > 1e-3 * scale)
        assert np.all(np.abs(r.kappa_c_full_W_mK[c][..., 1, 2]) > 1e-3 * scale)  # yz != 0 in mmm
        assert np.abs(r.kappa_c_W_mK[c][..., 1, 2]).max() < 1e-12 * scale  # the symmetrised tensor hides it
    # round trip, tables, figure
    p = r.save(tmp_path / "conv.json")
    back = ConventionsResult.load(p)
    np.testing.assert_array_equal(back.kappa_c_W_mK, r.kappa_c_W_mK)
    assert back.conventions == r.conventions
    head, rows = r.table_rows()
    assert len(rows) == 3 * len(T) and len(head) == len(rows[0])
    assert float(rows[0][5]) == pytest.approx(r.kappa_c_W_mK[0, 1, 0, 0, 0], abs=1e-4)
    assert "3ph" in r.table() and "3+4ph" in r.table()
    r.plot().savefig(tmp_path / "conv.png")


def test_bad_inputs(pmmm_rates):
    _, ph, q, w, rates = pmmm_rates
    with pytest.raises(ValueError, match="not one per star"):
        compare_velocity_conventions(ph, q[:-1], w[:-1], {k: g[:, :-1] for k, g in rates.items()}, T, MESH, symprec=1e-5)
    with pytest.raises(ValueError, match="must be"):
        compare_velocity_conventions(ph, q, w, {"3ph": rates["3ph"][:2]}, T, MESH, symprec=1e-5)
    with pytest.raises(ValueError, match="unknown velocity conventions"):
        compare_velocity_conventions(ph, q, w, rates, T, MESH, conventions=("gauge",), symprec=1e-5)
