"""Climbing-image NEB on an EMT fcc-Cu vacancy hop against an independent mirror-plane saddle."""

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


def test_emt_vacancy_hop_matches_mirror_plane_saddle(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    i, j = neighbor_list("ij", atoms, 2.6)
    neighbour = int(j[i == 0][0])
    ini, fin, k = vacancy_hop_endpoints(atoms, neighbour, 0)
    r = neb_barrier(ini, fin, EMT, n_images=3, fmax=0.03)  # factory: one calculator per image
    assert r.converged
    # symmetric hop: equal forward and reverse barriers, climbing image in the middle
    assert r.delta_E_eV == pytest.approx(0.0, abs=1e-6)
    assert r.reverse_barrier_eV == pytest.approx(r.barrier_eV, abs=1e-6)
    assert int(np.argmax(r.energies_eV)) == 2
    # independent saddle: relax with the hopping atom confined to the mirror plane of the hop
    e0 = ini.copy()
    e0.calc = EMT()
    BFGS(e0, logfile=None).run(fmax=0.01)
    mid = ini.copy()
    v = fin.positions[k] - ini.positions[k]
    mid.positions[k] += 0.5 * v
    mid.set_constraint(FixedPlane(k, v))
    mid.calc = EMT()
    BFGS(mid, logfile=None).run(fmax=0.01)
    saddle = mid.get_potential_energy() - e0.get_potential_energy()
    assert r.barrier_eV == pytest.approx(saddle, abs=0.01)
    assert 0.5 < r.barrier_eV < 1.1  # EMT Cu vacancy migration is ~0.7-0.8 eV
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


def test_migration_barriers_every_class_of_the_graph():
    # fcc Cu with a cutoff that takes only the 12 nearest neighbours: one class, named here
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    mb = migration_barriers(atoms, EMT, species="Cu", pathway_names={"nn": [1, 1, 0]},
                            site_kwargs={"cutoff_A": 3.0}, n_images=3, fmax=0.05)
    assert mb.labels == ("nn",) and mb.converged["nn"]
    assert 0.5 < mb.barriers_eV["nn"] < 1.1  # the nearest-neighbour vacancy hop of the test above
    with pytest.raises(ValueError, match="no pathway class 'x'"):
        migration_barriers(atoms, EMT, species="Cu", pathways=("x",))


def test_migration_barriers_plot_and_validation():
    p = np.linspace(0, 1, 5)
    mb = MigrationBarriers(species="Cu", mode="vacancy", labels=("x",), barriers_eV={"x": 0.2},
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
