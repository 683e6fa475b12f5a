"""Dask ensemble runner: results in task order, errors named, external scheduler."""

from __future__ import annotations

import pytest

from incipient.transport import run_ensemble


def _power(base, exponent=2):
    return base ** exponent


def _fail_on_three(base):
    if base == 3:
        raise ValueError("three")
    return base


def test_local_cluster_keeps_task_order():
    tasks = [{"base": b, "exponent": e} for b, e in [(5, 2), (2, 3), (7, 1), (3, 0)]]
    out = run_ensemble(_power, tasks, n_workers=2, processes=False, progress=False)
    assert out == [25, 8, 7, 1]


def test_failure_names_task_and_scheduler_address():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, threads_per_worker=2,
                      dashboard_address=None) as cluster:
        tasks = [{"base": b} for b in range(5)]
        with pytest.raises(RuntimeError, match="task 3"):
            run_ensemble(_fail_on_three, tasks, scheduler=cluster.scheduler_address, progress=False)
        # same cluster, reached by address as a remote one would be
        assert run_ensemble(_power, tasks, scheduler=cluster.scheduler_address) == [0, 1, 4, 9, 16]
    assert run_ensemble(_power, []) == []
    with pytest.raises(ValueError, match="tasks\\[0\\]"):
        run_ensemble(_power, [3])
