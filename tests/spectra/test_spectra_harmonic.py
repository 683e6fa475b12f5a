"""Harmonic S(Q,E) against phonopy's dynamic structure factor (fcc Al, ASE EMT force constants)."""

import numpy as np
import pytest

from incipient.lattice.phonons import set_displacement_forces
from incipient.spectra.harmonic import bose, harmonic_sqe, make_phonopy, sum_degenerate


@pytest.fixture(scope="module")
def al_phonon():
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    prim = bulk("Al", "fcc", a=4.05)
    ph = Phonopy(PhonopyAtoms(symbols=["Al"], cell=prim.cell.array, scaled_positions=[[0, 0, 0]]),
                 supercell_matrix=np.diag([3, 3, 3]))
    ph.generate_displacements(distance=0.01)
    set_displacement_forces(ph, EMT())
    ph.produce_force_constants()
    return prim, ph


Q_CONV = np.array([[0.25, 0, 2], [0.5, 0.3, 2.1], [1, 0.2, 3], [1.5, 0.5, 2.5], [0, 0, 2.4]])


def test_matches_phonopy_dynamic_structure_factor(al_phonon):
    from ase.units import _hplanck
    from phonopy.spectrum.dynamic_structure_factor import atomic_form_factor_WK1995

    from incipient.spectra.form_factors import xray_coefficients

    prim, ph = al_phonon
    conv = np.eye(3) * 4.05
    temperature = 300.0
    ours = harmonic_sqe(ph, Q_CONV, temperature_K=temperature, reference_cell=conv, mesh=(6, 6, 6),
                        energy_meV=np.arange(-45.0, 45.0, 0.05))
    q_prim = (2 * np.pi * Q_CONV @ np.linalg.inv(conv).T) @ prim.cell.array.T / (2 * np.pi)
    ph.run_mesh([6, 6, 6], is_mesh_symmetry=False, with_eigenvectors=True)
    coef = xray_coefficients("Al")
    dsf = ph.run_dynamic_structure_factor(
        q_prim, temperature, atomic_form_factor_func=lambda sym, s: atomic_form_factor_WK1995(s, coef),
        freq_min=1e-3)
    theirs = sum_degenerate(dsf.frequencies, dsf.dynamic_structure_factors * _hplanck * 1e32)
    mine = sum_degenerate(ours.frequencies_THz, ours.intensity_loss)
    n_groups = 0
    for a, b in zip(mine, theirs, strict=True):
        assert len(a) == len(b)
        for (fa, ia), (fb, ib) in zip(a, b, strict=True):
            assert fa == pytest.approx(fb, rel=1e-9)
            # same inputs, CODATA constants differ between ASE and phonopy at ~1e-7
            assert ia == pytest.approx(ib, rel=1e-5, abs=1e-9 * max(g[1] for g in a))
            n_groups += 1
    assert n_groups >= 10
    # detailed balance between energy gain and loss: n/(n+1) = exp(-E/kT)
    nu = ours.frequencies_THz
    ok = ours.intensity_loss > 0
    ratio = ours.intensity_gain[ok] / ours.intensity_loss[ok]
    np.testing.assert_allclose(ratio, np.exp(-nu[ok] * 4.135667696e-3 / (8.617333262e-5 * temperature)),
                               rtol=1e-6)
    # map: loss side area equals sum of loss intensities (Gaussians on a fine grid)
    assert ours.sqe.shape == (len(Q_CONV), len(ours.energy_meV))
    de = ours.energy_meV[1] - ours.energy_meV[0]
    pos = ours.energy_meV > 0
    np.testing.assert_allclose(ours.sqe[:, pos].sum(axis=1) * de, ours.intensity_loss.sum(axis=1), rtol=2e-3)


def test_inputs_as_arrays_and_errors(al_phonon):
    prim, ph = al_phonon
    r1 = harmonic_sqe((prim, np.diag([3, 3, 3]), ph.force_constants), Q_CONV[:2] @ np.eye(3),
                      temperature_K=0.0, reference_cell=np.eye(3) * 4.05, weighting="neutron",
                      mesh=(4, 4, 4))
    assert np.all(r1.intensity_gain == 0) and np.all(r1.intensity_loss >= 0)
    assert bose(1.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="fc2 has shape"):
        make_phonopy(prim, np.diag([3, 3, 3]), np.zeros((2, 2, 3, 3)))


@pytest.mark.slow
def test_md_sqw_ta_branch_matches_harmonic(al_phonon):
    """EMT MD of fcc Al (4x4x4 cubic cell, 300 K): the MD S(Q,w) peak along (H,2,0) sits on the
    harmonic TA energy within one MD energy bin (~1.7 meV)."""
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from incipient.md.trajectory import Trajectory
    from incipient.spectra import commensurate_path, sqw

    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((4, 4, 4))
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=4 * units.fs)
    dyn.run(100)
    pos = []
    dyn.attach(lambda: pos.append(atoms.get_positions().copy()), interval=1)
    dyn.run(1200)
    traj = Trajectory(np.array(pos), atoms.cell.array, atoms.numbers, 4.0)
    conv = np.eye(3) * 4.05
    q = commensurate_path((0, 2, 0), (1, 2, 0), conv, traj.cell)[1:]
    md = sqw(traj, q, reference_cell=conv, window_size=300, weighting="xray", window="hann")
    harm = harmonic_sqe(al_phonon[1], q, temperature_K=300.0, reference_cell=conv, mesh=(4, 4, 4))
    e = md.energy_meV
    de = e[1] - e[0]
    for i in range(len(q)):
        above = e > 2 * de
        e_peak = e[above][np.argmax(md.sqw[i][above])]
        assert abs(e_peak - harm.frequencies_meV[i, 0]) <= 1.5 * de
