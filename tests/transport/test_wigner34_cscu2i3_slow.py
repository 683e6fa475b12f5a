"""3ph vs 3+4ph Wigner glue on CsCu2I3 (slow: short MD -> effective fc2 -> phono3py + 4ph).

Checks that the 3ph part of ``wigner_3ph_4ph`` equals ``wigner_conductivity`` (independent
assembly by phono3py) on identical inputs, and that adding 4ph rates lowers kappa_p.
"""

import numpy as np
import pytest

from incipient.data import cscu2i3_mtp


@pytest.mark.slow
def test_wigner34_matches_phono3py_and_4ph_lowers_kappa_p(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator

    from incipient.data import cscu2i3_fc3, cscu2i3_fc4
    from incipient.data.cscu2i3 import cscu2i3_primitive, cscu2i3_supercell
    from incipient.lattice.fit import fit_force_constants
    from incipient.lattice.phonons import make_phonopy
    from incipient.lattice.phonopy_io import (
        phonopy_to_ase_atoms,
        reorder_fc2,
        supercell_permutation,
    )
    from incipient.md import read_trajectory, run_md
    from incipient.potentials import MTP
    from incipient.transport.wigner import wigner_conductivity
    from incipient.transport.wigner34 import wigner_3ph_4ph

    ideal = cscu2i3_supercell((2, 2, 4))
    calc = MTP(cscu2i3_mtp())
    run_md(ideal, calc, tmp_path / "m.h5md", temperature_K=300, steps_nvt=300, steps_nve=600, save_every=20,
           progress=False)
    traj = read_trajectory(tmp_path / "m.h5md")
    snaps = []
    for x in traj.positions[::2]:
        a = ideal.copy()
        a.positions = x
        a.wrap()
        a.calc = calc
        f = a.get_forces()
        a.calc = SinglePointCalculator(a, forces=f)
        snaps.append(a)
    prim = cscu2i3_primitive()
    fit = fit_force_constants(ideal, snaps, prim, cutoffs_A=(6.0,))
    sc = prim.repeat((3, 3, 3))
    ph = make_phonopy(prim, (3, 3, 3))
    fc2 = reorder_fc2(fit.fcp.get_force_constants(sc).get_fc_array(order=2),
                      supercell_permutation(sc, phonopy_to_ase_atoms(ph.supercell)))
    T = (300.0, 600.0)
    r = wigner_3ph_4ph(prim, fc2, str(cscu2i3_fc3()), str(cscu2i3_fc4()), mesh=(2, 2, 2), temperatures_K=T,
                       n_samples=20, rng=0)
    ref = wigner_conductivity(prim, fc2, str(cscu2i3_fc3()), supercell_matrix=(3, 3, 3), mesh=(2, 2, 2),
                              temperatures_K=T, symprec=1e-3)
    ref_p = np.einsum("tii->ti", np.asarray(ref.kappa_p_W_mK))
    ref_c = np.einsum("tii->ti", np.asarray(ref.kappa_c_W_mK))
    np.testing.assert_allclose(r.kappa_p_3ph, ref_p, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(r.kappa_c_3ph, ref_c, rtol=1e-3, atol=1e-5)
    assert np.all(r.kappa_p_34ph < r.kappa_p_3ph) and np.all(r.kappa_c_34ph > 0)


@pytest.mark.slow
def test_cli_wigner34_runs_and_reports(tmp_path, capsys):
    """``incipient kappa wigner34`` end to end on a 2x2x2 mesh (0 K MTP fc2): JSON, PNG, table."""
    from incipient.cli.main import main
    from incipient.data.cscu2i3 import cscu2i3_primitive
    from incipient.lattice.phonons import make_phonopy, set_displacement_forces
    from incipient.lattice.phonopy_io import write_fc2
    from incipient.potentials import MTP
    from incipient.transport.wigner34 import Wigner34Result

    ph = make_phonopy(cscu2i3_primitive(), (3, 3, 3), symprec=1e-3)
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, MTP(cscu2i3_mtp()))
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    fc2 = write_fc2(tmp_path / "fc2.hdf5", ph.force_constants)
    rc = main(["kappa", "wigner34", "--fc2", str(fc2), "--mesh", "2", "2", "2", "--temperatures", "300", "600",
               "--samples", "8", "--batches", "2", "--single-precision", "--output", str(tmp_path / "k.json"),
               "--plot", str(tmp_path / "k.png"), "--lifetimes-plot", str(tmp_path / "tau.png"), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wall time per stage" in out and "peak RSS" in out and "alpha" in out
    r = Wigner34Result.load(tmp_path / "k.json")
    assert r.n_samples == 8 and r.info["n_batches"] == 2 and r.info["error_method"].startswith("jackknife")
    assert np.all(r.kappa_p_34ph <= r.kappa_p_3ph) and np.all(r.kappa_p_34ph_err >= 0)
    assert (tmp_path / "k.png").stat().st_size > 10_000
    assert (tmp_path / "tau.png").stat().st_size > 10_000
    # per-mode rates survive the JSON round trip; 4ph only adds scattering
    assert r.rates_34ph_per_ps.shape == r.rates_3ph_per_ps.shape == (2, *r.frequencies_THz.shape)
    assert np.all(r.rates_34ph_per_ps >= r.rates_3ph_per_ps) and np.any(r.rates_34ph_per_ps > r.rates_3ph_per_ps)
    assert r.n_atoms_prim == 12
