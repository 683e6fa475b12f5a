"""Four-phonon rates: brute-force cross-check, sampling error, T^2 limit, symmetry invariance.

Tiny test crystals: fcc Al (EMT harmonic force constants via phonopy) with a fourth-order tensor
from a pair potential phi(|d|^2) = A exp(-|d|^2/b) with random A, b (fully symmetric under the
space group and under index permutation by construction).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.lattice.phonons import set_displacement_forces
from incipient.lattice.shengbte import ShengBTEFC4
from incipient.transport.fourphonon import (
    FourPhononRates,
    four_phonon_rates,
    fourphonon_prefactor,
    mesh_phonons,
)


def _emt_phonopy(atoms, supercell):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    u = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:],
                     scaled_positions=atoms.get_scaled_positions())
    ph = Phonopy(u, supercell_matrix=supercell, primitive_matrix="P")
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, EMT())
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def _d4_pair(d, A, b):
    """Fourth derivative tensor of A exp(-|d|^2/b) with respect to d (analytic)."""
    e = np.exp(-(d @ d) / b)
    f2, f3, f4 = A * e / b**2, -A * e / b**3, A * e / b**4
    eye = np.eye(3)
    t = 16 * f4 * np.einsum("a,b,c,d->abcd", d, d, d, d)
    for s in ("ad,b,c", "bd,a,c", "cd,a,b", "ac,b,d", "bc,a,d", "ab,c,d"):
        t += 8 * f3 * np.einsum(s + "->abcd", eye, d, d)
    for s in ("ac,bd", "bc,ad", "ab,cd"):
        t += 4 * f2 * np.einsum(s + "->abcd", eye, eye)
    return t


def _pair_fc4(atoms, cutoff_A, A, b) -> ShengBTEFC4:
    """ShengBTE-form fc4 of a pair potential: quartets of atom i (home cell) and neighbour j@R."""
    cell, pos, nat = atoms.cell[:], atoms.get_positions(), len(atoms)
    blocks: dict = {}
    for i, j in itertools.product(range(nat), repeat=2):
        for n in itertools.product(range(-2, 3), repeat=3):
            d = pos[j] + np.array(n) @ cell - pos[i]
            if (i == j and not any(n)) or np.linalg.norm(d) > cutoff_A:
                continue
            D = _d4_pair(d, A, b)
            for combo in itertools.product((0, 1), repeat=3):
                slots = [(i, (0, 0, 0)) if c == 0 else (j, n) for c in combo]
                sign = (-1) ** (1 + combo.count(0))  # d/dr_i = -d/dd
                key = (i, *[x for s in slots for x in (s[0], *s[1])])
                blocks[key] = blocks.get(key, 0) + sign * D
    keys = sorted(blocks)
    R = [np.array([k[2 + 4 * m: 5 + 4 * m] for k in keys]) @ cell for m in range(3)]
    return ShengBTEFC4(R2_A=R[0], R3_A=R[1], R4_A=R[2],
                       atoms=np.array([[k[0], k[1], k[5], k[9]] for k in keys]),
                       phi_eV_A4=np.array([blocks[k] for k in keys]))


@pytest.fixture(scope="module")
def al1():
    a = bulk("Al", "fcc", a=4.05)
    rng = np.random.default_rng(11)
    return a, _emt_phonopy(a, np.eye(3, dtype=int) * 4), _pair_fc4(a, 3.0, rng.uniform(10, 30), rng.uniform(3, 6))


@pytest.fixture(scope="module")
def al2():
    """Two-atom cell (fcc primitive doubled along a1): checks the atom phase convention."""
    a = bulk("Al", "fcc", a=4.05).repeat((2, 1, 1))
    a.positions[1] += [0.03, -0.02, 0.01]  # break the pure translation, keep it a 2-atom crystal
    rng = np.random.default_rng(5)
    return a, _emt_phonopy(a, np.diag([2, 3, 3])), _pair_fc4(a, 3.0, rng.uniform(10, 30), rng.uniform(3, 6))


def _brute_force_rates(ph, fc4, mesh, q0_frac, T_K, sigma_THz, fourphonon=None, qpoints=None):
    """Plain-numpy/loop 4ph rates of one q-point from the textbook formulas (fixed Gaussian).

    fourphonon: None, or (scalebroad, min_partner_frequency_THz) for FourPhonon's own smearing,
    written after its RTA_plusplus/plusminus/minusminus loops: width scalebroad*base_sigma(v) with
    base_sigma(v) = sqrt(max_i (G_i.v/n_i)^2/2) of the velocity difference of the second and
    third partner (++: -v2 + v3; +-, --: v2 - v3), processes kept only if |energy mismatch| <=
    width, partners at or below min_partner_frequency_THz dropped. qpoints: the full mesh in any
    order and representation (default: the grid addresses / mesh).
    """
    hbar_eVs, kB = 6.582119569e-16, 8.617333262e-5
    prim = ph.primitive
    m = np.asarray(prim.masses)
    tau = np.asarray(prim.scaled_positions)
    L = np.asarray(prim.cell)
    if qpoints is None:
        grid = np.array(list(itertools.product(*[range(n) for n in mesh])))[:, ::-1]  # any order
        qs = grid / np.asarray(mesh)
    else:
        qs = np.asarray(qpoints, float)
        grid = np.rint(qs * mesh).astype(int) % mesh
    ph.run_qpoints(qs, with_eigenvectors=True, with_group_velocities=True)
    f, ev = np.abs(ph.qpoints.frequencies), ph.qpoints.eigenvectors  # ev[q][3*atom+alpha, band]
    gv = np.asarray(ph.qpoints.group_velocities)  # (q, band, 3), A THz
    steps = 2 * np.pi * np.linalg.inv(L).T / np.asarray(mesh)[:, None]  # rows G_i / n_i (rad/A)
    w = 2 * np.pi * f
    n = 1.0 / np.expm1(hbar_eVs * 1e12 * np.where(f > 0.05, w, 1) / (kB * T_K))
    ok = f > 0.05
    cells = [np.rint(getattr(fc4, k) @ np.linalg.inv(L)).astype(int) for k in ("R2_A", "R3_A", "R4_A")]
    at = fc4.atoms

    def index(q):
        a = np.rint(np.mod(q, 1) * mesh).astype(int) % mesh
        return int(np.flatnonzero((grid == a).all(axis=1))[0])

    def V(qv, evs):
        # atomic-position phase convention: exp(i q.(R + tau)) per slot, phonopy eigenvectors
        ph_ = np.exp(2j * np.pi * (qv[0] @ tau[at[:, 0]].T))
        for s in range(3):
            ph_ = ph_ * np.exp(2j * np.pi * ((cells[s] + tau[at[:, s + 1]]) @ qv[s + 1]))
        e = [evs[s].reshape(-1, 3, evs[s].shape[1])[at[:, s]] / np.sqrt(m[at[:, s]])[:, None, None]
             for s in range(4)]
        t = np.einsum("nabcd,naw->nbcdw", fc4.phi_eV_A4, e[0])
        t = np.einsum("nbcdw,nbx->ncdwx", t, e[1])
        t = np.einsum("ncdwx,ncy->ndwxy", t, e[2])
        return np.einsum("n,ndwxy,ndz->wxyz", ph_, t, e[3])

    i0 = index(np.asarray(q0_frac))
    q0 = qs[i0]
    rate = np.zeros(ev.shape[2])
    cls_sign = {"++": (1, 1, -1), "+-": (1, -1, -1), "--": (-1, -1, -1)}
    cls_w = {"++": 0.5, "+-": 0.5, "--": 1 / 6}
    sg = 2 * np.pi * (sigma_THz or 1.0)
    for i1, i2 in itertools.product(range(len(qs)), repeat=2):
        for cls, (s1, s2, s3) in cls_sign.items():
            # momentum: q + s1 q1 + s2 q2 + s3 q3 = G (s = +1 absorbed, -1 emitted)
            i3 = index(-s3 * (q0 + s1 * qs[i1] + s2 * qs[i2]))
            evs = [ev[i0]]
            qv = [q0]
            for s, ii in zip((s1, s2, s3), (i1, i2, i3), strict=True):
                evs.append(ev[ii] if s == 1 else ev[ii].conj())
                qv.append(qs[ii] if s == 1 else -qs[ii])
            Vt = V(qv, evs)  # (b0, b1, b2, b3)
            n1, n2, n3 = n[i1][:, None, None], n[i2][None, :, None], n[i3][None, None, :]
            if cls == "++":
                F = n1 * n2 * (n3 + 1) - (n1 + 1) * (n2 + 1) * n3
            elif cls == "+-":
                F = n1 * (n2 + 1) * (n3 + 1) - (n1 + 1) * n2 * n3
            else:
                F = (n1 + 1) * (n2 + 1) * (n3 + 1) - n1 * n2 * n3
            mask = ok[i1][:, None, None] & ok[i2][None, :, None] & ok[i3][None, None, :]
            w1, w2, w3 = w[i1][:, None, None], w[i2][None, :, None], w[i3][None, None, :]
            if fourphonon is not None:
                scalebroad, fmin = fourphonon
                vd = (gv[i3][None, :, :] - gv[i2][:, None, :]) if cls == "++" else \
                    (gv[i2][:, None, :] - gv[i3][None, :, :])  # (band2, band3, 3)
                width = scalebroad * np.sqrt(np.max((vd @ steps.T) ** 2, axis=-1) / 2)[None]
                width = np.maximum(width, 2 * np.pi * 1e-3)  # the module's sigma_min_THz floor
                mask = mask & (f[i1] > fmin)[:, None, None] & (f[i2] > fmin)[None, :, None] \
                    & (f[i3] > fmin)[None, None, :]
            for b0 in range(len(rate)):
                x = w[i0, b0] + s1 * w1 + s2 * w2 + s3 * w3
                if fourphonon is None:
                    delta = np.exp(-0.5 * x**2 / sg**2) / (np.sqrt(2 * np.pi) * sg)
                else:
                    delta = np.where(np.abs(x) <= width, np.exp(-x**2 / width**2), 0.0) \
                        / (np.sqrt(np.pi) * width)
                rate[b0] += cls_w[cls] * np.sum(np.where(
                    mask, np.abs(Vt[b0]) ** 2 * F * delta / (w[i0, b0] * w1 * w2 * w3), 0.0))
    rate *= fourphonon_prefactor() / len(qs) ** 2
    return f[i0], np.where(ok[i0], rate, 0.0), qs[i0]


def _check_against_brute_force(ph, fc4, mesh, q_indices):
    mp = mesh_phonons(ph, mesh, use_symmetry=False)
    for qi in q_indices:
        r = four_phonon_rates(mp, fc4, [400.0], smearing="fixed", sigma_THz=0.4, cutoff_sigmas=12.0,
                              q_indices=[qi])
        f_bf, rate_bf, _ = _brute_force_rates(ph, fc4, np.array(mesh), mp.grid.qpoints_frac[qi], 400.0, 0.4)
        np.testing.assert_allclose(r.frequencies_THz[0], f_bf, atol=1e-8)
        # degenerate bands: compare sums over degenerate sets (rates are averaged in the module)
        keys = np.round(f_bf, 5)
        for k in np.unique(keys):
            sel = keys == k
            assert r.rates_per_ps[0, 0, sel].sum() == pytest.approx(rate_bf[sel].sum(), rel=1e-8, abs=1e-14)
        assert rate_bf.max() > 0


def test_exact_matches_brute_force_two_atom_cell(al2):
    """2-atom cell (tests the atom phase convention), 2x2x2 mesh, q = (1/2, 0, 0)."""
    atoms, ph, fc4 = al2
    _check_against_brute_force(ph, fc4, (2, 2, 2), [1])


def test_single_precision_matches_double(al2):
    """complex64 contractions (option) agree with the float64 path; sampled and exact."""
    atoms, ph, fc4 = al2
    mp = mesh_phonons(ph, (3, 3, 3))
    for kw in (dict(smearing="fixed", sigma_THz=0.4), dict(smearing="adaptive", n_samples=40, rng=3)):
        d = four_phonon_rates(mp, fc4, [300.0], q_indices=[1, 4], **kw)
        s = four_phonon_rates(mp, fc4, [300.0], q_indices=[1, 4], single_precision=True, **kw)
        assert s.info["single_precision"] and not d.info["single_precision"]
        assert d.rates_per_ps.max() > 0
        np.testing.assert_allclose(s.rates_per_ps, d.rates_per_ps, rtol=1e-5, atol=1e-9 * d.rates_per_ps.max())
        np.testing.assert_allclose(s.rates_stderr_per_ps, d.rates_stderr_per_ps, rtol=1e-4,
                                   atol=1e-9 * d.rates_per_ps.max())


@pytest.mark.parametrize("fmin", [None, 3.0])
def test_fourphonon_smearing_matches_brute_force(al2, fmin):
    """smearing="fourphonon" = FourPhonon's width, 1-sigma truncation and partner cutoff."""
    atoms, ph, fc4 = al2
    mesh = (2, 2, 3)
    mp = mesh_phonons(ph, mesh, use_symmetry=False)
    r = four_phonon_rates(mp, fc4, [400.0], smearing="fourphonon", scalebroad=1.0, q_indices=[4],
                          min_partner_frequency_THz=fmin)
    # the conventions matter here: a 3-sigma window or no partner cutoff give other rates
    r3 = four_phonon_rates(mp, fc4, [400.0], smearing="fourphonon", scalebroad=1.0, q_indices=[4],
                           min_partner_frequency_THz=fmin, cutoff_sigmas=3.0)
    assert (np.abs(r3.rates_per_ps - r.rates_per_ps) / r.rates_per_ps).max() > 0.05
    assert r.info["cutoff_sigmas"] == 1.0
    fmin_used = 1.25 / (2 * np.pi) if fmin is None else fmin
    assert r.info["min_partner_frequency_THz"] == pytest.approx(fmin_used)
    f_bf, rate_bf, _ = _brute_force_rates(ph, fc4, np.array(mesh), mp.grid.qpoints_frac[4], 400.0, None,
                                          fourphonon=(1.0, fmin_used), qpoints=mp.grid.qpoints_frac)
    assert rate_bf.max() > 0
    keys = np.round(f_bf, 5)
    for k in np.unique(keys):
        sel = keys == k
        assert r.rates_per_ps[0, 0, sel].sum() == pytest.approx(rate_bf[sel].sum(), rel=1e-8, abs=1e-14)


@pytest.mark.slow
def test_exact_matches_brute_force_3x3x3(al1, al2):
    """1- and 2-atom cells on a 3x3x3 mesh (minutes: the brute force is plain numpy)."""
    _check_against_brute_force(al1[1], al1[2], (3, 3, 3), [1, 5])
    _check_against_brute_force(al2[1], al2[2], (3, 3, 3), [5])


def test_sampled_rates_agree_with_exact_within_error(al2):
    atoms, ph, fc4 = al2
    mp = mesh_phonons(ph, (4, 4, 4))
    kw = dict(smearing="fixed", sigma_THz=0.5, q_indices=[1, 3, 6])
    exact = four_phonon_rates(mp, fc4, [300.0, 600.0], **kw)
    # 300 of the 715 distinct slot triples per q-point (1200 would cover them all: exact sum)
    samp = four_phonon_rates(mp, fc4, [300.0, 600.0], n_samples=300, rng=np.random.default_rng(0), **kw)
    assert samp.n_pairs_sampled == 300 and exact.info["exact"] and not samp.info["exact"]
    assert samp.info["sampler"] == "stratified"  # the default
    good = (exact.rates_per_ps > 0) & (samp.rates_stderr_per_ps > 0)
    z = (samp.rates_per_ps - exact.rates_per_ps)[good] / samp.rates_stderr_per_ps[good]
    assert good.sum() > 20
    assert np.abs(z).max() < 4.5
    assert np.sqrt(np.mean(z**2)) < 2.0
    rel = samp.rates_stderr_per_ps[good] / samp.rates_per_ps[good]
    assert np.median(rel) < 0.2  # the stated errors are informative, not huge


def test_classical_limit_T_squared(al1):
    atoms, ph, fc4 = al1
    mp = mesh_phonons(ph, (4, 4, 4))
    r = four_phonon_rates(mp, fc4, [5000.0, 10000.0], smearing="adaptive", scalebroad=1.0)
    ok = r.rates_per_ps[0] > 1e-12 * r.rates_per_ps[0].max()
    assert ok.sum() > 10
    np.testing.assert_allclose(r.rates_per_ps[1][ok] / r.rates_per_ps[0][ok], 4.0, rtol=5e-3)
    # all three process classes contribute (single classes may dip below zero only through the
    # smearing of energy conservation; the totals are positive)
    assert (r.rates_per_ps >= 0).all()
    assert (r.rates_by_class_per_ps.sum(axis=(0, 2, 3)) > 0).all()


def test_rates_invariant_under_symmetry_equivalent_q(al1):
    atoms, ph, fc4 = al1
    mp = mesh_phonons(ph, (4, 4, 4), use_symmetry=False)
    sym = mesh_phonons(ph, (4, 4, 4)).grid
    r = four_phonon_rates(mp, fc4, [300.0], smearing="fixed", sigma_THz=0.3)
    checked = 0
    for rep in sym.ir_index:
        star = np.flatnonzero(sym.mapping == rep)
        ref = r.rates_per_ps[0, rep]
        for s in star:
            np.testing.assert_allclose(r.rates_per_ps[0, s], ref, rtol=1e-7, atol=1e-12 * ref.max())
            checked += 1
    assert checked == 64 and r.rates_per_ps.max() > 0


def test_result_round_trip_and_input_validation(al1, tmp_path):
    atoms, ph, fc4 = al1
    mp = mesh_phonons(ph, (2, 2, 2))
    r = four_phonon_rates(mp, fc4, [300.0], smearing="fixed", sigma_THz=0.5)
    back = FourPhononRates.load(r.save(tmp_path / "r.json"))
    np.testing.assert_array_equal(back.rates_per_ps, r.rates_per_ps)
    with pytest.raises(ValueError, match="sigma_THz"):
        four_phonon_rates(mp, fc4, [300.0], smearing="fixed")
    with pytest.raises(ValueError, match="temperatures_K"):
        four_phonon_rates(mp, fc4, [0.0])
    bad = ShengBTEFC4(R2_A=fc4.R2_A + 0.3, R3_A=fc4.R3_A, R4_A=fc4.R4_A, atoms=fc4.atoms,
                      phi_eV_A4=fc4.phi_eV_A4)
    with pytest.raises(ValueError, match="R2_A"):
        four_phonon_rates(mp, bad, [300.0], smearing="fixed", sigma_THz=0.5)
    # prefactor: pi hbar^2/8 in (eV/(A^4 amu^2))^2 (rad/ps)^-5 ps -> 1/ps, by hand
    hbar, ev, amu = 1.054571817e-34, 1.602176634e-19, 1.66053906660e-27
    assert fourphonon_prefactor() == pytest.approx(np.pi / 8 * hbar**2 * (ev / 1e-40 / amu**2) ** 2
                                                   * 1e-72, rel=1e-12)


def test_power_law_exponent_and_comparison():
    from incipient.transport.fourphonon import compare_kappa_3ph_34ph, power_law_exponent
    from incipient.transport.wigner_assembly import wigner_kappa

    T = np.array([300.0, 400.0, 500.0, 600.0])
    a, c = power_law_exponent(T, 0.3 * (T / 300.0) ** 0.44)
    assert a == pytest.approx(0.44, abs=1e-12) and c == pytest.approx(0.3 * 300.0**-0.44, rel=1e-10)
    with pytest.raises(ValueError):
        power_law_exponent(T, -T)
    # a single particle-like mode with 1/tau ~ T: kappa_p ~ T^-1 at high T (C -> kB)
    f = np.array([[0.5]])
    v = np.zeros((1, 3, 1, 1), complex)
    v[0, :, 0, 0] = 10.0
    G3 = 0.01 * T[:, None, None] * np.ones((4, 1, 1))
    k3 = wigner_kappa(f, v, G3, T, 50.0)
    k34 = wigner_kappa(f, v, 2 * G3, T, 50.0)
    cmp_ = compare_kappa_3ph_34ph(k3, k34, G3, 2 * G3, n_atoms=1)
    np.testing.assert_allclose(cmp_.alpha_3ph, -1.0, atol=2e-3)
    np.testing.assert_allclose(cmp_.kappa_34ph / cmp_.kappa_3ph, 0.5, rtol=1e-12)


def test_batches_in_worker_processes_equal_in_process(al2):
    """wigner_3ph_4ph(n_workers=2) runs 4ph batches in spawned processes: same rates, bit for bit."""
    from incipient.transport.wigner34 import _batch_in_worker, _worker_pool

    atoms, ph, fc4 = al2
    mp = mesh_phonons(ph, (3, 3, 3))
    kw = {"smearing": "adaptive", "scalebroad": 1.0, "single_precision": False}
    seeds = np.random.SeedSequence(7).spawn(2)
    local = [four_phonon_rates(mp, fc4, [300.0], n_samples=30, rng=np.random.default_rng(s), n_threads=1, **kw)
             for s in seeds]
    with _worker_pool(2) as pool:
        remote = list(pool.map(_batch_in_worker, [(mp, fc4, [300.0], 30, s, kw) for s in seeds]))
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_array_equal(a.rates_per_ps, b.rates_per_ps)
        np.testing.assert_array_equal(a.rates_stderr_per_ps, b.rates_stderr_per_ps)
    assert not np.array_equal(local[0].rates_per_ps, local[1].rates_per_ps)  # two different samples


# ----------------------------------------------------------------------------- sampling honesty
def _z_scores(mp, fc4, T, exact, n_samples, seeds, sampler):
    good = exact.rates_per_ps > 0
    zs = []
    for s in seeds:
        r = four_phonon_rates(mp, fc4, T, n_samples=n_samples, rng=s, sampler=sampler)
        assert r.info["sampler"] == sampler
        assert (r.rates_stderr_per_ps[good] > 0).all()
        zs.append(((r.rates_per_ps - exact.rates_per_ps) / np.where(good, r.rates_stderr_per_ps, 1.0))[good])
    return np.array(zs)  # (n_seeds, n_good)


def test_stratified_errors_are_honest_where_uniform_ones_are_not(al1):
    """fcc Al, 4x4x4, adaptive smearing: the per-pair contributions are heavy-tailed (zone-boundary
    triples with vanishing widths, coincident triples q + q1 -> q + q1). Over many seeds
    z = (sampled - exact)/stated error must have rms in [0.6, 1.6] and few |z| > 3, also on the
    lowest-frequency modes (TA near Gamma); the old uniform sampler fails the same check."""
    atoms, ph, fc4 = al1
    mp = mesh_phonons(ph, (4, 4, 4))
    T = [300.0]
    exact = four_phonon_rates(mp, fc4, T)
    f = exact.frequencies_THz
    good = exact.rates_per_ps[0] > 0
    low = f[good] <= np.quantile(f[good], 0.15)  # the lowest modes: TA at q = (1/4, 0, 0), ...
    assert f[good][low].max() < 3.4 and low.sum() >= 3
    z = _z_scores(mp, fc4, T, exact, 120, range(8), "stratified")
    rms = np.sqrt(np.mean(z**2))
    assert 0.6 <= rms <= 1.6
    assert np.mean(np.abs(z) > 3) < 0.02
    assert np.sqrt(np.mean(z[:, low] ** 2)) <= 1.6
    zu = _z_scores(mp, fc4, T, exact, 120, range(2), "uniform")
    assert np.sqrt(np.mean(zu**2)) > 5.0  # the old errors: dishonest by far
    assert np.mean(np.abs(zu) > 3) > 0.2


def test_stratified_sums_exactly_when_the_budget_covers_all_triples(al1):
    atoms, ph, fc4 = al1
    mp = mesh_phonons(ph, (3, 3, 3))
    exact = four_phonon_rates(mp, fc4, [300.0])
    # 27 points: at most 27*28/6 + ... distinct slot triples per q-point, far below 729 ordered pairs
    r = four_phonon_rates(mp, fc4, [300.0], n_samples=200, rng=0)
    assert r.info["exact_q"] == [True] * len(mp.grid.ir_index) and r.info["exact"]
    assert max(r.info["n_pairs_evaluated"]) <= 200
    np.testing.assert_allclose(r.rates_per_ps, exact.rates_per_ps, rtol=1e-12, atol=0)
    assert (r.rates_stderr_per_ps == 0).all()
    with pytest.raises(ValueError, match="sampler"):
        four_phonon_rates(mp, fc4, [300.0], n_samples=20, sampler="importance")


def test_stratify_allocation():
    from incipient.transport.fourphonon import stratify

    rng = np.random.default_rng(0)
    proxy = rng.pareto(1.0, 700)
    proxy[:20] = 0.0  # no partner mode: contributes exactly 0, never sampled
    forced = np.zeros(700, bool)
    forced[[3, 50, 60]] = True
    for M in (40, 300, 679):
        order, bounds, n = stratify(proxy, M, forced=forced)
        assert n.sum() == M
        assert np.array_equal(np.sort(order), np.arange(700))  # a partition
        sizes = np.diff(bounds)
        assert (n <= sizes).all() and ((n == 0) | (n >= np.minimum(2, sizes))).all()
        assert set(order[:3]) == {3, 50, 60}  # forced units first ...
        assert n[0] == sizes[0] == M // 2  # ... in the enumerated head
        top = order[3:M // 2]  # the head holds the largest proxies
        assert proxy[top].min() >= np.max(proxy[order[M // 2:]])
        assert n[-1] == 0 and set(order[bounds[-2]:]) == set(range(20)) - {3}  # 3: forced
    order, bounds, n = stratify(proxy, 681, forced=forced)  # all 681 contributing units fit: enumerated
    assert n.tolist() == [681, 0]


def test_canonical_triples_kernel_matches_numpy_twin(al2):
    """The numba enumeration of the distinct slot triples equals the numpy one (same triples, order,
    multiplicities) on a non-cubic mesh, for every irreducible point."""
    from incipient.transport.fourphonon import _canonical_pairs, _canonical_triples

    _, ph, _ = al2
    mp = mesh_phonons(ph, (3, 4, 2))
    g = mp.grid
    total = 0
    for iq0 in g.ir_index:
        a, b, mult = _canonical_pairs(g, int(iq0))
        a2, b2, c2, mult2 = _canonical_triples(g, int(iq0))
        np.testing.assert_array_equal(a2, a)
        np.testing.assert_array_equal(b2, b)
        np.testing.assert_array_equal(mult2, mult)
        np.testing.assert_array_equal(c2, g.index_of(-g.grid_address[iq0][None] - g.grid_address[a] - g.grid_address[b]))
        assert (a2 <= b2).all() and (b2 <= c2).all()
        total += mult.sum()
    # the multiplicities count every ordered pair (a, b) once: N_q^2 per q-point
    assert total == len(g.ir_index) * g.n_q ** 2


@pytest.mark.parametrize("mode_name", ["MODE_ADAPTIVE", "MODE_FOURPHONON"])
def test_width_bound_from_pair_table_equals_direct_bound(mode_name):
    """triple_width_bound_table (three look-ups in a pair table) gives the direct kernel's numbers
    bit for bit, including points without partner modes (then no finite width: sigma_min)."""
    from incipient.transport import fourphonon_kernels as K

    rng = np.random.default_rng(4)
    nq, nb = 23, 6
    vproj = rng.normal(size=(nq, nb, 3))
    partner = rng.random((nq, nb)) > 0.2
    partner[5] = False  # a point with no partner mode: width falls back to sigma_min
    ca, cb, cc = (rng.integers(0, nq, 400) for _ in range(3))
    mode = getattr(K, mode_name)
    direct = np.empty(400)
    K.triple_width_bound(vproj, partner, ca, cb, cc, K.PATTERN_SIGNS, mode, 1.3, 0.01, direct)
    table = np.empty((nq, nq, 2))
    K.pair_width2_table(vproj, partner, mode == K.MODE_FOURPHONON, table)
    np.testing.assert_array_equal(table, table.transpose(1, 0, 2))
    viatable = np.empty(400)
    K.triple_width_bound_table(table, ca, cb, cc, K.PATTERN_SIGNS, mode, 1.3, 0.01, viatable)
    np.testing.assert_array_equal(viatable, direct)
    if mode == K.MODE_ADAPTIVE:  # a sum over the three slot pairs: one empty pair leaves no finite width
        assert (direct[(ca == 5) | (cb == 5) | (cc == 5)] == 0.01).all()
    else:  # FourPhonon's width is the smallest single pair: only triples with two such slots fall back
        assert (direct[((ca == 5) & (cb == 5)) | ((ca == 5) & (cc == 5)) | ((cb == 5) & (cc == 5))] == 0.01).all()
