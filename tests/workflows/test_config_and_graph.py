"""Study config validation and the cached stage graph (ordering, reuse, invalidation, failures)."""

import json

import pytest

from incipient.workflows.config import StudyConfigError, load_config
from incipient.workflows.graph import Stage, order, run_graph


def test_presets_and_overrides(tmp_path):
    q = load_config()
    p = load_config(preset="paper")
    from incipient.workflows.config import build_system

    system = build_system(q)
    # the MD cell is chosen from the width: 20 A (quick) and 30 A (paper) give the paper's CsCu2I3 cells
    assert q.md_repeat(system) == (2, 2, 4) and p.md_repeat(system) == (3, 3, 5)
    assert p.md.nve_ps == 2000 and p.md.timestep_fs == 2.0
    assert q.md.nve_ps < p.md.nve_ps
    f = tmp_path / "s.toml"
    f.write_text('name = "x"\n[md]\ntemperatures_K = [300, 450]\nnve_ps = 1\n')
    c = load_config(f)
    assert c.md.temperatures_K == (300.0, 450.0) and c.md.nve_ps == 1.0 and c.name == "x"


@pytest.mark.parametrize("text,match", [
    ("[md]\ntemperature = 300\n", r"s.toml: md: unknown key 'temperature'; allowed: temperatures_K, timestep_fs"),
    ("[mdd]\nx = 1\n", r"unknown key 'mdd'; allowed: name, output_dir, stages, system"),
    ('[md]\nthermostat = "andersen"\n', r"md.thermostat: 'andersen' is not one of bussi, langevin"),
    ('stages = ["md", "dance"]\n', r"stages: unknown stage 'dance'; allowed: relax, md"),
    ('[md]\nnve_ps = "long"\n', r"md.nve_ps: expected a number, got 'long'"),
    ("[md\n", r"not valid TOML"),
])
def test_bad_study_files_name_the_key(tmp_path, text, match):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(StudyConfigError, match=match):
        load_config(f)


def test_unknown_preset():
    with pytest.raises(StudyConfigError, match="allowed: quick, paper"):
        load_config(preset="huge")


def _stages(calls):
    def make(name, value):
        def f(ctx):
            calls.append(name)
            (ctx.dir / "out.txt").write_text(str(value))
            return {"value": value + sum(v["value"] for v in ctx.inputs.values())}
        return f

    def boom(ctx):
        calls.append("boom")
        raise RuntimeError("exploded")

    return {
        "a": Stage("a", (), ("md",), make("a", 1)),
        "b": Stage("b", ("a",), ("kappa",), make("b", 10)),
        "c": Stage("c", ("a", "b"), (), make("c", 100)),
        "bad": Stage("bad", ("a",), (), boom),
        "after_bad": Stage("after_bad", ("bad",), (), make("after_bad", 0)),
    }


def test_graph_orders_caches_and_invalidates(tmp_path):
    calls = []
    st = _stages(calls)
    assert order(st, ["c"]) == ["a", "b", "c"]
    cfg = load_config()
    out = run_graph(st, cfg, tmp_path, ["c"], log=lambda s: None)
    assert [o.status for o in out] == ["ran"] * 3 and calls == ["a", "b", "c"]
    assert out[-1].summary["value"] == 100 + 1 + 11
    rec = json.loads((tmp_path / "c" / "done.json").read_text())
    assert rec["provenance"]["versions"]["incipient"] and rec["provenance"]["inputs"].keys() == {"a", "b"}
    # rerun: nothing recomputed
    calls.clear()
    out = run_graph(st, cfg, tmp_path, ["c"], log=lambda s: None)
    assert calls == [] and [o.status for o in out] == ["cached"] * 3
    assert out[-1].ran_s == rec["provenance"]["wall_s"] and out[-1].ran_at == rec["provenance"]["started"]
    # a change in the kappa section reruns b and its dependant c, not a
    cfg2 = load_config(overrides={"kappa": {"mesh": [2, 2, 2]}})
    out = run_graph(st, cfg2, tmp_path, ["c"], log=lambda s: None)
    assert calls == ["b", "c"]
    # a stage killed half-way (no done.json) runs again; its identical result keeps c cached
    (tmp_path / "b" / "done.json").unlink()
    calls.clear()
    run_graph(st, cfg2, tmp_path, ["c"], log=lambda s: None)
    assert calls == ["b"]
    # a rerun whose results differ invalidates its dependants
    rec = json.loads((tmp_path / "a" / "done.json").read_text())
    rec["summary"]["value"] = 2
    (tmp_path / "a" / "done.json").write_text(json.dumps(rec))
    calls.clear()
    run_graph(st, cfg2, tmp_path, ["c"], log=lambda s: None)
    assert calls == ["b", "c"]


def test_failed_stage_is_reported_and_dependants_skipped(tmp_path):
    calls = []
    st = _stages(calls)
    out = {o.name: o for o in run_graph(st, load_config(), tmp_path, ["after_bad", "c"], log=lambda s: None)}
    assert out["bad"].status == "failed" and "exploded" in out["bad"].error
    assert out["after_bad"].status == "skipped"
    assert out["c"].status == "ran"
    assert "exploded" in (tmp_path / "bad" / "error.txt").read_text()


def test_validate_preset_and_nve_length_per_temperature():
    from incipient.workflows.config import StudyConfigError

    cfg = load_config(preset="validate")
    # the validation run: 1 ns at 600 K, 300 ps at 450 K, 50 ps at 300 K, heat current every step
    assert [cfg.md.nve_ps_at(T) for T in (300, 450, 600)] == [50.0, 300.0, 1000.0]
    assert cfg.md.heat_current_every == 1
    assert load_config().md.nve_ps_at(600) == load_config().md.nve_ps  # quick: one length for all
    with pytest.raises(StudyConfigError, match="one length per temperature"):
        load_config(preset="validate", overrides={"md": {"temperatures_K": [600]}})
    with pytest.raises(StudyConfigError, match=r"nve_ps_by_temperature\[1\]: must be a positive"):
        load_config(overrides={"md": {"temperatures_K": [300, 600], "nve_ps_by_temperature": [1.0, -1.0]}})


def test_system_digest_follows_contents_not_folders(tmp_path):
    """A system folder copied elsewhere keeps its stage keys (cache reused); an edited file changes them."""
    import shutil

    from incipient.data import DEFAULT_SYSTEM
    from incipient.system import System, load_system

    src = load_system(DEFAULT_SYSTEM).source
    a, b = tmp_path / "a", tmp_path / "elsewhere" / "b"
    shutil.copytree(src.parent, a)
    shutil.copytree(src.parent, b)
    da, db = System.from_file(a / src.name).digest(), System.from_file(b / src.name).digest()
    assert da == db
    with open(b / "cscuI.mtp", "a") as fh:
        fh.write("\n")  # same numbers, different bytes: the file's content hash changes
    assert System.from_file(b / src.name).digest(("potential",)) != System.from_file(a / src.name).digest(("potential",))
    assert System.from_file(b / src.name).digest(("structure",)) == System.from_file(a / src.name).digest(("structure",))


def test_velocity_convention_is_validated():
    from incipient.workflows.config import StudyConfigError

    assert load_config().kappa.velocity_convention == "crystal"
    assert load_config(overrides={"kappa": {"velocity_convention": "lattice_phase"}}).kappa.velocity_convention == "lattice_phase"
    with pytest.raises(StudyConfigError, match="kappa.velocity_convention: 'shengbte' is not one of crystal"):
        load_config(overrides={"kappa": {"velocity_convention": "shengbte"}})
