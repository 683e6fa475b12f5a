"""Integration: a tiny CsCu2I3 study (seconds of MD) runs every wired stage, caches, and reports."""

import json

from incipient.workflows.config import load_config
from incipient.workflows.study import run_study

TINY = {
    "stages": ["relax", "md", "migration", "spectra", "report"],
    "structure": {"repeat": [1, 1, 2], "relax_fmax_eV_A": 0.05},
    "md": {"temperatures_K": [600], "nvt_ps": 0.04, "nve_ps": 0.2, "save_every": 2, "timestep_fs": 2.0},
}


def test_tiny_study_runs_caches_and_reports(tmp_path):
    cfg = load_config(overrides={**TINY, "output_dir": str(tmp_path / "study")})
    logs = []
    outcomes, report = run_study(cfg, progress=False, log=logs.append)
    status = {o.name: o.status for o in outcomes}
    assert status == {"relax": "ran", "md": "ran", "migration": "ran", "spectra": "ran"}, logs
    html = report.read_text()
    assert "This run vs reference" in html and html.count("<img") >= 4
    md = json.loads((tmp_path / "study" / "md" / "done.json").read_text())
    run = md["summary"]["runs"][0]
    # 20 NVT steps from a 600 K start: equipartition alone brings the NVE mean near 300 K
    assert run["n_atoms"] == 48 and 150 < run["mean_temperature_nve_K"] < 900
    # second run: everything cached, nothing recomputed
    outcomes, _ = run_study(cfg, progress=False, log=logs.append)
    assert {o.status for o in outcomes} == {"cached"}
    # changed MD settings: md and its dependants rerun (old checkpoints are not resumed), relax stays cached
    cfg2 = load_config(overrides={**TINY, "output_dir": str(tmp_path / "study"),
                                  "md": {**TINY["md"], "nve_ps": 0.24}})
    outcomes, _ = run_study(cfg2, progress=False, log=logs.append)
    status = {o.name: o.status for o in outcomes}
    assert status == {"relax": "cached", "md": "ran", "migration": "ran", "spectra": "ran"}, logs
    md = json.loads((tmp_path / "study" / "md" / "done.json").read_text())
    from incipient.md.dynamics import MDResult

    assert MDResult.load(md["summary"]["runs"][0]["result"]).steps_nve == 120
