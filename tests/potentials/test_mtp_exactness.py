"""The MTP engine against motep (reference implementation), finite differences and invariances.

Tolerances: energy 1e-8 eV/atom and forces 1e-6 eV/A against motep (issue 2); forces against
central finite differences (h = 1e-4 A) to 1e-5 eV/A (the O(h^2) truncation is ~1e-7 here);
stress against finite strain differences to 1e-6 eV/A^3.
"""

import numpy as np
import pytest

from incipient.data import cscu2i3_mtp
from incipient.data.cscu2i3 import cscu2i3_conventional
from incipient.potentials import MTP


def rattled(repeat, sigma=0.08, seed=0):
    a = cscu2i3_conventional().repeat(repeat)
    rng = np.random.default_rng(seed)
    a.positions += rng.normal(0.0, sigma, a.positions.shape)
    return a


@pytest.fixture(scope="module")
def calc():
    return MTP(cscu2i3_mtp())


def motep_calc():
    # motep (a test extra) is the reference oracle: a missing oracle fails, it does not skip
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp as motep_read_mtp

    data = motep_read_mtp(str(cscu2i3_mtp()))
    data.species = [55, 29, 53]
    return MotepMTP(data, engine="cext")


@pytest.mark.parametrize("backend", ["c", "numba"])
@pytest.mark.parametrize("repeat", [(1, 1, 1), (2, 2, 2), (3, 4, 5)], ids=["24", "192", "1440"])
def test_energy_forces_stress_match_motep(repeat, backend):
    calc = MTP(cscu2i3_mtp(), backend=backend)
    a = rattled(repeat, seed=sum(repeat))
    ref = a.copy()
    ref.calc = motep_calc()
    e_ref, f_ref, s_ref = ref.get_potential_energy(), ref.get_forces(), ref.get_stress()
    a.calc = calc
    e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
    assert abs(e - e_ref) / len(a) < 1e-8
    assert np.abs(f - f_ref).max() < 1e-6
    assert np.abs(s - s_ref).max() < 1e-8  # eV/A^3
    assert np.abs(f).max() > 0.1  # the check is not vacuous


def test_c_kernel_is_built():
    # the install (setup.py) builds the C kernel; without a C compiler the numba kernel is used,
    # and this test says so instead of letting the slower engine pass unnoticed
    from incipient.potentials import mtp_ckernel

    assert mtp_ckernel.available(), "the C MTP kernel was not built: install a C compiler and rerun pip install -e ."
    assert MTP(cscu2i3_mtp()).backend == "c"


def test_c_numba_and_numpy_backends_agree():
    a = rattled((1, 2, 2), seed=3)
    del a[[0, 5, 17]]  # 93 atoms: a partial last block in both compiled kernels
    out = {}
    for backend in ("c", "numba", "numpy"):
        calc = MTP(cscu2i3_mtp(), backend=backend)
        out[backend] = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers)
    for backend in ("c", "numba"):
        for key in ("energies", "forces", "virials"):
            np.testing.assert_allclose(out[backend][key], out["numpy"][key], rtol=0, atol=1e-10)


def test_compiled_kernels_threads_give_the_same_result():
    from incipient.potentials import mtp_ckernel, mtp_kernel
    from incipient.potentials.neighbors import neighbor_list

    a = rattled((2, 2, 2), seed=4)
    calc = MTP(cscu2i3_mtp(), backend="c")
    t = calc.tables
    types = calc.types_of(a.numbers)
    off, nbr, vec = neighbor_list(a.positions, a.cell.array, a.pbc, calc.model.cutoff_A)
    E1, G1 = mtp_ckernel.site_energies_and_gradients(t, off, nbr, vec, types, 1)
    E3, G3 = mtp_ckernel.site_energies_and_gradients(t, off, nbr, vec, types, 3)
    np.testing.assert_array_equal(E1, E3)
    np.testing.assert_array_equal(G1, G3)
    order = np.argsort(np.diff(off), kind="stable")
    args = (off, nbr, vec, types, t.radial_coeffs, t.min_dist, t.max_dist, t.scaling, t.mono_parent,
            t.mono_dir, t.mono_pow, t.mono_lower, t.basic_mu, t.basic_mono, t.times, t.times_mult,
            t.n_moments, t.mapping, t.moment_coeffs, t.species_coeffs, t.mb_ptr, t.mb_idx, t.pull_ptr,
            t.pull_i3, t.pull_oth, t.pull_mult, order)
    En1, Gn1 = mtp_kernel.site_energies_and_gradients(*args, 1)
    En2, Gn2 = mtp_kernel.site_energies_and_gradients(*args, 2)
    np.testing.assert_array_equal(En1, En2)
    np.testing.assert_array_equal(Gn1, Gn2)
    np.testing.assert_allclose(En1, E1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Gn1, G1, rtol=0, atol=1e-12)


def test_forces_are_minus_energy_gradient(calc):
    a = rattled((1, 1, 1), seed=7)
    a.calc = calc
    f = a.get_forces()
    h = 1e-4
    rng = np.random.default_rng(1)
    for i in rng.choice(len(a), 6, replace=False):
        for c in range(3):
            p = a.positions.copy()
            b = a.copy()
            b.calc = calc
            p[i, c] += h
            b.positions = p
            ep = b.get_potential_energy()
            p[i, c] -= 2 * h
            b.positions = p
            em = b.get_potential_energy()
            assert abs(-(ep - em) / (2 * h) - f[i, c]) < 1e-5


def test_stress_is_strain_derivative_and_virials_sum(calc):
    a = rattled((1, 1, 2), seed=11)
    a.calc = calc
    s = a.get_stress(voigt=False)
    W = calc.results["virials"].copy()
    stresses = calc.results["stresses"].copy()
    energies = calc.results["energies"].copy()
    vol = a.get_volume()
    h = 1e-5
    for i, j in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:
        eps = np.zeros((3, 3))
        eps[i, j] = eps[j, i] = h / 2 if i != j else h
        es = []
        for sign in (1, -1):
            b = a.copy()
            b.set_cell(a.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
            b.calc = calc
            es.append(b.get_potential_energy())
        # dE/d(eps_ij) with symmetric eps: off-diagonals count twice
        deriv = (es[0] - es[1]) / (2 * h) / vol
        assert abs(deriv - s[i, j]) < 1e-6
    np.testing.assert_allclose(W.sum(axis=0), s * vol, atol=1e-9)
    from ase.stress import full_3x3_to_voigt_6_stress

    np.testing.assert_allclose(stresses.sum(axis=0), full_3x3_to_voigt_6_stress(s), atol=1e-12)
    b = a.copy()
    b.calc = calc
    assert abs(energies.sum() - b.get_potential_energy()) < 1e-9


def test_rotation_translation_permutation_invariance(calc):
    a = rattled((1, 1, 1), seed=5)
    a.calc = calc
    e0, f0 = a.get_potential_energy(), a.get_forces()
    # translation
    b = a.copy()
    b.positions += [0.37, -1.1, 2.3]
    b.calc = calc
    assert abs(b.get_potential_energy() - e0) < 1e-9
    np.testing.assert_allclose(b.get_forces(), f0, atol=1e-9)
    # rotation of cell and positions together
    from scipy.spatial.transform import Rotation

    R = Rotation.from_euler("zyx", [33, -71, 12], degrees=True).as_matrix()
    c = a.copy()
    c.set_cell(a.cell.array @ R.T, scale_atoms=False)
    c.positions = a.positions @ R.T
    c.calc = calc
    assert abs(c.get_potential_energy() - e0) < 1e-9
    np.testing.assert_allclose(c.get_forces(), f0 @ R.T, atol=1e-9)
    # permutation
    perm = np.random.default_rng(2).permutation(len(a))
    d = a[perm]
    d.calc = calc
    assert abs(d.get_potential_energy() - e0) < 1e-9
    np.testing.assert_allclose(d.get_forces(), f0[perm], atol=1e-9)
    np.testing.assert_allclose(calc.results["energies"], a.calc.get_property("energies", a)[perm], atol=1e-10)


def test_centroid_virials_give_the_heat_current_of_a_cluster(calc):
    """d/dt sum_i r_i U_i along straight-line motion equals sum_i v_i U_i - sum_i W_i.v_i - sum_i r_i (F_i.v_i).

    This identity (exact for a non-periodic cluster) checks the many-body per-atom virials
    that the Green-Kubo heat current J = sum_i v_i e_i - sum_i W_i . v_i is built from.
    """
    a = cscu2i3_conventional()
    a.pbc = False
    a.center(vacuum=8.0)
    rng = np.random.default_rng(4)
    a.positions += rng.normal(0, 0.05, a.positions.shape)
    v = rng.normal(0, 1.0, a.positions.shape)
    res = calc.evaluate(a.positions, a.cell.array, a.pbc, a.numbers)
    U, F, W = res["energies"], res["forces"], res["virials"]
    predicted = (v * U[:, None]).sum(0) - np.einsum("iab,ib->a", W, v) - (a.positions * (F * v).sum(1)[:, None]).sum(0)
    h = 1e-5

    def moment(t):
        p = a.positions + t * v
        e = calc.evaluate(p, a.cell.array, a.pbc, a.numbers, virials=False)["energies"]
        return (p * e[:, None]).sum(0)

    numeric = (moment(h) - moment(-h)) / (2 * h)
    np.testing.assert_allclose(predicted, numeric, atol=2e-6 * np.abs(numeric).max())
    assert np.abs(numeric).max() > 1.0
