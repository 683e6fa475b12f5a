"""wigner34's 4ph batches on Dask worker processes: same rates bit for bit, early stop, one thread each."""

import os

import numpy as np
import pytest
from ase.build import bulk
from test_fourphonon import _emt_phonopy, _pair_fc4

from incipient.transport.fourphonon import mesh_phonons
from incipient.transport.wigner34 import _run_4ph_batches, _worker_pool

KW = {"smearing": "adaptive", "scalebroad": 1.0, "single_precision": False}


@pytest.fixture(scope="module")
def al2_mesh():
    a = bulk("Al", "fcc", a=4.05).repeat((2, 1, 1))
    a.positions[1] += [0.03, -0.02, 0.01]
    rng = np.random.default_rng(5)
    ph = _emt_phonopy(a, np.diag([2, 3, 3]))
    return mesh_phonons(ph, (3, 3, 3)), _pair_fc4(a, 3.0, rng.uniform(10, 30), rng.uniform(3, 6))


def _jobs(n):
    return [(20, s) for s in np.random.SeedSequence(3).spawn(n)]


def test_dask_workers_equal_in_process(al2_mesh):
    import time

    mp, fc4 = al2_mesh
    jobs = _jobs(3)  # waves of 2 and 1
    t = time.perf_counter()
    local = _run_4ph_batches(mp, fc4, [300.0], jobs, KW, n_workers=1, max_wall_s=None, t_all=t)
    remote = _run_4ph_batches(mp, fc4, [300.0], jobs, KW, n_workers=2, max_wall_s=None, t_all=t)
    assert len(local) == len(remote) == 3
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_array_equal(a.rates_per_ps, b.rates_per_ps)
        np.testing.assert_array_equal(a.rates_stderr_per_ps, b.rates_stderr_per_ps)
        assert b.info["peak_rss_worker_MB"] > 10.0  # a Python process with numpy and numba
    assert not np.array_equal(local[0].rates_per_ps, local[1].rates_per_ps)


def test_max_wall_s_stops_after_two_batches(al2_mesh):
    import time

    mp, fc4 = al2_mesh
    jobs = _jobs(4)
    # the 30 s reserve for the assembly exceeds a 1 s budget: stop as soon as allowed (two batches)
    for n_workers in (1, 2):
        said = []
        out = _run_4ph_batches(mp, fc4, [300.0], jobs, KW, n_workers=n_workers, max_wall_s=1.0,
                               t_all=time.perf_counter(), say=said.append)
        assert len(out) == 2
        assert any("stopping after 2 of 4 batches" in m for m in said)


def test_worker_processes_are_single_threaded_and_environment_restored(monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    before = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "PYTHONHASHSEED")}
    with _worker_pool(2) as pool:
        env = pool.map(os.getenv, ["NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"])
        numba_threads = pool.map(lambda _: __import__("numba").config.NUMBA_NUM_THREADS, [0, 1])
        pids = set(pool.map(lambda _: os.getpid(), range(4)))
    assert env == ["1", "1", "1"] and numba_threads == [1, 1]
    assert os.getpid() not in pids  # worker processes, not threads here
    assert {k: os.environ.get(k) for k in before} == before


def test_q_groups_merge_to_the_whole_batch(al2_mesh):
    """An exact 4ph batch split into q-point groups (q_groups_4ph) and merged equals the whole batch."""
    import time

    from incipient.transport.wigner34 import _merge_q_groups

    mp, fc4 = al2_mesh
    n_ir = len(mp.grid.ir_index)
    assert n_ir >= 3
    t = time.perf_counter()
    whole = _run_4ph_batches(mp, fc4, [300.0], [(None, 0)], KW, n_workers=1, max_wall_s=None, t_all=t)[0]
    groups = np.array_split(np.arange(n_ir), 3)
    parts = _run_4ph_batches(mp, fc4, [300.0], [(None, s, g) for s, g in enumerate(groups)], KW, n_workers=2,
                             max_wall_s=None, t_all=t)
    assert [len(p.weights) for p in parts] == [len(g) for g in groups]
    merged = _merge_q_groups(parts)
    assert whole.rates_per_ps.max() > 0
    np.testing.assert_array_equal(merged.rates_per_ps, whole.rates_per_ps)
    np.testing.assert_array_equal(merged.qpoints_frac, whole.qpoints_frac)
    np.testing.assert_array_equal(merged.weights, whole.weights)
    np.testing.assert_array_equal(merged.rates_by_class_per_ps, whole.rates_by_class_per_ps)
