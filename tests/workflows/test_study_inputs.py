"""Study inputs: files hashed by content in stage keys, paths relative to the study file, bad keys and values."""

import shutil

import ase.io
import numpy as np
import pytest

from incipient.data import cscu2i3_mtp
from incipient.errors import InputError
from incipient.system import load_system
from incipient.workflows.config import StudyConfigError, build_system, load_config
from incipient.workflows.study import run_study


def _study(folder, extra=""):
    """A study in ``folder``: POSCAR + a copy of the MTP, named relative to the study file."""
    folder.mkdir(parents=True, exist_ok=True)
    ase.io.write(folder / "POSCAR", load_system("CsCu2I3").structure, format="vasp", direct=True)
    shutil.copy(cscu2i3_mtp(), folder / "pot.mtp")
    text = f"""stages = ["relax"]
output_dir = "out"
[structure]
file = "POSCAR"
relax_fmax_eV_A = 0.05
[potential]
mtp = "pot.mtp"
species = ["Cs", "Cu", "I"]
[migration]
species = "Cu"
{extra}"""
    (folder / "study.toml").write_text(text)
    return folder / "study.toml"


def test_paths_are_relative_to_the_study_file_and_contents_enter_the_cache_key(tmp_path, monkeypatch):
    study = _study(tmp_path / "s")
    monkeypatch.chdir(tmp_path)  # not the study's folder
    logs = []
    out, _ = run_study(study, progress=False, log=logs.append)
    assert [o.status for o in out] == ["ran"]
    assert (tmp_path / "s" / "out" / "relax" / "done.json").exists()  # output_dir relative to the study file
    e0 = out[0].summary.energy_eV_per_atom
    out, _ = run_study(study, progress=False, log=logs.append)
    assert [o.status for o in out] == ["cached"]
    # same file names, new contents: a stretched structure and a changed potential both rerun the stage
    a = ase.io.read(tmp_path / "s" / "POSCAR")
    a.set_cell(a.cell * 1.02, scale_atoms=True)
    ase.io.write(tmp_path / "s" / "POSCAR", a, format="vasp", direct=True)
    out, _ = run_study(study, progress=False, log=logs.append)
    assert [o.status for o in out] == ["ran"]
    text = (tmp_path / "s" / "pot.mtp").read_text()
    (tmp_path / "s" / "pot.mtp").write_text(text + "\n")  # same potential, different bytes
    out, _ = run_study(study, progress=False, log=logs.append)
    assert [o.status for o in out] == ["ran"]
    # relaxed energies: the same potential from a stretched start relaxes back to the same minimum
    assert np.isclose(out[0].summary.energy_eV_per_atom, e0, atol=2e-3)


def test_bad_study_values_fail_before_any_work(tmp_path):
    study = _study(tmp_path / "s", extra="[md]\nnvt_ps = -1\n")
    with pytest.raises(StudyConfigError, match="md.nvt_ps"):
        load_config(study)
    study = _study(tmp_path / "t", extra="[md]\ntemperatures_K = [nan]\n")
    with pytest.raises(StudyConfigError, match=r"md.temperatures_K\[0\]"):
        load_config(study)
    with pytest.raises(InputError, match="relx"):
        run_study(_study(tmp_path / "u"), force=("relx",), progress=False, log=lambda m: None)
    # a structure file without the mobile species named: required, never guessed
    text = _study(tmp_path / "v").read_text().replace('[migration]\nspecies = "Cu"\n', "")
    (tmp_path / "v" / "study.toml").write_text(text)
    with pytest.raises(StudyConfigError, match="migration.species"):
        load_config(tmp_path / "v" / "study.toml")
    # a mobile species the structure does not contain
    text = _study(tmp_path / "w").read_text().replace('species = "Cu"', 'species = "Ag"')
    (tmp_path / "w" / "study.toml").write_text(text)
    with pytest.raises(InputError, match="'Ag' is not in the structure"):
        build_system(load_config(tmp_path / "w" / "study.toml"))


def test_cutoff_larger_than_half_the_md_cell_fails_before_md(tmp_path):
    study = _study(tmp_path / "s", extra='[force_constants]\ncutoffs_A = [30.0]\n')
    text = study.read_text().replace('stages = ["relax"]', 'stages = ["force_constants"]')
    study.write_text(text)
    logs = []
    with pytest.raises(InputError, match="cutoff"):
        run_study(study, progress=False, log=logs.append)
    assert not (tmp_path / "s" / "out" / "md").exists()  # nothing ran
