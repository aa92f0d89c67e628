"""Scale-out: the daily run on a real Dask cluster (``distributed.LocalCluster``, 2 worker
processes) gives exactly what the single-process run gives, also when a worker dies mid-run.

Both start from copies of the same lived hub (two simulated factories, 24 days) with the
simulator's next day waiting in the inboxes, and run two days: the next day (ingesting the
inboxes; Chuseok, so the machines stand still) and a re-run of a working day already lived
(2026-09-23: every machine scored). What each stored for those days (lake rows, features, scores, sensor
faults, health, priorities, alerts and the reports) is compared table by table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.pipeline.runs import RunLog
from analytics.pipeline.scheduled import FactoryRun, report_folder, run_daily
from analytics.solutions.alerts import AlertBook
from analytics.store.hub import Hub
from analytics.store.lake import TABLES
from analytics.store.storage import storage_path, uri
from tests.conftest import LIVED_FACTORIES, NEXT_DAY, fill_inbox

distributed = pytest.importorskip("distributed")

# Columns that name a run rather than what it computed: ids drawn at random (a model refitted in
# each run gets its own id) and wall-clock times.
WORKING_DAY = date(2026, 9, 23)
DAYS = (NEXT_DAY, WORKING_DAY)  # the next day first: its run ingests the inboxes
RUN_COLUMNS = ("model_id", "ingest_id", "alert_id", "quarantined_at", "reported_at", "opened_at", "updated_at", "resolved_at", "acknowledged_at")


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop([c for c in frame.columns if c in RUN_COLUMNS])
    sortable = [c for c, t in frame.schema.items() if not t.is_nested()]
    return frame.sort(sortable, nulls_last=True) if frame.height else frame


def day_snapshot(hub: Hub, factory_id: str, day: date, reports: Path) -> dict[str, pl.DataFrame | str]:
    """Everything the daily run stored for one factory-day, in comparable form."""
    snapshot: dict[str, pl.DataFrame | str] = {}
    for table in TABLES:
        files = hub.lake.snapshot_files(factory_id, table, dates=[day])
        if files:
            snapshot[f"lake/{table}"] = _comparable(pl.read_parquet(files).drop("date", strict=False))
    root = hub.lake.factory_root(factory_id)
    for current in sorted(root.rglob(f"date={day.isoformat()}/_current.json")):
        folder = current.parent
        for name, file in json.loads(current.read_text(encoding="utf-8")).items():
            if isinstance(file, str) and file.endswith(".parquet"):
                snapshot[f"{folder.parent.relative_to(root)}/{name}"] = _comparable(pl.read_parquet(uri(folder / file)))
    alerts = [{k: v for k, v in vars(a).items() if k not in RUN_COLUMNS} for a in AlertBook(hub, factory_id).alerts()]
    snapshot["alerts"] = json.dumps(sorted(alerts, key=lambda a: json.dumps(a, default=str, sort_keys=True)), default=str, sort_keys=True)
    for path in sorted((reports / factory_id / day.isoformat()).glob("*.txt")):
        # All but the last line: the footer says when the report was written.
        snapshot[f"report/{path.name}"] = path.read_text(encoding="utf-8").rstrip("\n").rsplit("\n", 1)[0]
    return snapshot


def assert_same_days(a: Hub, b: Hub, reports_a: Path, reports_b: Path) -> None:
    for factory_id in LIVED_FACTORIES:
        for day in DAYS:
            left, right = day_snapshot(a, factory_id, day, reports_a), day_snapshot(b, factory_id, day, reports_b)
            assert sorted(left) == sorted(right), (factory_id, day)
            assert {"features/machine_health/v1/1h/sensor", "scores/anomaly/1h/scores", "solutions/health", "report/report.ko.txt"} <= set(left), sorted(left)
            for name, value in left.items():
                if isinstance(value, pl.DataFrame):
                    assert_frame_equal(value, right[name], check_exact=False, rel_tol=1e-9, abs_tol=1e-12, check_column_order=False)  # type: ignore[arg-type]
                else:
                    assert value == right[name], (factory_id, day, name)
        assert day_snapshot(a, factory_id, NEXT_DAY, reports_a)["lake/readings"].height > 0  # type: ignore[union-attr]
        assert day_snapshot(a, factory_id, WORKING_DAY, reports_a)["scores/anomaly/1h/scores"].height > 0  # type: ignore[union-attr]


def _run_days(hub: Hub, reports: Path, client: distributed.Client | None = None) -> list[FactoryRun]:
    results = []
    for day in DAYS:
        # The factory-days only: the pooled models' refresh has its own tests (test_failure_pooled).
        _, done = run_daily(hub, day, send=False, out_dir=reports, settle_seconds=0, client=client, pooled=False)
        assert {r.factory_id: r.status for r in done} == dict.fromkeys(LIVED_FACTORIES, "ok"), [r.errors for r in done]
        results += done
    return results


def _hub_with_inboxes(lived_dir: Path, files: Path, folder: Path) -> Hub:
    shutil.copytree(lived_dir, folder)
    hub = Hub.open(data_dir=folder)
    for factory_id in LIVED_FACTORIES:
        fill_inbox(hub, files, factory_id)
    return hub


@pytest.fixture(scope="module")
def single_process(lived_dir: Path, next_day_files: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Hub, Path]:
    """The next day run factory after factory in this process: the reference."""
    root = tmp_path_factory.mktemp("single")
    hub = _hub_with_inboxes(lived_dir, next_day_files, root / "hub")
    _run_days(hub, root / "reports")
    return hub, root / "reports"


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.Client]:
    from analytics.pipeline.cluster import dask_client

    with dask_client(workers=2, threads_per_worker=1, dashboard_address=":0") as client:
        yield client


def test_the_daily_run_on_a_dask_cluster_stores_what_the_single_process_run_stores(
    single_process: tuple[Hub, Path], cluster: distributed.Client, lived_dir: Path, next_day_files: Path, tmp_path: Path
) -> None:
    reference, reference_reports = single_process
    hub = _hub_with_inboxes(lived_dir, next_day_files, tmp_path / "hub")
    results = _run_days(hub, tmp_path / "reports", cluster)
    # Each task's record came back from its worker: what it ingested and computed.
    assert all(r.counts["ingest"]["accepted"] > 0 and r.counts["features"]["readings"] > 0 for r in results if r.day == NEXT_DAY)
    record = RunLog(hub).runs(limit=1).row(0, named=True)
    assert (record["day"], record["status"], record["factories"], record["failed"]) == (DAYS[-1].isoformat(), "ok", 2, 0)
    assert_same_days(reference, hub, reference_reports, tmp_path / "reports")


def _kill_a_busy_worker(client: distributed.Client, pids: dict[str, int], killed: list[tuple[str, str]]) -> None:
    """Once a daily task runs, SIGKILL its worker process (as the OOM killer would) a moment
    into it, while the task still runs there."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(k).startswith("daily-") for k in keys) and address in pids:
                time.sleep(0.15)  # into the task's stages (a factory-day here takes about half a second)
                running = [str(k) for k in client.processing().get(address, ()) if str(k).startswith("daily-")]
                if running:
                    os.kill(pids[address], signal.SIGKILL)
                    killed.append((address, running[0]))
                    return
        time.sleep(0.01)


def test_a_worker_killed_mid_run_changes_nothing_in_the_results(
    single_process: tuple[Hub, Path], lived_dir: Path, next_day_files: Path, tmp_path: Path
) -> None:
    from analytics.pipeline.cluster import dask_client

    reference, reference_reports = single_process
    hub = _hub_with_inboxes(lived_dir, next_day_files, tmp_path / "hub")
    with dask_client(workers=2, threads_per_worker=1, dashboard_address=":0") as client:
        pids = client.run(os.getpid)
        killed: list[tuple[str, str]] = []
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, pids, killed))
        killer.start()
        try:
            _run_days(hub, tmp_path / "reports", client)
        finally:
            killer.join()
        assert killed, "no worker was killed while it ran a task: the test proved nothing"
        (address, key), = killed
        assert pids[address] not in client.run(os.getpid).values()  # the nanny started a new one
        # The scheduler gave the dead worker's task to a worker again, and it finished there.
        story = [(t.start, t.finish) for t in client.run_on_scheduler(lambda dask_scheduler: [t for t in dask_scheduler.transition_log if t.key == key])]
        assert story.count(("waiting", "processing")) == 2 and ("processing", "memory") in story, story
    assert_same_days(reference, hub, reference_reports, tmp_path / "reports")


def test_the_daily_run_on_the_cluster_with_the_factories_data_on_an_object_store(
    single_process: tuple[Hub, Path], object_store: str, lived_dir: Path, next_day_files: Path, tmp_path: Path
) -> None:
    """The same two days with the factories' data (lake, features, scores, models, inboxes) in
    an S3 bucket and only the registry in the local control folder: the workers read and write
    the bucket, and store exactly what the single-process run on a local disk stored."""
    import uuid

    from analytics.pipeline.cluster import dask_client

    reference, reference_reports = single_process
    storage = f"{object_store}/{uuid.uuid4().hex[:8]}"
    shutil.copytree(lived_dir, tmp_path / "control", ignore=shutil.ignore_patterns("factories"))
    root = storage_path(storage)
    root.fs.put(str(lived_dir / "factories"), f"{root.path}/factories", recursive=True)
    hub = Hub.open(data_dir=tmp_path / "control", storage=storage)
    for factory_id in LIVED_FACTORIES:
        fill_inbox(hub, next_day_files, factory_id)
    assert not (tmp_path / "control" / "factories").exists()
    # Started after the store's variables are set: the workers inherit where the bucket is.
    with dask_client(workers=2, threads_per_worker=1, dashboard_address=":0") as client:
        assert all(os.environ["AWS_ENDPOINT_URL"] == v for v in client.run(lambda: os.environ.get("AWS_ENDPOINT_URL")).values())
        done = _run_days(hub, tmp_path / "reports", client)
    assert not (tmp_path / "control" / "factories").exists()  # nothing of the factories' data landed locally
    assert_same_days(reference, hub, reference_reports, tmp_path / "reports")
    # A worker may be another machine: it wrote each report to the bucket, and the client copied
    # it to --out (the run names the copy).
    for run in done:
        stored = report_folder(hub, run.factory_id, run.day)
        copied = report_folder(hub, run.factory_id, run.day, tmp_path / "reports")
        assert run.report == copied / "report.ko.html"
        assert sorted(p.name for p in stored.iterdir()) == sorted(p.name for p in copied.iterdir())
        assert all((copied / p.name).read_bytes() == p.read_bytes() for p in stored.iterdir())


# --- pooled failure models with xgboost.dask ------------------------------------------------------
def test_pooled_training_with_xgboost_dask_matches_one_machine(pooled_fleet_dir: Path, cluster: distributed.Client, tmp_path: Path) -> None:
    """The hub's pooled model of a machine type trained on the cluster (each factory's rows on a
    worker, trees by xgboost.dask) and in this process: the same card, validation and registry;
    the trees themselves differ only as XGBoost's distributed sketches and row sampling do."""
    from datetime import UTC, datetime

    from analytics.config import FailureSettings
    from analytics.models.failure.pooled import factory_rows, train_pooled
    from analytics.models.failure.training import KIND
    from analytics.store.models import ModelStore
    from tests.conftest import POOLED_FACTORIES

    machine_type, until = "centrifugal_pump", datetime(2026, 10, 6, tzinfo=UTC)
    settings = FailureSettings(default_horizon_hours=48, hazard_hours=48)
    hubs = {}
    for name in ("local", "dask"):
        shutil.copytree(pooled_fleet_dir, tmp_path / name)
        hubs[name] = Hub.open(data_dir=tmp_path / name)
    local = train_pooled(hubs["local"], machine_type, until=until, settings=settings)
    on_cluster = train_pooled(hubs["dask"], machine_type, until=until, settings=settings, client=cluster)
    assert local.status == on_cluster.status == "promoted", (local.reason, on_cluster.reason)
    cards = {name: ModelStore.pooled(hub).champion(KIND, machine_type) for name, hub in hubs.items()}
    assert (cards["local"]["trained_on"], cards["dask"]["trained_on"]) == ("local", "dask")
    for key in ("training", "columns", "sensors", "horizon_hours", "hazard_hours", "feature_set", "parameters", "recipe", "fitted_until"):
        assert cards["local"][key] == cards["dask"][key], key
    m, d = local.metrics, on_cluster.metrics
    for key in ("rows", "positives", "brier_baseline", "splits", "splits_skipped", "validated_on"):
        assert m[key] == d[key], key  # the same validation rows, judged against the same base rate
    assert d["brier"] < d["brier_baseline"] and abs(m["brier"] - d["brier"]) <= 0.01 and abs(m["pr_auc"] - d["pr_auc"]) <= 0.05
    # The two models' risk on every row they learned from.
    models = {name: ModelStore.pooled(hub).load(KIND, machine_type, cards[name]["model_id"]) for name, hub in hubs.items()}
    frames = [factory_rows(hubs["local"].locations, f, machine_type, cards["local"]["sensors"], until, settings) for f in POOLED_FACTORIES]
    X = np.vstack([models["local"].matrix(frame) for frame in frames if isinstance(frame, pl.DataFrame) and frame.height])
    p_local, p_dask = (models[name].classifier.predict_proba(X)[:, 1] for name in ("local", "dask"))
    assert np.corrcoef(p_local, p_dask)[0, 1] >= 0.95 and np.abs(p_local - p_dask).mean() <= 0.03
