"""No user data file can execute code.

Before: ``incipient spectra harmonic FILE.yaml`` let phonopy parse the yaml with PyYAML's full
loader, which ran an embedded ``!!python/object/apply:...``.
"""

import numpy as np
import pytest

from incipient.cli.main import main
from incipient.errors import FileFormatError
from incipient.spectra.harmonic import make_phonopy


@pytest.fixture
def phonopy_yaml(tmp_path):
    from ase.build import bulk

    a = bulk("Al", "fcc", a=4.05)
    fc = np.zeros((8, 8, 3, 3))
    for i in range(8):  # a stable toy: on-site springs, acoustic sum broken on purpose (only frequencies matter)
        fc[i, i] = np.eye(3) * 2.0
    ph = make_phonopy(a, np.diag([2, 2, 2]), fc)
    p = tmp_path / "phonopy.yaml"
    ph.save(p, settings={"force_constants": True})
    return p


def _evil(tmp_path, src, marker):
    p = tmp_path / "evil.yaml"
    p.write_text(src.read_text() + f"\nextra: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    return p


def test_cli_refuses_python_tags_and_runs_nothing(tmp_path, phonopy_yaml, capsys):
    marker = tmp_path / "CODE_RAN"
    evil = _evil(tmp_path, phonopy_yaml, marker)
    assert main(["spectra", "harmonic", str(evil), "--path", "0,0,0:0.5,0,0", "--temperature-K", "10"]) == 1
    assert not marker.exists()
    err = capsys.readouterr().err
    assert err.startswith("incipient spectra: error:") and "evil.yaml" in err and "python/object/apply" in err


def test_load_phonopy_refuses_other_tags_and_non_phonopy_yaml(tmp_path, phonopy_yaml):
    from incipient.spectra.harmonic import load_phonopy

    p = tmp_path / "tag.yaml"
    p.write_text("unit_cell: !custom {a: 1}\n")
    with pytest.raises(FileFormatError, match="tag.yaml: refused: not plain YAML"):
        load_phonopy(p)
    p.write_text("just: data\n")
    with pytest.raises(FileFormatError, match="not a phonopy yaml"):
        load_phonopy(p)
    p.write_text("a: [1, 2\n")
    with pytest.raises(FileFormatError, match="tag.yaml"):
        load_phonopy(p)


def test_safe_yaml_still_loads(phonopy_yaml, capsys):
    from incipient.spectra.harmonic import load_phonopy

    ph = load_phonopy(phonopy_yaml)
    assert ph.force_constants is not None and len(ph.supercell) == 8
    assert main(["spectra", "harmonic", str(phonopy_yaml), "--path", "0,0,0:0.5,0,0", "--temperature-K", "10",
                 "--n-points", "3"]) == 0


AUDITED = ("potentials/mtp_file.py", "potentials/calculator.py", "potentials/neighbors.py",
           "potentials/mtp_ckernel.py", "structures/io.py", "structures/relax.py", "results.py",
           "cli/relax.py", "cli/md.py", "cli/spectra.py", "cli/migration.py", "cli/gk.py", "cli/mem.py",
           "spectra/harmonic.py", "analysis/vdos.py", "experiment/cif.py", "experiment/mem.py")


def test_no_unsafe_readers_in_user_file_code():
    """Audit: the readers of user files use no pickle, eval, unsafe yaml or bare phonopy.load(path)."""
    import pathlib
    import re

    import incipient

    root = pathlib.Path(incipient.__file__).parent
    bad = []
    for name in AUDITED:
        text = (root / name).read_text()
        for pat in (r"allow_pickle\s*=\s*True", r"\bpickle\.loads?\(", r"(?<![.\w])eval\(", r"(?<![.\w])exec\(",
                    r"yaml\.load\(", r"yaml\.unsafe_load", r"(?<!`)phonopy\.load\((?!io\.BytesIO)"):
            if re.search(pat, text):
                bad.append(f"{name}: {pat}")
    assert bad == []
