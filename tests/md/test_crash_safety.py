"""MD files that survive kills and full disks, clear input errors, overhead in [0, 1], observers, early stops.

Crash points are injected in forked children that ``os._exit`` at the k-th file operation (like
a kill -9: no cleanup runs); the run is then resumed and must equal an uninterrupted one bit
for bit. The full disk is an ``_write_all`` that raises ENOSPC after a byte budget.
"""

import errno
import json
import multiprocessing
import os
import shutil
import time

import h5py
import numpy as np
import pytest
from ase import Atoms
from ase import units as ase_units
from ase.calculators.calculator import Calculator, all_changes

from incipient.errors import FileFormatError, InputError, OutputError
from incipient.md import StopMD
from incipient.md import trajectory as trajmod
from incipient.md.dynamics import (
    CheckpointMismatchError,
    CheckpointUnreadableError,
    MDResult,
    VelocityVerlet,
    run_md,
)
from incipient.md.trajectory import (
    H5MDWriter,
    check_trajectory,
    read_box,
    read_series,
    read_trajectory,
    segment_files,
    segments_dir,
)

HC = ("heat_current_conv_eV_A_fs", "heat_current_virial_eV_A_fs", "heat_current_conv_raw_eV_A_fs")


class Einstein(Calculator):
    """Harmonic wells with a weak pair term (so that the heat current is not trivial)."""

    implemented_properties = ["energy", "energies", "forces", "virials", "free_energy"]

    def __init__(self, r0, k=2.0, sleep_first=0.0, fail_after=None):
        super().__init__()
        self.r0, self.k, self.calls, self.sleep_first, self.fail_after = np.array(r0), k, 0, sleep_first, fail_after

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls == 1 and self.sleep_first:
            time.sleep(self.sleep_first)  # like numba compiling in the first call
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated Ctrl-C")
        d = self.atoms.positions - self.r0
        e = 0.5 * self.k * (d * d).sum(1)
        w = np.einsum("ia,ib->iab", d, -self.k * d) * 0.5
        self.results.update(energy=e.sum(), free_energy=e.sum(), energies=e, forces=-self.k * d, virials=w)


def crystal(m=3):
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) * 4.0
    return Atoms("Ar" * len(grid), positions=grid, cell=[4.0 * m] * 3, pbc=True)


KW = dict(temperature_K=500, timestep_fs=2.0, steps_nvt=20, steps_nve=60, save_every=2, checkpoint_every=5,
          heat_current_every=1, progress=False, seed=3)


def run(out, calc=None, **kw):
    a = crystal()
    return run_md(a, calc or Einstein(a.positions), out, **{**KW, **kw})


def assert_same_trajectory(a, b):
    ta, tb = read_trajectory(a), read_trajectory(b)
    np.testing.assert_array_equal(ta.time_fs, tb.time_fs)
    np.testing.assert_array_equal(ta.positions, tb.positions)
    np.testing.assert_array_equal(ta.velocities, tb.velocities)
    for name in HC:
        np.testing.assert_array_equal(read_series(a, name).value, read_series(b, name).value)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.h5md"
    return out, run(out)


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("bad", [
    dict(temperature_K=float("nan")), dict(temperature_K=float("inf")), dict(temperature_K=0.0),
    dict(temperature_K=-5.0), dict(timestep_fs=0.0), dict(timestep_fs=float("nan")), dict(steps_nvt=-1),
    dict(steps_nve=-1), dict(steps_nve=0), dict(steps_nvt=2.5), dict(save_every=0), dict(checkpoint_every=0),
    dict(heat_current_every=-1), dict(tau_fs=float("nan")), dict(thermostat="nose"), dict(positions="nan"),
])
def test_bad_inputs_raise_input_error_before_any_force_call(tmp_path, bad):
    a = crystal()
    calc = Einstein(a.positions)
    if bad.pop("positions", None):
        a.positions[3, 1] = np.nan
    with pytest.raises(InputError):
        run_md(a, calc, tmp_path / "x.h5md", **{**KW, **bad})
    assert calc.calls == 0
    assert not (tmp_path / "x.h5md").exists() and not segments_dir(tmp_path / "x.h5md").exists()


def test_heat_current_without_per_atom_virials_is_an_input_error(tmp_path):
    from ase.calculators.emt import EMT

    a = Atoms("Cu4", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], cell=[3.6] * 3,
              pbc=True).repeat(2)
    with pytest.raises(InputError, match="virials"):
        run_md(a, EMT(), tmp_path / "x.h5md", **KW)


def test_overhead_fraction_is_between_0_and_1(tmp_path):
    """A slow first force call (numba compiling) was timed outside the wall clock: overhead < 0."""
    a = crystal()
    r = run_md(a, Einstein(a.positions, sleep_first=0.3), tmp_path / "o.h5md", **{**KW, "steps_nvt": 0, "steps_nve": 3})
    assert 0.0 <= r.overhead_fraction <= 1.0
    assert r.force_s <= r.wall_s
    again = run_md(a, Einstein(a.positions, sleep_first=0.3), tmp_path / "o.h5md", **{**KW, "steps_nvt": 0, "steps_nve": 3})
    assert 0.0 <= again.overhead_fraction <= 1.0  # resuming a finished run: nothing to do
    fake = MDResult(**{**r.to_dict(), "force_s": 2.0, "wall_s": 1.0})  # e.g. loaded from an old summary
    assert fake.overhead_fraction == 0.0


# ----------------------------------------------------------------------------- file layout, readers


def test_running_run_is_readable_from_segments_and_merged_at_the_end(tmp_path, reference):
    ref, _ = reference
    out = tmp_path / "cut.h5md"
    a = crystal()
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=50), out, **KW)
    assert not out.exists() and segment_files(out)
    part = read_trajectory(out)
    assert 0 < part.n_frames < read_trajectory(ref).n_frames
    assert check_trajectory(out) == part.n_frames
    full = read_trajectory(ref)
    np.testing.assert_array_equal(part.positions, full.positions[:part.n_frames])
    j = read_series(out, HC[1])
    np.testing.assert_array_equal(j.value, read_series(ref, HC[1]).value[:len(j.step)])
    cell, numbers, attrs = read_box(out)
    np.testing.assert_array_equal(cell, a.cell.array)
    assert attrs["temperature_K"] == 500
    run(out)
    assert out.is_file() and not segments_dir(out).exists()
    assert_same_trajectory(ref, out)
    with h5py.File(out) as f:  # one plain H5MD file, as before
        assert f["particles/all/position/value"].shape == (30, 27, 3)
        assert f["observables/heat_current_conv_eV_A_fs/value"].shape == (60, 3)
        assert tuple(f["h5md"].attrs["version"]) == (1, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5md", "cut.h5md.ckpt.npz", "cut.h5md.ckpt.prev.npz"]


def test_check_trajectory_names_file_and_first_bad_frame_of_a_corrupted_chunk(tmp_path):
    out = tmp_path / "c.h5md"
    run(out, steps_nve=300, save_every=1, checkpoint_every=100)
    assert check_trajectory(out) == 300
    with h5py.File(out) as f:
        ds = f["particles/all/position/value"]
        assert ds.chunks[0] == 64
        info = ds.id.get_chunk_info(2)  # frames 128..191
    with open(out, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(b"\x13\x37" * 8)
    with pytest.raises(FileFormatError, match=r"c\.h5md: particles/all/position: frame 128 is unreadable"):
        check_trajectory(out)
    with pytest.raises(FileFormatError, match="c.h5md"):
        read_trajectory(out)


def test_check_trajectory_names_the_bad_segment(tmp_path):
    out = tmp_path / "s.h5md"
    a = crystal()
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=60), out, **KW)
    segs = segment_files(out)
    assert check_trajectory(out) > 0
    segs[2].write_bytes(segs[2].read_bytes()[:100])  # truncated by hand
    with pytest.raises(FileFormatError, match=segs[2].name):
        check_trajectory(out)
    bad = tmp_path / "nan.h5md"
    with H5MDWriter(bad, [18] * 2, np.eye(3) * 5, 1.0) as w:
        for k in range(5):
            w.append(k, np.full((2, 3), np.nan if k == 3 else 1.0))
    with pytest.raises(FileFormatError, match="frame 3 has non-finite"):
        check_trajectory(bad)


# ----------------------------------------------------------------------------- checkpoints


def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path, reference):
    ref, ref_res = reference
    out = tmp_path / "t.h5md"
    a = crystal()
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=50), out, **KW)
    ck = tmp_path / "t.h5md.ckpt.npz"
    ck.write_bytes(ck.read_bytes()[:300])
    with pytest.warns(UserWarning, match="unreadable MD checkpoint; resuming from t.h5md.ckpt.prev.npz"):
        res = run(out)
    assert_same_trajectory(ref, out)
    np.testing.assert_array_equal(res.total_eV, ref_res.total_eV)


def test_finished_run_with_a_truncated_last_checkpoint_keeps_its_trajectory(tmp_path, reference):
    ref, _ = reference
    out = tmp_path / "f.h5md"
    run(out)
    ck = tmp_path / "f.h5md.ckpt.npz"
    ck.write_bytes(ck.read_bytes()[:300])
    a = crystal()
    calc = Einstein(a.positions)
    with pytest.warns(UserWarning, match="unreadable MD checkpoint"):
        run_md(a, calc, out, **KW)
    assert calc.calls == 1  # nothing recomputed, nothing deleted
    assert_same_trajectory(ref, out)


def test_unreadable_checkpoints_are_a_clear_error(tmp_path):
    out = tmp_path / "u.h5md"
    a = crystal()
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=50), out, **KW)
    for name in ("u.h5md.ckpt.npz", "u.h5md.ckpt.prev.npz"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointUnreadableError, match=r"u\.h5md\.ckpt\.npz: no readable MD checkpoint.*resume=False") as e:
        run(out)
    assert isinstance(e.value, CheckpointMismatchError) and isinstance(e.value, FileFormatError)
    run(out, resume=False)
    assert check_trajectory(out) == 30


def test_other_settings_raise_checkpoint_mismatch(tmp_path):
    out = tmp_path / "m.h5md"
    a = crystal()
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=50), out, **KW)
    with pytest.raises(CheckpointMismatchError, match="other settings"):
        run(out, temperature_K=600)


def test_checkpoint_of_the_older_in_place_writer_resumes_exactly(tmp_path, reference):
    """A run killed under the previous version (one H5MD file appended in place, log in .log.npz)."""
    ref, ref_res = reference
    out = tmp_path / "old.h5md"
    a = crystal()
    with pytest.raises(KeyboardInterrupt):
        run_md(a, Einstein(a.positions, fail_after=50), out, **KW)
    ck = dict(np.load(tmp_path / "old.h5md.ckpt.npz"))
    keep = set(json.loads(str(ck["segments"])))
    part = read_trajectory(out)
    step = int(ck["step"])
    with H5MDWriter(out, a.numbers, a.cell.array, 2.0, attrs={"temperature_K": 500.0, "thermostat": "bussi"}) as w:
        for t, x, v in zip(part.time_fs, part.positions, part.velocities, strict=True):
            w.append(int(round(t / 2.0)), x, v)
        for s in segment_files(out):
            if s.name not in keep:
                continue
            with h5py.File(s) as f:
                for name in HC:
                    g = f["observables"][name]
                    for st, val in zip(g["step"][:], g["value"][:], strict=True):
                        w.append_observable(name, int(st), val, "eV*angstrom/fs")
        w.append(step + 5, x, v)  # a frame after the checkpoint, as the old writer could leave
    shutil.rmtree(segments_dir(out))
    (tmp_path / "old.h5md.ckpt.prev.npz").unlink()
    old = {k: ck[k] for k in ("step", "positions", "velocities", "n_atoms", "rng_state", "start_positions", "settings")}
    np.savez(tmp_path / "old.h5md.ckpt.npz", **old)
    np.savez(tmp_path / "old.h5md.log.npz", **{k: ck[f"log_{k}"] for k in ("step", "temperature_K", "potential_eV", "total_eV", "phase")})
    res = run(out)
    assert_same_trajectory(ref, out)
    np.testing.assert_array_equal(res.total_eV, ref_res.total_eV)
    assert not (tmp_path / "old.h5md.log.npz").exists()


# ----------------------------------------------------------------------------- full disk


def test_full_disk_is_one_output_error_committed_frames_stay_and_rerun_resumes(tmp_path, monkeypatch, reference):
    ref, ref_res = reference
    out = tmp_path / "full.h5md"
    budget = {"left": 150_000}
    real = trajmod._write_all

    def small_disk(fd, data):
        if len(data) > budget["left"]:
            os.write(fd, bytes(memoryview(data)[: budget["left"]]))
            budget["left"] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        budget["left"] -= len(data)
        real(fd, data)

    monkeypatch.setattr(trajmod, "_write_all", small_disk)
    with pytest.raises(OutputError) as e:
        run(out)
    msg = str(e.value)
    assert "\n" not in msg and "No space left on device" in msg and "rerun to resume" in msg
    assert isinstance(e.value, OSError)
    n = check_trajectory(out)  # the committed frames are intact
    assert 0 < n < 30
    assert not list(tmp_path.glob(".*.tmp")) and not list(segments_dir(out).glob(".*.tmp"))
    with pytest.raises(OutputError):  # still full: the same clear error, nothing lost
        run(out)
    assert check_trajectory(out) > 0
    monkeypatch.setattr(trajmod, "_write_all", real)  # space freed
    res = run(out)
    assert_same_trajectory(ref, out)
    np.testing.assert_array_equal(res.total_eV, ref_res.total_eV)


def test_full_disk_at_the_final_merge(tmp_path, monkeypatch, reference):
    ref, _ = reference
    out = tmp_path / "merge.h5md"
    real = shutil.disk_usage
    monkeypatch.setattr(trajmod.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with pytest.raises(OutputError, match="cannot merge the trajectory segments.*free disk space and rerun"):
        run(out)
    assert not out.exists() and check_trajectory(out) == 30
    monkeypatch.setattr(trajmod.shutil, "disk_usage", real)
    run(out)
    assert_same_trajectory(ref, out)


# ----------------------------------------------------------------------------- kill -9 at every file operation


SMALL = dict(steps_nvt=4, steps_nve=16, checkpoint_every=5)


def _child(out, crash_at):
    """Run MD; exit abruptly (no cleanup, as kill -9) at file operation number ``crash_at``.

    File operations: each write (the crash leaves it half done), fsync (counted, not waited
    for), rename (crash before or after), unlink and rmdir. ``crash_at=0``: count them into
    ``out + '.ops'``; ``-1``: no crash.
    """
    count = [0]

    def event():
        count[0] += 1
        if count[0] == crash_at:
            os._exit(137)

    real_write, real_replace, real_unlink, real_rmdir = trajmod._write_all, os.replace, os.unlink, os.rmdir

    def write(fd, data):
        count[0] += 1
        if count[0] == crash_at:
            os.write(fd, bytes(memoryview(data)[: len(data) // 2]))
            os._exit(137)
        real_write(fd, data)

    def replace(*a, **k):
        event()
        real_replace(*a, **k)
        event()

    def unlink(*a, **k):
        event()
        real_unlink(*a, **k)

    def rmdir(*a, **k):
        event()
        real_rmdir(*a, **k)

    trajmod._write_all = write
    os.replace, os.unlink, os.rmdir = replace, unlink, rmdir
    os.fsync = lambda fd: event()
    try:
        run(out, **SMALL)
    except BaseException:
        os._exit(3)
    if crash_at == 0:
        with open(str(out) + ".ops", "w") as fh:
            fh.write(str(count[0]))
    os._exit(0)


def _fork(out, crash_at):
    p = multiprocessing.get_context("fork").Process(target=_child, args=(out, crash_at))
    p.start()
    p.join(120)
    return p.exitcode


@pytest.mark.parametrize("stride", [5, pytest.param(1, marks=pytest.mark.slow)])
def test_kill_at_every_file_operation_leaves_readable_files_and_resumes_exactly(tmp_path, stride):
    """stride 1: a crash at each of the ~55 file operations of a run (~30 s); 5: every 5th."""
    ref = tmp_path / "ref.h5md"
    run(ref, **SMALL)
    full = read_trajectory(ref)
    probe = tmp_path / "probe.h5md"
    assert _fork(probe, 0) == 0
    n_ops = int(open(str(probe) + ".ops").read())
    assert n_ops > 40  # file operations of one whole run
    assert_same_trajectory(ref, probe)
    crashes = 0
    points = range(1, n_ops + 1, stride)
    for k in points:
        out = tmp_path / f"k{k}" / "md.h5md"
        out.parent.mkdir()
        if k % 4 == 0:  # a kill while resuming from an earlier kill
            _fork(out, k // 2)
        code = _fork(out, k)
        assert code in (0, 137), code
        crashes += code == 137
        if out.is_file() or segment_files(out):
            n = check_trajectory(out)  # never unreadable
            part = read_trajectory(out)
            np.testing.assert_array_equal(part.positions, full.positions[:n])
        assert _fork(out, -1) == 0  # resume to the end
        assert_same_trajectory(ref, out)
        assert not list(out.parent.glob(".*.tmp")) and not segments_dir(out).exists()
    assert crashes > len(points) * 0.7


# ----------------------------------------------------------------------------- observers


def test_observers_are_called_every_interval_and_after_the_last_step():
    a = crystal()
    a.calc = Einstein(a.positions)
    md = VelocityVerlet(a, positions=a.positions, velocities=np.zeros((27, 3)), timestep_fs=1.0, steps_nvt=0,
                        total_steps=11, thermostat="bussi", temperature_K=300, tau_fs=100, friction_per_fs=0.01,
                        rng=np.random.default_rng(0))
    seen = {"every": [], "third": [], "third_last": []}
    md.attach(lambda: seen["every"].append(md.step))
    md.attach(lambda tag: seen[tag].append(md.step), 3, "third")
    md.attach(lambda: seen["third_last"].append(md.step), 3, last=True)
    md.compute_forces()
    md.run()
    assert seen == {"every": list(range(1, 12)), "third": [3, 6, 9], "third_last": [3, 6, 9, 11]}
    assert md.force_s > 0


def test_an_observer_ends_the_run_with_stop_after_the_remaining_observers_of_that_step():
    a = crystal()
    a.calc = Einstein(a.positions)
    md = VelocityVerlet(a, positions=a.positions, velocities=np.zeros((27, 3)), timestep_fs=1.0, steps_nvt=0,
                        total_steps=11, thermostat="bussi", temperature_K=300, tau_fs=100, friction_per_fs=0.01,
                        rng=np.random.default_rng(0))
    seen = {"every": [], "third_last": []}
    md.attach(lambda: md.stop("enough") if md.step == 5 else None)
    md.attach(lambda: seen["every"].append(md.step))
    md.attach(lambda: seen["third_last"].append(md.step), 3, last=True)
    md.compute_forces()
    md.run()
    assert md.step == 5 and md.stop_reason == "enough" and md.total_steps == 5
    assert seen == {"every": [1, 2, 3, 4, 5], "third_last": [3, 5]}


# ----------------------------------------------------------------------------- run_md's observers, StopMD


class StopAt:
    """run_md observer: raise StopMD(reason) at ``step``; keeps the positions it saw there."""

    def __init__(self, step, reason="enough"):
        self.step, self.reason, self.calls, self.positions = step, reason, 0, None

    def __call__(self, atoms, step, phase):
        self.calls += 1
        if step == self.step:
            self.positions = atoms.positions.copy()
            raise StopMD(self.reason)


def test_observers_see_every_step_and_do_not_change_the_run(tmp_path, reference):
    ref, ref_res = reference
    out = tmp_path / "o.h5md"
    a = crystal()
    calc = Einstein(a.positions)
    seen, kept = [], {}

    def look(atoms, step, phase):
        seen.append((step, phase))
        if step in (22, 80):
            kept[step] = atoms.positions.copy(), atoms.get_velocities(), atoms.get_potential_energy()

    res = run_md(a, calc, out, **KW, observers=[look])
    assert_same_trajectory(ref, out)  # bit for bit, heat currents included
    np.testing.assert_array_equal(res.total_eV, ref_res.total_eV)
    assert res.stopped_early_reason == "" and (res.steps_nvt, res.steps_nve) == (20, 60)
    assert seen == [(k, "nvt" if k <= 20 else "nve") for k in range(1, 81)]
    assert calc.calls == 81  # the observer's get_potential_energy reused the step's force call
    t = read_trajectory(out)
    for step, (pos, vel, epot) in kept.items():  # the atoms an observer gets are the step's state
        k = int(np.flatnonzero(t.time_fs == 2.0 * step)[0])
        np.testing.assert_array_equal(pos, t.positions[k])
        np.testing.assert_allclose(vel * ase_units.fs, t.velocities[k], rtol=1e-12, atol=0)
        assert epot == res.potential_eV[int(np.flatnonzero(res.time_fs == 2.0 * step)[0])]


def test_stop_md_ends_the_run_cleanly_and_a_rerun_returns_the_stopped_run(tmp_path, reference):
    ref, ref_res = reference
    out = tmp_path / "s.h5md"
    a = crystal()
    stop = StopAt(33)  # NVE, between two saved frames and two checkpoints
    res = run_md(a, Einstein(a.positions), out, **KW, observers=[stop])
    assert stop.calls == 33
    assert res.stopped_early_reason == "enough" and (res.steps_nvt, res.steps_nve) == (20, 13)
    # the step it stopped at is finished as a last step (logged, saved, checkpointed); the files merged
    assert out.is_file() and not segments_dir(out).exists()
    full, t = read_trajectory(ref), read_trajectory(out)
    assert check_trajectory(out) == t.n_frames == 7
    np.testing.assert_array_equal(t.time_fs, [44.0, 48.0, 52.0, 56.0, 60.0, 64.0, 66.0])
    np.testing.assert_array_equal(t.positions[:6], full.positions[:6])
    np.testing.assert_array_equal(t.velocities[:6], full.velocities[:6])
    np.testing.assert_array_equal(t.positions[6], stop.positions)
    for name in HC:  # every NVE step 21..33
        j = read_series(out, name)
        np.testing.assert_array_equal(j.step, np.arange(21, 34))
        np.testing.assert_array_equal(j.value, read_series(ref, name).value[:13])
    assert res.time_fs[-1] == 66.0
    np.testing.assert_array_equal(res.total_eV[:-1], ref_res.total_eV[:16])
    with np.load(str(out) + ".ckpt.npz") as ck:
        assert int(ck["step"]) == 33 and str(ck["stopped_early_reason"]) == "enough"
    # saved and loaded, also from a summary written before the field existed
    back = MDResult.load(res.save(tmp_path / "r.json"))
    assert back.stopped_early_reason == "enough" and back.steps_nve == 13
    old = json.loads((tmp_path / "r.json").read_text())
    del old["data"]["stopped_early_reason"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert MDResult.load(tmp_path / "old.json").stopped_early_reason == ""
    # a rerun returns the stopped run: nothing recomputed, no observer called, the files kept
    calc, later = Einstein(a.positions), StopAt(1000)
    again = run_md(a, calc, out, **KW, observers=[later])
    assert calc.calls == 1 and later.calls == 0
    assert again.stopped_early_reason == "enough" and (again.steps_nvt, again.steps_nve) == (20, 13)
    np.testing.assert_array_equal(again.total_eV, res.total_eV)
    np.testing.assert_array_equal(read_trajectory(out).positions, t.positions)
    # resume=False runs it again (here without observers: to the end, as the reference)
    run(out, resume=False)
    assert_same_trajectory(ref, out)


def test_stop_in_nvt_killed_before_the_merge_is_completed_by_a_rerun(tmp_path, monkeypatch):
    out = tmp_path / "n.h5md"
    a = crystal()

    def killed(self):  # the segments and the stop's checkpoint reach the disk, the merge never runs
        self.commit()
        self.wait()
        raise KeyboardInterrupt("killed before the merge")

    stop = StopAt(7, "nvt stop")
    with monkeypatch.context() as m:
        m.setattr(trajmod.SegmentedH5MDWriter, "finalize", killed)
        with pytest.raises(KeyboardInterrupt):
            run_md(a, Einstein(a.positions), out, **KW, observers=[stop])
    assert not out.exists() and segment_files(out)
    assert check_trajectory(out) == 1  # the step it stopped at is saved although NVT frames are not
    calc, later = Einstein(a.positions), StopAt(1000)
    res = run_md(a, calc, out, **KW, observers=[later])
    assert calc.calls == 1 and later.calls == 0  # it does not go on past the stop
    assert res.stopped_early_reason == "nvt stop" and (res.steps_nvt, res.steps_nve) == (7, 0)
    assert out.is_file() and not segments_dir(out).exists()
    t = read_trajectory(out)
    np.testing.assert_array_equal(t.time_fs, [14.0])
    np.testing.assert_array_equal(t.positions[0], stop.positions)
    np.testing.assert_array_equal(res.time_fs, [4.0, 8.0, 12.0, 14.0])  # steps 2, 4, 6 and the last, 7


def test_stop_at_the_last_step_is_a_normal_end_and_bad_observers_are_input_errors(tmp_path, reference):
    ref, _ = reference
    out = tmp_path / "l.h5md"
    res = run(out, observers=StopAt(80))  # one callable is taken as a list of one
    assert res.stopped_early_reason == "" and (res.steps_nvt, res.steps_nve) == (20, 60)
    assert_same_trajectory(ref, out)
    a = crystal()
    calc = Einstein(a.positions)
    for bad in ([print, 1], 5):
        with pytest.raises(InputError, match="observers must be"):
            run_md(a, calc, tmp_path / "x.h5md", **KW, observers=bad)
    assert calc.calls == 0 and not (tmp_path / "x.h5md").exists()
