"""validate_potential: analytic errors (identical, scaled-force and shifted-energy calculators), lattice, DOS.

ASE's EMT is the oracle on L1_2 Cu3Au. A "potential" equal to EMT has all errors 0 and the same
relaxed lattice and DOS; one returning EMT forces x 1.01 has force RMSE = 0.01 x RMS(F) exactly
(per species too) and the same lattice (the forces vanish at the same positions, the stress is
unchanged); one adding 2 meV/atom to the energy has energy RMSE = MAE = 2 meV/atom.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402

from incipient.errors import InputError  # noqa: E402
from incipient.potentials.training.validation import PotentialValidation, validate_potential  # noqa: E402

SPECIES = ("Cu", "Au")


class ModifiedEMT(Calculator):
    """EMT with forces x ``force_factor`` and ``energy_shift_eV_atom`` added per atom (stress unchanged)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, force_factor=1.0, energy_shift_eV_atom=0.0):
        super().__init__()
        self.force_factor, self.shift = force_factor, energy_shift_eV_atom

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = EMT()
        e = a.get_potential_energy() + self.shift * len(a)
        self.results = {"energy": e, "free_energy": e, "forces": a.get_forces() * self.force_factor,
                        "stress": a.get_stress()}


def cu3au():
    a = bulk("Cu", "fcc", a=3.75, cubic=True)
    a.symbols[0] = "Au"
    return a


def configurations(n=5, seed=0, labelled=True):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = cu3au().repeat(2)
        a.set_cell(a.cell.array * (1 + rng.uniform(-0.01, 0.01)), scale_atoms=True)
        a.positions += rng.normal(0.0, 0.06, a.positions.shape)
        if labelled:
            a.calc = EMT()
            res = dict(energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress())
            a.calc = SinglePointCalculator(a, **res)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def identical():
    return validate_potential(EMT(), EMT(), configurations(), species=SPECIES, structure=cu3au(),
                              supercell=(2, 2, 2), dos_mesh=(6, 6, 6), progress=False,
                              potential_name="EMT copy", oracle_name="EMT")


def test_identical_calculators_have_zero_error(identical):
    r = identical
    assert r.n_configurations == 5 and r.force_species.size == 5 * 32
    assert r.energy_rmse_meV_atom == 0 and r.energy_mae_meV_atom == 0
    assert r.force_rmse_meV_A == 0 and np.all(r.force_rmse_per_species_meV_A == 0)
    assert r.stress_rmse_GPa == 0 and r.stress_oracle_GPa.shape == (5, 6)
    assert np.array_equal(r.lattice_oracle_A, r.lattice_potential_A)
    assert np.allclose(r.lattice_oracle_A, r.lattice_oracle_A[0]) and 3.6 < r.lattice_oracle_A[0] < 3.9  # cubic
    assert np.array_equal(r.dos_oracle_states_THz, r.dos_potential_states_THz)
    # normalisation: 3 x 4 atoms modes per cell; EMT Cu3Au is stable
    df = r.dos_frequency_THz[1] - r.dos_frequency_THz[0]
    assert r.dos_oracle_states_THz.sum() * df == pytest.approx(12.0, rel=1e-3)
    assert r.n_imaginary_oracle == 0 and r.n_modes_mesh == 6 ** 3 * 12 and r.notes == ()


def test_scaled_forces_give_the_analytic_rmse():
    confs = configurations(seed=1)
    r = validate_potential(ModifiedEMT(force_factor=1.01), EMT(), confs, species=SPECIES, progress=False)
    f = np.concatenate([c.get_forces() for c in confs])
    sp = np.concatenate([[SPECIES.index(s) for s in c.get_chemical_symbols()] for c in confs])
    assert r.force_rmse_meV_A == pytest.approx(1e3 * 0.01 * np.sqrt(np.mean(f ** 2)), rel=1e-10)
    assert r.force_mae_meV_A == pytest.approx(1e3 * 0.01 * np.mean(np.abs(f)), rel=1e-10)
    for k in range(2):
        assert r.force_rmse_per_species_meV_A[k] == pytest.approx(1e3 * 0.01 * np.sqrt(np.mean(f[sp == k] ** 2)),
                                                                 rel=1e-10)
    assert r.energy_rmse_meV_atom == 0 and r.stress_rmse_GPa == 0
    assert not r.has_structure and r.dos_frequency_THz.size == 0


def test_energy_shift_and_unlabelled_configurations():
    r = validate_potential(ModifiedEMT(energy_shift_eV_atom=0.002), EMT(), configurations(labelled=False),
                           species=SPECIES, progress=False)
    assert r.energy_rmse_meV_atom == pytest.approx(2.0, rel=1e-9)
    assert r.energy_mae_meV_atom == pytest.approx(2.0, rel=1e-9)
    assert r.force_rmse_meV_A == 0


def test_scaled_forces_keep_the_lattice_and_scale_the_modes():
    r = validate_potential(ModifiedEMT(force_factor=1.21), EMT(), configurations(2), species=SPECIES,
                           structure=cu3au(), dos_mesh=(4, 4, 4), progress=False)
    assert np.allclose(r.lattice_potential_A, r.lattice_oracle_A, rtol=0, atol=1e-4)
    # force constants x 1.21: every frequency x 1.1, so the DOS mean frequency too
    f = r.dos_frequency_THz
    mean = [np.sum(f * d) / np.sum(d) for d in (r.dos_oracle_states_THz, r.dos_potential_states_THz)]
    assert mean[1] / mean[0] == pytest.approx(1.1, rel=2e-3)


def test_save_load_round_trip_and_plot(identical, tmp_path):
    p = identical.save(tmp_path / "val.npz")
    back = PotentialValidation.load(p)
    for name in ("force_oracle_eV_A", "dos_potential_states_THz", "lattice_oracle_A", "force_species"):
        assert np.array_equal(getattr(back, name), getattr(identical, name))
    assert back.species == SPECIES and back.notes == () and back.supercell == (2, 2, 2)
    assert back.energy_rmse_meV_atom == identical.energy_rmse_meV_atom
    fig = back.plot(tmp_path / "val.png", dpi=80)
    assert len(fig.axes) == 6 and (tmp_path / "val.png").stat().st_size > 10_000
    plt.close(fig)
    fig = validate_potential(EMT(), None, configurations(2), species=SPECIES, progress=False).plot()
    assert len(fig.axes) == 4
    plt.close(fig)
    with pytest.raises(InputError, match="cannot read a saved PotentialValidation"):
        PotentialValidation.load(tmp_path / "val.png")


def test_input_errors():
    with pytest.raises(InputError, match="contains Au, not in species"):
        validate_potential(EMT(), EMT(), configurations(1), species=("Cu",), progress=False)
    with pytest.raises(InputError, match="no configuration carries energy and forces"):
        validate_potential(EMT(), None, configurations(1, labelled=False), species=SPECIES, progress=False)
    with pytest.raises(InputError, match="no configurations"):
        validate_potential(EMT(), EMT(), [], species=SPECIES)
