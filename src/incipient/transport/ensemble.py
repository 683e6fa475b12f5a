"""Run an ensemble of independent calculations (temperatures x seeds) through Dask.

Wraps dask.distributed: a LocalCluster on this machine by default, or an existing scheduler
(``"tcp://host:8786"``) to spread the tasks over many machines. No home-made process pool:
:func:`run_ensemble` (keyword-argument tasks, progress bar) and :func:`dask_pool` (an ordered
``map`` in waves, e.g. the 4ph batches of ``wigner34``) both run on :func:`dask_client`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

log = logging.getLogger(__name__)

#: thread-count variables set to 1 in single-threaded worker processes (read at their start)
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _call(func: Callable[..., Any], task: dict) -> Any:
    return func(**task)


@contextmanager
def _single_threaded_spawn():
    """THREAD_VARS = 1 for the worker processes that the nannies spawn inside this block.

    Numba and BLAS read them when the child imports them, so they are put into dask's
    ``distributed.nanny.pre-spawn-environ`` (set before spawning) and into this process's
    environment (which takes precedence there); both are restored on exit (this process's own
    numba and BLAS read them at import and are not affected).
    """
    import dask

    keys = set(THREAD_VARS) | set(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    keys.add("PYTHONHASHSEED")  # also set by the nanny before spawning
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in THREAD_VARS})
    pre = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **{k: 1 for k in THREAD_VARS}}
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": pre}):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None, *, processes: bool = True,
                threads_per_worker: int = 1, single_threaded_workers: bool = False,
                memory_limit: str | float | int | None = "auto"):
    """A ``dask.distributed.Client``: on a LocalCluster started here (closed on exit) or on the
    running scheduler at ``scheduler`` (only the client is closed).

    n_workers, processes, threads_per_worker, memory_limit : LocalCluster settings (memory_limit
    per worker; 0: no limit, the nanny never restarts a worker for its memory).
    single_threaded_workers : worker processes start with NUMBA/OMP/OPENBLAS/MKL_NUM_THREADS = 1.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    # the nanny's shutdown chatter ("worker process still alive ... killing") is not news
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    with _single_threaded_spawn() if single_threaded_workers and processes else nullcontext():
        cluster = LocalCluster(n_workers=n_workers, processes=processes, threads_per_worker=threads_per_worker,
                               memory_limit=memory_limit, dashboard_address=None)
        try:
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


class DaskPool:
    """``map(func, items)`` -> ``[func(item) ...]`` in item order on a Dask client (blocking).

    A failing item raises its exception here. ``scatter(obj)`` sends a large argument to every
    worker once; pass the returned future inside the items instead of the object.
    """

    def __init__(self, client):
        self.client = client

    def map(self, func: Callable[[Any], Any], items: Iterable) -> list:
        futures = self.client.map(func, list(items), pure=False)
        try:
            return self.client.gather(futures)
        finally:
            self.client.cancel(futures)

    def scatter(self, obj):
        return self.client.scatter(obj, broadcast=True, hash=False)


@contextmanager
def dask_pool(n_workers: int, *, scheduler: str | None = None, processes: bool = True,
              single_threaded_workers: bool = True, memory_limit: str | float | int | None = 0):
    """A :class:`DaskPool` of ``n_workers`` one-thread workers (LocalCluster, or ``scheduler``).

    Defaults for compute-bound batches: worker processes with one numba/BLAS thread each and no
    per-worker memory limit (as independent processes would have).
    """
    with dask_client(scheduler, n_workers, processes=processes, threads_per_worker=1,
                     single_threaded_workers=single_threaded_workers, memory_limit=memory_limit) as client:
        yield DaskPool(client)


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
    from dask.distributed import as_completed

    tasks = list(tasks)
    for i, t in enumerate(tasks):
        if not isinstance(t, dict):
            raise ValueError(f"tasks[{i}] must be a dict of keyword arguments, got {type(t).__name__}")
    if not tasks:
        return []
    with dask_client(scheduler, n_workers, processes=processes, threads_per_worker=threads_per_worker) as client:
        log.info("run_ensemble: %d tasks on %s", len(tasks), client)
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
