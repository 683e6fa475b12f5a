"""`incipient md` killed with SIGKILL at random instants, and on a full disk: no unreadable file, exact resume.

Each kill is followed by ``check_trajectory`` on what is on disk (it must pass, and the frames
must be a prefix of the uninterrupted run's); each campaign of kills ends with a resumed run
that must equal the uninterrupted one bit for bit (positions, velocities, heat currents, NVE
drift). The built-in CsCu2I3 conventional cell (24 atoms, the paper's MTP), checkpoints every 5
steps, a frame and a heat current every step.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from incipient.md.trajectory import (
    check_trajectory,
    read_series,
    read_trajectory,
    segment_files,
    segments_dir,
    trajectory_exists,
)

HC = ("heat_current_conv_eV_A_fs", "heat_current_virial_eV_A_fs", "heat_current_conv_raw_eV_A_fs")
ARGS = ["md", "--repeat", "1", "1", "1", "--temperature-K", "600", "--nvt-ps", "0.02", "--nve-ps", "0.3",
        "--save-every", "1", "--heat-current-every", "1", "--checkpoint-every", "5", "--quiet"]


def _launch(out: Path, args=ARGS) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "incipient.cli.main", *args, "--output", str(out)],
                            cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class Reference:
    def __init__(self, out: Path):
        self.out = out
        self.traj = read_trajectory(out)
        self.hc = {n: read_series(out, n).value for n in HC}
        self.summary = json.loads(Path(str(out) + ".json").read_text())

    def assert_prefix(self, out: Path) -> int:
        """Whatever is on disk reads back and is the start of the reference run; its frame count."""
        n = check_trajectory(out)
        t = read_trajectory(out)
        np.testing.assert_array_equal(t.positions, self.traj.positions[:n])
        np.testing.assert_array_equal(t.velocities, self.traj.velocities[:n])
        np.testing.assert_array_equal(t.time_fs, self.traj.time_fs[:n])
        for name in HC:
            v = read_series(out, name).value
            np.testing.assert_array_equal(v, self.hc[name][:len(v)])
        return n

    def assert_same(self, out: Path) -> None:
        assert out.is_file() and not segments_dir(out).exists()
        assert self.assert_prefix(out) == self.traj.n_frames
        got = json.loads(Path(str(out) + ".json").read_text())
        assert got["nve_drift_meV_atom_ns"] == self.summary["nve_drift_meV_atom_ns"]
        assert got["mean_temperature_nve_K"] == self.summary["mean_temperature_nve_K"]
        assert not list(out.parent.glob(".*.tmp"))


def _reference(out: Path, args) -> Reference:
    """The uninterrupted run; also how long it takes, when it starts writing and when it merges."""
    t0 = time.perf_counter()
    p = _launch(out, args)
    t_start = t_merged = None
    while p.poll() is None:
        if t_start is None and segment_files(out):
            t_start = time.perf_counter() - t0
        if t_merged is None and out.exists():
            t_merged = time.perf_counter() - t0
        time.sleep(0.005)
    assert p.returncode == 0, p.stderr.read()
    ref = Reference(out)
    ref.args = args
    ref.t_total = time.perf_counter() - t0
    ref.t_start = t_start or 0.3 * ref.t_total
    ref.t_merged = t_merged or ref.t_total
    return ref


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _reference(tmp_path_factory.mktemp("ref") / "md.h5md", ARGS)


def _with(args, **options):
    """``args`` with the values of some options changed: ``_with(ARGS, nve_ps="2")``."""
    out = list(args)
    for k, v in options.items():
        out[out.index("--" + k.replace("_", "-")) + 1] = str(v)
    return out


SHORT = _with(ARGS, nve_ps=0.1, checkpoint_every=10)  # 50 NVE steps, 6 checkpoints


def _ckpt_stamp(out: Path):
    try:
        return Path(str(out) + ".ckpt.npz").stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _kill_loop(tmp_path: Path, reference: Reference, n_kills: int, seed: int) -> dict:
    """Campaigns of (start, kill -9 at a random instant) until the run completes; >= n_kills kills.

    A quarter of the kills land at a random instant of the start-up (resume, clean-up of a killed
    write), the rest at a random instant after the run has written its first checkpoint (the
    integration, the segment and checkpoint writes, the final merge). Once a kill finds the
    merged file, the next start runs to the end.
    """
    rng = random.Random(seed)
    stats = {"kills": 0, "campaigns": 0, "starts": 0, "unreadable": 0, "kills_in_start_up": 0,
             "kills_while_running": 0, "kills_with_no_file_yet": 0, "kills_with_segments": 0,
             "kills_with_merged_file": 0, "frames_seen_after_kills": []}
    md_time = reference.t_merged - reference.t_start
    while stats["kills"] < n_kills:
        out = tmp_path / f"c{stats['campaigns']}" / "md.h5md"
        out.parent.mkdir()
        finish = False
        for _attempt in range(500):
            stamp = _ckpt_stamp(out)
            p = _launch(out, reference.args)
            stats["starts"] += 1
            killed = False
            if not finish:
                if rng.random() < 0.25:
                    deadline = time.perf_counter() + rng.uniform(0, reference.t_start)
                    phase = "kills_in_start_up"
                else:
                    while p.poll() is None and _ckpt_stamp(out) == stamp:
                        time.sleep(0.002)
                    deadline = time.perf_counter() + rng.uniform(0, md_time + 0.1)
                    phase = "kills_while_running"
                while p.poll() is None and time.perf_counter() < deadline:
                    time.sleep(0.002)
                if p.poll() is None:
                    p.kill()  # SIGKILL
                    killed = True
            p.wait()
            if killed:
                stats["kills"] += 1
                stats[phase] += 1
                if not trajectory_exists(out):
                    stats["kills_with_no_file_yet"] += 1
                    continue
                finish = out.is_file()
                stats["kills_with_merged_file" if finish else "kills_with_segments"] += 1
                try:
                    stats["frames_seen_after_kills"].append(reference.assert_prefix(out))
                except Exception as exc:  # counted, reported below
                    stats["unreadable"] += 1
                    stats.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            assert p.returncode == 0, p.stderr.read()[-2000:]
            reference.assert_same(out)
            break
        else:
            pytest.fail("the run never completed")
        stats["campaigns"] += 1
    return stats


def _report(stats: dict) -> str:
    f = stats.pop("frames_seen_after_kills")
    return json.dumps({**stats, "frames_seen_after_kills_min_max": [min(f), max(f)] if f else None})


def test_kill_loop_short(tmp_path):
    reference = _reference(tmp_path / "ref.h5md", SHORT)
    stats = _kill_loop(tmp_path, reference, n_kills=5, seed=1)
    print(_report(dict(stats)))
    assert stats["unreadable"] == 0, stats


@pytest.mark.slow
def test_kill_loop_50_kills(tmp_path, reference):
    stats = _kill_loop(tmp_path, reference, n_kills=50, seed=2)
    print(_report(dict(stats)))
    assert stats["unreadable"] == 0, stats
    assert stats["kills_with_segments"] >= 20


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(exist_ok=True)
    if shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_full_disk_is_one_line_error_and_the_rerun_resumes(tmp_path):
    """A 2 MB tmpfs (root only): the old writer printed HDF5 errors, segfaulted and lost frames.

    (tests/md/test_crash_safety.py fakes the full disk without root, in the default suite.)
    """
    disk, ref_disk = tmp_path / "disk", tmp_path / "ref"
    if not _mount_tmpfs(disk, "2m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        assert _mount_tmpfs(ref_disk, "64m")  # no fsync wait for the reference either
        args = _with(ARGS, nve_ps=1.2)  # 600 frames: ~2.2 MB of segments
        p = _launch(ref_disk / "md.h5md", args)
        assert p.wait(300) == 0, p.stderr.read()
        ref = Reference(ref_disk / "md.h5md")
        out = disk / "md.h5md"
        p = _launch(out, args)
        assert p.wait(300) == 1
        err = p.stderr.read().strip()
        assert len(err.splitlines()) == 1 and "No space left on device" in err and "rerun to resume" in err, err
        assert "HDF5" not in err
        n = ref.assert_prefix(out)
        assert 0 < n < ref.traj.n_frames
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        p = _launch(out, args)
        assert p.wait(300) == 0, p.stderr.read()
        ref.assert_same(out)
        assert not segment_files(out)
    finally:
        for d in (disk, ref_disk):
            subprocess.run(["umount", str(d)], capture_output=True)
