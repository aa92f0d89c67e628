"""Running a whole simulation: factories in parallel processes, the output made visible at once.

Factories are independent (own random streams, own folder), so they run in a process pool and
the files do not depend on the number of workers. Everything is written to a hidden sibling
folder first and renamed into place at the end: an interrupted run leaves no half-written
simulation under ``out``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from analytics.errors import AlreadyExistsError
from analytics.simulate.output import FactoryWriter, summary_to_dict, write_manifest, write_source_note
from analytics.simulate.plans import SimulationConfig, plan_factory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationResult:
    out: Path
    seconds: float
    factories: list[dict]

    def total(self, key: str) -> int:
        return sum(f[key] for f in self.factories)

    def figures(self) -> dict:
        """The benchmark line: readings simulated, time, speed, failures, files."""
        readings = self.total("readings")
        return {
            "factories": len(self.factories),
            "readings": readings,
            "values_in_files": self.total("values_in_files"),
            "seconds": round(self.seconds, 2),
            "readings_per_s": round(readings / self.seconds) if self.seconds else None,
            "failures": self.total("failures"),
            "degradations": self.total("degradations"),
            "sensor_faults": self.total("sensor_faults"),
            "files": self.total("files"),
        }


def simulate_one_factory(config: SimulationConfig, index: int, out: Path) -> dict:
    """Simulate and write factory number ``index`` under ``out``; its summary as a dict."""
    plan = plan_factory(config, index)
    started = time.perf_counter()
    summary = summary_to_dict(FactoryWriter(config, plan, out).run())
    log.info("simulated %s: %d machines, %d failures, %d files in %.1f s", plan.factory_id, len(plan.machines), summary["failures"], summary["files"], time.perf_counter() - started)
    return summary


def simulate_hub(
    config: SimulationConfig,
    out: Path | str,
    *,
    workers: int | None = None,
    force: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> SimulationResult:
    """Simulate ``config.factories`` factories into ``out`` (which must not exist unless ``force``)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise AlreadyExistsError(f"{out} exists and is not empty: choose another folder or replace it with --force")
    started = time.perf_counter()
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        workers = max(1, min(workers or os.cpu_count() or 1, config.factories))
        summaries: dict[int, dict] = {}
        if workers == 1:
            for index in range(config.factories):
                summaries[index] = simulate_one_factory(config, index, staging)
                if progress:
                    progress(summaries[index])
        else:
            # spawn, not fork: the parent may already run Polars' thread pool, which fork would copy mid-flight.
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(simulate_one_factory, config, i, staging): i for i in range(config.factories)}
                for future in as_completed(futures):
                    summaries[futures[future]] = future.result()
                    if progress:
                        progress(summaries[futures[future]])
        factories = [summaries[i] for i in range(config.factories)]
        write_manifest(staging, config, factories)
        write_source_note(staging, config, factories)
        if out.exists():
            retired = out.parent / f".{out.name}.replaced-{os.getpid()}"
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SimulationResult(out, time.perf_counter() - started, factories)
