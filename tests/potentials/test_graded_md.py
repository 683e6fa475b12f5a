"""Graded MD through run_md: GammaMonitor.observe stops it at gamma_break with the frames run_graded_md grades."""

import dataclasses

import numpy as np
import pytest
from _cells import strained_nacl

from incipient.errors import InputError
from incipient.md import MDResult, StopMD, check_trajectory, read_trajectory, run_md
from incipient.md.trajectory import segments_dir

SPECIES = ("Na", "Cl")
GRADING = dict(gamma_select=1.5, gamma_break=3.0)
MD = dict(temperature_K=300.0, timestep_fs=2.0, seed=1, thermostat="bussi", tau_fs=100.0)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A random level-8 MTP for NaCl, its per-atom active set on 6 strained cells, the file."""
    from incipient.potentials.training import mtp_template, write_mtp
    from incipient.potentials.training.grade import select_active_set

    rng = np.random.default_rng(3)
    t = mtp_template(8, species_count=2, min_dist_A=2.0, max_dist_A=5.0, species=SPECIES, scaling=1 / 9)
    model = dataclasses.replace(t, radial_coeffs=rng.uniform(-0.3, 0.3, t.radial_coeffs.shape),
                                moment_coeffs=0.05 * rng.standard_normal(t.moment_coeffs.shape),
                                species_coeffs=np.array([-1.0, -2.0]))
    train = [strained_nacl(rng, k, 0.05) for k in range(6)]
    act = select_active_set(model, train, SPECIES, mode="atom")
    path = write_mtp(model, tmp_path_factory.mktemp("mtp") / "random.mtp")
    return path, act, train[0]


def test_gamma_monitor_stops_run_md_at_gamma_break_with_the_frames_run_graded_md_grades(graded, tmp_path):
    import ase.io

    from incipient.potentials import MTP
    from incipient.potentials.training.monitor import (
        GammaBreak,
        GammaMonitor,
        GradedMTP,
        run_graded_md,
    )

    path, act, start = graded
    ref, ref_cand = run_graded_md(start, MTP(path, species=SPECIES), act, steps=400, grade_every=3, **GRADING, **MD)
    assert ref.stopped == "gamma_break" and 10 < ref.steps_done < 400

    calc = GradedMTP(path, act, species=SPECIES)
    out = tmp_path / "md.h5md"
    with GammaMonitor(None, act, grade_every=3, trajectory=tmp_path / "graded.extxyz", **GRADING) as mon:
        mon.observe(start, 0)  # run_md calls observers after each step: the start is graded here
        res = run_md(start, calc, out, steps_nvt=400, steps_nve=100, save_every=5, checkpoint_every=10,
                     save_nvt=True, progress=False, observers=[mon.observe], **MD)
    # the same NVT dynamics as run_graded_md (same seed, thermostat and integrator), stopped at the same step
    assert issubclass(GammaBreak, StopMD) and mon.broke
    assert res.stopped_early_reason == ref.message
    assert (res.steps_nvt, res.steps_nve) == (ref.steps_done, 0)
    np.testing.assert_array_equal(mon.steps, ref.graded_steps)
    np.testing.assert_allclose(mon.gamma, ref.gamma, rtol=1e-12, atol=0)
    assert mon.gamma[-1] > GRADING["gamma_break"] >= max(mon.gamma[:-1])
    assert len(mon.candidates) == len(ref_cand) >= 2
    for mine, theirs in zip(mon.candidates, ref_cand, strict=True):
        assert mine.info["md_step"] == theirs.info["md_step"]
        assert mine.info["gamma"] == pytest.approx(theirs.info["gamma"], rel=1e-12, abs=0)
        assert mine.info["gamma"] > GRADING["gamma_select"]
        np.testing.assert_allclose(mine.positions, theirs.positions, rtol=0, atol=1e-10)
    # the calculator's own grade of the last force call (the breaking step) is the monitor's
    assert calc.last_gamma == pytest.approx(mon.gamma[-1], rel=1e-12, abs=0)
    # the graded frames on disk, the last the breaking one
    frames = ase.io.read(tmp_path / "graded.extxyz", ":")
    assert [f.info["md_step"] for f in frames] == mon.steps
    # the H5MD file is merged; its last frame is the breaking step, saved as the last step of a run
    assert out.is_file() and not segments_dir(out).exists()
    t = read_trajectory(out)
    assert ref.steps_done % 5  # (24 here) no multiple of save_every
    saved = [*range(5, ref.steps_done, 5), ref.steps_done]
    assert check_trajectory(out) == t.n_frames == len(saved)
    np.testing.assert_array_equal(t.time_fs, 2.0 * np.array(saved))
    assert t.time_fs[-1] == 2.0 * ref.steps_done
    last = start.copy()
    last.positions = t.positions[-1]
    last.wrap()
    np.testing.assert_allclose(last.positions, mon.candidates[-1].positions, rtol=0, atol=1e-10)
    # a rerun returns the stopped run without new force calls or grades
    calc2 = GradedMTP(path, act, species=SPECIES)
    mon2 = GammaMonitor(None, act, grade_every=3, **GRADING)
    again = run_md(start, calc2, out, steps_nvt=400, steps_nve=100, save_every=5, checkpoint_every=10,
                   save_nvt=True, progress=False, observers=[mon2.observe], **MD)
    assert calc2.calls == 1 and mon2.steps == []
    assert isinstance(again, MDResult) and again.stopped_early_reason == res.stopped_early_reason


def test_gamma_monitor_input_errors(graded):
    from incipient.potentials.training.monitor import GammaMonitor

    _, act, _ = graded
    with pytest.raises(InputError, match="grade_every must be >= 1"):
        GammaMonitor(None, act, grade_every=0, **GRADING)
    with pytest.raises(InputError, match="1 < gamma_select < gamma_break"):
        GammaMonitor(None, act, gamma_select=3.0, gamma_break=2.0)
