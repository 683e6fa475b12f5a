"""ShengBTE/FourPhonon force-constant and CONTROL readers/writers: exact round trips, errors."""

from importlib import resources

import numpy as np
import pytest

from incipient.lattice.shengbte import (
    ShengBTEFC3,
    ShengBTEFC4,
    read_shengbte_fc2,
    read_shengbte_fc3,
    read_shengbte_fc4,
    write_shengbte_fc2,
    write_shengbte_fc3,
    write_shengbte_fc4,
)
from incipient.lattice.shengbte_control import read_shengbte_control

DATA = resources.files("incipient") / "data" / "CsCu2I3"


@pytest.fixture(scope="module")
def fc3():
    return read_shengbte_fc3(DATA / "FORCE_CONSTANTS_3RD")


def test_fc3_reads_published_numbers(fc3):
    assert fc3.n_blocks == 792
    assert fc3.phi_eV_A3.shape == (792, 3, 3, 3)
    # first block: atoms 1 1 1 in the home cell, values from the file's lines 6-32
    np.testing.assert_array_equal(fc3.atoms[0], [0, 0, 0])
    np.testing.assert_array_equal(fc3.R2_A[0], 0.0)
    assert fc3.phi_eV_A3[0, 0, 0, 1] == 0.0287316412
    assert fc3.phi_eV_A3[0, 1, 1, 1] == -0.3615217956
    assert fc3.phi_eV_A3[0, 2, 2, 1] == 0.2749206607
    # block 11: R3 = a1 - ... = (5.0182402795, -6.4696157646, 0), atoms 1 1 8
    np.testing.assert_array_equal(fc3.R3_A[10], [5.0182402795, -6.4696157646, 0.0])
    np.testing.assert_array_equal(fc3.atoms[10], [0, 0, 7])
    assert fc3.phi_eV_A3[10, 0, 0, 0] == -0.2469497003
    assert fc3.atoms.min() == 0 and fc3.atoms.max() == 11


def test_fc3_round_trip_is_byte_exact(fc3, tmp_path):
    out = write_shengbte_fc3(tmp_path / "FC3", fc3)
    assert out.read_bytes() == (DATA / "FORCE_CONSTANTS_3RD").read_bytes()
    again = read_shengbte_fc3(out)
    for name in ("R2_A", "R3_A", "atoms", "phi_eV_A3"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fc3, name))


def test_fc3_round_trip_random_values(tmp_path):
    rng = np.random.default_rng(3)
    n = 5
    fc = ShengBTEFC3(
        R2_A=np.round(rng.normal(size=(n, 3)) * 5, 10),
        R3_A=np.round(rng.normal(size=(n, 3)) * 5, 10),
        atoms=rng.integers(0, 12, size=(n, 3)),
        phi_eV_A3=np.round(rng.normal(size=(n, 3, 3, 3)) * 3, 10),
    )
    again = read_shengbte_fc3(write_shengbte_fc3(tmp_path / "x", fc))
    for name in ("R2_A", "R3_A", "atoms", "phi_eV_A3"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fc, name))


def test_fc4_round_trip_is_byte_exact(tmp_path):
    fc4 = read_shengbte_fc4(DATA / "FORCE_CONSTANTS_4TH")
    assert fc4.n_blocks == 1692 and fc4.phi_eV_A4.shape == (1692, 3, 3, 3, 3)
    np.testing.assert_array_equal(fc4.atoms[0], [1, 1, 1, 1])
    assert fc4.phi_eV_A4[0, 0, 0, 0, 0] == 0.8762411060
    assert fc4.phi_eV_A4[0, 0, 0, 2, 2] == 3.4575434481
    out = write_shengbte_fc4(tmp_path / "FC4", fc4)
    assert out.read_bytes() == (DATA / "FORCE_CONSTANTS_4TH").read_bytes()
    again = read_shengbte_fc4(out)
    for name in ("R2_A", "R3_A", "R4_A", "atoms", "phi_eV_A4"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fc4, name))
    assert isinstance(again, ShengBTEFC4)


def test_fc2_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    fc2 = np.round(rng.normal(size=(4, 4, 3, 3)), 12)
    path = write_shengbte_fc2(tmp_path / "FORCE_CONSTANTS_2ND", fc2)
    np.testing.assert_allclose(read_shengbte_fc2(path, 4), fc2, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="expected the full"):
        read_shengbte_fc2(path, 8)


@pytest.mark.parametrize(
    ("line_no", "replacement", "message"),
    [
        (1, "abc", "line 1: first line"),
        (3, "    2", "line 3: block index 2 out of sequence"),
        (4, "  0.0 0.0", "line 4: block 1: expected a lattice vector"),
        (6, "    1    1", "line 6: block 1: expected 3 integer atom indices"),
        (7, " 1 1 4      0.0", "line 7: block 1: expected 3 Cartesian indices"),
        (8, " 1 1 1      0.0", "line 8: block 1: Cartesian component \\(1, 1, 1\\) repeated"),
    ],
)
def test_fc3_malformed_names_file_and_line(tmp_path, line_no, replacement, message):
    lines = (DATA / "FORCE_CONSTANTS_3RD").read_text().splitlines()
    lines[line_no - 1] = replacement
    bad = tmp_path / "BAD_FC3"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"BAD_FC3, {message}"):
        read_shengbte_fc3(bad)


def test_fc3_truncated_file(tmp_path):
    lines = (DATA / "FORCE_CONSTANTS_3RD").read_text().splitlines()[:100]
    bad = tmp_path / "TRUNC"
    bad.write_text("\n".join(lines))
    with pytest.raises(ValueError, match="TRUNC, line 101: unexpected end of file"):
        read_shengbte_fc3(bad)
    with pytest.raises(FileNotFoundError):
        read_shengbte_fc3(tmp_path / "missing")


def test_control_primitive_cell():
    atoms, settings = read_shengbte_control(DATA / "CONTROL0")
    assert len(atoms) == 12
    assert atoms.get_chemical_formula() == "Cs2Cu4I6"
    # lattvec in nm * lfactor 0.1 -> Angstrom: a1 = (5.018..., -6.469..., 0)
    np.testing.assert_allclose(atoms.cell[0], [5.018240279452549, -6.469615764610287, 0.0], atol=1e-12)
    np.testing.assert_allclose(atoms.cell[2], [0.0, 0.0, 6.0537685248601205], atol=1e-12)
    np.testing.assert_allclose(atoms.get_scaled_positions()[2], [0.1301121207947132, 0.1301121207947132, 0.5])
    np.testing.assert_allclose(atoms.get_masses()[[0, 2, 6]], [132.90545196, 63.546, 126.90447])
    assert settings["scell"] == (3, 3, 3)
    assert settings["scalebroad"] == 0.01
    assert settings["temperatures_K"] == [300.0]
    assert settings["four_phonon"] is True and settings["nonanalytic"] is False


def test_control_errors(tmp_path):
    bad = tmp_path / "CONTROL"
    bad.write_text("&allocations\n natoms = 2\n/\n&crystal\n lattvec(:,1) = 1, 0\n")
    with pytest.raises(ValueError, match="not closed"):
        read_shengbte_control(bad)
    bad.write_text("&allocations\n natoms = 2\n/\n&crystal\n elements = 'Si'\n lattvec(:,1) = 1, 0\n/\n")
    with pytest.raises(ValueError, match=r"lattvec\(:,1\) missing or not 3 numbers"):
        read_shengbte_control(bad)
