"""The run log and day-by-day living: a failing factory-day is recorded with its stage and error,
the other factories go on, and the run ends failed; the demo's accounts and their credentials file."""

from __future__ import annotations

import stat
from datetime import date, timedelta
from pathlib import Path

import pytest

from analytics.demo import CREDENTIALS_FILE, demo_accounts
from analytics.errors import StageError
from analytics.pipeline import RunLog, live_days, process_day
from analytics.store.hub import Hub
from analytics.store.users import UserBook
from tests.conftest import LIVED_FACTORIES


def test_stage_error_names_factory_day_stage_and_chains_the_cause() -> None:
    cause = ZeroDivisionError("division by zero")
    error = StageError("acme", date(2026, 3, 2), "score", cause)
    assert (error.factory_id, error.day, error.stage) == ("acme", date(2026, 3, 2), "score")
    assert str(error) == "acme 2026-03-02: score failed: ZeroDivisionError: division by zero"


def _last_day(hub: Hub, factory_id: str) -> date:
    from analytics.solutions.solve import solution_store

    return max(solution_store(hub, factory_id).dates())


def test_process_day_failure_names_the_stage(lived_copy: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics.models.failure import predict

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(predict, "predict_day", broken)
    day = _last_day(lived_copy, LIVED_FACTORIES[0])
    with pytest.raises(StageError) as caught:
        process_day(lived_copy, LIVED_FACTORIES[0], day, train=False)
    assert caught.value.stage == "predict"
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_live_days_records_failures_and_goes_on(lived_copy: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics.solutions import solve

    broken_factory, good_factory = LIVED_FACTORIES
    real_solve = solve.solve_day

    def solve_or_fail(hub: Hub, factory_id: str, day: date, *args: object, **kwargs: object) -> object:
        if factory_id == broken_factory:
            raise OSError("disk full")
        return real_solve(hub, factory_id, day, *args, **kwargs)

    monkeypatch.setattr(solve, "solve_day", solve_or_fail)
    last = _last_day(lived_copy, good_factory)
    days = [last - timedelta(days=1), last]
    seen: list[tuple[str, date, str]] = []
    run_id, outcomes = live_days(
        lived_copy, {f: days for f in LIVED_FACTORIES}, kind="test", on_day=lambda o: seen.append((o.factory_id, o.day, o.status))
    )
    # day by day, every factory's day before the next day; the broken factory's later day still ran
    assert seen == [(broken_factory, days[0], "failed"), (good_factory, days[0], "ok"), (broken_factory, days[1], "failed"), (good_factory, days[1], "ok")]
    failed = [o for o in outcomes if o.status == "failed"]
    assert {o.stage for o in failed} == {"solve"} and all(o.error == "disk full" for o in failed)
    assert all(o.result is not None and set(o.result.seconds) == {"features", "score", "train", "predict", "solve"} for o in outcomes if o.status == "ok")

    log = RunLog(lived_copy)
    run = log.runs(limit=1).row(0, named=True)
    assert run["run_id"] == run_id and run["kind"] == "test" and run["day"] == last.isoformat()
    assert (run["status"], run["factories"], run["failed"]) == ("failed", 2, 1)
    assert run["finished_at"] is not None
    results = log.results(run_id)
    assert results.height == 4
    assert results.filter(status="failed")["factory_id"].unique().to_list() == [broken_factory]
    assert results.filter(status="failed")["stage"].unique().to_list() == ["solve"]
    mine = log.results(run_id, good_factory)
    assert mine["factory_id"].unique().to_list() == [good_factory] and mine["status"].unique().to_list() == ["ok"]
    assert '"solve"' in mine["details_json"][0]


def test_a_run_without_failures_ends_ok_and_runs_list_newest_first(lived_copy: Hub) -> None:
    factory_id = LIVED_FACTORIES[1]
    last = _last_day(lived_copy, factory_id)
    first_id, _ = live_days(lived_copy, {factory_id: [last]}, kind="rerun")
    second_id, _ = live_days(lived_copy, {}, kind="empty")
    runs = RunLog(lived_copy).runs()
    assert runs["run_id"].to_list()[:2] == [second_id, first_id]
    assert runs.filter(run_id=first_id)["status"].item() == "ok"
    assert runs.filter(run_id=second_id)[["status", "factories", "day"]].row(0) == ("ok", 0, None)


def test_an_interrupted_run_is_closed_failed_with_what_it_recorded(lived_copy: Hub) -> None:
    factory_id = LIVED_FACTORIES[1]
    last = _last_day(lived_copy, factory_id)

    def stop(outcome: object) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C after the first day

    with pytest.raises(KeyboardInterrupt):
        live_days(lived_copy, {factory_id: [last - timedelta(days=1), last]}, kind="rerun", on_day=stop)
    run = RunLog(lived_copy).runs().row(0, named=True)
    # Its one finished day went well, but the run did not do all it was asked: failed, not ok.
    assert (run["kind"], run["status"], run["factories"], run["failed"]) == ("rerun", "failed", 1, 0)
    assert run["finished_at"] is not None
    assert RunLog(lived_copy).results(run["run_id"]).get_column("day").to_list() == [(last - timedelta(days=1)).isoformat()]


def test_run_results_go_with_their_factory(lived_copy: Hub) -> None:
    factory_id = LIVED_FACTORIES[1]
    run_id, _ = live_days(lived_copy, {factory_id: [_last_day(lived_copy, factory_id)]}, kind="rerun")
    lived_copy.registry.remove_factory(factory_id)
    assert RunLog(lived_copy).results(run_id).height == 0


def test_record_rejects_unknown_status_and_bad_factory_ids(acme: Hub) -> None:
    from datetime import UTC, datetime

    from analytics.errors import InvalidIdentifierError

    log = RunLog(acme)
    run_id = log.start("test")
    with pytest.raises(ValueError, match="status"):
        log.record(run_id, "acme", date(2026, 1, 1), status="fine", started_at=datetime.now(UTC))
    with pytest.raises(InvalidIdentifierError):
        log.record(run_id, "acme'; DROP TABLE users; --", date(2026, 1, 1), status="ok", started_at=datetime.now(UTC))


def test_a_failed_pooled_training_fails_the_run_and_is_kept_with_it(acme: Hub) -> None:
    from datetime import UTC, datetime

    from analytics.models.failure.pooled import PooledResult

    log = RunLog(acme)
    run_id = log.start("daily", date(2026, 1, 1))
    log.record(run_id, "acme", date(2026, 1, 1), status="ok", started_at=datetime.now(UTC))
    log.record_pooled(run_id, [PooledResult("pump", "promoted", model_id="m1", reason="first pooled model", factories=3, seconds=1.5)])
    assert log.finish(run_id) == "ok"
    other = log.start("daily", date(2026, 1, 2))
    log.record(other, "acme", date(2026, 1, 2), status="ok", started_at=datetime.now(UTC))
    log.record_pooled(other, [PooledResult("press", "failed", reason="MemoryError: ", factories=2), PooledResult("pump", "no_model", reason="too few", factories=2)])
    # Every factory-day went well, but the hub's pooled press model could not be trained: the
    # operator must look, so the run failed.
    assert log.finish(other) == "failed"
    assert log.runs().filter(run_id=other)[["status", "factories", "failed"]].row(0) == ("failed", 1, 0)
    assert log.pooled(other).select("machine_type", "status", "model_id", "factories").rows() == [("press", "failed", None, 2), ("pump", "no_model", None, 2)]
    assert log.pooled(run_id).select("machine_type", "status", "model_id", "seconds").rows() == [("pump", "promoted", "m1", 1.5)]
    with pytest.raises(ValueError, match="status"):
        log.record_pooled(run_id, [PooledResult("pump", "fine")])


def test_demo_accounts_are_created_then_reset(acme: Hub) -> None:
    book = UserBook(acme)
    first = demo_accounts(acme, ["acme"])
    assert [(a.username, a.role, a.factory_id) for a in first] == [
        ("admin", "admin", None), ("acme-manager", "plant_manager", "acme"), ("acme-engineer", "engineer", "acme"),
    ]  # fmt: skip
    assert len({a.password for a in first}) == 3 and all(len(a.password) >= 16 for a in first)
    for account in first:
        assert book.authenticate(account.username, account.password) is not None

    path = Path(acme.settings.data_dir) / CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert all(a.password in text and a.username in text for a in first)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{CREDENTIALS_FILE}")]  # no temporary left

    book.disable("acme-manager")
    second = demo_accounts(acme, ["acme"])
    for old, new in zip(first, second, strict=True):
        assert old.password != new.password
        assert book.authenticate(old.username, old.password) is None
        assert book.authenticate(new.username, new.password) is not None  # re-enabled too
    assert len(book.users()) == 3
    assert first[0].password not in path.read_text(encoding="utf-8")
