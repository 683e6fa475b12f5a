"""Output locations are checked before the work, and written files get ordinary permissions.

Before: ``relax --output`` into an unusable folder ran the whole relaxation and then lost it;
report and JSON files were written with mode 0600 (``mkstemp``).
"""

import os
import stat

import pytest

from incipient.cli.main import main
from incipient.errors import OutputError
from incipient.results import atomic_write_text
from reliability._helpers import forbid


@pytest.fixture
def blocker(tmp_path):
    """A regular file standing where a folder is needed (root-proof, unlike chmod)."""
    p = tmp_path / "not_a_folder"
    p.write_text("x")
    return p


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_relax_output_checked_before_work(blocker, monkeypatch, capsys):
    import incipient.structures.relax as rel

    calls = forbid(monkeypatch, rel, "relax")
    assert main(["relax", "--output", str(blocker / "relaxed.extxyz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("incipient relax: error: --output:") and "not a folder" in err
    assert main(["relax", "--output", "relaxed.unknownformat"]) == 1
    assert "unknown structure format" in capsys.readouterr().err
    assert calls == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_relax_output_read_only_folder(tmp_path, monkeypatch, capsys):
    import incipient.structures.relax as rel

    calls = forbid(monkeypatch, rel, "relax")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["relax", "--output", str(ro / "relaxed.extxyz")]) == 1
    finally:
        ro.chmod(0o755)
    assert "--output" in capsys.readouterr().err and calls == []


def test_md_output_checked_before_work(blocker, monkeypatch, capsys):
    import incipient.md.dynamics as dyn

    calls = forbid(monkeypatch, dyn, "run_md")
    assert main(["md", "--temperature-K", "300", "--output", str(blocker / "md.h5md"), "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("incipient md: error: --output:")
    assert calls == []


def test_analysis_outputs_checked_before_reading(blocker, capsys):
    cases = [
        (["spectra", "fit", "missing.csv", "--temperature-K", "10", "--output", str(blocker / "r.json")], "--output"),
        (["spectra", "vdos", "missing.h5md", "--plot", str(blocker / "p.png")], "--plot"),
        (["migration", "missing.h5md", "--output", str(blocker / "m.json")], "--output"),
        (["gk", "missing.h5md", "--temperature-K", "300", "--output", str(blocker / "g.json")], "--output"),
        (["mem", "missing.cif", "--output", str(blocker)], "--output"),
    ]
    for argv, opt in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"incipient {argv[0]}: error: {opt}"), err


def test_check_helpers(tmp_path, blocker):
    from incipient.results import check_output_dir, check_output_file

    assert check_output_file(tmp_path / "new" / "deep" / "f.json") == tmp_path / "new" / "deep" / "f.json"
    assert (tmp_path / "new" / "deep").is_dir() and not list((tmp_path / "new" / "deep").iterdir())
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match="not a folder"):
        check_output_dir(blocker)
    with pytest.raises(OSError):  # OutputError is an OSError for callers that catch those
        check_output_file(blocker / "x.json")


def test_written_files_are_0644_under_umask_022(tmp_path, umask022):
    from incipient.structures.relax import RelaxResult

    p = tmp_path / "report.md"
    atomic_write_text(p, "hello\n")
    assert _mode(p) == 0o644
    r = RelaxResult(lattice_A=(1, 2, 3), angles_deg=(90, 90, 90), energy_eV_per_atom=-1.0, max_force_eV_A=0.0,
                    max_stress_GPa=0.0, steps=0, converged=True)
    assert _mode(r.save(tmp_path / "r.json")) == 0o644


def test_written_files_follow_umask_and_keep_existing_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.txt") == 0o640
    (tmp_path / "a.txt").chmod(0o664)
    atomic_write_text(tmp_path / "a.txt", "y")
    assert _mode(tmp_path / "a.txt") == 0o664 and (tmp_path / "a.txt").read_text() == "y"


def test_relax_cli_writes_structure(tmp_path, umask022, capsys):
    out = tmp_path / "out" / "relaxed.extxyz"
    assert main(["relax", "--fmax", "1000", "--output", str(out)]) == 0
    assert out.exists() and _mode(out) == 0o644
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
