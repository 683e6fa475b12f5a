"""Malformed .mtp files give errors that name the file and the line."""

import re

import pytest

from incipient.data import cscu2i3_mtp
from incipient.potentials import MTP, MTPFormatError, read_mtp


@pytest.fixture
def text():
    return cscu2i3_mtp().read_text()


def test_reads_the_paper_potential():
    m = read_mtp(cscu2i3_mtp())
    assert m.species_count == 3
    assert m.radial_coeffs.shape == (3, 3, 6, 8)
    assert m.alpha_index_times.shape == (15431, 4)
    assert m.moment_coeffs.shape == (500,)
    assert m.max_dist_A == 7.0


def test_truncated_file(tmp_path, text):
    p = tmp_path / "cut.mtp"
    p.write_text(text[: len(text) // 2])
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line \d+: .*truncated"):
        read_mtp(p)


def test_wrong_species_count(tmp_path, text):
    p = tmp_path / "species.mtp"
    p.write_text(text.replace("species_count = 3", "species_count = 4"))
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line 5: species_count = 4 but radial_coeffs has no block"):
        read_mtp(p)
    with pytest.raises(ValueError, match="species_count = 3 but 2 species"):
        MTP(cscu2i3_mtp(), species=("Cs", "I"))


def test_unknown_radial_basis(tmp_path, text):
    p = tmp_path / "basis.mtp"
    p.write_text(text.replace("RBChebyshev", "RBShapeev"))
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line 7: unknown radial basis 'RBShapeev'"):
        read_mtp(p)


def test_bad_number_and_missing_file(tmp_path, text):
    p = tmp_path / "num.mtp"
    p.write_text(text.replace("radial_basis_size = 8", "radial_basis_size = eight"))
    with pytest.raises(MTPFormatError, match=r"line 10: radial_basis_size must be an integer"):
        read_mtp(p)
    with pytest.raises(FileNotFoundError, match="nope.mtp"):
        read_mtp(tmp_path / "nope.mtp")


def test_element_not_in_potential():
    from ase.build import bulk

    calc = MTP(cscu2i3_mtp())
    a = bulk("Na", "bcc", a=4.2)
    a.calc = calc
    with pytest.raises(ValueError, match="no MTP type for element Na"):
        a.get_potential_energy()
