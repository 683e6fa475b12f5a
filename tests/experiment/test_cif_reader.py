"""Reading the Jana2020 CIFs of CsCu2I3: model, reflections, ASE structure, error messages."""

from pathlib import Path

import numpy as np
import pytest

from incipient.experiment.cif import read_cif_model, read_reflections, read_structure_from_cif

CIF_DIR = Path(__file__).resolve().parents[2] / "src" / "incipient" / "data" / "CsCu2I3" / "cif"
N_REFL = {100: 609, 200: 614, 300: 630, 400: 638, 500: 641}  # _reflns_number_total


@pytest.mark.parametrize("T", sorted(N_REFL))
def test_model_and_reflections(T):
    path = CIF_DIR / f"{T}K.cif"
    model = read_cif_model(path)
    refl = read_reflections(path)
    assert model.temperature_K == T  # file name wins over the CIF's 293 K
    assert len(model.symops) == 16 and model.is_centrosymmetric()
    assert [s.label for s in model.sites] == ["i01", "i002", "cs00", "cu04"]
    assert all(s.C_jana is not None for s in model.sites)
    assert model.wavelength_A == pytest.approx(0.2481)
    assert model.dispersion["Cs"] == pytest.approx((-0.2815, 2.0398))
    assert len(refl) == N_REFL[T]
    assert refl.weight_a == pytest.approx(0.02) and refl.weight_b == 0.0
    # V from the cell parameters equals the CIF's _cell_volume to its last digit
    assert model.volume_A3 == pytest.approx(np.prod(model.cell[:3]), rel=1e-12)


def test_structure_from_cif_is_cmcm_with_cu_pairs():
    import spglib

    atoms = read_structure_from_cif(CIF_DIR / "500K.cif")
    assert atoms.get_chemical_formula() == "Cs4Cu8I12"
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    assert spglib.get_spacegroup(cell, symprec=1e-3) == "Cmcm (63)"
    assert np.all(atoms.get_array("occupancy") == 1.0)
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, 3.5)
    cu = atoms.numbers == 29
    dcu = np.unique(np.round(d[cu[i] & cu[j]], 3))
    # c/2 along the chain and 2 (1/2 - x_Cu) a across it
    model = read_cif_model(CIF_DIR / "500K.cif")
    xcu = model.sites[3].fract[0]
    assert dcu == pytest.approx(sorted([model.cell[2] / 2, (1 - 2 * xcu) * model.cell[0]]), abs=1e-3)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_cif_model(tmp_path / "missing.cif")
    text = (CIF_DIR / "300K.cif").read_text()
    head = text.split("loop_\n _refln_index_h")[0]
    no_refl = tmp_path / "norefl.cif"
    no_refl.write_text(head)
    read_cif_model(no_refl)  # the model alone is fine
    with pytest.raises(ValueError, match="no reflection loop"):
        read_reflections(no_refl)
    odd = tmp_path / "odd.cif"
    odd.write_text(head + "loop_\n _refln_index_h\n _refln_index_k\n _refln_index_l\n _refln_intensity_xyz\n 1 1 0 3.0\n")
    with pytest.raises(ValueError, match="unknown reflection columns"):
        read_reflections(odd)
    with pytest.raises(ValueError, match="symmetry-operation"):
        bad = tmp_path / "noops.cif"
        bad.write_text(head.replace("_space_group_symop_operation_xyz", "_space_group_symop_xyz_other"))
        read_cif_model(bad)
