"""Hop detection on synthetic telegraph hoppers and a chain walker; CsCu2I3 site-graph classes."""

import re
from importlib.resources import files

import numpy as np
import pytest
from ase import Atoms

from incipient.analysis.density import density_projection, displacement_traces
from incipient.analysis.hops import HopResult, detect_hops
from incipient.analysis.sites import find_sites
from incipient.md.trajectory import Trajectory

CSCU2I3_PATHWAYS = {"x": [1, 0, 0], "z": [0, 0, 1], "MID": [1, 0, 1]}


def _ou(rng, n_t, n, sigma, tau_fs, dt_fs):
    a = np.exp(-dt_fs / tau_fs)
    eps = rng.normal(size=(n_t, n, 3)) * sigma * np.sqrt(1 - a * a)
    out = np.empty_like(eps)
    out[0] = rng.normal(size=(n, 3)) * sigma
    for t in range(1, n_t):
        out[t] = a * out[t - 1] + eps[t]
    return out


def _telegraph(seed, *, rate_ps, n=20, n_t=30000, dt_fs=10.0, sep=2.6, noise=0.3,
               fail_rate_ps=0.0, fail_fs=20.0):
    """Ions switching between two sites sep apart along x with rate ``rate_ps`` (each way), plus
    correlated thermal rattling (OU, sigma=noise, 50 fs) and optional brief failed hops."""
    rng = np.random.default_rng(seed)
    cell = np.diag([20.0, 4.0 * n, 20.0])
    base = np.stack([np.full(n, 5.0), 4.0 * np.arange(n) + 2.0, np.full(n, 5.0)], axis=1)
    flips = rng.random((n_t, n)) < rate_ps * dt_fs / 1000.0
    flips[0] = False
    x = (np.cumsum(flips, axis=0) % 2).astype(float)
    if fail_rate_ps:
        starts = rng.random((n_t, n)) < fail_rate_ps * dt_fs / 1000.0
        fail = np.zeros_like(starts)
        for k in range(int(round(fail_fs / dt_fs))):
            fail[k:] |= starts[: n_t - k]
        x = np.where(fail, 1 - x, x)
    pos = base[None] + _ou(rng, n_t, n, noise, 50.0, dt_fs)
    pos[:, :, 0] += sep * x
    ref = Atoms("Cu" * (2 * n), positions=np.vstack([base, base + [sep, 0, 0]]), cell=cell, pbc=True)
    traj = Trajectory(positions=pos, cell=cell, numbers=np.full(n, 29), dt_fs=dt_fs)
    return traj, ref, int(flips.sum())


def test_telegraph_rate_recovered_and_rattling_rejected(tmp_path):
    k, tau_min = 0.1, 0.1  # rate per ps, residence criterion in ps
    traj, ref, n_flips = _telegraph(0, rate_ps=k, fail_rate_ps=0.5)
    sites = find_sites(ref, "Cu", pathway_names={"x": [1, 0, 0]})
    assert sites.class_names == ("x", "P1")  # the site pairs 2.6 A along x; the rows 4 A apart in y
    r = detect_hops(traj, "Cu", sites=sites, min_residence_fs=1000 * tau_min, phonon_period_ps=1.0)
    # dwell times shorter than tau_min are merged (2 transitions lost each): first-order
    # expected counted rate k exp(-2 k tau_min); Poisson error from the number of hops
    expected = k * np.exp(-2 * k * tau_min)
    assert abs(r.rate_per_ion_ps - expected) < 4 * r.rate_err_per_ion_ps + 0.01 * expected
    assert abs(r.rate_per_ion_ps - n_flips / (r.n_ions * r.duration_ps)) < 4 * r.rate_err_per_ion_ps
    assert r.rates_by_class_per_ion_ps["x"] == r.rate_per_ion_ps  # all hops along x
    assert set(r.rates_by_class_per_ion_ps) == {"x", "P1", "other"}
    assert r.summary()["hops_by_class"] == {"x": r.n_hops, "P1": 0, "other": 0}
    assert r.return_fraction == 1.0  # a two-site hopper always goes back
    assert r.mean_residence_time_ps == pytest.approx(1 / r.rate_per_ion_ps)
    assert r.residence_over_phonon_period > 5  # residence >> phonon period
    np.testing.assert_allclose(np.abs(r.hop_vector_A[:, 0]), 2.6)
    # without the residence criterion the 20 fs failed hops are counted (2 per excursion)
    r0 = detect_hops(traj, "Cu", sites=sites, min_residence_fs=0.0)
    assert r0.rate_per_ion_ps > r.rate_per_ion_ps + 0.5 * 2 * 0.5
    back = HopResult.load(r.save(tmp_path / "hops.json"))
    assert back.n_hops == r.n_hops and back.hop_class[0] == "x"


def test_chain_walker_return_fraction_is_one_half():
    # unbiased nearest-neighbour walk on a periodic chain of sites along z: return fraction 1/2
    rng = np.random.default_rng(2)
    n, n_t, dt, sep = 30, 6000, 10.0, 3.0
    n_site = 8
    cell = np.diag([10.0, 10.0 * n, sep * n_site])
    jumps = rng.random((n_t, n)) < 0.02
    steps = np.where(rng.random((n_t, n)) < 0.5, -1, 1) * jumps
    pos_idx = np.cumsum(steps, axis=0)
    pos = np.zeros((n_t, n, 3))
    pos[..., 0] = 5.0
    pos[..., 1] = 10.0 * np.arange(n) + 5.0
    pos[..., 2] = sep * pos_idx + 1.0
    pos += rng.normal(size=pos.shape) * 0.15
    ref_pos = np.array([[5.0, 10.0 * i + 5.0, sep * s + 1.0] for i in range(n) for s in range(n_site)])
    ref = Atoms("Cu" * len(ref_pos), positions=ref_pos, cell=cell, pbc=True)
    r = detect_hops(Trajectory(positions=pos, cell=cell, numbers=np.full(n, 29), dt_fs=dt), "Cu",
                    reference=ref, pathway_names={"z": [0, 0, 1]}, min_residence_fs=10.0)
    assert r.n_hops == int(jumps[1:].sum())  # every jump seen once (1-frame criterion)
    assert abs(r.return_fraction - 0.5) < 4 * np.sqrt(0.25 / r.n_hop_pairs)
    assert set(r.hop_class) == {"z"}


def _cscu2i3_conventional():
    """Conventional Cmcm cell (x,y,z = a,b,c) from the packaged ShengBTE CONTROL0 file."""
    from ase.build import make_supercell

    text = (files("incipient") / "data/CsCu2I3/CONTROL0").read_text()
    lat = np.array([[float(v) for v in re.search(rf"lattvec\(:,{k}\)\s*=\s*([^\n]+)", text)
                     .group(1).split(",")] for k in (1, 2, 3)])
    lfactor = float(re.search(r"lfactor\s*=\s*([\d.]+)", text).group(1))
    frac = [[float(v) for v in m.split(",")]
            for m in re.findall(r"positions\(:,\d+\)\s*=\s*([^\n]+)", text)]
    types = [int(t) for t in re.search(r"types\s*=\s*([^\n]+)", text).group(1).replace(",", " ").split()]
    prim = Atoms([("Cs", "Cu", "I")[t - 1] for t in types], scaled_positions=frac,
                 cell=lat * lfactor * 10.0, pbc=True)  # nm -> A
    conv = make_supercell(prim, [[1, 1, 0], [-1, 1, 0], [0, 0, 1]])
    conv.wrap()
    return conv


def test_cscu2i3_site_graph_has_x_z_mid_shells():
    atoms = _cscu2i3_conventional()
    np.testing.assert_allclose(atoms.cell.lengths(), [10.036, 12.939, 6.054], atol=2e-3)
    g = find_sites(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    assert g.n_sites == 8 and g.symmetry == "crystal" and g.point_group_order == 8  # mmm
    shells = {s["class"]: s for s in g.shell_summary()}
    assert set(shells) == {"x", "z", "MID"}
    # x: pair across the double chain; z: along the edge-sharing chain (c/2); MID: diagonal in (010)
    assert shells["x"]["length_A"] == pytest.approx(2.61, abs=0.01) and shells["x"]["per_site"] == 1
    assert shells["z"]["length_A"] == pytest.approx(6.054 / 2, abs=0.01) and shells["z"]["per_site"] == 2
    assert shells["MID"]["length_A"] == pytest.approx(np.hypot(2.61, 3.027), abs=0.01)
    assert g.classify(0, int(np.argmax(np.linalg.norm(g.positions_A - g.positions_A[0], axis=1)))) == "other"


def test_density_and_traces_shapes():
    traj, ref, _ = _telegraph(4, rate_ps=1.0, n=4, n_t=2000)
    tr = displacement_traces(traj, "Cu", n_ions=2, nn_distance_A=2.6)
    assert tr.displacement_A.shape == (2000, 2, 3)
    assert np.abs(tr.displacement_A[..., 0]).max() > 2.0  # the hoppers are selected
    dp = density_projection(traj, "Cu", plane="xz", bins=40, extent_A=4.0)
    du = np.diff(dp.edges_u_A)[0]
    # normalised to the frames inside the window: a few rattling frames fall outside +-4 A
    inside = np.all(np.abs((traj.positions - traj.positions[:1])[..., [0, 2]]) < 4.0, axis=-1).mean()
    assert dp.density.sum() * du * du == pytest.approx(inside, rel=1e-9)
    with pytest.raises(ValueError, match="plane"):
        density_projection(traj, "Cu", plane="xx")


def test_hops_on_cscu2i3_sites_are_classified_by_pathway():
    # every Cu makes one hop to a neighbour of a prescribed class and stays; rattling on top
    rng = np.random.default_rng(3)
    atoms = _cscu2i3_conventional() * (2, 1, 2)
    g = find_sites(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    n, n_t, dt = g.n_sites, 400, 10.0
    wanted = np.array(["x", "z", "MID"])[np.arange(n) % 3]
    target = np.empty(n, dtype=int)
    vec = np.empty((n, 3))
    for s in range(n):
        cands = [(e, 1) for e in np.flatnonzero(g.edges[:, 0] == s)] + \
                [(e, -1) for e in np.flatnonzero(g.edges[:, 1] == s)]
        e, sign = next((e, sg) for e, sg in cands if g.edge_classes[e] == wanted[s])
        target[s] = g.edges[e, 1] if sign == 1 else g.edges[e, 0]
        vec[s] = sign * g.edge_vectors_A[e]
    t_hop = rng.integers(50, 350, size=n)
    pos = np.repeat(g.positions_A[None], n_t, axis=0)
    pos += (np.arange(n_t)[:, None] >= t_hop[None, :])[..., None] * vec[None]
    pos += rng.normal(size=pos.shape) * 0.2
    traj = Trajectory(positions=pos, cell=g.cell_A, numbers=np.full(n, 29), dt_fs=dt)
    r = detect_hops(traj, "Cu", sites=g, min_residence_fs=100.0)
    assert r.n_hops == n
    order = np.argsort(r.hop_ion)
    assert list(np.array(r.hop_class)[order]) == list(wanted)
    np.testing.assert_array_equal(r.hop_to[order], target)
    np.testing.assert_allclose(r.hop_time_ps[order], t_hop * dt / 1000.0, atol=0.03)
    assert np.isnan(r.return_fraction) and r.n_hop_pairs == 0
    for c in ("x", "z", "MID"):
        assert r.rates_by_class_per_ion_ps[c] == pytest.approx(
            np.sum(wanted == c) / (n * (n_t - 1) * dt / 1000.0))
