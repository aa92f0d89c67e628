"""The sizes of the libraries' thread pools: Polars', OpenMP's (XGBoost) and BLAS's.

Each library sizes its pool once, from an environment variable, when it first loads; so a process
that shares the machine's cores with others (a Dask worker, a test worker) must have them set
before it imports any of them. This module imports none, so it can be imported first.

Why it matters: OpenMP threads spin while they wait for each other. Measured on 2 cores with two
other busy processes, a factory's model training took 156 s with XGBoost's default two threads and
7 s with one (unloaded: 6 s), so processes that together ask for more threads than there are cores
do not merely share the cores, they waste them.
"""

from __future__ import annotations

from typing import Final

# Polars reads its own at import; OpenMP (XGBoost, scikit-learn) and BLAS when their libraries load.
THREAD_VARIABLES: Final = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """The environment that sizes every thread pool of a process to ``threads`` (at least one)."""
    return dict.fromkeys(THREAD_VARIABLES, str(max(1, threads)))


__all__ = ["THREAD_VARIABLES", "thread_environment"]
