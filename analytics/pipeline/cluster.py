"""Scale-out: the same per-factory work on a Dask cluster, one factory-day a task.

The hub's unit of work is already a plain function of (factory, day, storage location):
:func:`~analytics.pipeline.scheduled.run_factory_day`. Scaling out is therefore only a matter of
*where* those calls run. :func:`dask_client` gives a :class:`distributed.Client` of either an
existing scheduler (``tcp://HOST:PORT``: workers on other machines, started by the operator) or a
:class:`distributed.LocalCluster` of worker processes on this machine; :func:`fan_out` submits one
task per factory-day to it and yields each factory's record as it finishes.

What makes this safe and bounded:

- A task's argument is the storage location and the factory id; its result is the small
  :class:`~analytics.pipeline.scheduled.FactoryRun` record. Readings, features and models never
  travel through the scheduler or the client: each worker reads and writes the factory's own
  folders, so memory per task is one factory-day and nothing of the fleet gathers anywhere.
- Every stage is idempotent (Delta commits, dated tables replaced by a pointer switch, alerts
  updated in place, e-mails recorded as sent), so a task that Dask re-runs, because its worker
  died or it raised, leaves the same result as one run. A factory's own failure (a bad file, a
  model error) is recorded in its record, not raised, and never stops the other tasks.
- Thread pools are sized to the cores a worker is given (Polars, OpenMP, BLAS), so workers on one
  machine share its cores instead of oversubscribing them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from analytics.threads import thread_environment

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

# Times a task is re-run after it raised (beside the scheduler's own re-runs of tasks whose worker
# died, ``distributed.scheduler.allowed-failures``).
TASK_RETRIES: Final = 2

Result = TypeVar("Result")


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    dashboard_address: str = ":8787",
    memory_limit: str | float | None = "auto",
) -> Iterator[Client]:
    """A Dask client, closed (with its local cluster) on exit.

    ``scheduler``: the address of a running scheduler (``tcp://HOST:PORT``); its workers must
    run this package and reach the hub's storage. Without it, a new :class:`LocalCluster` of
    ``workers`` processes (default: one per core), each with ``threads_per_worker`` threads
    (default: its share of the cores) and the libraries' thread pools sized to match.
    ``dashboard_address``: where the local cluster serves the Dask dashboard (its link is
    logged); ":0" for any free port (the given one is taken when free, else another).
    """
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        import dask

        cores = os.cpu_count() or 1
        n = workers or cores
        threads = threads_per_worker or max(1, cores // n)
        # Before the worker processes start, not in their ``env`` (applied once they run): Polars
        # sizes its pool at import, and Dask imports it early (measured: 2 threads per worker
        # with ``env``, so two single-threaded workers ran four busy threads on two cores).
        spawn_environment = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **thread_environment(threads)}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_environment}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=threads,
                processes=True,
                dashboard_address=dashboard_address,
                memory_limit=memory_limit,
                silence_logs=logging.WARNING,
            )
        client = Client(cluster)
    try:
        log.info("Dask cluster %s: %d workers, dashboard %s", client.scheduler.address, len(client.scheduler_info()["workers"]), client.dashboard_link)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def cluster_summary(client: Client) -> dict[str, Any]:
    """The scheduler's address, its workers and their threads, and the dashboard link."""
    workers = client.scheduler_info()["workers"]
    return {
        "scheduler": client.scheduler.address,
        "workers": len(workers),
        "threads": sum(w["nthreads"] for w in workers.values()),
        "dashboard": client.dashboard_link,
    }


def fan_out(
    client: Client,
    function: Callable[..., Result],
    items: Mapping[str, tuple[Any, ...]],
    *,
    prefix: str,
    on_error: Callable[[str, BaseException], Result],
    retries: int = TASK_RETRIES,
) -> Iterator[Result]:
    """``function(*args)`` for every ``key: args`` of ``items`` as one Dask task each (named
    ``prefix-key``, so the dashboard shows them by stage and factory), yielded as they finish.

    A task that still fails after ``retries`` re-runs (or whose workers kept dying) gives
    ``on_error(key, exception)`` in its place: one unit's failure never stops the others."""
    from distributed import as_completed

    futures = {
        client.submit(function, *args, key=f"{prefix}-{key}", retries=retries, pure=False): key
        for key, args in items.items()
    }
    for future in as_completed(futures):
        key = futures[future]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a unit's failure is reported, never raised
            log.error("%s-%s failed on the cluster: %s: %s", prefix, key, type(exc).__name__, exc)
            result = on_error(key, exc)
        finally:
            future.release()
        yield result


__all__ = ["TASK_RETRIES", "cluster_summary", "dask_client", "fan_out"]
