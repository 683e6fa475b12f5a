"""Run an ensemble of independent calculations (temperatures x seeds) through Dask.

Wraps dask.distributed: a LocalCluster on this machine by default, or an existing scheduler
(``"tcp://host:8786"``) to spread the tasks over many machines. No home-made process pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


def _call(func: Callable[..., Any], task: dict) -> Any:
    return func(**task)


def run_ensemble(func: Callable[..., Any], tasks: Sequence[dict], scheduler: str | None = None,
                 n_workers: int | None = None, *, processes: bool = True,
                 threads_per_worker: int = 1, progress: bool = True) -> list:
    """Evaluate ``func(**task)`` for every task and return the results in task order.

    Parameters
    ----------
    func : picklable callable (a module-level function) taking each task's keys as arguments.
    tasks : list of keyword-argument dicts, e.g. ``[{"temperature_K": 300, "seed": 1}, ...]``.
    scheduler : address of a running dask scheduler; None starts a LocalCluster and closes it
        when done.
    n_workers : LocalCluster workers (default: dask's choice from the cores).
    processes : LocalCluster with worker processes (True) or threads in this process (False).
    threads_per_worker : threads per LocalCluster worker (1: MD and FFTs use their own threads).
    progress : show a tqdm progress bar as tasks complete.

    A failing task raises a RuntimeError naming its index and arguments (other tasks are
    cancelled).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    tasks = list(tasks)
    for i, t in enumerate(tasks):
        if not isinstance(t, dict):
            raise ValueError(f"tasks[{i}] must be a dict of keyword arguments, got {type(t).__name__}")
    if not tasks:
        return []
    cluster = None
    if scheduler is None:
        # the nanny's shutdown chatter ("worker process still alive ... killing") is not news
        logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
        cluster = LocalCluster(n_workers=n_workers, processes=processes,
                               threads_per_worker=threads_per_worker, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    log.info("run_ensemble: %d tasks on %s", len(tasks), client)
    try:
        futures = [client.submit(_call, func, t, pure=False, key=f"ensemble-{i}-{id(tasks)}")
                   for i, t in enumerate(tasks)]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(tasks)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), desc="ensemble", unit="task")
        try:
            for fut in as_completed(futures):
                i = index[fut.key]
                if fut.status == "error":
                    exc = fut.exception()
                    client.cancel(futures)
                    raise RuntimeError(f"ensemble task {i} {tasks[i]!r} failed: {exc!r}") from exc
                results[i] = fut.result()
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
