"""The spectra stage on an MD cell too small for S(Q,w) maps: the harmonic S(Q,E) of the fc2 still
drawn along the special-point paths, with the MD's few Q points on it and a note; without an fc2,
nothing drawn (as before)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from incipient.system import PotentialSpec, System
from incipient.workflows.config import load_config
from incipient.workflows.graph import StageContext
from incipient.workflows.summaries import ForceConstantsSummary, MDRun, MDSummary


@pytest.fixture(scope="module")
def small_md(tmp_path_factory):
    """fcc Cu (EMT), the 4-atom cubic cell itself as MD cell (a 1 r.l.u. Q grid: Gamma -> X has 2
    Q points, L none), a short NVE run, and the fc2 of the primitive cell by finite displacements."""
    import ase.io
    import phonopy
    from ase.calculators.emt import EMT
    from phonopy.structure.atoms import PhonopyAtoms

    from incipient.md.dynamics import run_md

    root = tmp_path_factory.mktemp("study")
    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    (root / "relax").mkdir()
    ase.io.write(root / "relax" / "input.extxyz", cell)
    (root / "md").mkdir()
    traj = str(root / "md" / "T300K_seed0.h5md")
    res = run_md(cell.repeat((1, 1, 1)), EMT(), traj, temperature_K=300.0, timestep_fs=5.0, steps_nvt=20, steps_nve=240,
                 save_every=2, seed=1, progress=False)
    run = MDRun(trajectory=traj, temperature_K=300.0, seed=1, n_atoms=4, nve_drift_meV_atom_ns=res.nve_drift_meV_atom_ns,
                mean_temperature_nve_K=res.mean_temperature_nve_K, ns_per_day=1.0, overhead_percent=0.0,
                result=traj + ".result.json")
    md = MDSummary(runs=[run], repeat=[1, 1, 1])
    prim = bulk("Cu", "fcc", a=3.6)
    ph = phonopy.Phonopy(PhonopyAtoms(symbols=prim.get_chemical_symbols(), cell=prim.cell.array,
                                      scaled_positions=prim.get_scaled_positions()), supercell_matrix=np.eye(3) * 3)
    ph.generate_displacements(distance=0.01)
    forces = []
    for sc in ph.supercells_with_displacements:
        a = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        a.calc = EMT()
        forces.append(a.get_forces())
    ph.forces = forces
    ph.produce_force_constants()
    params = str(root / "phonopy_params.yaml")
    ph.save(params, settings={"force_constants": True})
    fc = ForceConstantsSummary(fc2_file="", fc3_file=None, fc4_file=None, phonopy_params=params, fc_supercell=[3, 3, 3],
                               primitive_file="", temperature_K=300.0, rmse_test_eV_A=0.0, r2_test=1.0, n_imaginary=0)
    system = System(cell, PotentialSpec(factory="ase.calculators.emt:EMT"), "Cu", name="Cu (EMT)")
    return root, system, md, fc


def _run_spectra(root, system, inputs, name):
    from incipient.workflows.stages import spectra

    d = root / name
    d.mkdir()
    ctx = StageContext(config=load_config(), root=root, dir=d, inputs=inputs, system=system, progress=False)
    return spectra.run(ctx)


def test_too_small_md_cell_still_gets_the_harmonic_map(small_md):
    root, system, md, fc = small_md
    s = _run_spectra(root, system, {"md": md, "force_constants": fc}, "spectra")
    dense = [f for f in s.figures if f.caption.startswith("Harmonic S(Q,E)")]
    # the first three special points of the fcc zone, axis-aligned first: X (0,1,0), then W and K
    names = [f.path.split("sqe_dense_")[1].split("_T300K")[0] for f in dense]
    assert names == ["G_X", "G_W", "G_K"], [f.path for f in s.figures]
    assert all((root / f.path).stat().st_size > 5000 for f in dense)
    assert "41 Q points" in dense[0].caption and "resolves only 2 Q points on this path (triangles)" in dense[0].caption
    assert any(n.startswith("G-X ((0,0,0) -> (0,1,0)): the MD supercell resolves only 2 Q points on it ((0,0,0), (0,1,0) "
                            "r.l.u.)") for n in s.notes), s.notes
    assert any(n.startswith("G-W") and "resolves only 1 Q point on it ((0,0,0) r.l.u.)" in n for n in s.notes), s.notes
    # why no MD map: the default paths' notes stay
    assert any("use a larger MD supercell" in n for n in s.notes) and not any(f.path.startswith("spectra/sqw_") for f in s.figures)
    # the MD's DHO fit at its Q points is recorded (Gamma has no inelastic peak: not fitted)
    b = s.branches["G-X"]["300K"]
    assert len(b.q_rlu) == 2 and b.E_c_meV[0] != b.E_c_meV[0]  # NaN at Gamma
    assert s.to_dict()["branches"]["G-X"]["300K"]["q_rlu"] == b.q_rlu


def test_without_an_fc2_nothing_is_drawn_as_before(small_md):
    root, system, md, _ = small_md
    s = _run_spectra(root, system, {"md": md}, "spectra_no_fc")
    assert [f.path for f in s.figures] == ["spectra_no_fc/vdos_T300K_seed1.png"] and s.branches == {}
    assert "no special point gives a path with enough commensurate Q points: use a larger MD supercell" in s.notes
