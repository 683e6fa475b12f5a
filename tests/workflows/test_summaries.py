"""Typed stage summaries: to_dict/from_dict round trips, the done.json layout the stages wrote as
dicts, older done.json files without the newer keys, and typed summaries through the stage graph."""

import copy
import json

import pytest

from incipient.errors import FileFormatError
from incipient.workflows import summaries as S
from incipient.workflows.config import load_config
from incipient.workflows.graph import Stage, StageContext, code_digest, run_graph, stage_key

FIG = [{"path": "md/energy_T600K_seed0.png", "caption": "MD at 600 K: temperature and total energy (NVT then NVE)."}]
ROW = [["NVE drift at 600 K", "0.12", "0.1", "meV/atom/ns", "note"]]
MD_RUN = {"trajectory": "/s/md/T600K_seed0.h5md", "temperature_K": 600.0, "seed": 0, "n_atoms": 96,
          "nve_drift_meV_atom_ns": -0.25, "mean_temperature_nve_K": 590.5, "ns_per_day": 0.27, "overhead_percent": 0.24,
          "result": "/s/md/T600K_seed0.h5md.result.json", "heat_current": False}
FRAMEWORK = {"Cs": {"D_cm2_s": 1e-9, "msd_end_of_fit_A2": 0.4, "nearest_A": 5.0, "diffuses": False},
             "I": {"D_cm2_s": float("inf"), "msd_end_of_fit_A2": 0.0, "nearest_A": 4.2, "diffuses": False,
                   "note": "no MSD: too few frames"}}
MIG_RUN = {"temperature_K": 600.0, "seed": 0, "duration_ps": 3.0, "species": "Ag", "D_xyz_cm2_s": [1e-5, 2e-5, 3e-5],
           "D_err_xyz_cm2_s": [1e-6, 2e-6, 3e-6], "D_cm2_s": 2e-5, "D_err_cm2_s": 2e-6, "hop_rate_per_ion_ps": 0.04,
           "n_hops": 4, "n_ions": 32, "rates_by_class_per_ion_ps": {"x": 0.01, "z": 0.03}, "return_fraction": 0.5,
           "n_hop_pairs": 2, "mean_residence_time_ps": 7.0, "n_mobile_per_A3": 0.0077, "msd_end_of_fit_A2": 4.3,
           "site_spacing_A": 3.04, "framework": FRAMEWORK}
BRANCH = {"q_rlu": [[0, 0, 0.25], [0, 0, 0.5]], "E_c_meV": [2.0, 3.5], "fwhm_meV": [0.5, 0.9], "E_c_err_meV": [0.1, 0.2],
          "fwhm_err_meV": [0.05, 0.1], "n_fitted": 2, "underdamped_fraction": 1.0}

# each stage's summary as the stage wrote it (the layout of the dict-returning stages, every key)
CURRENT = {
    "relax": {"lattice_A": [10.9, 15.5, 6.08], "energy_eV_per_atom": -2.51, "converged": True, "comparisons": ROW,
              "text": "24 atoms relaxed", "minimum_file": None},
    "md": {"runs": [MD_RUN], "figures": FIG, "comparisons": [], "repeat": [2, 1, 2], "heat_current": False,
           "text": "1 MD run"},
    "migration": {"runs": [MIG_RUN], "figures": FIG, "comparisons": ROW, "pathways": ["MID", "x", "z"], "text": "D"},
    "barriers": {"barriers_eV": {"x": 0.3, "z": 0.12}, "comparisons": [], "repeat": [1, 1, 2], "figures": FIG,
                 "text": "NEB"},
    "force_constants": {"fc2_by_temperature": [{"temperature_K": 100.0, "fc2_file": "/s/fc2.hdf5", "n_imaginary": 0,
                                                "rmse_test_eV_A": 0.024}],
                        "fc2_file": "/s/fc2.hdf5", "fc3_file": "/s/FORCE_CONSTANTS_3RD", "fc4_file": None,
                        "phonopy_params": "/s/phonopy_params.yaml", "fc_supercell": [2, 2, 2],
                        "primitive_file": "/s/primitive.extxyz", "temperature_K": 100.0, "rmse_test_eV_A": 0.024,
                        "r2_test": 0.95, "n_imaginary": 0, "text": "120 snapshots", "figures": FIG},
    "spectra": {"figures": FIG, "dos": {"100K": {"mobile_peak_meV_xyz": [2.0, 2.5, 3.0]}},
                "notes": ["G-Z: left out"], "branches": {"G-X": {"100K": BRANCH}}, "text": "VACF DOS"},
    "kappa_bte": {"temperatures_K": [300.0, 600.0], "kappa_p_xyz_W_mK": [[0.06, 0.05, 0.04], [0.03, 0.02, 0.02]],
                  "kappa_c_xyz_W_mK": [[0.05, 0.05, 0.05], [0.06, 0.06, 0.06]], "kappa_avg_W_mK": 0.1,
                  "kappa_avg_T_K": 300.0, "fc3": "fitted fc3",
                  "kappa_p_34ph_xyz_W_mK": [[0.05, 0.04, 0.03], [0.02, 0.01, 0.01]],
                  "kappa_c_34ph_xyz_W_mK": [[0.05, 0.05, 0.05], [0.06, 0.06, 0.06]],
                  "kappa_p_34ph_err_xyz_W_mK": [[0.001] * 3, [0.001] * 3], "alpha_34ph_xyz": [-0.2, -0.3, -0.1],
                  "wall_4ph_s": 12.5,
                  "tables": [{"caption": "Wigner kappa (3ph)", "header": ["convention", "x"], "rows": [["crystal", "0.1"]]}],
                  "conventions": {"crystal": {"alpha_34ph_xyz": [-0.2, -0.3, -0.1],
                                              "kappa_c_34ph_xyz_W_mK": [[0.05] * 3, [0.06] * 3],
                                              "asym_c_34ph_W_mK": [1e-12, 2e-12]}},
                  "figures": FIG, "comparisons": ROW, "text": "phono3py Wigner RTA"},
    "kappa_gk": {"runs": [{"temperature_K": 100.0, "mean_temperature_nve_K": 105.2, "kappa_xyz_W_mK": [0.08, 0.1, 0.2],
                           "kappa_err_xyz_W_mK": [0.03, 0.03, 0.04], "kappa_V_xyz_W_mK": [0.02, 0.08, 0.1],
                           "kappa_CROSS_xyz_W_mK": [0.04, 0.01, 0.0], "simulated_ns": 0.03, "kappa_avg_W_mK": 0.127,
                           "kappa_avg_err_W_mK": 0.02}],
                 "figures": FIG, "comparisons": [], "text": "Green-Kubo", "alpha_xyz": [0.37, 0.02, 0.1],
                 "alpha_err_xyz": [0.3, 0.3, 0.3]},
    "mem": {"runs": [{"temperature_K": 300.0, "R": 0.02, "wR": 0.03, "converged": True, "n_eval": 120, "time_s": 3.5,
                      "paths": ["x", "z"], "min_to_peak": [0.01, 0.02], "ridge_to_peak": [0.02, 0.03]}],
            "figures": FIG, "comparisons": ROW, "text": "MEM"},
    "classify": {"label": "incipient", "reasons": ["ions hop"], "sigma_S_m": 1.2, "sigma_upper_S_m": 1.2,
                 "evidence": {"n_hops": 4, "hop_rate_95_per_ion_ps": [0.01, 0.1], "long_range_seen": False},
                 "kappa_note": "Wigner at 300 K", "comparisons": ROW, "figures": FIG, "text": "Classified as incipient"},
}


def test_every_stage_has_a_summary_type_and_a_sample():
    from incipient.workflows.study import STAGE_TABLE

    assert {row[0] for row in STAGE_TABLE} == set(S.BY_STAGE) == set(CURRENT)


@pytest.mark.parametrize("stage", sorted(CURRENT))
def test_round_trip_keeps_the_done_json_layout(stage):
    """from_dict(d).to_dict() is d key for key (the fingerprints dependants' keys hash stay the
    same), through JSON too; the typed object compares equal after a round trip."""
    d = copy.deepcopy(CURRENT[stage])
    obj = S.load_summary(stage, d)
    assert isinstance(obj, S.BY_STAGE[stage]) and isinstance(obj, S.StageSummary)
    assert obj.to_dict() == d
    assert json.dumps(obj.to_dict(), sort_keys=True) == json.dumps(d, sort_keys=True)
    again = type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))
    assert again == obj
    assert d == CURRENT[stage]  # from_dict and to_dict leave the input alone
    assert all(isinstance(f, S.Figure) for f in obj.figures)


def test_typed_attributes_have_the_units_in_their_names():
    md = S.MDSummary.from_dict(CURRENT["md"])
    assert md.runs[0].temperature_K == 600.0 and md.runs[0].nve_drift_meV_atom_ns == -0.25
    mig = S.MigrationSummary.from_dict(CURRENT["migration"])
    run = mig.runs[0]
    assert run.D_cm2_s == 2e-5 and run.framework["Cs"].nearest_A == 5.0 and run.framework["I"].note.startswith("no MSD")
    assert run.molten_species() == []
    fc = S.ForceConstantsSummary.from_dict(CURRENT["force_constants"])
    assert fc.fc2_by_temperature[0].temperature_K == 100.0 and fc.fc4_file is None
    sp = S.SpectraSummary.from_dict(CURRENT["spectra"])
    assert sp.mobile_peak_meV_xyz(100.0) == [2.0, 2.5, 3.0] and sp.mobile_peak_meV_xyz(600.0) is None
    assert sp.branches["G-X"]["100K"].E_c_meV == [2.0, 3.5]
    kb = S.KappaBTESummary.from_dict(CURRENT["kappa_bte"])
    assert kb.conventions["crystal"].alpha_34ph_xyz == [-0.2, -0.3, -0.1] and kb.tables[0].rows == [["crystal", "0.1"]]


# older done.json files (written before these keys existed), as in finished studies
OLDER = {
    "migration": ({"runs": [{k: v for k, v in MIG_RUN.items() if k not in ("n_hop_pairs", "framework")}],
                   "figures": FIG, "comparisons": ROW, "pathways": ["z"], "text": "D"}, {"n_hop_pairs", "framework"}),
    "force_constants": ({k: v for k, v in CURRENT["force_constants"].items() if k != "fc2_by_temperature"},
                        {"fc2_by_temperature"}),
    "kappa_bte": ({k: v for k, v in CURRENT["kappa_bte"].items()
                   if k not in ("kappa_p_34ph_err_xyz_W_mK", "wall_4ph_s", "tables", "conventions")}, set()),
}


@pytest.mark.parametrize("stage", sorted(OLDER))
def test_older_done_json_without_the_newer_keys_reads(stage):
    old, added = OLDER[stage]
    obj = S.load_summary(stage, copy.deepcopy(old))
    new = obj.to_dict()
    if stage == "migration":
        assert obj.runs[0].n_hop_pairs == 0 and obj.runs[0].framework == {} and obj.runs[0].molten_species() == []
        new, added = new["runs"][0], {"n_hop_pairs", "framework"}
        old = old["runs"][0]
    if stage == "force_constants":
        assert obj.fc2_by_temperature == []
    if stage == "kappa_bte":  # conditional keys stay out of the JSON while unset
        assert obj.conventions is None and obj.wall_4ph_s is None and obj.tables == []
    assert set(new) - set(old) == added and {k: new[k] for k in old} == old


def test_a_summary_without_a_required_key_names_it():
    d = {k: v for k, v in CURRENT["md"].items() if k != "runs"}
    with pytest.raises(FileFormatError, match=r"MDSummary: no 'runs'"):
        S.MDSummary.from_dict(d)
    with pytest.raises(FileFormatError, match="expected a JSON object"):
        S.MDSummary.from_dict([1, 2])
    # unknown keys (a newer version's) are ignored; a stage without a type reads the report fields
    assert S.RelaxSummary.from_dict({**CURRENT["relax"], "future_key": 1}).to_dict() == CURRENT["relax"]
    s = S.load_summary("custom", {"value": 3, "text": "t", "figures": FIG})
    assert type(s) is S.StageSummary and s.text == "t" and s.figures[0].path == FIG[0]["path"]


# ----------------------------------------------------------------------------- through the graph
def _produce(ctx: StageContext) -> S.MDSummary:
    return S.MDSummary.from_dict(CURRENT["md"])


def _consume(ctx: StageContext) -> S.MigrationSummary:
    md = ctx.inputs["md"]
    assert isinstance(md, S.MDSummary)  # the typed object, fresh or from done.json
    run = {**MIG_RUN, "temperature_K": md.runs[0].temperature_K}
    return S.MigrationSummary(runs=[S.MigrationRun.from_dict(run)], text=f"{len(md.runs)} runs")


def _stages(same_results_as=()):
    return {"md": Stage("md", (), (), _produce, summary_type=S.MDSummary, same_results_as=same_results_as),
            "migration": Stage("migration", ("md",), (), _consume, summary_type=S.MigrationSummary)}


def test_graph_stores_to_dict_and_hands_dependants_the_typed_summary(tmp_path):
    cfg = load_config()
    out = run_graph(_stages(), cfg, tmp_path, ["migration"], log=lambda s: None)
    assert [o.status for o in out] == ["ran", "ran"]
    assert isinstance(out[0].summary, S.MDSummary) and out[1].summary.runs[0].temperature_K == 600.0
    rec = json.loads((tmp_path / "md" / "done.json").read_text())
    assert rec["summary"] == CURRENT["md"]  # the JSON layout of the dict-returning stage
    out2 = run_graph(_stages(), cfg, tmp_path, ["migration"], log=lambda s: None)
    assert [o.status for o in out2] == ["cached", "cached"] and [o.key for o in out2] == [o.key for o in out]
    assert out2[0].summary == out[0].summary and out2[1].summary == out[1].summary


def test_a_stage_file_declared_result_identical_keeps_studies_cached(tmp_path, monkeypatch):
    """A study finished by an earlier version of a stage file (here: md's file had digest
    "0123...") stays cached, dependants included, when the stage names that digest in
    same_results_as (a refactor), and only then."""
    from incipient.workflows import graph

    cfg = load_config()
    old_code = "0123456789abcdef"
    real = graph.code_digest
    monkeypatch.setattr(graph, "code_digest", lambda f: old_code if f is _produce else real(f))
    first = run_graph(_stages(), cfg, tmp_path, ["migration"], log=lambda s: None)  # the earlier version
    monkeypatch.setattr(graph, "code_digest", real)
    assert first[0].key == stage_key(_stages()["md"], cfg, {}, (), code=old_code) != stage_key(_stages()["md"], cfg, {}, ())
    logs = []
    out = run_graph(_stages(same_results_as=(old_code,)), cfg, tmp_path, ["migration"], log=logs.append)
    assert [o.status for o in out] == ["cached", "cached"], logs
    assert [o.key for o in out] == [o.key for o in first]
    # without the declaration the earlier file's results are not reused
    out = run_graph(_stages(), cfg, tmp_path, ["migration"], log=logs.append)
    assert [o.status for o in out] == ["ran", "ran"]
    assert code_digest(_produce) != old_code


def test_an_unreadable_cached_summary_runs_the_stage_again(tmp_path):
    cfg = load_config()
    run_graph(_stages(), cfg, tmp_path, ["md"], log=lambda s: None)
    done = tmp_path / "md" / "done.json"
    rec = json.loads(done.read_text())
    del rec["summary"]["runs"]
    done.write_text(json.dumps(rec))
    logs = []
    out = run_graph(_stages(), cfg, tmp_path, ["md"], log=logs.append)
    assert out[0].status == "ran" and any("summary unreadable" in m and "'runs'" in m for m in logs), logs
