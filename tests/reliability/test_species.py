"""Species lists: unknown or repeated elements, a wrong order where it can be known, and the
plausibility warning where it cannot (an MLIP-2 file does not store its species).

Before: ``--species Xx Cu I`` raised ``KeyError: 'Xx'``; ``--species Cu Cs I`` with the CsCu2I3
potential relaxed to a different energy and reported "converged" without a word.
"""

import pytest

from incipient.cli.main import main
from incipient.data import cscu2i3_mtp
from incipient.data.cscu2i3 import cscu2i3_conventional
from incipient.errors import InputError
from incipient.potentials import MTP
from incipient.structures.relax import relax
from reliability._helpers import WorkStarted, forbid, mtp_text, write_mtp


def test_unknown_element_names_element_and_file(capsys):
    with pytest.raises(InputError, match=rf"{cscu2i3_mtp()}: unknown element 'Xx' in the species list"):
        MTP(cscu2i3_mtp(), species=("Xx", "Cu", "I"))
    assert main(["relax", "--species", "Xx", "Cu", "I"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("incipient relax: error:") and "'Xx'" in err and "cscuI.mtp" in err


def test_repeated_element_is_refused():
    with pytest.raises(InputError, match="name an element twice"):
        MTP(cscu2i3_mtp(), species=("Cs", "Cs", "I"))


def test_wrong_order_of_the_builtin_potential_is_an_error(capsys):
    with pytest.raises(InputError, match="species order Cu Cs I does not match the order this potential was fitted with: Cs Cu I"):
        MTP(cscu2i3_mtp(), species=("Cu", "Cs", "I"))
    assert main(["relax", "--species", "Cu", "Cs", "I"]) == 1
    assert "does not match" in capsys.readouterr().err


def test_element_missing_from_the_potential():
    from ase.build import bulk

    a = bulk("Na", "bcc", a=4.2)
    a.calc = MTP(cscu2i3_mtp())
    with pytest.raises(InputError, match=r"cscuI.mtp: no MTP type for element Na"):
        a.get_potential_energy()


@pytest.fixture
def undeclared_copy(tmp_path):
    """The CsCu2I3 potential with one harmless comment: other bytes, no species declared."""
    return write_mtp(tmp_path, "copy.mtp", mtp_text().replace("MTP\n", "MTP\n# a copy\n", 1))


def test_undeclared_potential_needs_its_species(undeclared_copy):
    with pytest.raises(InputError, match="species is required"):
        MTP(undeclared_copy)


def test_wrong_order_of_an_undeclared_potential_is_flagged(undeclared_copy):
    from incipient.potentials.calculator import PLAUSIBLE_MAX_FORCE_EV_A, plausibility_warnings

    a = cscu2i3_conventional()
    a.calc = MTP(undeclared_copy, species=("Cs", "Cu", "I"))
    assert plausibility_warnings(a) == []
    a.calc = MTP(undeclared_copy, species=("Cu", "Cs", "I"))  # cannot be refused: the file does not say
    found = plausibility_warnings(a)
    assert len(found) == 2
    assert f"exceeds {PLAUSIBLE_MAX_FORCE_EV_A:g} eV/A" in found[0] and "species order" in found[0]
    assert "eV/atom is above 0" in found[1]


def test_relax_records_and_prints_the_warning(undeclared_copy, capsys, caplog):
    _, res = relax(cscu2i3_conventional(), MTP(undeclared_copy, species=("Cu", "I", "Cs")), max_steps=2)
    assert res.warnings and all("species order" in w for w in res.warnings)
    _, ok = relax(cscu2i3_conventional(), MTP(undeclared_copy, species=("Cs", "Cu", "I")), max_steps=2)
    assert ok.warnings == ()
    # CLI: a loose --fmax converges at once; the warning goes to stderr, the JSON keeps it
    assert main(["relax", "--potential", str(undeclared_copy), "--species", "Cu", "Cs", "I", "--fmax", "1000"]) == 0
    cap = capsys.readouterr()
    assert "incipient relax: WARNING: 3 plausibility warning(s)" in cap.err and "--species" in cap.err
    assert '"warnings": [' in cap.out
    logged = [r for r in caplog.records if r.levelname == "WARNING" and "species order" in r.getMessage()]
    assert len(logged) >= 3  # logged as they are found (the CLI formats them as 'incipient relax: WARNING: ...')


def test_md_warns_on_start_structure(undeclared_copy, monkeypatch, capsys):
    import incipient.md.dynamics as dyn

    calls = forbid(monkeypatch, dyn, "run_md")
    with pytest.raises(WorkStarted):
        main(["md", "--potential", str(undeclared_copy), "--species", "I", "Cs", "Cu", "--temperature-K", "300",
              "--repeat", "1", "1", "1", "--quiet"])
    assert calls and "incipient md: WARNING: start structure" in capsys.readouterr().err
