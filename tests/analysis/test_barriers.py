"""Climbing-image NEB on an EMT fcc-Cu vacancy hop against ASE's own NEB and a mirror-plane saddle."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixedPlane
from ase.neighborlist import neighbor_list
from ase.optimize import BFGS

from incipient.analysis.barriers import (
    BarrierResult,
    MigrationBarriers,
    migration_barriers,
    neb_barrier,
    pathway_endpoints,
    vacancy_hop_endpoints,
)


def _ase_reference_neb(ini, fin, n_images=3, fmax=0.02):
    """The same hop set up with ASE alone (relaxed ends, IDPP, climbing-image NEB, FIRE)."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    ends = []
    for a in (ini.copy(), fin.copy()):
        a.calc = EMT()
        BFGS(a, logfile=None).run(fmax=0.005)
        ends.append(a)
    images = [ends[0]] + [ends[0].copy() for _ in range(n_images)] + [ends[1]]
    for im in images[1:-1]:
        im.calc = EMT()
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate(method="idpp", mic=True)
    assert FIRE(band, logfile=None).run(fmax=fmax, steps=2000)
    e = [im.get_potential_energy() for im in images]
    return max(e) - e[0]


def test_emt_vacancy_hop_matches_ase_neb_and_mirror_plane_saddle(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    i, j = neighbor_list("ij", atoms, 2.6)
    neighbour = int(j[i == 0][0])
    ini, fin, k = vacancy_hop_endpoints(atoms, neighbour, 0)
    r = neb_barrier(ini, fin, EMT, n_images=3, fmax=0.02)  # factory: one calculator per image
    assert r.converged and r.valid and r.start == "idpp" and r.n_images == 3
    assert np.isnan(r.guard_A)  # EMT: no distance guard unless min_distance_A is given
    assert r.saddle_negative_modes == 1 and r.intermediate_minima_eV == ()
    # symmetric hop: equal forward and reverse barriers, climbing image in the middle
    assert r.delta_E_eV == pytest.approx(0.0, abs=1e-6)
    assert r.reverse_barrier_eV == pytest.approx(r.barrier_eV, abs=1e-6)
    assert int(np.argmax(r.energies_eV)) == 2
    # independent reference 1: ASE's own NEB on the same hop
    assert r.barrier_eV == pytest.approx(_ase_reference_neb(ini, fin), abs=0.005)
    # independent reference 2: relax with the hopping atom confined to the mirror plane of the hop
    e0 = ini.copy()
    e0.calc = EMT()
    BFGS(e0, logfile=None).run(fmax=0.005)
    mid = ini.copy()
    v = fin.positions[k] - ini.positions[k]
    mid.positions[k] += 0.5 * v
    mid.set_constraint(FixedPlane(k, v))
    mid.calc = EMT()
    BFGS(mid, logfile=None).run(fmax=0.005)
    saddle = mid.get_potential_energy() - e0.get_potential_energy()
    assert r.barrier_eV == pytest.approx(saddle, abs=0.005)
    assert 0.5 < r.barrier_eV < 1.1  # EMT Cu vacancy migration: 0.78 eV in this 31-atom cell
    back = BarrierResult.load(r.save(tmp_path / "neb.json"))
    assert back.barrier_eV == r.barrier_eV


def test_pathway_endpoints_for_cscu2i3_sites():
    from test_hops import CSCU2I3_PATHWAYS, _cscu2i3_conventional

    atoms = _cscu2i3_conventional() * (1, 1, 2)
    ends = pathway_endpoints(atoms, "Cu", pathway_names=CSCU2I3_PATHWAYS)
    assert set(ends) == {"x", "z", "MID"}
    lengths = {}
    for name, (ini, fin, k, vec) in ends.items():
        assert len(ini) == len(atoms) - 1 and ini[k].symbol == "Cu"
        moved = np.linalg.norm(fin.positions[k] - ini.positions[k])
        lengths[name] = moved
        np.testing.assert_allclose(fin.positions[k] - ini.positions[k], vec, atol=1e-9)
    assert lengths["x"] < lengths["z"] < lengths["MID"]


def test_migration_barriers_every_class_of_the_graph(tmp_path):
    # fcc Cu with a cutoff that takes only the 12 nearest neighbours: one class, named here
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    mb = migration_barriers(atoms, EMT, species="Cu", pathway_names={"nn": [1, 1, 0]},
                            site_kwargs={"cutoff_A": 3.0}, n_images=3, fmax=0.05, start_paths=("idpp",))
    assert mb.labels == ("nn",) and mb.converged["nn"] and mb.valid["nn"]
    assert mb.starts["nn"] == "idpp" and mb.n_images == 3 and mb.max_force_eV_A["nn"] <= 0.05
    assert 0.5 < mb.barriers_eV["nn"] < 1.1  # the nearest-neighbour vacancy hop of the test above
    assert mb.notes and "fewer than the 144" in mb.notes[0]  # 32 atoms
    assert [c["start"] for c in mb.candidates["nn"]] == ["idpp"]
    back = MigrationBarriers.load(mb.save(tmp_path / "mb.json"))
    assert back.barriers_eV == mb.barriers_eV
    with pytest.raises(ValueError, match="no pathway class 'x'"):
        migration_barriers(atoms, EMT, species="Cu", pathways=("x",))


def test_migration_barriers_size_check_on_emt_cu():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    mb = migration_barriers(atoms, EMT, species="Cu", pathway_names={"nn": [1, 1, 0]},
                            site_kwargs={"cutoff_A": 3.0}, n_images=3, fmax=0.05, start_paths=("idpp",),
                            size_check=True)
    sc = mb.size_check["nn"]
    assert sc["n_atoms"] == 64 and sorted(sc["repeat"]) == [1, 1, 2]
    assert abs(sc["change_eV"]) < 0.05  # EMT vacancy hop: 31 -> 63 atoms changes it little


def test_migration_barriers_plot_and_validation():
    p = np.linspace(0, 1, 5)
    mb = MigrationBarriers(species="Cu", mode="vacancy", labels=("x",), barriers_eV={"x": 0.2},  # old fields only
                           paths_A={"x": p}, energies_eV={"x": 0.2 * np.sin(np.pi * p)},
                           fit_paths_A={"x": p}, fit_energies_eV={"x": 0.2 * np.sin(np.pi * p)},
                           converged={"x": True})
    fig = mb.plot()
    assert fig.axes[0].get_legend() is not None
    import matplotlib.pyplot as plt

    plt.close(fig)
    from incipient.analysis.barriers import _is_factory

    assert _is_factory(EMT) and _is_factory(lambda: EMT()) and not _is_factory(EMT())
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    with pytest.raises(ValueError, match="different atom indices"):
        vacancy_hop_endpoints(atoms, 1, 1)


def test_constrained_scan_and_ring_exchange_on_emt_cu():
    from incipient.analysis.barriers import constrained_hop_scan, exchange_barrier

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    i, j = neighbor_list("ij", atoms, 2.6)
    neighbour = int(j[i == 0][0])
    ini, fin, k = vacancy_hop_endpoints(atoms, neighbour, 0)
    # drag: at t = 1/2 the ion is held in the mirror plane, so the maximum is the mirror-plane
    # saddle of the NEB test above (0.776 eV in this cell)
    d = constrained_hop_scan(ini, fin, EMT(), moving_index=k, n_points=5, fmax=0.01)
    assert d.start == "drag" and d.converged and d.valid
    assert int(np.argmax(d.energies_eV)) == 2
    assert d.barrier_eV == pytest.approx(0.776, abs=0.01)
    # concerted ring exchange of two neighbours in the perfect crystal: symmetric, far above the
    # vacancy hop
    best, allr = exchange_barrier(atoms, EMT, 0, neighbour, n_images=3, fmax=0.1, n_planes=1)
    assert len(allr) == 1 and allr[0].start.startswith("ring") and best is allr[0]
    assert best.delta_E_eV == pytest.approx(0.0, abs=1e-6)
    assert best.barrier_eV > 2 * d.barrier_eV
