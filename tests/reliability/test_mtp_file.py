"""The MTP reader refuses files that would give crashes, zero forces, inf energies or silent overrides.

Before: ``max_dist = 0`` segfaulted the cell list, ``max_dist < min_dist`` gave zero forces,
``1e999`` gave E = inf and a repeated key silently won over the first.
"""

import hashlib
import re

import pytest

from incipient.data import cscu2i3_mtp
from incipient.errors import FileFormatError, InputError
from incipient.potentials import MTP, MTPFormatError, read_mtp
from reliability._helpers import mtp_text, run_cli, write_mtp

MAX = "max_dist = 7.000000000000000e+00"


def test_zero_cutoff_is_refused_by_the_reader_and_the_cli(tmp_path):
    p = write_mtp(tmp_path, "zero.mtp", mtp_text().replace(MAX, "max_dist = 0"))
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line 9: max_dist = 0.0 must be larger than min_dist"):
        read_mtp(p)
    res = run_cli("relax", "--potential", str(p), cwd=tmp_path)
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    assert res.stderr.count("\n") == 1 and "max_dist" in res.stderr


def test_max_dist_below_min_dist(tmp_path):
    p = write_mtp(tmp_path, "lt.mtp", mtp_text().replace(MAX, "max_dist = 1.5"))
    with pytest.raises(FileFormatError, match="max_dist = 1.5 must be larger than min_dist = 1.754"):
        read_mtp(p)


def test_negative_min_dist(tmp_path):
    p = write_mtp(tmp_path, "neg.mtp", re.sub(r"min_dist = \S+", "min_dist = -1", mtp_text()))
    with pytest.raises(FileFormatError, match="min_dist = -1.0 must be >= 0"):
        read_mtp(p)


@pytest.mark.parametrize("old,new,where", [
    ("scaling = 7.660450432662737e-02", "scaling = 1e999", "line 4: scaling = 1e999 is not a finite number"),
    ("scaling = 7.660450432662737e-02", "scaling = nan", "line 4: scaling = nan is not a finite number"),
    ("species_coeffs = {-2.633237596653807e+00", "species_coeffs = {1e999",
     "line 83: species_coeffs: value 1 is not a finite number"),
])
def test_non_finite_values(tmp_path, old, new, where):
    text = mtp_text()
    assert old in text
    p = write_mtp(tmp_path, "inf.mtp", text.replace(old, new))
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + ", " + re.escape(where)):
        read_mtp(p)


def test_non_finite_radial_coefficient(tmp_path):
    text = mtp_text()
    first = "{2.223375197888298e-01"
    p = write_mtp(tmp_path, "rad.mtp", text.replace(first, "{1e999", 1))
    with pytest.raises(MTPFormatError, match=r"line 14: radial_coeffs 0-0: row 0 holds a non-finite number"):
        read_mtp(p)


def test_duplicated_key_is_an_error_not_last_wins(tmp_path):
    p = write_mtp(tmp_path, "dup.mtp", mtp_text() + "\nmax_dist = 6.0\n")
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line \d+: duplicated key 'max_dist' \(first at line 9\)"):
        read_mtp(p)


def test_duplicated_radial_block(tmp_path):
    lines = mtp_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip() == "0-1")
    lines[k] = lines[k].replace("0-1", "0-0")
    p = write_mtp(tmp_path, "dupblock.mtp", "\n".join(lines))
    with pytest.raises(MTPFormatError, match="duplicated radial_coeffs block 0-0"):
        read_mtp(p)


def test_species_comment_is_read_and_enforced(tmp_path):
    text = mtp_text().replace("MTP\n", "MTP\n# species: Cs Cu I\n", 1)
    p = write_mtp(tmp_path, "sp.mtp", text)
    assert read_mtp(p).species == ("Cs", "Cu", "I")
    assert MTP(p).species == ("Cs", "Cu", "I")  # default: the declared order
    with pytest.raises(InputError, match=r"species order Cu Cs I does not match .*: Cs Cu I"):
        MTP(p, species=("Cu", "Cs", "I"))
    bad = write_mtp(tmp_path, "sp2.mtp", mtp_text().replace("MTP\n", "MTP\n# species: Cs Cu\n", 1))
    with pytest.raises(MTPFormatError, match="species comment lists 2 elements"):
        read_mtp(bad)
    bad = write_mtp(tmp_path, "sp3.mtp", mtp_text().replace("MTP\n", "MTP\n# species: Cs Qq I\n", 1))
    with pytest.raises(MTPFormatError, match="unknown element 'Qq'"):
        read_mtp(bad)


def test_todict_is_provenance():
    calc = MTP(cscu2i3_mtp())
    d = calc.todict()
    assert d["potential"] == str(cscu2i3_mtp())
    assert d["sha256"] == hashlib.sha256(cscu2i3_mtp().read_bytes()).hexdigest()
    assert d["species"] == ["Cs", "Cu", "I"]
    assert d["backend"] == calc.backend
    import json

    json.dumps(d)  # fits ASE's trajectory header
