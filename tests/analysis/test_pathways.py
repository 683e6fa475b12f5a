"""Pathway classes found by symmetry: CsCu2I3 (same as the former angle rule), fcc Cu, anti-fluorite
Li2O, a tetragonal cell where symmetry splits equal lengths, fallbacks, names, endpoints, hops."""

import time

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from incipient.analysis.barriers import pathway_endpoints
from incipient.analysis.hops import detect_hops
from incipient.analysis.sites import (
    SiteGraph,
    assign_pathway_names,
    cluster_vectors,
    find_sites,
    nearest_other_element,
    point_group,
)
from incipient.md.trajectory import Trajectory

CSCU2I3_PATHWAYS = {"x": [1, 0, 0], "z": [0, 0, 1], "MID": [1, 0, 1]}
A_FCC = 3.6


def _legacy_class(v, angle_tol_deg=25.0, mid_plane_normal=(0.0, 1.0, 0.0)):
    """The former fixed rule of analysis/sites.py (classify_vector), kept here as the reference."""
    u = np.asarray(v, float) / np.linalg.norm(v)
    cos_tol = np.cos(np.radians(angle_tol_deg))
    if abs(u[0]) >= cos_tol:
        return "x"
    if abs(u[2]) >= cos_tol:
        return "z"
    n = np.asarray(mid_plane_normal, float)
    if abs(u @ (n / np.linalg.norm(n))) <= np.sin(np.radians(angle_tol_deg)):
        return "MID"
    return "other"


def _cscu2i3():
    from incipient.system import load_system

    return load_system("CsCu2I3")


def _per_site(g):
    return {r["class"]: (round(r["length_A"], 3), r["per_site"]) for r in g.pathway_summary()}


def _class_vectors(g, name):
    """The distinct (up to sign) edge vectors of one class, rounded to 1e-3 A."""
    v = np.asarray(g.edge_vectors_A)[g.edges_of_class(name)]
    v = np.vstack([v, -v])
    return {tuple(x) for x in np.round(v, 3) + 0.0}


@pytest.mark.parametrize("repeat", [(1, 1, 1), (2, 2, 4)])
def test_cscu2i3_classes_equal_the_former_angle_rule_edge_by_edge(repeat):
    atoms = _cscu2i3().structure.repeat(repeat)
    g = find_sites(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    assert g.symmetry == "crystal" and g.point_group_order == 8  # Cmcm: mmm
    legacy = [_legacy_class(v) for v in g.edge_vectors_A]
    assert list(g.edge_classes) == legacy
    assert g.class_names == ("x", "z", "MID")
    assert _per_site(g) == {"x": (2.612, 1.0), "z": (3.027, 2.0), "MID": (3.998, 2.0)}
    # without names: the same partition, named by length
    g0 = find_sites(atoms, "Cu")
    assert g0.class_names == ("P1", "P2", "P3")
    rename = {"P1": "x", "P2": "z", "P3": "MID"}
    assert [rename[c] for c in g0.edge_classes] == legacy
    assert [s["length_A"] for s in g0.shell_summary()] == [2.61, 3.03, 4.0]
    # the system file's names, once it has them, give the same classes
    names = _cscu2i3().pathway_names
    if names:
        gs = find_sites(atoms, "Cu", pathway_names=names)
        assert list(gs.edge_classes) == legacy


def test_cscu2i3_measured_structures_keep_the_classes():
    # the 100 K and 500 K refinements: x (3.08-3.23 A) is longer than z there, names still fit
    from importlib.resources import files

    from incipient.experiment.cif import read_structure_from_cif

    for T, x_len in ((100, 3.077), (500, 3.232)):
        atoms = read_structure_from_cif(str(files("incipient") / f"data/CsCu2I3/cif/{T}K.cif"))
        g = find_sites(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
        assert g.class_names == ("z", "x", "MID")
        assert list(g.edge_classes) == [_legacy_class(v) for v in g.edge_vectors_A]
        assert _per_site(g)["x"] == (x_len, 1.0)


def test_cscu2i3_fallback_on_rattled_frame_and_vacancy_cell():
    ideal = _cscu2i3().structure.repeat((2, 2, 4))
    frame = ideal.copy()
    frame.rattle(0.1, seed=3)  # an MD-like frame: no crystal symmetry left
    g = find_sites(frame, "Cu", pathway_names=CSCU2I3_PATHWAYS, cutoff_A=5.0)
    assert g.symmetry == "lattice" and g.point_group_order == 8
    assert list(g.edge_classes) == [_legacy_class(v) for v in g.edge_vectors_A]
    assert {k: v[1] for k, v in _per_site(g).items()} == {"x": 1.0, "z": 2.0, "MID": 2.0}
    # the ideal structure as the symmetry reference gives the same
    gi = find_sites(frame, "Cu", pathway_names=CSCU2I3_PATHWAYS, cutoff_A=5.0, symmetry=ideal)
    assert gi.symmetry == "given" and gi.edge_classes == g.edge_classes
    vac = ideal.copy()
    del vac[[a.index for a in vac if a.symbol == "Cu"][7]]
    gv = find_sites(vac, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    assert gv.class_names == ("x", "z", "MID")
    assert list(gv.edge_classes) == [_legacy_class(v) for v in gv.edge_vectors_A]


def test_fcc_shells_one_class_each_and_names():
    atoms = bulk("Cu", "fcc", a=A_FCC, cubic=True)
    for cell in (atoms, atoms * (3, 3, 3)):
        g = find_sites(cell, "Cu")  # default cutoff 1.6 a/sqrt2 = 4.07 A takes the second shell
        assert g.symmetry == "crystal" and g.point_group_order == 48
        assert g.class_names == ("P1", "P2")
        assert _per_site(g) == {"P1": (round(A_FCC / np.sqrt(2), 3), 12.0), "P2": (A_FCC, 6.0)}
        h = A_FCC / 2
        nn = {tuple(s * np.array(p)) for p in ((h, h, 0), (h, -h, 0), (h, 0, h), (h, 0, -h), (0, h, h),
                                               (0, h, -h)) for s in (1, -1)}
        assert _class_vectors(g, "P1") == {tuple(np.round(v, 3) + 0.0) for v in nn}
        assert len(_class_vectors(g, "P2")) == 6
    g1 = find_sites(atoms * (2, 2, 2), "Cu", cutoff_A=3.0)
    assert g1.class_names == ("P1",) and _per_site(g1)["P1"][1] == 12.0
    # names: the class with the member nearest in angle; [1, 0, 0.5] is 18.4 deg from [1, 0, 1]
    # (a nearest neighbour) and 26.6 deg from [1, 0, 0] (second shell)
    assert find_sites(atoms, "Cu", pathway_names={"a": [0, 1, 0]}).class_names == ("P1", "a")
    assert find_sites(atoms, "Cu", pathway_names={"x": [1, 0, 0.5]}).class_names == ("x", "P1")
    assert find_sites(atoms, "Cu", pathway_names={"x": [1, 0, 0.5]},
                      name_tol_deg=15).class_names == ("P1", "P2")
    g2 = find_sites(atoms, "Cu", pathway_names={"nn": [-1, 1, 0], "a": [0, 0, -2]})
    assert g2.class_names == ("nn", "a")
    # two names for one class: the better one wins, the other stays unused; "P1" taken by the user
    g3 = find_sites(atoms, "Cu", pathway_names={"a": [1, 0, 0], "b": [1, 0, 0.05], "P1": [1, 1, 0]})
    assert g3.class_names == ("P1", "a")
    for bad in ({"other": [1, 0, 0]}, {"x": [0, 0, 0]}, {"x": [1, 0]}):
        with pytest.raises(ValueError):
            find_sites(atoms, "Cu", pathway_names=bad)


def test_fcc_fallbacks_rattled_and_vacancy():
    ideal = bulk("Cu", "fcc", a=A_FCC, cubic=True) * (3, 3, 3)
    frame = ideal.copy()
    frame.rattle(0.05, seed=1)
    g = find_sites(frame, "Cu", cutoff_A=4.0)
    assert g.symmetry == "lattice" and g.point_group_order == 48
    assert {k: v[1] for k, v in _per_site(g).items()} == {"P1": 12.0, "P2": 6.0}
    gn = find_sites(frame, "Cu", cutoff_A=4.0, symmetry="none", tol_A=0.5)  # length shells
    assert gn.point_group_order == 0 and len(gn.class_names) == 2
    vac = ideal.copy()
    del vac[13]
    gv = find_sites(vac, "Cu")
    assert gv.symmetry == "crystal" and gv.point_group_order == 48  # the vacancy keeps m-3m
    lengths = {k: v[0] for k, v in _per_site(gv).items()}
    assert lengths == {"P1": round(A_FCC / np.sqrt(2), 3), "P2": A_FCC}


def test_antifluorite_li2o_simple_cubic_sublattice():
    a = 4.61
    atoms = bulk("OLi2", "fluorite", a=a, cubic=True)  # O fcc, Li on the 8 tetrahedral holes
    assert atoms.get_chemical_formula() == "Li8O4"
    g = find_sites(atoms * (2, 2, 2), "Li")
    assert g.n_sites == 64 and g.point_group_order == 48
    # Li simple cubic with spacing a/2: 6 NN along the cube axes, 12 second neighbours a/sqrt2
    assert _per_site(g) == {"P1": (round(a / 2, 3), 6.0), "P2": (round(a / np.sqrt(2), 3), 12.0)}
    assert _class_vectors(g, "P1") == {tuple(np.round(s * a / 2 * e, 3) + 0.0)
                                       for e in np.eye(3) for s in (1, -1)}
    assert find_sites(atoms, "Li", pathway_names={"cube_edge": [0, 0, 1]}).class_names == ("cube_edge", "P1")
    # anion derived (the element nearest to Li): O; all O4 tetrahedra hold a Li, no interstitial
    assert nearest_other_element(atoms, "Li") == "O"
    gi = find_sites(atoms, "Li", interstitials=True)
    assert gi.n_sites == 8 and np.all(gi.occupant >= 0)


def test_tetragonal_symmetry_splits_equal_lengths():
    # Cu at z = 0 and c/2, O at (1/2, 1/2, 1/4): a = c/2 = 3 A, so Cu-Cu along a and along c are
    # both 3 A long, but the tetragonal (4/mmm) symmetry does not relate them
    atoms = Atoms("Cu2O", scaled_positions=[[0, 0, 0], [0, 0, 0.5], [0.5, 0.5, 0.25]],
                  cell=[3.0, 3.0, 6.0], pbc=True) * (2, 2, 1)
    assert len(point_group(atoms)) == 16
    g = find_sites(atoms, "Cu", cutoff_A=3.5)
    assert g.class_names == ("P1", "P2")
    assert _per_site(g) == {"P1": (3.0, 4.0), "P2": (3.0, 2.0)}  # along a (x, y) first, then c
    assert all(abs(v[2]) < 1e-9 for v in _class_vectors(g, "P1"))
    assert _class_vectors(g, "P2") == {(0.0, 0.0, 3.0), (0.0, 0.0, -3.0)}
    assert find_sites(atoms, "Cu", cutoff_A=3.5, pathway_names={"c": [0, 0, 1]}).class_names == ("P1", "c")
    # plain length shells merge them
    gn = find_sites(atoms, "Cu", cutoff_A=3.5, symmetry="none")
    assert _per_site(gn) == {"P1": (3.0, 6.0)}
    # the diagonals at 4.24 A split the same way: (a, a, 0) vs (a, 0, c/2)
    gd = find_sites(atoms, "Cu")
    assert [(n, v[1]) for n, v in _per_site(gd).items()] == [("P1", 4.0), ("P2", 2.0), ("P3", 4.0), ("P4", 8.0)]


def test_cluster_vectors_and_names_directly():
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, 0, 1.0], [0, 0, 1.02]])
    assert list(cluster_vectors(v, np.eye(3)[None])) == [0, 0, 1, 2, 2]  # only +-v equivalent
    c4 = np.array([[[0, -1, 0], [1, 0, 0], [0, 0, 1]]], float)
    rots = np.array([np.linalg.matrix_power(c4[0], k) for k in range(4)])
    assert list(cluster_vectors(v, rots)) == [0, 0, 0, 1, 1]
    assert list(cluster_vectors(v, None)) == [0, 0, 0, 0, 0]  # length shells
    assert list(cluster_vectors(v, None, tol_A=0.01)) == [0, 0, 0, 0, 1]
    assert assign_pathway_names(v, [0, 0, 0, 1, 1], {"c": [0, 0, -1]}) == ("P1", "c")
    with pytest.raises(ValueError, match="zero"):
        cluster_vectors([[0, 0, 0]], None)


def test_pathway_endpoints_every_class_and_named():
    atoms = bulk("Cu", "fcc", a=A_FCC, cubic=True) * (2, 2, 2)
    ends = pathway_endpoints(atoms, "Cu")
    assert list(ends) == ["P1", "P2"]
    for name, length in (("P1", A_FCC / np.sqrt(2)), ("P2", A_FCC)):
        ini, fin, k, vec = ends[name]
        assert len(ini) == len(atoms) - 1
        np.testing.assert_allclose(np.linalg.norm(fin.positions[k] - ini.positions[k]), length, atol=1e-9)
        np.testing.assert_allclose(fin.positions[k] - ini.positions[k], vec, atol=1e-9)
    named = pathway_endpoints(atoms, "Cu", ("nn",), pathway_names={"nn": [1, 1, 0]})
    assert list(named) == ["nn"]
    with pytest.raises(ValueError, match="classes found: P1"):
        pathway_endpoints(atoms, "Cu", ("MID",))
    # one conventional cell: the second shell joins a site to its own image only
    unit = bulk("Cu", "fcc", a=A_FCC, cubic=True)
    assert list(pathway_endpoints(unit, "Cu")) == ["P1"]
    with pytest.raises(ValueError, match="own image"):
        pathway_endpoints(unit, "Cu", "P2")
    cs = _cscu2i3().structure.repeat((1, 1, 2))
    assert list(pathway_endpoints(cs, "Cu")) == ["P1", "P2", "P3"]


def test_hops_with_generic_class_names_and_other():
    # two sites 2.6 A apart along x (P1) in rows 4 A apart along y (P2); one ion also jumps 8 A
    cell = np.diag([20.0, 16.0, 20.0])
    base = np.array([[5.0, 4.0 * k + 2.0, 5.0] for k in range(4)])
    ref = Atoms("Cu8", positions=np.vstack([base, base + [2.6, 0, 0]]), cell=cell, pbc=True)
    n_t = 300
    pos = np.repeat(base[None], n_t, axis=0)
    pos[100:, 0, 0] += 2.6  # ion 0: P1 hop at frame 100
    pos[200:, 1, 1] += 4.0  # ion 1: P2 hop at frame 200 (to the next row)
    pos[150:, 2, 1] += 8.0  # ion 2: a jump over two rows: not a neighbour, "other"
    traj = Trajectory(positions=pos, cell=cell, numbers=np.full(4, 29), dt_fs=10.0)
    r = detect_hops(traj, "Cu", reference=ref, min_residence_fs=50.0)
    assert list(r.rates_by_class_per_ion_ps) == ["P1", "P2", "other"]
    assert dict(zip(r.hop_ion.tolist(), r.hop_class, strict=True)) == {0: "P1", 1: "P2", 2: "other"}
    assert r.summary()["hops_by_class"] == {"P1": 1, "P2": 1, "other": 1}
    assert [t.get_text() for t in r.plot().axes[0].get_xticklabels()] == ["P1", "P2", "other"]
    g = find_sites(ref, "Cu", pathway_names={"y": [0, 1, 0]})
    assert g.class_names == ("P1", "y")
    labels = [t.get_text() for t in g.plot("xy").axes[0].get_legend().get_texts()]
    assert labels[-2:] == ["P1 (2.60 $\\AA$)", "y (4.00 $\\AA$)"]
    with pytest.raises(ValueError, match="site graph is of"):
        detect_hops(traj, "Li", sites=g)


def test_site_graph_round_trip_and_speed(tmp_path):
    atoms = _cscu2i3().structure.repeat((3, 3, 5))  # 1080 atoms, 360 sites
    t0 = time.perf_counter()
    g = find_sites(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    elapsed = time.perf_counter() - t0
    assert g.n_sites == 360 and g.class_names == ("x", "z", "MID")
    assert elapsed < 10.0  # ~0.05 s on one core
    back = SiteGraph.load(g.save(tmp_path / "sites.json"))
    assert list(back.class_names) == list(g.class_names)
    i, j = (int(x) for x in g.edges[g.edges_of_class("MID")[0]])
    assert back.classify(i, j) == g.classify(i, j) == g.classify(j, i) == "MID"
    assert nearest_other_element(atoms, "Cu") == "I"
    gi = find_sites(_cscu2i3().structure, "Cu", interstitials=True)
    gi_i = find_sites(_cscu2i3().structure, "Cu", interstitials=True, anion="I")
    assert gi.n_sites == gi_i.n_sites == 16
