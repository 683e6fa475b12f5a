"""Default S(Q,w) paths from any cell: ASE special points in r.l.u., MD-supercell commensurability, notes."""

import numpy as np
import pytest
from ase.build import bulk

from incipient.spectra.paths import (
    check_commensurate,
    commensurate_path,
    commensurate_points,
    default_sqw_paths,
    special_point_paths,
    special_points_rlu,
)


def _points(paths, ref, sup):
    return {name: commensurate_path(a, b, ref, sup) for name, (a, b) in paths.items()}


def test_special_points_in_rlu_of_the_reference_cell():
    cubic = np.eye(3) * 3.0
    sp = special_points_rlu(cubic)
    np.testing.assert_allclose(sp["X"], [0, 0.5, 0])
    np.testing.assert_allclose(sp["M"], [0.5, 0.5, 0])
    np.testing.assert_allclose(sp["R"], [0.5, 0.5, 0.5])
    assert list(sp)[:4] == ["G", "X", "M", "R"]  # ASE's path order
    # fcc: the zone is the primitive cell's, the r.l.u. those of the cubic cell: X = (0, 1, 0)-type, L = (1/2)^3
    conv = bulk("Cu", "fcc", a=3.61, cubic=True)
    sp = special_points_rlu(conv)  # Atoms: primitive found with phonopy
    assert sorted(np.abs(sp["X"]).round(9).tolist()) == [0.0, 0.0, 1.0]
    np.testing.assert_allclose(np.abs(sp["L"]), 0.5)
    sp_prim = special_points_rlu(conv.cell.array, primitive_cell=bulk("Cu", "fcc", a=3.61).cell)
    np.testing.assert_allclose(sp_prim["L"], sp["L"])


def test_paths_are_commensurate_and_axis_aligned_first():
    ref = np.eye(3) * 3.0
    sup = ref * 4  # 4 x 4 x 4 supercell: a 1/4 r.l.u. grid
    paths = default_sqw_paths(ref, sup)
    assert list(paths) == ["G-X", "G-M", "G-R"] and paths.notes == []
    assert paths["G-X"] == ((0.0, 0.0, 0.0), (0.0, 0.5, 0.0))
    for name, q in _points(paths, ref, sup).items():
        assert len(q) == 3, name  # 0, 1/4, 1/2
        check_commensurate(q, ref, sup)
    # from a Bragg point; more paths than special points: all of them
    paths = default_sqw_paths(ref, sup, n_paths=10, bragg_rlu=(2, 0, 0))
    assert list(paths) == ["(2,0,0)-X", "(2,0,0)-M", "(2,0,0)-R"]
    assert paths["(2,0,0)-R"] == ((2.0, 0.0, 0.0), (2.5, 0.5, 0.5))


def test_paths_the_supercell_cannot_resolve_are_skipped_with_the_reason():
    ref = np.eye(3) * 3.0
    odd = default_sqw_paths(ref, ref * 3)  # 1/3 grid: no zone-boundary point at 1/2
    assert dict(odd) == {}
    assert any("G-X: end point (0,0.5,0) r.l.u. is not commensurate" in n and "(0.3333,0.3333,0.3333)" in n
               for n in odd.notes)
    assert "use a larger MD supercell" in odd.notes[-1]
    small = default_sqw_paths(ref, ref * 2)  # 1/2 grid: X is there but only Gamma and X on the path
    assert dict(small) == {}
    assert any("G-X: the MD supercell allows only 2 Q points" in n for n in small.notes)
    # X, M and R of the cubic zone all have a 1/2 along y: an odd repeat along y loses them all
    assert dict(default_sqw_paths(ref, np.diag([3.0 * 4, 3.0 * 3, 3.0 * 4]))) == {}
    tetra = np.diag([3.0, 3.0, 5.0])
    paths = default_sqw_paths(tetra, np.diag([3.0 * 3, 3.0 * 3, 5.0 * 4]))
    assert list(paths) == ["G-Z"] and paths["G-Z"][1] == (0.0, 0.0, 0.5)
    assert len(paths.notes) >= 1


def test_centred_orthorhombic_study_cell_uses_the_true_zone():
    """CsCu2I3 (Cmcm, study cell conventional): zone-boundary points of the C-centred lattice."""
    from incipient.system import load_system

    s = load_system("CsCu2I3")
    ref = s.structure
    sup = ref.repeat((10, 10, 10)).cell.array
    paths = default_sqw_paths(ref, sup, bragg_rlu=(0, 4, 0))
    # Y of the C-centred zone is (0, 1, 0) in r.l.u. of the conventional cell (the paper's (H,4,0)
    # and (7,7-K,0) run one r.l.u. to it); Z = (0, 0, 1/2); X is at an irrational 0.8008 a*
    assert paths["(0,4,0)-Y"] == ((0.0, 4.0, 0.0), (0.0, 5.0, 0.0))
    assert paths["(0,4,0)-Z"] == ((0.0, 4.0, 0.0), (0.0, 4.0, 0.5))
    assert len(paths) == 3
    assert any(n.startswith("(0,4,0)-X: end point (0.8008,4,0)") for n in paths.notes)
    prim = s.primitive.cell.array
    for name, q in _points(paths, ref.cell.array, sup).items():
        assert len(q) >= 3, name
        # the end point is on the zone boundary: not a reciprocal-lattice vector of the primitive cell
        k_end = (q[-1] - q[0]) @ np.linalg.inv(ref.cell.array).T @ prim.T
        assert np.abs(k_end - np.rint(k_end)).max() > 0.1
    with pytest.raises(ValueError, match="not a reciprocal-lattice vector"):
        default_sqw_paths(ref, sup, bragg_rlu=(1, 0, 0))  # h + k odd: extinct in C-centring


def test_special_point_paths_need_no_md_cell():
    """The segments of default_sqw_paths, in its order, without the commensurability requirement."""
    ref = np.eye(3) * 3.0
    assert special_point_paths(ref) == default_sqw_paths(ref, ref * 4)  # G-X, G-M, G-R: all resolved by 4x4x4
    small = special_point_paths(ref, n_paths=2)
    assert dict(small) == {"G-X": ((0.0, 0.0, 0.0), (0.0, 0.5, 0.0)), "G-M": ((0.0, 0.0, 0.0), (0.5, 0.5, 0.0))}
    assert small.notes == [] and dict(default_sqw_paths(ref, ref * 3)) == {}  # what a 3x3x3 cell does not resolve
    assert list(special_point_paths(ref, n_paths=10, bragg_rlu=(2, 0, 0))) == ["(2,0,0)-X", "(2,0,0)-M", "(2,0,0)-R"]
    conv = bulk("Cu", "fcc", a=3.61, cubic=True)  # the zone of the primitive cell, r.l.u. of the cubic one
    sp = special_points_rlu(conv)
    for name, (start, end) in special_point_paths(conv, n_paths=10).items():
        np.testing.assert_allclose(end, sp[name.split("-")[1]], atol=1e-12)
        assert start == (0.0, 0.0, 0.0)


def test_commensurate_points_on_any_segment():
    ref = np.eye(3) * 3.0
    for start, end in [((0, 0, 0), (0, 0.5, 0)), ((2, 0, 0), (2.5, 0.5, 0.5)), ((0, 0, 0), (0, -0.5, 0)),
                       ((0, 0.5, 0), (0, 0, 0))]:  # both ends allowed: commensurate_path's points, in order
        np.testing.assert_allclose(commensurate_points(start, end, ref, ref * 4), commensurate_path(start, end, ref, ref * 4),
                                   atol=1e-12)
    # a 3x3x3 cell on Gamma -> X (0, 1/2, 0): X is not allowed, 0 and 1/3 are
    np.testing.assert_allclose(commensurate_points((0, 0, 0), (0, 0.5, 0), ref, ref * 3), [[0, 0, 0], [0, 1 / 3, 0]],
                               atol=1e-12)
    # an odd repeat along one axis only: Gamma alone on (0, 1/2, 1/2)
    np.testing.assert_allclose(commensurate_points((0, 0, 0), (0, 0.5, 0.5), ref, np.diag([6.0, 3.0, 6.0])), [[0, 0, 0]])
    assert commensurate_points((0.1, 0, 0), (0.1, 0.5, 0), ref, ref * 4).shape == (0, 3)  # off the grid
    np.testing.assert_allclose(commensurate_points((0, 0, 0), (0, 0, 0), ref, ref), [[0, 0, 0]])  # a point
    for q in (commensurate_points((0, 0, 0), (0.5, 0.5, 0.5), ref, ref * 2),):
        check_commensurate(q, ref, ref * 2)
        assert len(q) == 2
