"""Integration: tiny studies of crystals other than CsCu2I3 through every stage the system supports.

- fcc Cu with ASE's EMT (any ASE calculator, built in Python): relax, MD, migration, vacancy
  barriers, fitted fc2/fc3/fc4, S(Q,w) on paths derived from the cell, 3ph and 3+4ph Wigner
  kappa, classification, report; Green-Kubo (EMT has no per-atom virials) and MEM (no measured
  CIFs) are removed before the MD with their reasons.
- zincblende CuI with the CsCu2I3 MTP (the MTP path, a system file): the same plus Green-Kubo.
Seconds of MD: the numbers are checked for physics (signs, sum rules, known values), not for
converged transport.
"""

import json

import numpy as np
from ase.build import bulk

from incipient.data import cscu2i3_mtp
from incipient.system import PotentialSpec, System
from incipient.workflows.config import load_config
from incipient.workflows.study import run_study

ALL = ["relax", "md", "migration", "barriers", "force_constants", "spectra", "kappa_bte", "kappa_gk", "mem",
       "classify", "report"]


def _settings(out, **kw):
    s = {"stages": ALL, "output_dir": str(out),
         "structure": {"min_width_A": 10.0, "relax_fmax_eV_A": 0.01},
         "md": {"temperatures_K": [600.0], "nvt_ps": 0.1, "nve_ps": 0.6, "save_every": 2, "timestep_fs": 2.0},
         "migration": {"neb_images": 3, "neb_fmax_eV_A": 0.1, "neb_repeat": [2, 2, 2]},
         "force_constants": {"n_snapshots": 20, "cutoffs_A": [4.5, 3.0, 2.6], "temperature_K": 600.0},
         "kappa": {"mesh": [3, 3, 3], "temperatures_K": [300.0, 600.0], "four_phonon": True, "four_phonon_samples": 20}}
    for k, v in kw.items():
        s[k] = {**s.get(k, {}), **v} if isinstance(v, dict) else v
    return s


def test_emt_metal_through_every_stage(tmp_path):
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    system = System(cu, PotentialSpec(factory="ase.calculators.emt:EMT"), "Cu", name="Cu (EMT)")
    assert len(system.primitive) == 1  # found, not supplied
    cfg = load_config(overrides=_settings(tmp_path / "study"))
    logs = []
    outcomes, report = run_study(cfg, progress=False, log=logs.append, system=system)
    status = {o.name: o.status for o in outcomes}
    errors = {o.name: o.error for o in outcomes if o.error}
    assert status == {s: "ran" for s in ALL if s not in ("kappa_gk", "mem", "report")}, (errors, logs)
    text = "\n".join(logs)
    assert "[kappa_gk] removed: the potential gives no per-atom energies and centroid virials" in text
    assert "[mem] removed: the system has no CIFs" in text
    s = {o.name: o.summary for o in outcomes}
    # EMT Cu: lattice constant 3.59 A (ASE's EMT parametrisation)
    assert abs(s["relax"]["lattice_A"][0] - 3.59) < 0.01
    # two pathway classes in fcc within the site cutoff (12 nearest, 6 second neighbours); the
    # nearest-neighbour vacancy hop is the easy one (EMT Cu: ~0.8 eV; experiment 0.7-0.8 eV)
    b = s["barriers"]["barriers_eV"]
    assert sorted(b) == ["P1", "P2"] and 0.4 < b["P1"] < 1.2 and b["P2"] > b["P1"]
    # fitted fc3 and fc4 written in ShengBTE format and used by kappa (3ph and 3+4ph)
    fc = s["force_constants"]
    assert fc["fc3_file"].endswith("FORCE_CONSTANTS_3RD") and fc["fc4_file"].endswith("FORCE_CONSTANTS_4TH")
    kp = np.array(s["kappa_bte"]["kappa_p_xyz_W_mK"])
    assert np.all(kp > 0) and np.allclose(kp[:, 0], kp[:, 1], rtol=1e-6) and np.allclose(kp[:, 0], kp[:, 2], rtol=1e-6)  # cubic
    assert kp[0, 0] > kp[1, 0]  # 3ph: kappa_p falls with T
    k34 = np.array(s["kappa_bte"]["kappa_p_34ph_xyz_W_mK"])
    assert np.all(k34 <= kp + 1e-12)  # 4ph only adds scattering
    # S(Q,w) on paths derived from the cell, and a verdict that its evidence supports
    assert any("S(Q,w)" in f["caption"] for f in s["spectra"]["figures"])
    # a metal: no hop in the run; "electronic" only with the TST bound of the vacancy barrier behind it
    label, reasons = s["classify"]["label"], " ".join(s["classify"]["reasons"])
    assert label in ("electronic", "undecided (electronic or incipient)"), reasons
    if label == "electronic":
        assert "transition-state theory" in reasons and "upper bound" in reasons
    html = report.read_text()
    assert html.count("<img") >= 8 and "removed" in html and "Cu (EMT)" in html


def test_mtp_system_file_through_every_stage(tmp_path):
    """Zincblende CuI with the CsCu2I3 MTP (species Cs, Cu, I): a system file as a user writes it."""
    import ase.io

    folder = tmp_path / "CuI"
    folder.mkdir()
    ase.io.write(folder / "CuI.cif", bulk("CuI", "zincblende", a=6.05, cubic=True))
    (folder / "system.toml").write_text(f"""name = "gamma-CuI"
[structure]
file = "CuI.cif"
[potential]
mtp = "{cscu2i3_mtp()}"
species = ["Cs", "Cu", "I"]
[mobile]
species = "Cu"
""")
    (folder / "study.toml").write_text("""[system]
file = "system.toml"
""")
    cfg = load_config(folder / "study.toml", overrides=_settings("out", md={"nve_ps_by_temperature": [0.8, 0.6],
                                                                                  "temperatures_K": [300.0, 600.0]},
                                                                 force_constants={"cutoffs_A": [5.5, 4.0]},
                                                                 kappa={"four_phonon": False}))
    logs = []
    outcomes, report = run_study(cfg, progress=False, log=logs.append)
    status = {o.name: o.status for o in outcomes}
    errors = {o.name: o.error for o in outcomes if o.error}
    assert status == {s: "ran" for s in ALL if s not in ("mem", "report")}, (errors, logs)
    s = {o.name: o.summary for o in outcomes}
    assert (folder / "out" / "report.html").exists()  # relative to the study file
    assert abs(s["relax"]["lattice_A"][0] - 6.03) < 0.02  # this MTP's zincblende CuI (experiment: 6.05 A)
    gk = s["kappa_gk"]["runs"]
    assert len(gk) == 2 and all(np.all(np.isfinite(r["kappa_xyz_W_mK"])) for r in gk)
    assert "kappa_p_34ph_xyz_W_mK" not in s["kappa_bte"]  # 3ph only, as asked
    done = json.loads((folder / "out" / "md" / "done.json").read_text())
    from incipient.md.dynamics import MDResult

    # one NVE length per temperature (2 fs steps), the longest run first
    steps = {r["temperature_K"]: MDResult.load(r["result"]).steps_nve for r in done["summary"]["runs"]}
    assert steps == {300.0: 400, 600.0: 300} and done["summary"]["runs"][0]["temperature_K"] == 300.0
    assert done["provenance"]["system"]["potential"]["kind"] == "mtp"
    assert len(done["provenance"]["system"]["potential"]["sha256"]) == 16
