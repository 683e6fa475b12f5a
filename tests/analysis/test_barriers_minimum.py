"""Barriers from the true minimum: symmetry-broken relaxation, higher-order saddles, intermediate
minima, invalid bands and the distance guard, on analytic models with known answers (seconds)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar, root

from incipient.analysis.barriers import (
    empty_tetrahedra,
    face_sharing_routes,
    hop_barrier,
    min_distance_limit,
    neb_barrier,
    neb_supercell,
)
from incipient.data import cscu2i3_mtp
from incipient.structures.minimum import MinimumResult, find_minimum

CENTRE = np.array([5.0, 5.0, 5.0])


class Model2D(Calculator):
    """Energy of atom 0 in an analytic potential V(x, y) + z^2 (coordinates relative to the box
    centre); other atoms feel nothing. Forces by central differences (1e-5 A)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, v, **kwargs):
        super().__init__(**kwargs)
        self.v = v

    def _e(self, p):
        x, y, z = p - CENTRE
        return self.v(x, y) + z * z

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        p = self.atoms.positions[0]
        f = np.zeros((len(self.atoms), 3))
        for c in range(3):
            d = np.zeros(3)
            d[c] = 1e-5
            f[0, c] = -(self._e(p + d) - self._e(p - d)) / 2e-5
        self.results = {"energy": self._e(p), "free_energy": self._e(p), "forces": f}


def bump(x, y, h=0.5, a=0.5, s=0.3, k=2.0):
    """Double well along x (minima at x = +-1, 0 eV), a Gaussian bump of height a on the
    straight line, harmonic in y: the straight path's top (0, 0) is a maximum (second-order
    saddle, V_yy = k - a/s^2 < 0); the curved paths pass y = +-0.43 A, lower."""
    return h * (x * x - 1) ** 2 + a * np.exp(-(x * x + y * y) / (2 * s * s)) + 0.5 * k * y * y


def dip(x, y, h=0.5, d=0.3, w=0.25):
    """Double well with a dip in the middle: an intermediate minimum of 0.2 eV at x = 0."""
    return h * (x * x - 1) ** 2 - d * np.exp(-x * x / (2 * w * w)) + y * y


def _ends(n_extra=0):
    pos = [CENTRE + [-1.0, 0, 0]] + [CENTRE + [0, 3.0, 0]] * n_extra
    ini = Atoms("H" * (1 + n_extra), positions=pos, cell=[10, 10, 10], pbc=True)
    fin = ini.copy()
    fin.positions[0] = CENTRE + [1.0, 0, 0]
    return ini, fin


def _bump_saddle():
    """Exact first-order saddle of ``bump`` (gradient zero near (0, 0.43))."""
    def grad(p):
        e = 1e-6
        return [(bump(p[0] + e, p[1]) - bump(p[0] - e, p[1])) / (2 * e),
                (bump(p[0], p[1] + e) - bump(p[0], p[1] - e)) / (2 * e)]
    sol = root(grad, [0.0, 0.4], tol=1e-12)
    assert sol.success and abs(sol.x[1]) > 0.3
    return bump(*sol.x)


def test_straight_path_over_a_maximum_is_flagged_and_escaped():
    ini, fin = _ends()
    calc = Model2D(bump)
    # the straight band is pinned on the line by the y -> -y symmetry: it converges onto the maximum
    straight = neb_barrier(ini, fin, calc, interpolation="linear", n_images=9, fmax=0.01)
    assert straight.converged and straight.valid
    assert straight.barrier_eV == pytest.approx(bump(0, 0), abs=2e-3)  # 1.0 eV, the top of the bump
    assert straight.saddle_negative_modes == 2  # proven higher-order saddle
    best, allr = hop_barrier(ini, fin, calc, moving_index=0, start_paths=("linear",), n_images=9, fmax=0.01)
    assert [r.start for r in allr] == ["linear", "escape(linear)"]
    exact = _bump_saddle()  # 0.864 eV
    assert exact < bump(0, 0) - 0.1
    assert best.start == "escape(linear)" and best.saddle_negative_modes == 1
    assert best.barrier_eV == pytest.approx(exact, abs=5e-3)
    # without the escape only the higher-order saddle is found
    best2, allr2 = hop_barrier(ini, fin, calc, moving_index=0, start_paths=("linear",), escape=False,
                               n_images=9, fmax=0.01)
    assert len(allr2) == 1 and best2.barrier_eV == pytest.approx(1.0, abs=2e-3)


def test_intermediate_minimum_splits_the_band_into_two_sub_barriers(tmp_path):
    ini, fin = _ends()
    r = neb_barrier(ini, fin, Model2D(dip), interpolation="linear", n_images=9, fmax=0.01)
    top = minimize_scalar(lambda x: -dip(x, 0), bounds=(0.05, 0.95), method="bounded")
    e_top, e_mid = -top.fun, dip(0, 0)
    assert r.converged and r.valid
    assert r.intermediate_minima_eV == pytest.approx((e_mid,), abs=2e-3)  # 0.2 eV
    assert r.sub_barriers_eV == pytest.approx((e_top, e_top - e_mid), abs=5e-3)
    assert r.barrier_eV == pytest.approx(e_top, abs=5e-3)
    assert len(r.energies_eV) == 2 * 11 - 1  # two bands of 9 images joined at the minimum
    from incipient.analysis.barriers import BarrierResult

    back = BarrierResult.load(r.save(tmp_path / "b.json"))
    assert back.sub_barriers_eV == pytest.approx(r.sub_barriers_eV)


def test_band_below_its_endpoints_is_invalid():
    # a deep well in the middle, endpoints not relaxed into it: the band falls below them
    ini, fin = _ends()
    r = neb_barrier(ini, fin, Model2D(lambda x, y: bump(x, y, a=-1.0)), interpolation="linear",
                    n_images=5, fmax=0.02, relax_endpoints=False)
    assert not r.valid and not r.usable
    assert "below the lower endpoint" in r.invalid_reason


def test_distance_guard_stops_a_band_through_an_atom():
    # atom 1 sits on the straight line of atom 0's hop (the model ignores it)
    ini, fin = _ends(n_extra=1)
    ini.positions[1] = fin.positions[1] = CENTRE
    r = neb_barrier(ini, fin, Model2D(bump), interpolation="linear", n_images=5, fmax=0.02,
                    min_distance_A=0.8)
    assert not r.valid and "guard" in r.invalid_reason
    best, _ = hop_barrier(ini, fin, Model2D(bump), moving_index=0, start_paths=("linear",), n_images=5,
                          min_distance_A=0.8)
    assert best is None


def test_min_distance_limit_reads_the_mtp():
    from incipient.potentials import MTP

    mtp = MTP(cscu2i3_mtp())
    assert min_distance_limit(mtp) == pytest.approx(0.8 * mtp.model.min_dist_A)
    assert min_distance_limit(mtp, fraction=0.5) == pytest.approx(0.5 * 1.754019800071423)
    assert min_distance_limit(EMT()) is None
    assert min_distance_limit(EMT(), min_distance_A=1.2) == 1.2


class OnSiteDoubleWell(Calculator):
    """Each atom in a double well a (dz^2 - d^2)^2 along z around its own fixed site: the sites
    are a saddle (all forces zero by symmetry), each minimum is a d^4 per atom lower."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, sites, a=1.0, d=0.2, **kwargs):
        super().__init__(**kwargs)
        self.sites, self.a, self.d = np.asarray(sites), a, d

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u = self.atoms.positions - self.sites
        w = u[:, 2] ** 2 - self.d**2
        f = np.zeros_like(u)
        f[:, 2] = -4 * self.a * w * u[:, 2]
        f[:, :2] = -2.0 * u[:, :2]
        e = float(np.sum(self.a * w * w + (u[:, :2] ** 2).sum(axis=1)))
        self.results = {"energy": e, "free_energy": e, "forces": f}


def test_find_minimum_detects_a_symmetric_saddle(tmp_path):
    atoms = bulk("Fe", "bcc", a=3.0, cubic=True)  # Im-3m, 2 atoms
    calc = OnSiteDoubleWell(atoms.positions.copy(), a=1.0, d=0.2)
    m, r = find_minimum(atoms, calc, n_starts=2, relax_cell=False, fmax_eV_A=1e-4)
    assert r.spacegroup_symmetric == "Im-3m (229)"
    assert r.is_saddle and r.converged
    assert r.drop_meV_per_atom == pytest.approx(1000 * 0.2**4, rel=1e-3)  # a d^4 = 1.6 meV/atom
    # V'' = -4 a d^2 at the site: one imaginary z mode per atom at Gamma
    assert r.n_imaginary_gamma == 2
    m_fe = atoms.get_masses()[0]
    from ase import units

    nu = np.sqrt(4 * 0.2**2 / m_fe * units._e / units._amu) * 1e10 / (2 * np.pi) / 1e12
    assert r.gamma_THz[:2] == pytest.approx([-nu, -nu], rel=2e-3)  # 0.01 A steps: (h/d)^2 / 2 = 0.12 %
    assert any("saddle point" in w for w in r.warnings)
    back = MinimumResult.load(r.save(tmp_path / "m.json"))
    np.testing.assert_allclose(back.minimum_atoms().positions, m.positions)
    assert list(back.symmetric_atoms().numbers) == list(m.numbers)


def test_find_minimum_keeps_a_true_minimum():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    m, r = find_minimum(atoms, EMT(), n_starts=2, fmax_eV_A=1e-4)
    assert not r.is_saddle and r.n_imaginary_gamma == 0
    assert abs(r.drop_meV_per_atom) < 0.1
    assert r.spacegroup_minimum == r.spacegroup_symmetric == "Fm-3m (225)"


def test_cscu2i3_symmetric_relaxation_is_a_saddle_of_the_mtp():
    """The issue's finding: the relaxed Cmcm cell is a saddle point of the built-in MTP."""
    from incipient.system import load_system

    s = load_system("CsCu2I3")
    m, r = find_minimum(s.structure, s.calculator(), n_starts=1, rattle_A=0.1, fmax_eV_A=2e-3)
    assert r.spacegroup_symmetric == "Cmcm (63)"
    assert r.is_saddle and r.drop_meV_per_atom > 3.0  # 3.4-5.1 meV/atom in the 15 runs
    assert r.n_imaginary_gamma >= 1 and r.gamma_THz[0] < -1.0
    assert r.spacegroup_minimum != "Cmcm (63)"
    assert any("saddle point" in w for w in r.warnings)


def test_face_sharing_routes_and_empty_tetrahedra_in_cscu2i3():
    from test_hops import CSCU2I3_PATHWAYS, _cscu2i3_conventional

    from incipient.analysis.barriers import _continuous_final, pathway_endpoints

    atoms = _cscu2i3_conventional() * (1, 1, 2)
    ends = pathway_endpoints(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    ini, fin, k, vec = ends["x"]
    target = _continuous_final(ini, fin)[k]
    routes = face_sharing_routes(ini, k, target)
    # x: the two empty I4 tetrahedra sharing a face with both CuI4 tetrahedra (one on each side)
    assert len(routes) == 2 and all(r.tetrahedra_A.shape == (1, 4, 3) for r in routes)
    for r in routes:
        np.testing.assert_allclose(r.waypoints_A[0], ini.positions[k])
        np.testing.assert_allclose(r.waypoints_A[-1], target, atol=1e-9)
        assert r.length_A > np.linalg.norm(vec)
        # the tetrahedron shares three I with each end's four nearest I
        tet = r.tetrahedra_A[0]
        for p in (ini.positions[k], target):
            d = np.linalg.norm(tet - p, axis=1)
            assert np.sum(d < 3.0) == 3
    assert len(empty_tetrahedra(atoms, k)) >= 2
    assert neb_supercell(atoms) == (3, 1, 1)  # 48 -> 144 atoms, narrowest width 12.1 A
    assert neb_supercell(_cscu2i3_conventional()) == (2, 1, 3)  # 144 atoms
