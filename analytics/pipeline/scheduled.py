"""The scheduled daily run (``factoryhub run daily``): every factory's yesterday, without anyone
touching it.

For each factory, in order: ingest the files waiting in its inbox, then :func:`~analytics.pipeline.daily.process_day`
(features, anomaly scores, failure training when due, failure risk, solutions and alerts), then
the daily report, written to files and sent to the factory's recipients. A factory's failure (a
bad file, a model error, a refused e-mail) is recorded with the stage and the cause and never
stops the other factories; within a factory, a bad inbox file does not keep the day's other data
from being analysed and reported, and the report goes out even when an analysis stage failed (it
then says the day was not analysed). Every stage is idempotent, so running the same date again
adds no data, no alerts and no e-mails (the sent record; ``force`` resends). After the
factory-days the hub's pooled failure models that are due are trained again (weekly, or at once
when a factory they learned from stops sharing).

Each run is one row of the run record (:class:`~analytics.pipeline.runs.RunLog`), each factory-day
one row under it with its status, first failing stage, errors, per-stage seconds and counts —
what the Hub admin page shows.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from upath import UPath

from analytics.errors import HubError, StageError
from analytics.models.anomaly.scoring import day_bounds
from analytics.pipeline.daily import STAGES, process_day
from analytics.pipeline.runs import RunLog
from analytics.store.hub import Hub
from analytics.store.storage import write_bytes_atomic

if TYPE_CHECKING:
    from distributed import Client

    from analytics.models.failure.pooled import PooledResult

log = logging.getLogger(__name__)

DAILY_STAGES: Final = ("ingest", *STAGES, "report")
KIND: Final = "daily"

StageCallback = Callable[[str, str, str], None]  # (factory_id, stage, "ok" | "failed" | "skipped")


@dataclass
class FactoryRun:
    """One factory-day of the daily run: ``status`` "ok" or "failed", ``stage`` the first stage
    that failed, ``failed`` every stage that did, ``errors`` every failure (a bad file is named),
    per-stage ``seconds`` and ``counts``."""

    factory_id: str
    day: date
    status: str = "ok"
    stage: str | None = None
    failed: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: Path | UPath | None = None
    subject: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def fail(self, stage: str, error: str) -> None:
        self.status = "failed"
        self.stage = self.stage or stage
        self.failed.add(stage)
        self.errors.append(f"{stage}: {error}")

    def details(self) -> dict[str, Any]:
        return {"seconds": {k: round(v, 3) for k, v in self.seconds.items()}, "counts": self.counts, "errors": self.errors, "report": str(self.report or ""), "subject": self.subject}


def yesterday(timezone: str, now: datetime | None = None) -> date:
    """The local date before ``now`` (default: the current time) in ``timezone``."""
    return ((now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)) - timedelta(days=1)).date()


def report_folder(hub: Hub, factory_id: str, day: date, out_dir: Path | None = None) -> Path | UPath:
    """Where a factory-day's report is written: ``out_dir/<factory>/<day>`` when given, else kept
    inside the factory's own folder (``reports/<day>``, beside its inbox)."""
    if out_dir is not None:
        return Path(out_dir) / factory_id / day.isoformat()
    return hub.lake.factory_root(factory_id) / "reports" / day.isoformat()


def _ingest(hub: Hub, run: FactoryRun, settle_seconds: float) -> None:
    from analytics.ingest.inbox import inbox_dir, scan_once

    outcomes = scan_once(hub, run.factory_id, settle_seconds=settle_seconds)
    counts = {"files": len(outcomes), "failed_files": 0, "rows_read": 0, "accepted": 0, "duplicate": 0, "quarantined": 0}
    for moved, result, error in outcomes:
        if error is not None:
            counts["failed_files"] += 1
            # the name it arrived under, with the reason (the file itself is in inbox/failed/)
            run.fail("ingest", f"{inbox_dir(hub, run.factory_id).name}/{moved.name}: {error}")
        elif result is not None:
            for key in ("rows_read", "accepted", "duplicate", "quarantined"):
                counts[key] += getattr(result, key)
    run.counts["ingest"] = counts


def _report(hub: Hub, run: FactoryRun, *, send: bool, out_dir: Path | None, force: bool) -> None:
    from analytics.reports.daily import build_daily_report
    from analytics.reports.mail import send_daily_report
    from analytics.store.users import default_language

    language = default_language(hub.registry.factory(run.factory_id).timezone)
    report = build_daily_report(hub, run.factory_id, run.day, language=language, dashboard_url=hub.settings.dashboard_url)
    run.report = report.write(report_folder(hub, run.factory_id, run.day, out_dir))
    run.subject = report.subject
    counts: dict[str, Any] = {"machines_at_risk": report.attention + report.watch, "images": len(report.images)}
    if send:
        outcome = send_daily_report(hub, run.factory_id, run.day, force=force, reports={language: report})
        counts |= {"sent": len(outcome.sent), "already_sent": len(outcome.skipped), "send_failed": len(outcome.failed)}
        for address, why in outcome.failed.items():
            run.fail("report", f"not sent to {address}: {why}")
    run.counts["report"] = counts


def run_factory_day(
    hub: Hub,
    factory_id: str,
    day: date,
    *,
    send: bool = True,
    out_dir: Path | None = None,
    force: bool = False,
    settle_seconds: float = 2.0,
    on_stage: StageCallback | None = None,
) -> FactoryRun:
    """One factory's day through every stage (see the module doc); never raises for a failure of
    the factory's own data or models, which is recorded in the returned :class:`FactoryRun`."""
    run = FactoryRun(factory_id, day)

    def done(*stages: str) -> None:
        if on_stage is not None:
            statuses = stage_statuses(run)
            for stage in stages:
                on_stage(factory_id, stage, statuses[stage])

    started = time.perf_counter()
    try:
        _ingest(hub, run, settle_seconds)
    except HubError as exc:
        run.fail("ingest", str(exc))
    run.seconds["ingest"] = time.perf_counter() - started
    done("ingest")

    try:
        # One analysis of a factory at a time on this machine: two overlapping runs of the same
        # day would otherwise write its tables at once.
        with hub.lake.lock(factory_id):
            result = process_day(hub, factory_id, day)
    except StageError as exc:
        log.error("%s", exc, exc_info=exc.__cause__)
        result = exc.partial
        run.fail(exc.stage, f"{type(exc.__cause__).__name__}: {exc.__cause__}" if exc.__cause__ else str(exc))
    if result is not None:
        run.seconds |= result.seconds
        run.counts |= result.counts
    done(*STAGES)

    started = time.perf_counter()
    try:
        _report(hub, run, send=send, out_dir=out_dir, force=force)
    except Exception as exc:
        log.error("%s %s: report failed", factory_id, day, exc_info=exc)
        run.fail("report", f"{type(exc).__name__}: {exc}")
    run.seconds["report"] = time.perf_counter() - started
    done("report")
    return run


def stage_statuses(run: FactoryRun) -> dict[str, str]:
    """Each stage of a factory-day as "ok", "failed" or "skipped" (after a failure in the
    analysis stages, the later ones did not run)."""
    broken = next((STAGES.index(stage) for stage in STAGES if stage in run.failed), len(STAGES))
    statuses = {"ingest": "failed" if "ingest" in run.failed else "ok"}
    statuses |= {stage: "ok" if i < broken else "failed" if i == broken else "skipped" for i, stage in enumerate(STAGES)}
    statuses["report"] = "failed" if "report" in run.failed else "ok"
    return statuses


def _guarded(hub: Hub, factory_id: str, day: date, options: dict[str, Any], on_stage: StageCallback | None = None) -> FactoryRun:
    """:func:`run_factory_day`, with a bug that escapes it recorded as the factory's failure."""
    try:
        return run_factory_day(hub, factory_id, day, on_stage=on_stage, **options)
    except Exception as exc:
        log.error("%s %s: daily run failed", factory_id, day, exc_info=exc)
        result = FactoryRun(factory_id, day)
        result.fail("run", f"{type(exc).__name__}: {exc}")
        return result


def _one_factory(locations: tuple[str, str], factory_id: str, day: date, options: dict[str, Any]) -> FactoryRun:
    """A factory-day in a cluster worker: it opens the hub at the client's control folder and
    storage itself (a Hub is not sent across)."""
    try:
        hub = Hub.at(locations)
    except HubError as exc:
        result = FactoryRun(factory_id, day)
        result.fail("run", str(exc))
        return result
    return _guarded(hub, factory_id, day, options)


def _on_cluster(client: Client, hub: Hub, run_id: str, days: dict[str, date], options: dict[str, Any]) -> Iterator[FactoryRun]:
    """Factory-days as tasks of one Dask graph, as they finish; a task that failed for good
    (its worker kept dying) is its factory's failure.

    A worker may be another machine, whose disk ``out_dir`` is not on: it writes the report to
    the factory's folder on the hub's storage, which every machine reaches, and this process
    copies it to ``out_dir``."""
    from analytics.pipeline.cluster import fan_out

    def lost(factory_id: str, exc: BaseException) -> FactoryRun:
        result = FactoryRun(factory_id, days[factory_id])
        result.fail("run", f"{type(exc).__name__}: {exc}")
        return result

    items = {f: (hub.locations, f, d, {**options, "out_dir": None}) for f, d in days.items()}
    for result in fan_out(client, _one_factory, items, prefix=f"daily-{run_id}", on_error=lost):
        yield _report_to(hub, result, options["out_dir"])


def _report_to(hub: Hub, run: FactoryRun, out_dir: Path | None) -> FactoryRun:
    """``run`` with its report (written to the factory's folder on the hub's storage) copied to
    ``out_dir/<factory>/<day>`` when given: the HTML, its text and the images the HTML shows
    (not what else an earlier run of the day left in the folder), each file whole and the HTML
    last; a copy that fails is the factory's report failure."""
    if out_dir is None or run.report is None:
        return run
    source, target = report_folder(hub, run.factory_id, run.day), report_folder(hub, run.factory_id, run.day, out_dir)
    html = run.report.name  # report.<language>.html
    try:
        page = (source / html).read_bytes()
        images = sorted({m.decode() for m in re.findall(rb'src="([^"/]+\.png)"', page)})
        for name in [*images, html.removesuffix(".html") + ".txt"]:
            write_bytes_atomic(target / name, (source / name).read_bytes())
        write_bytes_atomic(target / html, page)
    except Exception as exc:  # any storage error: this factory's report, not the run
        run.fail("report", f"not copied to {target}: {type(exc).__name__}: {exc}")
        return run
    run.report = target / html
    return run


def run_daily(
    hub: Hub,
    day: date | None = None,
    factories: Sequence[str] | None = None,
    *,
    send: bool = True,
    out_dir: Path | None = None,
    force: bool = False,
    now: datetime | None = None,
    settle_seconds: float = 2.0,
    workers: int = 1,
    client: Client | None = None,
    on_stage: StageCallback | None = None,
    on_factory: Callable[[FactoryRun], None] | None = None,
    pooled: bool | None = None,
    on_pooled: Callable[[list[PooledResult]], None] | None = None,
) -> tuple[str, list[FactoryRun]]:
    """The daily run over ``factories`` (default: every registered one, in id order) for ``day``
    (default: each factory's own yesterday at ``now``). Returns the run's id and each factory's
    :class:`FactoryRun` in factory order; the run record's status is "failed" when any failed.

    Where the factory-days run: on the Dask cluster of ``client`` when given (one task each, see
    :mod:`analytics.pipeline.cluster`); else, with ``workers`` above one, on a local Dask cluster
    of that many worker processes; else one after another in this process. The work and its
    results are the same in all three.

    After the factory-days, with ``pooled``, the hub's pooled failure models that are due are
    trained on the same cluster (:func:`~analytics.models.failure.pooled.refresh_pooled`, on data
    up to the latest day's end; recorded in the run, which fails when one of them failed;
    ``on_pooled`` gets what each training did). By default only a run
    of every factory does it: re-running one factory's day should not retrain the hub's models."""
    from analytics.schemas import validate_factory_id

    ids = [validate_factory_id(f) for f in factories] if factories else [f.factory_id for f in hub.registry.factories()]
    for factory_id in ids:
        hub.registry.factory(factory_id)  # an unknown id is an operator's error: refuse before starting
    days = {f: day or yesterday(hub.registry.factory(f).timezone, now) for f in ids}
    runs = RunLog(hub)
    run_id = runs.start(KIND, day or (max(days.values()) if days else None))
    options = {"send": send, "out_dir": out_dir, "force": force, "settle_seconds": settle_seconds}
    results: dict[str, FactoryRun] = {}
    distributed = client is not None or (workers > 1 and len(ids) > 1)
    if pooled is None:
        pooled = not factories

    def record(result: FactoryRun) -> None:
        runs.record(
            run_id, result.factory_id, result.day,
            status=result.status, started_at=result.started_at, stage=result.stage, error="; ".join(result.errors), details=result.details(),
        )  # fmt: skip
        results[result.factory_id] = result
        if on_stage is not None and distributed:  # in-process runs report each stage as it ends
            for stage, status in stage_statuses(result).items():
                on_stage(result.factory_id, stage, status)
        if on_factory is not None:
            on_factory(result)

    def refresh(on: Client | None) -> None:
        if not pooled or not days:
            return
        from analytics.models.failure.pooled import refresh_pooled

        until = max(day_bounds(d, hub.registry.factory(f).timezone)[1] for f, d in days.items())
        trained = refresh_pooled(hub, until, client=on)
        runs.record_pooled(run_id, trained)
        if on_pooled is not None and trained:
            on_pooled(trained)

    completed = False
    try:
        if client is not None:
            for result in _on_cluster(client, hub, run_id, days, options):
                record(result)
            refresh(client)
        elif distributed:
            from analytics.pipeline.cluster import dask_client

            with dask_client(workers=workers, dashboard_address=":0") as local:
                for result in _on_cluster(local, hub, run_id, days, options):
                    record(result)
                refresh(local)
        else:
            for factory_id in ids:
                record(_guarded(hub, factory_id, days[factory_id], options, on_stage))
            refresh(None)
        completed = True
    finally:
        # An interrupted run (an error outside a factory-day, the pooled refresh's, Ctrl-C) is
        # closed with what it recorded, and failed: its work is not all done.
        runs.finish(run_id, interrupted=not completed)
    return run_id, [results[f] for f in ids if f in results]
