"""MD loop: energy conservation, canonical sampling, exact resume, blow-up detection, heat current."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from incipient.data import cscu2i3_mtp
from incipient.md import MDBlowUpError, read_trajectory, run_md


class Einstein(Calculator):
    """Independent harmonic wells F = -k (r - r0); per-atom energies and zero virials."""

    implemented_properties = ["energy", "energies", "forces", "virials", "free_energy"]

    def __init__(self, r0, k=2.0, fail_after=None, nan_after=None):
        super().__init__()
        self.r0, self.k, self.calls = np.array(r0), k, 0
        self.fail_after, self.nan_after = fail_after, nan_after

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        d = self.atoms.positions - self.r0
        e = 0.5 * self.k * (d * d).sum(1)
        f = -self.k * d
        if self.nan_after is not None and self.calls > self.nan_after:
            f = f * np.nan
        self.results.update(energy=e.sum(), free_energy=e.sum(), energies=e, forces=f,
                            virials=np.zeros((len(e), 3, 3)))


def crystal(n=64):
    """n = m^3 atoms on a simple cubic grid of 4 A."""
    m = round(n ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] * 4.0
    return Atoms("Ar" * n, positions=grid, cell=[4.0 * m] * 3, pbc=True)


def test_nve_conserves_energy_and_bussi_samples_canonical_kinetic_energy(tmp_path):
    a = crystal(64)
    r = run_md(a, Einstein(a.positions), tmp_path / "h.h5md", temperature_K=300, timestep_fs=1.0,
               steps_nvt=2500, steps_nve=1000, tau_fs=20.0, save_every=1, progress=False, save_nvt=True)
    nve = r.phase == 1
    # velocity Verlet on a harmonic well: bounded energy error ~ (w dt)^2; w = sqrt(2/40) per ASE time
    w_dt = np.sqrt(2.0 / a.get_masses()[0]) * 1.0 * units.fs
    assert np.ptp(r.total_eV[nve]) / r.total_eV[nve].std() > 0  # not constant by accident
    assert np.ptp(r.total_eV[nve]) < 2 * w_dt**2 * (3 * 64 * units.kB * 300)
    assert abs(r.nve_drift_meV_atom_ns) < 1.0
    # canonical kinetic energy: <T> = T0 and var(K) = (N_f / 2) (kT)^2 (Bussi et al. 2007)
    nvt = (r.phase == 0) & (r.time_fs > 1000)
    T = r.temperature_K[nvt]
    n_dof = 3 * 64 - 3
    kin = 0.5 * n_dof * units.kB * T
    assert abs(T.mean() - 300) < 3 * T.std() / np.sqrt(len(T) / 40)  # correlation time ~ tau = 20 steps
    var_expected = 0.5 * n_dof * (units.kB * 300) ** 2
    assert 0.6 < kin.var() / var_expected < 1.5


def test_killed_run_resumes_exactly(tmp_path):
    a = crystal(27)
    kw = dict(temperature_K=500, timestep_fs=2.0, steps_nvt=60, steps_nve=60, save_every=5, checkpoint_every=20,
              progress=False, seed=3, heat_current_every=1)
    ref = run_md(a, Einstein(a.positions), tmp_path / "ref.h5md", **kw)
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=95), tmp_path / "cut.h5md", **kw)
    cut_partial = read_trajectory(tmp_path / "cut.h5md")
    assert 0 < cut_partial.n_frames < read_trajectory(tmp_path / "ref.h5md").n_frames
    res = run_md(a, Einstein(a.positions), tmp_path / "cut.h5md", **kw)
    t_ref, t_cut = read_trajectory(tmp_path / "ref.h5md"), read_trajectory(tmp_path / "cut.h5md")
    np.testing.assert_array_equal(t_ref.time_fs, t_cut.time_fs)
    np.testing.assert_array_equal(t_ref.positions, t_cut.positions)
    np.testing.assert_array_equal(t_ref.velocities, t_cut.velocities)
    np.testing.assert_array_equal(ref.total_eV, res.total_eV)
    import h5py

    with h5py.File(tmp_path / "ref.h5md") as f, h5py.File(tmp_path / "cut.h5md") as g:
        for name in ("heat_current_conv_eV_A_fs", "heat_current_virial_eV_A_fs"):
            np.testing.assert_array_equal(f["observables"][name]["value"][:], g["observables"][name]["value"][:])
            assert f["observables"][name]["value"].shape == (60, 3)


def test_blow_up_is_detected_and_frames_kept(tmp_path):
    a = crystal(8)
    with pytest.raises(MDBlowUpError, match="not finite"):
        run_md(a, Einstein(a.positions, nan_after=50), tmp_path / "b.h5md", temperature_K=300,
               steps_nvt=10, steps_nve=100, save_every=5, checkpoint_every=10, progress=False)
    t = read_trajectory(tmp_path / "b.h5md")
    assert t.n_frames >= 6  # NVE frames up to step ~50 survive


def test_mtp_nve_conserves_energy(tmp_path):
    from incipient.data.cscu2i3 import cscu2i3_conventional
    from incipient.potentials import MTP

    a = cscu2i3_conventional()
    r = run_md(a, MTP(cscu2i3_mtp()), tmp_path / "m.h5md", temperature_K=300, timestep_fs=2.0, steps_nvt=50,
               steps_nve=150, save_every=1, progress=False, tau_fs=20)
    nve = r.phase == 1
    # 2 fs steps: energy fluctuates but does not drift; bound the spread (meV/atom)
    assert np.ptp(r.total_eV[nve]) / 24 * 1000 < 2.0
    assert 100 < r.mean_temperature_nve_K < 600


def test_heat_current_is_time_derivative_of_energy_moment(tmp_path):
    """For a cluster in vacuum, J = d/dt sum_i r_i e_i along the real MD trajectory (issue 7 check).

    J = heat_current_conv_raw + heat_current_virial (absolute energies); e_i = U_i + K_i from the
    stored frames; central differences over 0.05 fs steps, relative tolerance 1e-3.
    """
    import h5py

    from incipient.data.cscu2i3 import cscu2i3_conventional
    from incipient.potentials import MTP

    a = cscu2i3_conventional()
    a.pbc = False
    a.center(vacuum=10.0)
    calc = MTP(cscu2i3_mtp())
    out = tmp_path / "cluster.h5md"
    run_md(a, calc, out, temperature_K=600, timestep_fs=0.05, steps_nvt=0, steps_nve=30, save_every=1,
           heat_current_every=1, progress=False, seed=1)
    t = read_trajectory(out)
    masses = a.get_masses()
    moment = []
    for x, v in zip(t.positions, t.velocities, strict=True):
        e = calc.evaluate(x, a.cell.array, a.pbc, a.numbers, virials=False)["energies"]
        kin = 0.5 * masses * (v * v).sum(1) / units.fs**2  # (A/fs)^2 -> ASE velocity units
        moment.append((x * (e + kin)[:, None]).sum(0))
    moment = np.array(moment)
    with h5py.File(out) as f:
        jv = f["observables/heat_current_virial_eV_A_fs/value"][:]
        j = f["observables/heat_current_conv_raw_eV_A_fs/value"][:] + jv
    deriv = (moment[2:] - moment[:-2]) / (2 * 0.05)  # eV A / fs
    tol = 1e-3 * np.abs(j).max()
    np.testing.assert_allclose(deriv, j[1:-1], rtol=0, atol=tol)
    assert np.abs(jv).max() > 20 * tol  # the virial (many-body) part matters at this tolerance
