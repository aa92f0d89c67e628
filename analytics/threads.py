"""The libraries' thread pools (Polars', OpenMP's for XGBoost, BLAS's): their sizes, and how OpenMP's threads wait.

Each library sizes its pool once, from an environment variable, when it first loads; so a process
that shares the machine's cores with others (a Dask worker, a test worker) must have them set
before it imports any of them. This module imports none, so it can be imported first.

Why it matters: OpenMP threads spin while they wait for each other. Measured on 2 cores with two
other busy processes, a factory's model training took 156 s with XGBoost's default two threads and
7 s with one (unloaded: 6 s), so processes that together ask for more threads than there are cores
do not merely share the cores, they waste them.
"""

from __future__ import annotations

import os
from typing import Final

# Polars reads its own at import; OpenMP (XGBoost, scikit-learn) and BLAS when their libraries load.
THREAD_VARIABLES: Final = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """The environment that sizes every thread pool of a process to ``threads`` (at least one)."""
    return dict.fromkeys(THREAD_VARIABLES, str(max(1, threads)))


def prefer_passive_openmp() -> None:
    """Let OpenMP's idle threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``), unless the
    caller chose a policy. OpenMP reads it once, when XGBoost or scikit-learn loads it: call this first.

    The hub shares its machine (the dashboards, an ingest, another command). Measured on 2 cores
    beside two busy processes: ``factoryhub bench train --machines 30 --days 365`` took 75 s with
    passive waits and did not finish in 320 s with the default ones; on an idle machine passive
    waits cost about 5 % (XGBoost alone: 1.71 s against 1.64 s for 200 trees on 100 k rows).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


__all__ = ["THREAD_VARIABLES", "prefer_passive_openmp", "thread_environment"]
