"""The record of pipeline runs, kept in the registry, that the hub admin page shows.

A run (the scheduled daily run, a demo build, a re-run of a day) is one row with its kind, the day
it processed, when it started and ended and how it ended; each factory-day in it is one row with
its status, the stage that failed and why, and per-stage seconds and summaries; each of the hub's
pooled failure models it trained afterwards is one row with what the training did. A run an
error interrupted is closed ``failed`` with what it recorded; one whose process died stays
``running`` with no end time, which is what an operator needs to see.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from analytics.schemas import validate_factory_id
from analytics.store.hub import Hub

if TYPE_CHECKING:
    from analytics.models.failure.pooled import PooledResult
    from analytics.pipeline.daily import FactoryDay

log = logging.getLogger(__name__)

RUN_STATUSES: Final = ("running", "ok", "failed")

RUN_SCHEMA: Final[dict[str, pl.DataType]] = {
    "run_id": pl.String(),
    "kind": pl.String(),
    "day": pl.String(),
    "started_at": pl.String(),
    "finished_at": pl.String(),
    "status": pl.String(),
    "factories": pl.Int64(),
    "failed": pl.Int64(),
}
FACTORY_RESULT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "run_id": pl.String(),
    "factory_id": pl.String(),
    "day": pl.String(),
    "status": pl.String(),
    "stage": pl.String(),
    "error": pl.String(),
    "started_at": pl.String(),
    "finished_at": pl.String(),
    "details_json": pl.String(),
}
POOLED_RESULT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "machine_type": pl.String(),
    "status": pl.String(),
    "model_id": pl.String(),
    "reason": pl.String(),
    "factories": pl.Int64(),
    "seconds": pl.Float64(),
    "finished_at": pl.String(),
}
POOLED_STATUSES: Final = ("promoted", "no_model", "failed")  # analytics.models.failure.pooled.PooledResult


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunLog:
    """Start, record and list pipeline runs of one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def start(self, kind: str, day: date | None = None) -> str:
        """Open a run; returns its id."""
        run_id = uuid.uuid4().hex[:16]
        with self.hub.registry.transaction() as con:
            con.execute(
                "INSERT INTO pipeline_runs (run_id, kind, day, started_at, status) VALUES (?, ?, ?, ?, 'running')",
                (run_id, kind, day.isoformat() if day else None, _now()),
            )
        return run_id

    def record(
        self,
        run_id: str,
        factory_id: str,
        day: date,
        *,
        status: str,
        started_at: datetime,
        stage: str | None = None,
        error: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Store (or replace) one factory-day's outcome in the run."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        validate_factory_id(factory_id)
        with self.hub.registry.transaction() as con:
            con.execute(
                "INSERT INTO pipeline_run_factories (run_id, factory_id, day, status, stage, error, started_at, finished_at, details_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, factory_id, day) DO UPDATE SET status = excluded.status, "
                "stage = excluded.stage, error = excluded.error, finished_at = excluded.finished_at, details_json = excluded.details_json",
                (
                    run_id, factory_id, day.isoformat(), status, stage, error,
                    started_at.astimezone(UTC).isoformat(timespec="seconds"), _now(), json.dumps(details or {}, ensure_ascii=False, default=str),
                ),
            )  # fmt: skip

    def record_pooled(self, run_id: str, results: list[PooledResult]) -> None:
        """Store (or replace) what the run's training of each pooled model did."""
        for r in results:
            if r.status not in POOLED_STATUSES:
                raise ValueError(f"pooled status must be one of {POOLED_STATUSES}, got {r.status!r}")
        with self.hub.registry.transaction() as con:
            con.executemany(
                "INSERT INTO pipeline_run_pooled (run_id, machine_type, status, model_id, reason, factories, seconds, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, machine_type) DO UPDATE SET status = excluded.status, "
                "model_id = excluded.model_id, reason = excluded.reason, factories = excluded.factories, seconds = excluded.seconds, "
                "finished_at = excluded.finished_at",
                [(run_id, r.machine_type, r.status, r.model_id, r.reason, r.factories, r.seconds, _now()) for r in results],
            )

    def pooled(self, run_id: str) -> pl.DataFrame:
        """The pooled models the run trained, by machine type (:data:`POOLED_RESULT_SCHEMA`)."""
        return self._select(POOLED_RESULT_SCHEMA, "FROM pipeline_run_pooled WHERE run_id = ? ORDER BY machine_type", (run_id,))

    def finish(self, run_id: str, *, interrupted: bool = False) -> str:
        """Close the run: failed when it was ``interrupted`` (an error ended it before all its
        work was done) or when any factory-day or any pooled model's training failed, else ok;
        returns the status."""
        with self.hub.registry.transaction() as con:
            factories, failed = con.execute(
                "SELECT count(DISTINCT factory_id), count(DISTINCT CASE WHEN status = 'failed' THEN factory_id END) "
                "FROM pipeline_run_factories WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            (pooled_failed,) = con.execute("SELECT count(*) FROM pipeline_run_pooled WHERE run_id = ? AND status = 'failed'", (run_id,)).fetchone()
            status = "failed" if interrupted or failed or pooled_failed else "ok"
            con.execute(
                "UPDATE pipeline_runs SET finished_at = ?, status = ?, factories = ?, failed = ? WHERE run_id = ?",
                (_now(), status, factories, failed, run_id),
            )
        return status

    def runs(self, limit: int = 100) -> pl.DataFrame:
        """The newest runs first (:data:`RUN_SCHEMA`)."""
        return self._select(RUN_SCHEMA, "FROM pipeline_runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))

    def results(self, run_id: str, factory_id: str | None = None) -> pl.DataFrame:
        """Each factory-day of a run (:data:`FACTORY_RESULT_SCHEMA`); one factory's with ``factory_id``."""
        sql = "FROM pipeline_run_factories WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if factory_id is not None:
            sql += " AND factory_id = ?"
            params += (validate_factory_id(factory_id),)
        return self._select(FACTORY_RESULT_SCHEMA, sql + " ORDER BY day, factory_id", params)

    def _select(self, schema: dict[str, pl.DataType], source: str, params: tuple[Any, ...]) -> pl.DataFrame:
        """``SELECT`` of ``schema``'s columns ``source`` (the FROM, WHERE and ORDER of the query,
        values as ``?``), as a frame of ``schema``."""
        with self.hub.registry.transaction() as con:
            rows = con.execute(f"SELECT {', '.join(schema)} {source}", params).fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")


    def summary(self, run_id: str) -> pl.DataFrame:
        """Each factory-day of a run with the figures an operator scans for (:data:`SUMMARY_SCHEMA`):
        files ingested and failed, readings, alarmed windows, alerts opened, reports sent, seconds."""
        rows = []
        for r in self.results(run_id).iter_rows(named=True):
            details = json.loads(r["details_json"] or "{}")
            counts, seconds = details.get("counts", {}), details.get("seconds", {})
            rows.append(
                {
                    "factory_id": r["factory_id"],
                    "day": r["day"],
                    "status": r["status"],
                    "stage": r["stage"],
                    "files": counts.get("ingest", {}).get("files"),
                    "failed_files": counts.get("ingest", {}).get("failed_files"),
                    "readings": counts.get("features", {}).get("readings"),
                    "alarms": counts.get("score", {}).get("alarms"),
                    "alerts_opened": counts.get("solve", {}).get("alerts_opened"),
                    "sent": counts.get("report", {}).get("sent"),
                    "seconds": round(sum(seconds.values()), 1) if seconds else None,
                    "error": r["error"] or None,
                }
            )
        return pl.DataFrame(rows, schema=SUMMARY_SCHEMA)


SUMMARY_SCHEMA: Final[dict[str, pl.DataType]] = {
    "factory_id": pl.String(),
    "day": pl.String(),
    "status": pl.String(),
    "stage": pl.String(),
    "files": pl.Int64(),
    "failed_files": pl.Int64(),
    "readings": pl.Int64(),
    "alarms": pl.Int64(),
    "alerts_opened": pl.Int64(),
    "sent": pl.Int64(),
    "seconds": pl.Float64(),
    "error": pl.String(),
}


@dataclass
class DayOutcome:
    """One factory-day of :func:`live_days`: the stage results, or where and why it failed."""

    factory_id: str
    day: date
    status: str
    stage: str | None = None
    error: str = ""
    result: FactoryDay | None = None


def live_days(
    hub: Hub,
    days_by_factory: dict[str, list[date]],
    *,
    kind: str,
    on_day: Callable[[DayOutcome], None] | None = None,
) -> tuple[str, list[DayOutcome]]:
    """Process each factory's days in date order, as the factories lived them (day by day, every
    factory's day before the next day), recording each factory-day in a new run of ``kind``.

    A factory-day that fails is recorded with its stage and error and does not stop the others;
    that factory's later days still run (each stage reads what is stored, and a failed day's
    stages left only complete outputs). Returns (run id, outcomes in processing order).
    """
    from analytics.errors import StageError
    from analytics.pipeline.daily import process_day

    every_day = sorted({d for days in days_by_factory.values() for d in days})
    log_ = RunLog(hub)
    run_id = log_.start(kind, every_day[-1] if every_day else None)
    outcomes: list[DayOutcome] = []
    completed = False
    try:
        for day in every_day:
            for factory_id, days in days_by_factory.items():
                if day not in days:
                    continue
                started = datetime.now(UTC)
                try:
                    result = process_day(hub, factory_id, day)
                except StageError as exc:
                    log.error("%s", exc, exc_info=exc.__cause__)
                    outcome = DayOutcome(factory_id, day, "failed", exc.stage, str(exc.__cause__ or exc))
                    details: dict[str, Any] = {}
                else:
                    outcome = DayOutcome(factory_id, day, "ok", result=result)
                    details = {"seconds": {k: round(v, 3) for k, v in result.seconds.items()}, "summary": result.summary, "trained": result.trained}
                log_.record(run_id, factory_id, day, status=outcome.status, started_at=started, stage=outcome.stage, error=outcome.error, details=details)
                outcomes.append(outcome)
                if on_day is not None:
                    on_day(outcome)
        completed = True
    finally:
        # An interrupted run is closed with what it recorded, and failed: its days are not all done.
        log_.finish(run_id, interrupted=not completed)
    return run_id, outcomes
