"""MTP training: MLIP-2 templates, .mtp writer, torch MTP parity, loss gradient, fit, checkpoints, grade, CLI."""

import dataclasses
import re

import numpy as np
import pytest
from _cells import strained_nacl
from ase.calculators.singlepoint import SinglePointCalculator

from incipient.data import cscu2i3_mtp
from incipient.errors import InputError
from incipient.potentials import MTP, read_mtp
from incipient.potentials.training import level_of, mtp_structure, mtp_template, write_mtp

TORCH_REASON = "torch (the optional 'train' extra) is not installed"


def _need_torch():
    pytest.importorskip("torch", reason=TORCH_REASON)


# ---------------------------------------------------------------------------------------------
# templates and writer (no torch)


def test_level22_template_is_the_paper_potentials_structure():
    m = read_mtp(cscu2i3_mtp())
    s = mtp_structure(22)
    assert s.alpha_moments_count == m.alpha_moments_count == 2621
    assert s.radial_funcs_count == m.radial_funcs_count == 6
    np.testing.assert_array_equal(s.alpha_index_basic, m.alpha_index_basic)
    np.testing.assert_array_equal(s.alpha_index_times, m.alpha_index_times)
    np.testing.assert_array_equal(s.alpha_moment_mapping, m.alpha_moment_mapping)
    assert level_of(m) == 22


def test_template_sizes_match_mlip2_levels():
    # (alpha_moments_count, alpha_scalar_moments, radial_funcs_count) of MLIP-2's 02.mtp ... 16.mtp
    expected = {2: (1, 1, 1), 4: (2, 2, 1), 6: (8, 5, 2), 8: (18, 9, 2), 10: (41, 16, 3), 12: (84, 29, 3),
                14: (174, 52, 4), 16: (350, 92, 4)}
    for level, (n_mom, n_scalar, nf) in expected.items():
        s = mtp_structure(level)
        assert (s.alpha_moments_count, s.alpha_scalar_moments, s.radial_funcs_count) == (n_mom, n_scalar, nf), level
        assert np.all(s.alpha_index_times[:, 3] > s.alpha_index_times[:, :2].max(axis=1))
    # MLIP-2's 08.mtp, element for element
    s = mtp_structure(8)
    assert s.alpha_index_times.tolist() == [
        [0, 0, 1, 11], [1, 1, 1, 12], [2, 2, 1, 12], [3, 3, 1, 12], [4, 4, 1, 13], [5, 5, 2, 13], [6, 6, 2, 13],
        [7, 7, 1, 13], [8, 8, 2, 13], [9, 9, 1, 13], [0, 10, 1, 14], [0, 11, 1, 15], [0, 12, 1, 16], [0, 15, 1, 17]]
    assert s.alpha_moment_mapping.tolist() == [0, 10, 11, 12, 13, 14, 15, 16, 17]


def test_bad_level():
    with pytest.raises(InputError, match="MTP level must be one of 2, 4"):
        mtp_structure(7)


def test_writer_round_trip_incipient_and_motep(tmp_path):
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp as motep_read

    from incipient.system import load_system

    m = read_mtp(cscu2i3_mtp())
    path = write_mtp(m, tmp_path / "rt.mtp", species=("Cs", "Cu", "I"))
    m2 = read_mtp(path)
    assert m2.species == ("Cs", "Cu", "I")
    for f in ("radial_coeffs", "alpha_index_basic", "alpha_index_times", "alpha_moment_mapping", "species_coeffs",
              "moment_coeffs"):
        np.testing.assert_array_equal(getattr(m2, f), getattr(m, f))
    assert (m2.scaling, m2.min_dist_A, m2.max_dist_A) == (m.scaling, m.min_dist_A, m.max_dist_A)
    d, d0 = motep_read(path), motep_read(cscu2i3_mtp())
    for f in ("radial_coeffs", "alpha_index_basic", "alpha_index_times", "alpha_moment_mapping", "species_coeffs",
              "moment_coeffs", "scaling"):
        np.testing.assert_array_equal(getattr(d, f), getattr(d0, f))
    a = load_system("CsCu2I3").structure.copy()
    a.rattle(0.05, seed=1)
    a.calc = MTP(cscu2i3_mtp())
    e0, f0 = a.get_potential_energy(), a.get_forces()
    a.calc = MTP(path)
    assert a.get_potential_energy() == e0
    np.testing.assert_array_equal(a.get_forces(), f0)
    d.species = [55, 29, 53]
    b = a.copy()
    b.calc = MotepMTP(d, engine="cext")
    assert b.get_potential_energy() == pytest.approx(e0, abs=1e-9)


def test_untrained_template_file(tmp_path):
    from motep.io.mlip.mtp import read_mtp as motep_read

    t = mtp_template(10, species_count=2, min_dist_A=1.5, max_dist_A=5.0)
    path = write_mtp(t, tmp_path / "10.mtp", untrained=True)
    text = path.read_text()
    assert "radial_coeffs" not in text and "moment_coeffs" not in text
    d = motep_read(path)
    np.testing.assert_array_equal(d.alpha_index_times, mtp_structure(10).alpha_index_times)
    assert d.alpha_moments_count == 41


_NO_TORCH = """
import json, sys
import incipient.potentials.training as t
from incipient.potentials.training import *  # every name of __all__
import incipient.potentials.training.grade, incipient.potentials.training.learn
import incipient.potentials.training.monitor, incipient.potentials.training.validation
errors = []
for call in (lambda: t.validate_potential(None, None, [], species=("Na",)),
             lambda: t.learn_mtp([], None, species=("Na",), level=1, state_dir="never")):
    try:
        call()
    except ValueError as exc:  # InputError: the wrapper reached the function's input checks
        errors.append(str(exc))
print(json.dumps({"torch": "torch" in sys.modules, "errors": errors,
                  "same": [t.LearnResult is incipient.potentials.training.learn.LearnResult,
                           t.PotentialValidation is incipient.potentials.training.validation.PotentialValidation,
                           t.TrainingResult.__module__]}))
"""


def test_training_entry_points_import_and_run_without_torch(tmp_path):
    """select_active_set, learn_mtp and validate_potential are numpy code: naming or calling them imports no torch."""
    import json
    import subprocess
    import sys

    import incipient.potentials.training as t

    assert {"learn_mtp", "validate_potential", "LearnResult", "PotentialValidation", "select_active_set",
            "train_mtp", "TrainingResult"} <= set(t.__all__)
    run = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["torch"] is False
    assert got["same"] == [True, True, "incipient.potentials.training.fit"]
    assert got["errors"][0] == "validate_potential: no configurations given"
    assert got["errors"][1].startswith("level must be one of")
    assert not (tmp_path / "never").exists()


# ---------------------------------------------------------------------------------------------
# torch MTP, loss gradient, fit


def _cscu2i3_cells(n, seed=0):
    from incipient.system import load_system

    base = load_system("CsCu2I3").structure
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = base.copy()
        eps = 0.02 * rng.standard_normal((3, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        a.rattle(0.08, seed=k)
        out.append(a)
    return out


def test_torch_mtp_matches_c_kernel():
    _need_torch()
    from incipient.potentials.training.torch_mtp import evaluate_model

    cells = _cscu2i3_cells(2)
    res = evaluate_model(read_mtp(cscu2i3_mtp()), cells, ("Cs", "Cu", "I"))
    calc = MTP(cscu2i3_mtp(), backend="c")
    for a, r in zip(cells, res, strict=True):
        a.calc = calc
        assert r["energy"] == pytest.approx(a.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(r["forces"], a.get_forces(), rtol=0, atol=1e-8)
        np.testing.assert_allclose(r["stress"], a.get_stress(), rtol=0, atol=1e-10)


def _nacl_cells(n, calc=None, rng=None, rattle=0.1):
    rng = rng or np.random.default_rng(0)
    out = []
    for k in range(n):
        a = strained_nacl(rng, k, rattle)
        if calc is None:
            e, f, s = rng.normal(), rng.normal(size=(8, 3)), 0.01 * rng.normal(size=6)
        else:
            a.calc = calc
            e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        out.append(a)
    return out


def _random_teacher(tmp_path, level=8, seed=3):
    rng = np.random.default_rng(seed)
    t = mtp_template(level, species_count=2, min_dist_A=2.0, max_dist_A=5.0, species=("Na", "Cl"), scaling=1 / 9)
    t = dataclasses.replace(t, radial_coeffs=rng.uniform(-0.3, 0.3, t.radial_coeffs.shape),
                            moment_coeffs=0.05 * rng.standard_normal(t.moment_coeffs.shape),
                            species_coeffs=np.array([-1.0, -2.0]))
    path = write_mtp(t, tmp_path / "teacher.mtp")
    return t, MTP(path), rng


def test_loss_gradient_matches_finite_differences():
    _need_torch()
    import torch

    from incipient.potentials.training import fit
    from incipient.potentials.training.data import read_configurations

    rng = np.random.default_rng(1)
    data = read_configurations(_nacl_cells(3, rng=rng), ("Na", "Cl"))
    m = mtp_template(10, species_count=2, min_dist_A=2.0, max_dist_A=5.0, scaling=1 / 9)
    prob = fit._Problem(m, data, np.arange(3), np.array([], int), ("Na", "Cl"), (1.0, 0.1, 0.01), 150,
                        torch.float64)  # small max_slots: several chunks
    assert len(prob.train) > 1
    S, ns, nc = prob.sizes
    x = 0.3 * rng.normal(size=S + ns + nc)
    scale = rng.uniform(0.5, 2.0, ns)
    _, g, _ = prob.loss_grad(x, scale)
    for i in (0, S, S + ns - 1, S + ns, S + ns + 11, x.size - 1):
        h = 1e-6
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fd = (prob.loss_grad(xp, scale)[0] - prob.loss_grad(xm, scale)[0]) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-8), i


def test_training_recovers_a_teacher(tmp_path):
    _need_torch()
    from incipient.potentials.training import train_mtp

    teacher, calc, rng = _random_teacher(tmp_path)
    confs = _nacl_cells(20, calc=calc, rng=rng)
    spread = 1e3 * np.concatenate([c.get_forces() for c in confs]).std()
    start = dataclasses.replace(
        teacher, radial_coeffs=teacher.radial_coeffs * (1 + 0.2 * rng.standard_normal(teacher.radial_coeffs.shape)),
        moment_coeffs=0 * teacher.moment_coeffs, species_coeffs=0 * teacher.species_coeffs)
    model, res = train_mtp(confs, species=("Na", "Cl"), initial=start, max_iter=100, progress=False,
                           validation_fraction=0.2, output=tmp_path / "student.mtp")
    assert res.n_validation == 4 and res.iterations <= 100
    assert res.train_force_rmse_meV_A < 0.05 * spread
    assert res.validation_force_rmse_meV_A < 0.05 * spread
    # the written student reproduces the fitted model in incipient's C kernel
    a = confs[res.validation_indices[0]].copy()
    a.calc = MTP(tmp_path / "student.mtp")
    ref = np.asarray(confs[res.validation_indices[0]].get_forces())
    assert 1e3 * np.sqrt(((a.get_forces() - ref) ** 2).mean()) < 0.1 * spread


def test_checkpoint_resume_and_mismatch(tmp_path):
    _need_torch()
    from incipient.potentials.training import train_mtp

    _, calc, rng = _random_teacher(tmp_path, level=6)
    confs = _nacl_cells(8, calc=calc, rng=rng)
    ck = tmp_path / "fit.npz"
    kw = dict(level=6, species=("Na", "Cl"), cutoff_A=(2.0, 5.0), progress=False, checkpoint=ck, checkpoint_every=1)
    _, r1 = train_mtp(confs, max_iter=4, **kw)
    assert ck.exists() and r1.iterations == 4
    _, r2 = train_mtp(confs, max_iter=8, **kw)
    assert r2.resumed_from_iteration == 4 and r2.iterations > 4
    assert r2.loss_history[:4].tolist() == r1.loss_history.tolist()
    with pytest.raises(InputError, match=re.escape(str(ck)) + ": the checkpoint was written for other data"):
        train_mtp(confs, max_iter=8, **{**kw, "weights": (1.0, 0.2, 0.01)})


def test_data_errors(tmp_path):
    import ase.io

    from incipient.potentials.training.data import read_configurations

    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    with pytest.raises(InputError, match=re.escape(str(empty)) + ": the file is empty"):
        read_configurations(empty, ("Na", "Cl"))
    nof = tmp_path / "noforces.extxyz"
    a = _nacl_cells(1)[0]
    b = a.copy()
    b.calc = SinglePointCalculator(b, energy=1.0)
    ase.io.write(nof, b)
    with pytest.raises(InputError, match=re.escape(str(nof)) + ": configuration 0 has no forces"):
        read_configurations(nof, ("Na", "Cl"))
    good = tmp_path / "good.extxyz"
    ase.io.write(good, a)
    with pytest.raises(InputError, match=re.escape(str(good)) + ": configuration 0 contains Cl, not in the species"):
        read_configurations(good, ("Na", "K"))
    assert len(read_configurations(good, ("Na", "Cl"))) == 1


def test_cli_train(tmp_path, capsys):
    _need_torch()
    import argparse

    import ase.io

    from incipient.cli import train as cli

    _, calc, rng = _random_teacher(tmp_path, level=6)
    data = tmp_path / "data.extxyz"
    ase.io.write(data, _nacl_cells(6, calc=calc, rng=rng))

    def run(argv):
        p = argparse.ArgumentParser()
        cli.add_arguments(p)
        return cli.run(p.parse_args(argv))

    out = tmp_path / "pot.mtp"
    assert run([str(data), "--level", "6", "--species", "Na", "Cl", "--output", str(out), "--max-iter", "3",
                "--no-progress", "--cutoff", "2.0", "5.0"]) == 0
    assert read_mtp(out).species == ("Na", "Cl")
    assert "validation RMSE" in capsys.readouterr().out
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "missing.xyz")) + ": no such file"):
        run([str(tmp_path / "missing.xyz"), "--level", "6", "--species", "Na", "Cl", "--output", str(out)])
    with pytest.raises(InputError, match=re.escape(str(data)) + ": configuration 0 contains Cl, not in"):
        run([str(data), "--level", "6", "--species", "Na", "K", "--output", str(out), "--no-progress"])
    with pytest.raises(InputError, match="--level must be one of"):
        run([str(data), "--level", "5", "--species", "Na", "Cl", "--output", str(out)])


def test_extrapolation_grade(tmp_path):
    _need_torch()
    from incipient.potentials.training.grade import select_active_set

    teacher, _, rng = _random_teacher(tmp_path, level=8)
    train = _nacl_cells(40, rng=rng, rattle=0.05)
    act = select_active_set(teacher, train, ("Na", "Cl"))
    g_train = act.grade(train)
    assert g_train.max() <= 1.0 + 1e-3 + 1e-9
    np.testing.assert_allclose(act.grade([train[i] for i in act.indices]), 1.0, atol=1e-8)
    far = []
    for s in (0.85, 1.2):
        a = train[0].copy()
        a.set_cell(a.cell.array * s, scale_atoms=True)
        far.append(a)
    a = train[1].copy()
    a.rattle(0.4, seed=7)
    far.append(a)
    assert act.grade(far).min() > 2.0
