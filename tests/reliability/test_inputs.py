"""Command-line numbers and structure files are checked before any work, with one-line errors.

Before: ``--temperature-K nan`` aborted (exit 134, LLVM assertion), a negative temperature was
caught only after work had run, ``--nve-ps -1`` ran 0 steps and exited 0, an empty structure
file reported ``StopIteration``.
"""

import pytest

from incipient.cli.main import main
from incipient.data import cscu2i3_mtp
from reliability._helpers import forbid, run_cli


@pytest.fixture
def no_md(monkeypatch):
    """Replace run_md: a test fails if the CLI gets as far as running MD."""
    import incipient.md.dynamics as dyn

    return forbid(monkeypatch, dyn, "run_md")


@pytest.fixture
def no_relax(monkeypatch):
    import incipient.structures.relax as rel

    return forbid(monkeypatch, rel, "relax")


def _one_line_error(capsys, cmd: str, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"incipient {cmd}: error:"), err
    for w in words:
        assert w in err, (w, err)
    return err


def test_md_nan_temperature_does_not_abort(tmp_path):
    res = run_cli("md", "--temperature-K", "nan", "--repeat", "1", "1", "1", "--nvt-ps", "0.01", "--nve-ps", "0.01",
                  "--quiet", cwd=tmp_path)
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    assert res.stderr.strip() == "incipient md: error: --temperature-K must be a finite number > 0, got nan"


@pytest.mark.parametrize("argv,option", [
    (["--temperature-K", "-5"], "--temperature-K"),
    (["--temperature-K", "0"], "--temperature-K"),
    (["--temperature-K", "inf"], "--temperature-K"),
    (["--temperature-K", "300", "--nve-ps", "-1"], "--nve-ps"),
    (["--temperature-K", "300", "--nve-ps", "0"], "--nve-ps"),
    (["--temperature-K", "300", "--nvt-ps", "-1"], "--nvt-ps"),
    (["--temperature-K", "300", "--timestep-fs", "0"], "--timestep-fs"),
    (["--temperature-K", "300", "--timestep-fs", "nan"], "--timestep-fs"),
    (["--temperature-K", "300", "--tau-fs", "-100"], "--tau-fs"),
    (["--temperature-K", "300", "--save-every", "0"], "--save-every"),
    (["--temperature-K", "300", "--checkpoint-every", "0"], "--checkpoint-every"),
    (["--temperature-K", "300", "--heat-current-every", "-1"], "--heat-current-every"),
    (["--temperature-K", "300", "--repeat", "0", "1", "1"], "--repeat"),
    (["--temperature-K", "300", "--nve-ps", "0.0001"], "--nve-ps"),
])
def test_md_numbers_checked_before_work(argv, option, no_md, capsys):
    assert main(["md", "--quiet", *argv]) == 1
    _one_line_error(capsys, "md", option)
    assert no_md == []


def test_relax_fmax_checked_before_work(no_relax, capsys):
    for bad in ("nan", "-1", "0", "inf"):
        assert main(["relax", "--fmax", bad]) == 1
        _one_line_error(capsys, "relax", "--fmax")
    assert no_relax == []


def test_relax_library_checks_fmax():
    from incipient.data.cscu2i3 import cscu2i3_conventional
    from incipient.errors import InputError
    from incipient.potentials import MTP
    from incipient.structures.relax import relax

    with pytest.raises(InputError, match="fmax"):
        relax(cscu2i3_conventional(), MTP(cscu2i3_mtp()), fmax_eV_A=float("nan"))


@pytest.mark.parametrize("argv,option", [
    (["spectra", "harmonic", "missing.yaml", "--path", "0,0,0:1,0,0", "--temperature-K", "nan"], "--temperature-K"),
    (["spectra", "harmonic", "missing.yaml", "--path", "0,0,0:1,0,0", "--temperature-K", "-1"], "--temperature-K"),
    (["spectra", "harmonic", "missing.yaml", "--path", "0,0,0:1,0,0", "--temperature-K", "10", "--fwhm-meV", "0"], "--fwhm-meV"),
    (["spectra", "harmonic", "missing.yaml", "--path", "0,0,0:1,0,0", "--temperature-K", "10", "--n-points", "0"], "--n-points"),
    (["spectra", "harmonic", "missing.yaml", "--path", "0,0,nan:1,0,0", "--temperature-K", "10"], "--path"),
    (["spectra", "fit", "missing.csv", "--temperature-K", "nan"], "--temperature-K"),
    (["spectra", "fit", "missing.csv", "--temperature-K", "10", "--n-modes", "0"], "--n-modes"),
    (["spectra", "fit", "missing.csv", "--temperature-K", "10", "--resolution-fwhm-meV", "-1"], "--resolution-fwhm-meV"),
    (["spectra", "vdos", "missing.h5md", "--timestep-fs", "-2"], "--timestep-fs"),
    (["spectra", "vdos", "missing.h5md", "--correlation-time-fs", "nan"], "--correlation-time-fs"),
    (["spectra", "sqw", "missing.h5md", "--path", "1,0,0:2,0,0", "--window-size", "0"], "--window-size"),
    (["spectra", "sqw", "missing.h5md", "--path", "1,0,0:2,0,0", "--reference-cell", "3,0,3"], "--reference-cell"),
    (["migration", "missing.h5md", "--timestep-fs", "-1"], "--timestep-fs"),
    (["migration", "missing.h5md", "--fit-start-ps", "5", "--fit-end-ps", "2"], "--fit-end-ps"),
    (["migration", "missing.h5md", "--min-residence-fs", "nan"], "--min-residence-fs"),
    (["gk", "missing.h5md", "--temperature-K", "-300"], "--temperature-K"),
    (["gk", "missing.h5md", "--temperature-K", "300", "--n-segments", "0"], "--n-segments"),
    (["gk", "missing.h5md", "--temperature-K", "300", "--cutoff", "-5"], "--cutoff"),
    (["gk", "missing.h5md", "--temperature-K", "300", "--volume-A3", "nan"], "--volume-A3"),
    (["mem", "missing.cif", "--grid-A", "0"], "--grid-A"),
    (["mem", "missing.cif", "--order-weights", "0.5"], "--order-weights"),
    (["mem", "missing.cif", "--orders", "0,4"], "--orders"),
])
def test_analysis_numbers_checked_before_reading(argv, option, capsys):
    assert main(argv) == 1
    _one_line_error(capsys, argv[0], option)


def test_empty_structure_file(tmp_path, capsys):
    for name in ("POSCAR", "empty.xyz", "empty.cif"):
        (tmp_path / name).write_text("\n  \n" if name == "empty.cif" else "")
        assert main(["relax", "--structure", str(tmp_path / name)]) == 1
        _one_line_error(capsys, "relax", name, "is empty")


def test_structure_with_unknown_element(tmp_path, capsys):
    p = tmp_path / "x.xyz"
    p.write_text("2\n\nXx 0 0 0\nCu 1 0 0\n")
    assert main(["relax", "--structure", str(p)]) == 1
    _one_line_error(capsys, "relax", "x.xyz", "Xx")


def test_read_structure_rejects_non_finite(tmp_path):
    from incipient.errors import FileFormatError
    from incipient.structures import read_structure

    p = tmp_path / "nan.xyz"
    p.write_text('2\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nI nan 1 1\n')
    with pytest.raises(FileFormatError, match=r"nan.xyz: atom 1 \(I\) has a non-finite position"):
        read_structure(p)
