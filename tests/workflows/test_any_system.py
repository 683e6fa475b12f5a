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


def _synthetic_cif(path, atoms, u_iso_A2: float = 0.02, stol_max: float = 0.6, seed: int = 0) -> None:
    """A CIF of ``atoms`` (all sites listed, operations x,y,z and -x,-y,-z: the MEM needs a
    centrosymmetric setting, so ``atoms`` must be centrosymmetric about the origin) holding a
    reflection list whose 'measured' F^2 are the model's own plus 1 % noise, sigma 2 %: the
    input a diffractometer refinement would give, for a crystal with no published CIF."""
    import gemmi

    from incipient.experiment.cif import read_cif_model
    from incipient.experiment.structure_factors import stol, structure_factors

    frac = atoms.get_scaled_positions()
    a, b, c = atoms.cell.lengths()
    sites = "\n".join(f"{s}{k} {s} {x:.6f} {y:.6f} {z:.6f} {u_iso_A2}" for k, (s, (x, y, z))
                      in enumerate(zip(atoms.get_chemical_symbols(), frac, strict=True)))
    head = (f"data_synthetic\n_cell_length_a {a:.5f}\n_cell_length_b {b:.5f}\n_cell_length_c {c:.5f}\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            "loop_\n_space_group_symop_operation_xyz\nx,y,z\n-x,-y,-z\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
            f"_atom_site_fract_z\n_atom_site_U_iso_or_equiv\n{sites}\n")
    path.write_text(head)
    model = read_cif_model(path)
    n = int(np.ceil(2 * stol_max * max(a, b, c)))
    hkl = np.array([(h, k, l) for h in range(-n, n + 1) for k in range(-n, n + 1) for l in range(-n, n + 1)
                    if (h, k, l) != (0, 0, 0)])
    hkl = hkl[stol(model, hkl) <= stol_max]
    f2 = np.abs(structure_factors(model, hkl)) ** 2
    keep = f2 > 1e-6 * f2.max()  # systematic absences are not measured
    hkl, f2 = hkl[keep], f2[keep]
    meas = f2 * (1 + 0.01 * np.random.default_rng(seed).standard_normal(len(f2)))
    rows = "\n".join(f"{h} {k} {l} {fc:.4f} {fm:.4f} {0.02 * fc + 0.01:.4f} o"
                      for (h, k, l), fc, fm in zip(hkl, f2, meas, strict=True))
    path.write_text(head + f"_reflns_number_total {len(hkl)}\nloop_\n_refln_index_h\n_refln_index_k\n_refln_index_l\n"
                    "_refln_F_squared_calc\n_refln_F_squared_meas\n_refln_F_squared_sigma\n"
                    f"_refln_observed_status\n{rows}\n")
    assert gemmi.cif.read(str(path))  # valid CIF syntax


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
    assert abs(s["relax"].lattice_A[0] - 3.59) < 0.01
    # two pathway classes in fcc within the site cutoff (12 nearest, 6 second neighbours); the
    # nearest-neighbour vacancy hop is the easy one (EMT Cu: ~0.8 eV; experiment 0.7-0.8 eV)
    b = s["barriers"].barriers_eV
    assert sorted(b) == ["P1", "P2"] and 0.4 < b["P1"] < 1.2 and b["P2"] > b["P1"]
    # fitted fc3 and fc4 written in ShengBTE format and used by kappa (3ph and 3+4ph)
    fc = s["force_constants"]
    assert fc.fc3_file.endswith("FORCE_CONSTANTS_3RD") and fc.fc4_file.endswith("FORCE_CONSTANTS_4TH")
    kp = np.array(s["kappa_bte"].kappa_p_xyz_W_mK)
    assert np.all(kp > 0) and np.allclose(kp[:, 0], kp[:, 1], rtol=1e-6) and np.allclose(kp[:, 0], kp[:, 2], rtol=1e-6)  # cubic
    assert kp[0, 0] > kp[1, 0]  # 3ph: kappa_p falls with T
    k34 = np.array(s["kappa_bte"].kappa_p_34ph_xyz_W_mK)
    assert np.all(k34 <= kp + 1e-12)  # 4ph only adds scattering
    # 3+4ph reuses the 3ph linewidths: reassembled, they give phono3py's own kappa_p and kappa_c
    from incipient.transport.conventions import ConventionsResult
    from incipient.transport.wigner34 import Wigner34Result

    r34 = Wigner34Result.load(tmp_path / "study" / "kappa_bte" / "wigner_3ph_4ph.json")
    assert r34.info["phono3py_lang"] == "reused" and r34.qpoints_frac is not None
    # (measured: 1.1e-6 relative, the two sums' unit constants; a linewidth mix-up would be >> 1e-3)
    np.testing.assert_allclose(r34.kappa_p_3ph, kp, rtol=1e-5)
    np.testing.assert_allclose(r34.kappa_c_3ph, s["kappa_bte"].kappa_c_xyz_W_mK, rtol=1e-5, atol=1e-9)
    # every velocity convention from the same linewidths: full-mesh crystal tensor = the irreducible one
    conv = ConventionsResult.load(tmp_path / "study" / "kappa_bte" / "conventions.json")
    assert conv.conventions == ("crystal", "lattice_phase", "lattice_phase_real") and conv.channels == ("3ph", "3+4ph")
    # (the comparison averages the linewidths of degenerate modes first; measured difference 1e-7)
    np.testing.assert_allclose(conv.diagonal("crystal", "3+4ph")["kappa_c_W_mK"], r34.kappa_c_34ph, rtol=1e-6)
    np.testing.assert_allclose(conv.diagonal("crystal", "3+4ph")["kappa_p_W_mK"], r34.kappa_p_34ph, rtol=1e-6)
    assert np.all(conv.asym_c_W_mK[0] < 1e-9 * np.abs(conv.kappa_c_W_mK[0]).max())
    for c in (1, 2):  # kappa_p does not depend on the convention
        np.testing.assert_allclose(conv.kappa_p_W_mK[c], conv.kappa_p_W_mK[0], rtol=1e-8, atol=1e-12)
    # S(Q,w) on paths derived from the cell, and a verdict that its evidence supports
    assert any("S(Q,w)" in f.caption for f in s["spectra"].figures)
    # and the harmonic map on a dense path beside each MD map of the lowest temperature
    dense = [f for f in s["spectra"].figures if f.caption.startswith("Harmonic S(Q,E)")]
    assert dense and all("41 Q points" in f.caption for f in dense), s["spectra"].notes
    # a metal: no hop in the run; "electronic" only with the TST bound of the vacancy barrier behind it
    label, reasons = s["classify"].label, " ".join(s["classify"].reasons)
    assert label in ("electronic", "undecided (electronic or incipient)"), reasons
    if label == "electronic":
        assert "transition-state theory" in reasons and "upper bound" in reasons
    html = report.read_text()
    assert html.count("<img") >= 8 and "removed" in html and "Cu (EMT)" in html
    assert "in each velocity-operator convention" in html and html.count("<th>kappa_c sym.-forbidden</th>") == 2


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
                                                                 force_constants={"cutoffs_A": [5.5, 4.0],
                                                                                  "fc2_per_temperature": True},
                                                                 kappa={"four_phonon": False,
                                                                        "temperatures_K": [300.0, 600.0]}))
    logs = []
    outcomes, report = run_study(cfg, progress=False, log=logs.append)
    status = {o.name: o.status for o in outcomes}
    errors = {o.name: o.error for o in outcomes if o.error}
    assert status == {s: "ran" for s in ALL if s not in ("mem", "report")}, (errors, logs)
    s = {o.name: o.summary for o in outcomes}
    assert (folder / "out" / "report.html").exists()  # relative to the study file
    assert abs(s["relax"].lattice_A[0] - 6.03) < 0.02  # this MTP's zincblende CuI (experiment: 6.05 A)
    gk = s["kappa_gk"].runs
    assert len(gk) == 2 and all(np.all(np.isfinite(r.kappa_xyz_W_mK)) for r in gk)
    kb = s["kappa_bte"]
    assert kb.kappa_p_34ph_xyz_W_mK is None  # 3ph only, as asked
    assert "kappa_p_34ph_xyz_W_mK" not in kb.to_dict()  # and done.json has no 3+4ph keys
    # kappa(T) both ways: an fc2 fitted to each MD temperature, each kappa from its own fc2
    kp_tdep = np.array(kb.kappa_p_tdep_xyz_W_mK)
    assert kp_tdep.shape == (2, 3) and np.all(np.isfinite(kp_tdep)) and np.all(kp_tdep > 0)
    by_T = s["force_constants"].fc2_by_temperature
    assert [b.temperature_K for b in by_T] == [300.0, 600.0] and by_T[0].fc2_file != by_T[1].fc2_file
    assert len(kb.alpha_3ph_tdep_fc2_xyz) == 3
    done = json.loads((folder / "out" / "md" / "done.json").read_text())
    from incipient.md.dynamics import MDResult

    # one NVE length per temperature (2 fs steps), the longest run first
    steps = {r["temperature_K"]: MDResult.load(r["result"]).steps_nve for r in done["summary"]["runs"]}
    assert steps == {300.0: 400, 600.0: 300} and done["summary"]["runs"][0]["temperature_K"] == 300.0
    assert done["provenance"]["system"]["potential"]["kind"] == "mtp"
    assert len(done["provenance"]["system"]["potential"]["sha256"]) == 16


def test_mem_for_a_system_with_its_own_cif(tmp_path):
    """The MEM stage for a crystal that is not the built-in one: fcc Cu with a CIF whose reflection
    list a refinement would give (synthetic, 1 % noise); the density peaks on the Cu sites and the
    fit reaches the data (R below 5 %)."""
    from incipient.system import PublishedData

    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    _synthetic_cif(tmp_path / "Cu_300K.cif", cu)
    system = System(cu, PotentialSpec(factory="ase.calculators.emt:EMT"), "Cu", name="Cu (EMT)",
                    published=PublishedData(cifs={300.0: tmp_path / "Cu_300K.cif"}))
    cfg = load_config(overrides=_settings(tmp_path / "study", stages=["mem", "report"],
                                          mem={"temperatures_K": [300.0], "grid_A": 0.1}))
    logs = []
    outcomes, report = run_study(cfg, progress=False, log=logs.append, system=system)
    assert {o.name: o.status for o in outcomes} == {"mem": "ran"}, logs
    m = outcomes[0].summary
    assert m.runs[0].converged and m.runs[0].R < 0.05, m.runs
    assert m.figures and "<img" in report.read_text()
    from incipient.experiment.mem import read_ccp4

    rho = read_ccp4(tmp_path / "study" / "mem" / "mem_300K.ccp4")
    assert rho.shape == (36, 36, 36) and np.unravel_index(np.argmax(rho), rho.shape) in {(0, 0, 0), (0, 18, 18), (18, 0, 18), (18, 18, 0)}
