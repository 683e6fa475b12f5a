"""Sampled and exact 3ph linewidths on phono3py's kernel (incipient.transport.threephonon).

fcc Cu (1 atom, EMT, phono3py finite-displacement fc3 on 3x3x3 with a pair cutoff): the fc3
sparsity mask leaves phono3py's Wigner kappa unchanged (to rounding) while skipping most atom
triplets; the exact sum equals phono3py's own RTA linewidths and isotope rates; the stratified
estimate over seeds is centred on the exact rates with honest errors (z-score bounds), and the
same bounds reject errors three times too small.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.transport.threephonon import (
    estimate_from_values,
    fc3_sparsity_mask,
    isotope_rates,
    three_phonon_rates,
)

T = [300.0, 600.0]


def _cu_phono3py(mesh, nonzero=False):
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    a = bulk("Cu", "fcc", a=3.61)
    u = PhonopyAtoms(symbols=a.get_chemical_symbols(), cell=a.cell[:], scaled_positions=a.get_scaled_positions())
    ph3 = Phono3py(u, supercell_matrix=np.eye(3, dtype=int) * 3, primitive_matrix="P", log_level=0)
    ph3.generate_displacements(distance=0.03, cutoff_pair_distance=2.8)
    forces = []
    for sc in ph3.supercells_with_displacements:
        if sc is None:
            forces.append(np.zeros((len(ph3.supercell), 3)))
            continue
        at = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        at.calc = EMT()
        forces.append(at.get_forces())
    ph3.forces = np.array(forces)
    ph3.produce_fc2()
    ph3.produce_fc3()
    if nonzero:
        ph3.fc3_nonzero_indices = fc3_sparsity_mask(ph3.fc3)
    ph3.mesh_numbers = [mesh] * 3
    ph3.init_phph_interaction()
    return ph3


def _truncate_fc3(ph3, cutoff_A):
    """Zero the fc3 blocks (i, j, k) with a pair farther apart than ``cutoff_A`` (minimum image),
    as a ShengBTE fc3 with a short cutoff is."""
    sc = ph3.supercell
    pos, cell = np.asarray(sc.positions), np.asarray(sc.cell)
    d = pos[None] - pos[:, None]
    frac = d @ np.linalg.inv(cell)
    dist = np.linalg.norm((frac - np.rint(frac)) @ cell, axis=-1)  # (N, N)
    p2s = np.asarray(ph3.primitive.p2s_map)
    keep = (dist[p2s][:, :, None] <= cutoff_A) & (dist[p2s][:, None, :] <= cutoff_A) & (dist[None] <= cutoff_A)
    fc3 = np.array(ph3.fc3)
    fc3[~keep] = 0.0
    ph3.fc3 = fc3


def test_sparsity_mask_leaves_phono3py_kappa_unchanged():
    from incipient.transport.threephonon import fc3_sparsity_mask

    ref, ph3 = _cu_phono3py(4), _cu_phono3py(4)
    for p in (ref, ph3):
        _truncate_fc3(p, 2.7)  # nearest neighbours (2.55 A) only
    ph3.fc3_nonzero_indices = fc3_sparsity_mask(ph3.fc3)
    ph3.init_phph_interaction()
    ref.init_phph_interaction()
    mask = ph3.fc3_nonzero_indices
    assert mask.shape == ph3.fc3.shape[:3] and mask.dtype == np.byte
    assert 0.005 < mask.mean() < 0.2  # the cutoff leaves most atom triplets empty: a real test of the mask
    # every block left out is zero, and every block kept is not
    blk = np.abs(ph3.fc3).max(axis=(3, 4, 5))
    assert np.all(blk[mask == 0] == 0) and np.all(blk[mask == 1] > 0)
    out = []
    for p in (ref, ph3):
        p.run_thermal_conductivity(temperatures=T, transport_type="SMM19", is_isotope=True)
        tc = p.thermal_conductivity
        out.append((np.asarray(tc.kappa_intra[0]), np.asarray(tc.kappa_inter[0]), np.asarray(tc.gamma[0])))
    for a, b in zip(*out, strict=True):
        assert np.abs(b).max() > 0
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14 * np.abs(a).max())
    # phono3py does read the mask: leaving out half of the nonzero blocks changes the linewidths
    bad = mask.copy()
    nz = np.flatnonzero(bad)
    bad.flat[nz[::2]] = 0
    ph3.fc3_nonzero_indices = bad
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=T, transport_type="SMM19", is_isotope=True)
    g_bad = np.asarray(ph3.thermal_conductivity.gamma[0])
    assert np.abs(g_bad - out[0][2]).max() > 0.05 * np.abs(out[0][2]).max()


def test_wigner_conductivity_masks_an_array_fc3_by_default():
    from incipient.transport.wigner import wigner_conductivity

    ph3 = _cu_phono3py(4)
    prim = bulk("Cu", "fcc", a=3.61)
    kw = {"supercell_matrix": [3, 3, 3], "mesh": [4, 4, 4], "temperatures_K": T}
    fc2, fc3 = np.array(ph3.fc2), np.array(ph3.fc3)
    default = wigner_conductivity(prim, fc2, fc3, **kw)
    full = wigner_conductivity(prim, fc2, fc3, fc3_nonzero_indices=np.ones(fc3.shape[:3], dtype="byte"), **kw)
    assert default.kappa_p_W_mK[0, 0, 0] > 1.0
    np.testing.assert_allclose(default.kappa_p_raw_W_mK, full.kappa_p_raw_W_mK, rtol=1e-12)
    np.testing.assert_allclose(default.kappa_c_raw_W_mK, full.kappa_c_raw_W_mK, rtol=1e-12,
                               atol=1e-14 * np.abs(full.kappa_c_raw_W_mK).max())


@pytest.fixture(scope="module")
def cu6():
    ph3 = _cu_phono3py(6, nonzero=True)
    exact = three_phonon_rates(ph3, T, keep_triplet_values=True)
    return ph3, exact


def test_exact_equals_phono3py_rta_and_isotopes():
    ref = _cu_phono3py(4)
    ref.run_thermal_conductivity(temperatures=T, transport_type="SMM19", is_isotope=True)
    tc = ref.thermal_conductivity
    ph3 = _cu_phono3py(4, nonzero=True)
    r = three_phonon_rates(ph3, T)
    np.testing.assert_allclose(r.qpoints_frac, tc.qpoints, atol=1e-12)
    np.testing.assert_array_equal(r.weights, tc.grid_weights)
    g = 4 * np.pi * np.asarray(tc.gamma[0])
    assert np.abs(r.rates_per_ps - g).max() <= 1e-10 * np.abs(g).max()
    assert np.all(r.rates_stderr_per_ps == 0) and r.estimator == "exact"
    # a budget covering every triplet is the exact sum too
    r2 = three_phonon_rates(ph3, T, n_samples=int(r.n_triplets.max()), rng=0)
    assert np.abs(r2.rates_per_ps - g).max() <= 1e-10 * np.abs(g).max()
    iso = isotope_rates(ph3, r.grid_points)
    gi = 4 * np.pi * np.asarray(tc.gamma_isotope[0])
    assert gi.max() > 0
    np.testing.assert_allclose(iso, gi, rtol=1e-10, atol=1e-14 * gi.max())


def test_offline_estimate_equals_a_real_sampled_run(cu6):
    ph3, exact = cu6
    M = 12
    real = three_phonon_rates(ph3, T, n_samples=M, rng=np.random.default_rng(7))
    assert real.n_evaluated.sum() < real.n_triplets.sum()
    off, _ = _offline(ph3.phph_interaction, exact, M, np.random.default_rng(7))
    np.testing.assert_allclose(real.rates_per_ps, off, rtol=1e-12, atol=1e-14)


def _offline(pp, exact, M, gen, estimator="ratio", floor_cv=None):
    from phono3py.phonon3.imag_self_energy import average_by_degeneracy

    est = np.zeros_like(exact.rates_per_ps)
    err = np.zeros_like(est)
    for k, (tr, _, y, x) in enumerate(exact.triplet_values):
        if M >= len(tr):
            est[:, k] = exact.rates_per_ps[:, k]
            continue
        xs = x[len(x) // 2]
        tot = xs.sum(axis=0)
        score = (xs / np.where(tot > 0, tot, 1.0)[None]).sum(axis=1)
        score = np.maximum(score, 1e-12 * score.max())
        kw = {} if floor_cv is None else {"floor_cv": floor_cv}
        t, v, _ = estimate_from_values(y, x, score, M, gen, estimator=estimator, **kw)
        deg = pp.phonons.degenerate_ids[exact.grid_points[k]]  # phono3py's averaging, as three_phonon_rates
        for it in range(len(T)):
            est[it, k] = average_by_degeneracy(t[it], pp.band_indices, deg)
            err[it, k] = average_by_degeneracy(np.sqrt(v[it]), pp.band_indices, deg)
    return est, err


def _z(pp, exact, M, seeds, scale=1.0, estimator="ratio", floor_cv=None):
    f = exact.frequencies_THz
    ex = exact.rates_per_ps  # degeneracy-averaged, as the estimates
    z, zlow = [], []
    low = f <= np.quantile(f[f > 0.05], 0.15)
    for s in seeds:
        est, err = _offline(pp, exact, M, np.random.default_rng(s), estimator, floor_cv)
        ok = (err > 0) & (f[None] > 0.05)
        zz = (est - ex) / np.where(ok, err * scale, 1.0)
        z.append(zz[ok])
        zlow.append(zz[ok & low[None]])
    return np.concatenate(z), np.concatenate(zlow)


@pytest.mark.parametrize("estimator", ["ratio", "expansion"])
def test_sampled_rates_unbiased_with_honest_errors(cu6, estimator):
    ph3, exact = cu6
    pp = ph3.phph_interaction
    M = 16  # of up to ~110 triplets per grid point
    # Cu's 3 bands give far sparser tetrahedron weights than CsCu2I3's 36 (default floor_cv = 1,
    # calibrated there): a larger variance floor is needed for honest errors
    z, zlow = _z(pp, exact, M, range(8), estimator=estimator, floor_cv=3.0)
    rms = np.sqrt((z**2).mean())
    assert 0.5 < rms < 1.6, rms
    assert abs(z.mean()) < 0.45, z.mean()
    assert np.mean(np.abs(z) > 3) < 0.04
    assert np.sqrt((zlow**2).mean()) < 1.8
    # the bounds have power: errors three times too small are rejected, and so is the unfloored error
    z3, _ = _z(pp, exact, M, range(8), scale=1 / 3, estimator=estimator, floor_cv=3.0)
    assert np.sqrt((z3**2).mean()) > 1.6
    z0, _ = _z(pp, exact, M, range(8), estimator=estimator, floor_cv=0.0)
    assert np.sqrt((z0**2).mean()) > 1.6 or np.mean(np.abs(z0) > 3) > 0.04
