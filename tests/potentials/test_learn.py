"""Active learning of MTPs: per-atom MaxVol grade, MaxVol selection, graded MD, the learn loop and its resume, CLI."""

import argparse
import dataclasses
import json
import re
import shutil

import numpy as np
import pytest
from _cells import strained_nacl
from ase.build import bulk

from incipient.errors import InputError, RunError

TORCH_REASON = "torch (the optional 'train' extra) is not installed"
pytest.importorskip("torch", reason=TORCH_REASON)

SPECIES = ("Cu", "Au")


def _cu3au(rattle=0.05, seed=0):
    a = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    sym = a.get_chemical_symbols()
    for i in range(0, len(a), 4):
        sym[i] = "Au"
    a.set_chemical_symbols(sym)
    if rattle:
        a.rattle(rattle, seed=seed)
    return a


def _nacl(n, rng, rattle=0.05):
    return [strained_nacl(rng, k, rattle) for k in range(n)]


def _random_model(level=8, seed=3):
    from incipient.potentials.training import mtp_template

    rng = np.random.default_rng(seed)
    t = mtp_template(level, species_count=2, min_dist_A=2.0, max_dist_A=5.0, species=("Na", "Cl"), scaling=1 / 9)
    return dataclasses.replace(t, radial_coeffs=rng.uniform(-0.3, 0.3, t.radial_coeffs.shape),
                               moment_coeffs=0.05 * rng.standard_normal(t.moment_coeffs.shape),
                               species_coeffs=np.array([-1.0, -2.0])), rng


# ---------------------------------------------------------------------------------------------
# grade


def test_site_rows_match_the_torch_basis():
    from incipient.potentials.training.grade import basis_rows, site_rows

    model, rng = _random_model(level=10)
    cells = _nacl(3, rng, rattle=0.1)
    numpy_rows = np.vstack([site_rows(model, a, ("Na", "Cl")).mean(axis=0) for a in cells])
    np.testing.assert_allclose(numpy_rows, basis_rows(model, cells, ("Na", "Cl")), rtol=1e-12, atol=1e-12)


def test_per_atom_grade_is_one_on_the_active_set_and_grows_far_from_it(tmp_path):
    from incipient.potentials.training.grade import ActiveSet, select_active_set

    model, rng = _random_model()
    train = _nacl(6, rng)
    act = select_active_set(model, train, ("Na", "Cl"), mode="atom")
    assert act.mode == "atom" and act.rows.shape == (act.size, 2) and act.size > len(train)  # more rows than configs
    # every active neighbourhood has grade 1, every training neighbourhood <= 1 + tol
    per_atom = [act.grade_atoms(a) for a in train]
    np.testing.assert_allclose([per_atom[c][i] for c, i in act.rows], 1.0, atol=1e-8)
    assert max(g.max() for g in per_atom) <= 1.0 + 1e-3 + 1e-9
    # the configuration's per-atom grade is the maximum over its atoms
    np.testing.assert_allclose(act.grade(train), [g.max() for g in per_atom], rtol=1e-12)
    far = []
    for s in (0.85, 1.2):
        a = train[0].copy()
        a.set_cell(a.cell.array * s, scale_atoms=True)
        far.append(a)
    a = train[1].copy()
    a.positions[3] += [0.6, 0.3, 0.0]  # one displaced atom: only its neighbourhood and its neighbours' move
    far.append(a)
    assert act.grade(far).min() > 2.0
    g = act.grade_atoms(far[2])
    assert g.argmax() == 3 or g[3] > 2.0
    # the file round trip grades the same
    act.save(tmp_path / "als.npz")
    back = ActiveSet.load(tmp_path / "als.npz", model)
    np.testing.assert_array_equal(back.grade(far), act.grade(far))
    with pytest.raises(InputError, match="per-atom grades need"):
        select_active_set(model, train, ("Na", "Cl")).grade_atoms(train[0])


def test_maxvol_selection_takes_the_extrapolative_candidates():
    from incipient.potentials.training.grade import select_active_set

    model, rng = _random_model()
    train = _nacl(6, rng)
    act = select_active_set(model, train, ("Na", "Cl"), mode="atom")
    far = []
    for s in (0.8, 0.9, 1.15, 1.25):
        a = train[2].copy()
        a.set_cell(a.cell.array * s, scale_atoms=True)
        far.append(a)
    candidates = [train[0], far[0], train[1], far[1], far[2], far[3]]
    idx = act.select(candidates)
    assert set(idx.tolist()) <= {1, 3, 4, 5} and len(idx) >= 2  # never an interpolating one
    assert len(act.select(candidates, max_configs=1)) == 1
    new = select_active_set(model, train + [candidates[i] for i in idx], ("Na", "Cl"), mode="atom")
    assert new.grade([candidates[i] for i in idx]).max() <= 1.0 + 1e-3 + 1e-9
    assert len(act.select([train[3]])) == 0


# ---------------------------------------------------------------------------------------------
# the loop (EMT as the oracle, Cu3Au 32 atoms, level 6)

LOOP = dict(species=SPECIES, level=6, temperatures_K=(600.0,), md_ps=2.0, gamma_select=2.0, gamma_break=10.0,
            grade_every=10, max_iter=60, max_rounds=6, cutoff_A=(2.0, 5.0), max_selected_per_round=8)


class _Counting:
    """EMT that raises after ``fail_after`` calls (a killed run)."""

    def __init__(self, fail_after=None):
        from ase.calculators.emt import EMT

        self.calc = EMT()
        self.fail_after = fail_after
        self.calls = 0

    def __call__(self):
        outer = self

        class _Calc(type(self.calc)):
            def calculate(self, *args, **kwargs):
                if outer.fail_after is not None and outer.calls >= outer.fail_after:
                    raise KeyboardInterrupt("killed")
                outer.calls += 1
                return super().calculate(*args, **kwargs)

        return _Calc()


def _seeds():
    return [_cu3au(seed=k) for k in range(4)]


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    from incipient.potentials.training.learn import learn_mtp

    state = tmp_path_factory.mktemp("learn") / "state"
    oracle = _Counting()
    res = learn_mtp(_seeds(), oracle, state_dir=state, log=lambda s: None, **LOOP)
    return res, state, oracle.calls


def test_loop_converges_in_a_few_rounds(converged, tmp_path):
    from incipient.potentials import MTP
    from incipient.potentials.training.learn import LearnResult, errors

    res, state, calls = converged
    assert res.converged and 2 <= res.n_rounds <= 5
    assert res.selected_per_round[0] > 0 and res.selected_per_round[-1] == 0
    assert res.n_train_final == 4 + res.selected_per_round.sum() == res.oracle_calls == calls
    assert np.all(res.selected_per_round <= LOOP["max_selected_per_round"])
    assert res.gamma_histogram.shape == (res.n_rounds, len(res.gamma_bin_edges) - 1)
    # the last round's MD ran its full length below gamma_select
    log = json.loads((state / "log.json").read_text())
    assert all(r["steps_done"] == 1000 and r["max_gamma"] <= 2.0 for r in log[-1]["md_runs"])
    # every round's data is in the state folder
    for k in range(res.n_rounds):
        d = state / f"round_{k:03d}"
        assert (d / "pot.mtp").is_file() and (d / "active_set.npz").is_file() and (d / "round.json").is_file()
    # the final potential describes held-out EMT configurations (force RMSE well below the force spread)
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    test = []
    for k in range(3):
        a = _cu3au(rattle=0.1, seed=100 + k)
        a.calc = EMT()
        f, e = a.get_forces(), a.get_potential_energy()
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
        test.append(a)
    spread = 1e3 * np.concatenate([t.get_forces() for t in test]).std()
    _, f_rmse, _ = errors(MTP(res.potential, species=SPECIES), test, SPECIES)
    assert f_rmse < 0.3 * spread
    back = LearnResult.load(state / "result.json")
    np.testing.assert_array_equal(back.selected_per_round, res.selected_per_round)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close(res.plot())


def test_resume_after_an_interrupted_round_gives_the_same_result(converged, tmp_path):
    from incipient.potentials.training.learn import learn_mtp

    res, state, _ = converged
    mine = tmp_path / "state"
    killer = _Counting(fail_after=4 + 2)  # the seeds, then 2 of round 0's selected configurations
    with pytest.raises(KeyboardInterrupt):
        learn_mtp(_seeds(), killer, state_dir=mine, log=lambda s: None, **LOOP)
    assert len(__import__("ase.io").io.read(mine / "round_000" / "labelled.partial.extxyz", ":")) == 2
    assert not (mine / "round_000" / "round.json").exists()
    again = _Counting()
    res2 = learn_mtp(_seeds(), again, state_dir=mine, log=lambda s: None, **LOOP)
    assert again.calls == res.oracle_calls - 6  # nothing labelled twice
    np.testing.assert_array_equal(res2.selected_per_round, res.selected_per_round)
    np.testing.assert_array_equal(res2.gamma_histogram, res.gamma_histogram)
    assert (mine / "final.mtp").read_text() == (state / "final.mtp").read_text()
    # a finished state folder resumes without any oracle call or fit; other settings are refused
    third = _Counting(fail_after=0)
    res3 = learn_mtp(_seeds(), third, state_dir=mine, log=lambda s: None, **LOOP)
    assert res3.n_rounds == res.n_rounds and third.calls == 0
    with pytest.raises(InputError, match=re.escape(str(mine / "settings.json")) + ": the state folder was started "
                                                                                   "with gamma_select = 2.0"):
        learn_mtp(_seeds(), third, state_dir=mine, log=lambda s: None, **{**LOOP, "gamma_select": 2.5})


def test_monitor_stops_md_at_gamma_break(converged, tmp_path):
    import ase.io

    from incipient.potentials import MTP, read_mtp
    from incipient.potentials.training.grade import ActiveSet
    from incipient.potentials.training.monitor import GradedMTP, run_graded_md

    res, state, _ = converged
    last = state / f"round_{res.n_rounds - 1:03d}"
    act = ActiveSet.load(last / "active_set.npz", read_mtp(last / "pot.mtp"))
    a = _cu3au(rattle=0.0)
    a.set_cell(a.cell.array * 0.90, scale_atoms=True)  # compressed: far outside the training set
    traj = tmp_path / "graded.extxyz"
    r, cand = run_graded_md(a, MTP(last / "pot.mtp", species=SPECIES), act, temperature_K=1500.0, steps=2000,
                            grade_every=5, gamma_select=2.0, gamma_break=4.0, trajectory=traj, seed=1)
    assert r.stopped == "gamma_break" and r.steps_done < 2000 and r.max_gamma > 4.0
    frames = ase.io.read(traj, ":")  # readable, one frame per grade, the last one the breaking frame
    assert len(frames) == r.graded_steps.size and frames[-1].info["gamma"] == pytest.approx(r.max_gamma)
    assert frames[-1].info["md_step"] == r.steps_done
    assert len(cand) == r.n_candidates and all(c.info["gamma"] > 2.0 for c in cand)
    # the MTP calculator reporting the grade
    calc = GradedMTP(last / "pot.mtp", act, species=SPECIES)
    b = cand[-1].copy()
    b.calc = calc
    b.get_forces()
    assert calc.results["gamma"] == pytest.approx(cand[-1].info["gamma"], rel=1e-6)
    assert calc.results["gammas"].shape == (len(b),)
    # a run inside the training set completes
    r2, _ = run_graded_md(_cu3au(rattle=0.0), MTP(last / "pot.mtp", species=SPECIES), act, temperature_K=300.0,
                          steps=200, gamma_select=2.0, gamma_break=4.0)
    assert r2.stopped == "completed" and r2.steps_done == 200


def test_learn_input_errors(tmp_path):
    from incipient.potentials.training.learn import learn_mtp

    oracle = _Counting(fail_after=0)
    kw = {**LOOP, "state_dir": tmp_path / "s", "log": lambda s: None}
    with pytest.raises(InputError, match=r"gamma_break \(2.0\) must be larger than gamma_select \(3.0\)"):
        learn_mtp(_seeds(), oracle, **{**kw, "gamma_select": 3.0, "gamma_break": 2.0})
    with pytest.raises(InputError, match="level must be one of"):
        learn_mtp(_seeds(), oracle, **{**kw, "level": 7})
    with pytest.raises(InputError, match="configuration 0 contains Au, not in the species list Cu"):
        learn_mtp(_seeds(), oracle, **{**kw, "species": ("Cu",)})
    with pytest.raises(InputError, match="temperatures_K must be > 0"):
        learn_mtp(_seeds(), oracle, **{**kw, "temperatures_K": (-5.0,)})
    assert oracle.calls == 0 and not (tmp_path / "s" / "seeds.extxyz").exists()


def test_oracle_failure_is_a_run_error(tmp_path):
    from incipient.potentials.training.learn import learn_mtp

    class Broken:
        def get_potential_energy(self, atoms=None):
            raise ValueError("SCF did not converge")

    with pytest.raises(RunError, match="the oracle failed on seed 0 .*SCF did not converge.*rerun to resume"):
        learn_mtp(_seeds(), Broken(), state_dir=tmp_path / "s", log=lambda s: None, **LOOP)


def test_cli_learn(converged, tmp_path, capsys):
    import ase.io

    from incipient.cli import learn as cli
    from incipient.cli.main import COMMANDS

    assert COMMANDS["learn"][0] == "incipient.cli.learn"
    res, state, _ = converged

    def run(argv):
        p = argparse.ArgumentParser()
        cli.add_arguments(p)
        return cli.run(p.parse_args(argv))

    seeds = tmp_path / "seeds.extxyz"
    ase.io.write(seeds, _seeds())
    mine = tmp_path / "state"
    shutil.copytree(state, mine)
    common = [str(seeds), "--species", *SPECIES, "--level", "6", "--oracle", "ase.calculators.emt:EMT",
              "--temperatures", "600", "--md-ps", "2", "--gamma-select", "2", "--gamma-break", "10",
              "--max-iter", "60", "--max-rounds", "6", "--cutoff", "2.0", "5.0", "--max-selected", "8"]
    out = tmp_path / "final.mtp"
    assert run(common + ["--state-dir", str(mine), "--output", str(out)]) == 0  # resumes the finished state
    assert out.read_text() == (state / "final.mtp").read_text()
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["converged"] is True
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "none.xyz")) + ": no such file"):
        run([str(tmp_path / "none.xyz")] + common[1:] + ["--state-dir", str(tmp_path / "x")])
    with pytest.raises(InputError, match="expected 'package.module:callable'"):
        run([str(seeds), "--species", *SPECIES, "--level", "6", "--oracle", "EMT", "--state-dir", str(tmp_path / "x")])
    with pytest.raises(InputError, match="--oracle-kwargs is not JSON"):
        run(common + ["--state-dir", str(tmp_path / "x"), "--oracle-kwargs", "{model"])
    with pytest.raises(InputError, match="gamma_break"):
        run(common + ["--state-dir", str(tmp_path / "x"), "--gamma-break", "1.5"])
