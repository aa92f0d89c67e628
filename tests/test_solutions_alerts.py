"""Alerts and feedback (analytics.solutions.alerts): lifecycle, dedupe, idempotence, escalation,
clearing, feedback, and tenancy."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.errors import NotFoundError
from analytics.schemas import PlantDescription
from analytics.solutions.alerts import (
    SYSTEM_CLEARED,
    Alert,
    AlertBook,
    AlertCandidate,
    AlertSettings,
    AlertStateError,
)
from analytics.store.hub import Hub
from tests.conftest import PLANT

D0 = date(2026, 10, 1)
T0 = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
DEFAULT = AlertSettings()
# No clearing and no escalation: isolates the behaviour under test.
QUIET = AlertSettings(escalate_after_days={}, clear_days=1000)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def at(n: int, minutes: int = 0) -> datetime:
    return T0 + timedelta(days=n, minutes=minutes)


def cand(
    machine: str = "CNC-01",
    mode: str = "bearing_wear",
    severity: str = "warning",
    n: int = 0,
    **details: Any,
) -> AlertCandidate:
    base = {
        "rule_id": f"{mode}_rule",
        "health_index": 0.4,
        "reasons_en": ["vibration up"],
    }
    return AlertCandidate(machine, mode, severity, day(n), {**base, **details})  # type: ignore[arg-type]


def table(hub: Hub) -> list[tuple[Any, ...]]:
    with hub.registry.transaction() as con:
        return con.execute("SELECT * FROM alerts ORDER BY alert_id").fetchall()


def feedback_rows(hub: Hub) -> list[tuple[Any, ...]]:
    with hub.registry.transaction() as con:
        return con.execute(
            "SELECT * FROM alert_feedback ORDER BY feedback_id"
        ).fetchall()


@pytest.fixture
def book(acme: Hub) -> AlertBook:
    return AlertBook(acme, "acme")


def add_beta(hub: Hub) -> AlertBook:
    plant = {**PLANT, "factory": {**PLANT["factory"], "id": "beta"}}  # type: ignore[dict-item]
    hub.registry.register_plant(PlantDescription.model_validate(plant))
    return AlertBook(hub, "beta")


def only(book: AlertBook) -> Alert:
    alerts = book.alerts()
    assert len(alerts) == 1
    return alerts[0]


# --------------------------------------------------------------------------- inputs


def test_candidate_and_settings_validation() -> None:
    with pytest.raises(ValueError, match="severity"):
        cand(severity="panic")
    with pytest.raises(ValueError, match="failure mode"):
        cand(mode="Bearing Wear")
    with pytest.raises(ValueError, match="JSON"):
        cand(bad=float("nan"))
    with pytest.raises(ValueError, match="JSON"):
        cand(bad=object())
    with pytest.raises(ValueError, match="invalid machine"):
        cand(machine="../etc")
    with pytest.raises(TypeError):
        AlertCandidate("CNC-01", "unknown", "warning", datetime(2026, 1, 1), {})  # type: ignore[arg-type]
    AlertCandidate("CNC-01", "unknown", "watch", D0, {})
    with pytest.raises(ValueError):
        AlertSettings(escalate_after_days={"urgent": 1})
    with pytest.raises(ValueError):
        AlertSettings(escalate_after_days={"warning": 0})
    with pytest.raises(ValueError):
        AlertSettings(clear_days=0)
    with pytest.raises(ValueError):
        DEFAULT.clear_days = 5  # type: ignore[misc]


def test_apply_day_rejects_bad_batches(book: AlertBook, acme: Hub) -> None:
    with pytest.raises(ValueError, match="two candidates"):
        book.apply_day(
            D0, [cand(), cand(severity="critical")], settings=DEFAULT, now=at(0)
        )
    with pytest.raises(ValueError, match="not the day being applied"):
        book.apply_day(day(1), [cand(n=0)], settings=DEFAULT, now=at(1))
    with pytest.raises(NotFoundError, match="MILL-9"):
        book.apply_day(
            D0, [cand(), cand(machine="MILL-9")], settings=DEFAULT, now=at(0)
        )
    with pytest.raises(ValueError, match="timezone"):
        book.apply_day(D0, [cand()], settings=DEFAULT, now=datetime(2026, 10, 1))
    # A failed batch leaves nothing behind (one transaction).
    assert table(acme) == []
    with pytest.raises(NotFoundError):
        AlertBook(acme, "nobody")


# --------------------------------------------------------------------------- lifecycle


def test_lifecycle_open_acknowledge_resolve(book: AlertBook) -> None:
    out = book.apply_day(D0, [cand(severity="critical")], settings=DEFAULT, now=at(0))
    assert out.updated == out.escalated == out.resolved == []
    (alert_id,) = out.opened
    a = book.alert(alert_id)
    assert (a.status, a.severity, a.opened_day, a.last_day, a.escalation) == (
        "open",
        "critical",
        D0,
        D0,
        0,
    )
    assert a.opened_at == a.updated_at == at(0)
    assert a.details["rule_id"] == "bearing_wear_rule"
    assert a.acknowledged_at is None and a.resolved_by is None

    a = book.acknowledge(alert_id, "kim", now=at(0, 30))
    assert (a.status, a.acknowledged_by, a.acknowledged_at) == (
        "acknowledged",
        "kim",
        at(0, 30),
    )
    with pytest.raises(AlertStateError, match="already acknowledged by kim"):
        book.acknowledge(alert_id, "lee")

    a = book.resolve(alert_id, "lee", note="replaced bearing", now=at(0, 60))
    assert (a.status, a.resolved_by, a.resolved_at, a.resolution_note) == (
        "resolved",
        "lee",
        at(0, 60),
        "replaced bearing",
    )
    assert "_resolution_note" not in a.details
    with pytest.raises(AlertStateError, match="resolved alert cannot be acknowledged"):
        book.acknowledge(alert_id, "kim")
    with pytest.raises(AlertStateError, match="already resolved"):
        book.resolve(alert_id, "kim")
    assert book.open_alerts() == []
    assert book.alerts(status="resolved") == [a]


def test_open_alert_can_be_resolved_directly_and_users_are_checked(
    book: AlertBook,
) -> None:
    (alert_id,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    with pytest.raises(ValueError, match="non-empty"):
        book.acknowledge(alert_id, "  ")
    with pytest.raises(ValueError, match="reserved"):
        book.resolve(alert_id, "system:cleared")
    a = book.resolve(alert_id, "kim")
    assert (
        a.status == "resolved" and a.acknowledged_at is None and a.resolution_note == ""
    )


def test_resolved_is_final_a_new_problem_opens_a_new_alert(book: AlertBook) -> None:
    (first,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    book.resolve(first, "kim", now=at(0, 10))
    out = book.apply_day(day(1), [cand(n=1)], settings=DEFAULT, now=at(1))
    (second,) = out.opened
    assert second != first
    assert book.alert(first).status == "resolved"
    assert book.alert(second).opened_day == day(1)


# --------------------------------------------------------------------------- dedupe


def test_same_machine_and_mode_on_two_days_is_one_updated_alert(
    book: AlertBook,
) -> None:
    (alert_id,) = book.apply_day(
        D0, [cand(severity="warning")], settings=DEFAULT, now=at(0)
    ).opened
    out = book.apply_day(
        day(1),
        [cand(severity="critical", n=1, health_index=0.2)],
        settings=DEFAULT,
        now=at(1),
    )
    assert out.opened == [] and out.updated == [alert_id]
    a = only(book)
    assert (a.severity, a.opened_day, a.last_day, a.details["health_index"]) == (
        "critical",
        D0,
        day(1),
        0.2,
    )
    assert a.opened_at == at(0) and a.updated_at == at(1)
    # Severity follows the candidate down as well.
    book.apply_day(day(2), [cand(severity="watch", n=2)], settings=DEFAULT, now=at(2))
    a = only(book)
    assert (a.severity, a.last_day) == ("watch", day(2))


def test_two_modes_on_one_machine_are_two_alerts(book: AlertBook) -> None:
    out = book.apply_day(
        D0,
        [
            cand(mode="bearing_wear"),
            cand(mode="overheating", severity="critical"),
            cand(machine="PUMP-02", mode="unknown"),
        ],
        settings=DEFAULT,
        now=at(0),
    )
    assert len(out.opened) == 3
    alerts = book.alerts()
    # The critical one first.
    assert (alerts[0].machine_id, alerts[0].mode) == ("CNC-01", "overheating")
    assert {(a.machine_id, a.mode) for a in alerts} == {
        ("CNC-01", "bearing_wear"),
        ("CNC-01", "overheating"),
        ("PUMP-02", "unknown"),
    }
    assert [a.mode for a in book.alerts(machine_id="CNC-01")] == [
        "overheating",
        "bearing_wear",
    ]


def test_alerts_filters_and_order(book: AlertBook) -> None:
    book.apply_day(
        D0, [cand(mode="bearing_wear", severity="warning")], settings=QUIET, now=at(0)
    )
    book.apply_day(
        day(3),
        [cand(mode="overheating", severity="warning", n=3)],
        settings=QUIET,
        now=at(3),
    )
    book.apply_day(
        day(5),
        [cand(mode="clogging", machine="PUMP-02", severity="critical", n=5)],
        settings=QUIET,
        now=at(5),
    )
    assert [a.mode for a in book.alerts()] == [
        "clogging",
        "overheating",
        "bearing_wear",
    ]
    assert [a.mode for a in book.alerts(since=day(3))] == ["clogging", "overheating"]
    overheating = book.alerts(machine_id="CNC-01", since=day(3))[0]
    book.acknowledge(overheating.alert_id, "kim")
    assert [a.mode for a in book.alerts(status="acknowledged")] == ["overheating"]
    assert [a.mode for a in book.alerts(status=["open"])] == [
        "clogging",
        "bearing_wear",
    ]
    assert len(book.open_alerts()) == 3
    with pytest.raises(ValueError, match="status"):
        book.alerts(status="closed")


# --------------------------------------------------------------------------- idempotence and replay


def test_applying_the_same_day_twice_changes_nothing(
    book: AlertBook, acme: Hub
) -> None:
    days = [
        (0, [cand(), cand(machine="PUMP-02", mode="clogging", severity="critical")]),
        (1, [cand(n=1, severity="critical")]),
        (3, [cand(n=3)]),
    ]
    for n, candidates in days:
        book.apply_day(day(n), candidates, settings=DEFAULT, now=at(n))
        before = table(acme)
        out = book.apply_day(day(n), candidates, settings=DEFAULT, now=at(n, 90))
        assert (out.opened, out.updated, out.escalated, out.resolved) == (
            [],
            [],
            [],
            [],
        )
        assert table(acme) == before


def test_replay_of_an_older_day_is_a_no_op(book: AlertBook, acme: Hub) -> None:
    book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0))
    book.apply_day(
        day(1), [cand(n=1, severity="critical")], settings=DEFAULT, now=at(1)
    )
    before = table(acme)
    out = book.apply_day(
        D0, [cand(severity="watch", health_index=0.9)], settings=DEFAULT, now=at(2)
    )
    assert (out.opened, out.updated, out.escalated, out.resolved) == ([], [], [], [])
    assert table(acme) == before
    assert only(book).last_day == day(1)


def test_replay_never_reopens_a_resolved_problem(book: AlertBook, acme: Hub) -> None:
    (first,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    book.apply_day(day(1), [cand(n=1)], settings=DEFAULT, now=at(1))
    # Cleared by the system on day 3 (no candidate on days 2 and 3).
    assert book.apply_day(day(3), [], settings=DEFAULT, now=at(3)).resolved == [first]
    before = table(acme)
    for n in (0, 1):
        out = book.apply_day(day(n), [cand(n=n)], settings=DEFAULT, now=at(4))
        assert out.opened == []
    assert table(acme) == before
    # A resolved-by-hand alert is not reopened by re-running its last day either.
    (second,) = book.apply_day(day(5), [cand(n=5)], settings=DEFAULT, now=at(5)).opened
    book.resolve(second, "kim", now=at(5, 10))
    assert (
        book.apply_day(day(5), [cand(n=5)], settings=DEFAULT, now=at(5, 20)).opened
        == []
    )


# --------------------------------------------------------------------------- escalation and clearing


def test_escalation_levels_by_age(book: AlertBook) -> None:
    settings = AlertSettings(
        clear_days=30
    )  # critical every 1 day, warning every 3, at most 2
    crit, warn = book.apply_day(
        D0, [cand(mode="overheating", severity="critical"), cand(mode="bearing_wear", severity="warning")],
        settings=settings, now=at(0),
    ).opened  # fmt: skip
    expected = {  # day: (critical level, warning level)
        0: (0, 0),
        1: (1, 0),
        2: (2, 0),
        3: (2, 1),
        5: (2, 1),
        6: (2, 2),
        9: (2, 2),
    }
    for n, (crit_level, warn_level) in expected.items():
        out = book.apply_day(day(n), [], settings=settings, now=at(n))
        assert (book.alert(crit).escalation, book.alert(warn).escalation) == (
            crit_level,
            warn_level,
        ), n
        assert (
            book.alert(crit).last_day == D0
        )  # no candidate: escalation does not touch last_day
        if n in (1, 2):
            assert out.escalated == [crit]
        if n in (3, 6):
            assert out.escalated == [warn]
        if n in (5, 9):
            assert out.escalated == []


def test_acknowledged_and_watch_alerts_do_not_escalate(book: AlertBook) -> None:
    settings = AlertSettings(clear_days=30)
    crit, watch = book.apply_day(
        D0, [cand(mode="overheating", severity="critical"), cand(mode="bearing_wear", severity="watch")],
        settings=settings, now=at(0),
    ).opened  # fmt: skip
    book.acknowledge(crit, "kim")
    out = book.apply_day(day(10), [], settings=settings, now=at(10))
    assert out.escalated == []
    assert book.alert(crit).escalation == book.alert(watch).escalation == 0


def test_escalation_never_goes_down(book: AlertBook) -> None:
    settings = AlertSettings(clear_days=30)
    (alert_id,) = book.apply_day(
        D0, [cand(severity="critical")], settings=settings, now=at(0)
    ).opened
    book.apply_day(
        day(2), [cand(severity="critical", n=2)], settings=settings, now=at(2)
    )
    assert book.alert(alert_id).escalation == 2
    # Downgraded to warning (period 3): age 4 // 3 = 1, but the level stays at 2.
    book.apply_day(
        day(4), [cand(severity="warning", n=4)], settings=settings, now=at(4)
    )
    assert book.alert(alert_id).escalation == 2


def test_cleared_after_clear_days_without_candidates(book: AlertBook) -> None:
    settings = AlertSettings(escalate_after_days={}, clear_days=2)
    out = book.apply_day(
        D0, [cand(), cand(mode="overheating")], settings=settings, now=at(0)
    )
    bearing, overheating = out.opened
    book.apply_day(
        day(1), [cand(n=1)], settings=settings, now=at(1)
    )  # overheating not seen
    out = book.apply_day(day(2), [cand(n=2)], settings=settings, now=at(2))
    assert out.resolved == [
        overheating
    ]  # last seen day 0, no candidate on days 1 and 2
    a = book.alert(overheating)
    assert (a.status, a.resolved_by, a.resolved_at) == (
        "resolved",
        SYSTEM_CLEARED,
        at(2),
    )
    assert book.apply_day(day(3), [], settings=settings, now=at(3)).resolved == []
    out = book.apply_day(day(4), [], settings=settings, now=at(4))
    assert out.resolved == [bearing]
    # Acknowledged alerts clear too.
    (third,) = book.apply_day(day(5), [cand(n=5)], settings=settings, now=at(5)).opened
    book.acknowledge(third, "kim")
    assert book.apply_day(day(8), [], settings=settings, now=at(8)).resolved == [third]
    assert book.open_alerts() == []


def test_an_alert_about_to_clear_does_not_escalate(book: AlertBook) -> None:
    (alert_id,) = book.apply_day(
        D0, [cand(severity="critical")], settings=DEFAULT, now=at(0)
    ).opened
    out = book.apply_day(day(2), [], settings=DEFAULT, now=at(2))
    assert out.escalated == [] and out.resolved == [alert_id]


# --------------------------------------------------------------------------- feedback


def test_feedback_rules(book: AlertBook) -> None:
    (alert_id,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    with pytest.raises(ValueError, match="needs the failure_mode"):
        book.give_feedback(alert_id, "true_problem", user="kim")
    with pytest.raises(ValueError, match="failure mode"):
        book.give_feedback(
            alert_id, "true_problem", user="kim", failure_mode="Bearing wear"
        )
    with pytest.raises(ValueError, match="takes no failure_mode"):
        book.give_feedback(
            alert_id, "false_alarm", user="kim", failure_mode="bearing_wear"
        )
    with pytest.raises(ValueError, match="verdict"):
        book.give_feedback(alert_id, "maybe", user="kim")  # type: ignore[arg-type]
    assert (
        book.alert(alert_id).status == "open"
    )  # rejected feedback acknowledges nothing

    fid = book.give_feedback(
        alert_id, "false_alarm", user="kim", note="sensor knocked", now=at(0, 5)
    )
    a = book.alert(alert_id)
    assert (a.status, a.acknowledged_by, a.acknowledged_at) == (
        "acknowledged",
        "kim",
        at(0, 5),
    )
    # Feedback on an acknowledged or resolved alert leaves its status alone.
    book.resolve(alert_id, "lee", now=at(0, 10))
    fid2 = book.give_feedback(
        alert_id, "true_problem", user="lee", failure_mode="lubrication", now=at(0, 20)
    )
    assert book.alert(alert_id).status == "resolved"

    fb = book.feedback()
    assert fb.columns == [
        "feedback_id", "alert_id", "machine_id", "mode", "opened_day", "last_day", "verdict",
        "failure_mode", "note", "given_by", "given_at", "latest",
    ]  # fmt: skip
    assert fb["feedback_id"].to_list() == [fid, fid2]
    assert fb["latest"].to_list() == [False, True]
    assert fb["failure_mode"].to_list() == [None, "lubrication"]
    assert fb["note"].to_list() == ["sensor knocked", ""]
    assert fb["given_at"].to_list() == [at(0, 5), at(0, 20)]
    assert (
        fb.schema["opened_day"] == pl.Date
        and fb["machine_id"].to_list() == ["CNC-01"] * 2
    )
    assert book.feedback(machine_id="PUMP-02").height == 0


def test_latest_verdict_feeds_spans_and_confirmed_problems(book: AlertBook) -> None:
    settings = AlertSettings(clear_days=30)
    out = book.apply_day(
        D0, [cand(mode="bearing_wear"), cand(machine="PUMP-02", mode="clogging"), cand(mode="overheating")],
        settings=settings, now=at(0),
    )  # fmt: skip
    bearing, clogging, overheating = out.opened
    book.apply_day(
        day(2),
        [cand(n=2), cand(machine="PUMP-02", mode="clogging", n=2)],
        settings=settings,
        now=at(2),
    )
    book.apply_day(day(3), [cand(n=3)], settings=settings, now=at(3))

    # bearing: true problem, then corrected to false alarm -> false alarm counts.
    book.give_feedback(
        bearing, "true_problem", user="kim", failure_mode="bearing_wear", now=at(4, 1)
    )
    book.give_feedback(bearing, "false_alarm", user="lee", now=at(4, 2))
    # clogging: false alarm, then confirmed with the mode actually found -> true problem counts.
    book.give_feedback(clogging, "false_alarm", user="kim", now=at(4, 3))
    book.give_feedback(
        clogging,
        "true_problem",
        user="kim",
        failure_mode="mechanical_fault",
        now=at(4, 4),
    )
    # overheating: one true problem.
    book.give_feedback(
        overheating,
        "true_problem",
        user="kim",
        failure_mode="overheating",
        now=at(4, 5),
    )

    spans = book.false_alarm_spans()
    assert spans.schema == {
        "machine_id": pl.String,
        "start_day": pl.Date,
        "end_day": pl.Date,
        "given_at": pl.Datetime("us", "UTC"),
    }
    assert spans.rows() == [("CNC-01", D0, day(3), at(4, 2))]
    assert book.false_alarm_spans(machine_id="PUMP-02").height == 0

    problems = book.confirmed_problems()
    assert problems.columns == ["machine_id", "day", "failure_mode", "alert_id"]
    assert problems.schema["day"] == pl.Date
    assert problems.rows() == [
        ("CNC-01", D0, "overheating", overheating),
        ("PUMP-02", day(2), "mechanical_fault", clogging),
    ]


def test_equal_timestamps_latest_is_the_last_given(book: AlertBook) -> None:
    (alert_id,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    book.give_feedback(alert_id, "false_alarm", user="kim", now=at(1))
    last = book.give_feedback(
        alert_id, "true_problem", user="kim", failure_mode="tool_wear", now=at(1)
    )
    latest = book.feedback().filter(pl.col("latest"))
    assert latest["feedback_id"].to_list() == [last]


def test_empty_frames_have_their_schema(book: AlertBook) -> None:
    assert (
        book.feedback().height == 0 and book.feedback().schema["latest"] == pl.Boolean
    )
    assert book.false_alarm_spans().columns == ["machine_id", "start_day", "end_day", "given_at"]
    assert book.confirmed_problems().schema["day"] == pl.Date


# --------------------------------------------------------------------------- tenancy


def test_another_factory_cannot_see_or_touch_alerts(book: AlertBook, acme: Hub) -> None:
    beta = add_beta(acme)
    (alert_id,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    book.give_feedback(alert_id, "false_alarm", user="kim", now=at(0, 1))
    before = (table(acme), feedback_rows(acme))

    nonexistent = "0" * 32

    def message(call: Any) -> str:
        with pytest.raises(NotFoundError) as info:
            call()
        return str(info.value)

    for target in (alert_id, nonexistent, "not-an-id"):
        expected = f"alert {target!r} not found in factory 'beta'"
        assert message(lambda t=target: beta.alert(t)) == expected
        assert message(lambda t=target: beta.acknowledge(t, "mallory")) == expected
        assert message(lambda t=target: beta.resolve(t, "mallory")) == expected
        assert (
            message(
                lambda t=target: beta.give_feedback(t, "false_alarm", user="mallory")
            )
            == expected
        )
    assert beta.alerts() == [] and beta.open_alerts() == []
    assert beta.feedback().height == 0
    assert (
        beta.false_alarm_spans().height == 0 and beta.confirmed_problems().height == 0
    )
    assert (table(acme), feedback_rows(acme)) == before

    # Beta's own day for the same machine id and mode neither sees nor touches acme's alert.
    out = beta.apply_day(day(5), [cand(n=5)], settings=DEFAULT, now=at(5))
    assert len(out.opened) == 1 and out.resolved == []
    assert book.alert(alert_id).status == "acknowledged"


def test_removing_a_factory_removes_its_alerts_and_feedback(
    book: AlertBook, acme: Hub
) -> None:
    beta = add_beta(acme)
    (a_id,) = book.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    (b_id,) = beta.apply_day(D0, [cand()], settings=DEFAULT, now=at(0)).opened
    book.give_feedback(a_id, "true_problem", user="kim", failure_mode="bearing_wear")
    beta.give_feedback(b_id, "false_alarm", user="park")
    acme.registry.remove_factory("acme")
    with acme.registry.transaction() as con:
        assert con.execute("SELECT DISTINCT factory_id FROM alerts").fetchall() == [
            ("beta",)
        ]
        assert con.execute(
            "SELECT DISTINCT factory_id FROM alert_feedback"
        ).fetchall() == [("beta",)]
    # Nothing of acme's alert is left in the file (secure_delete and VACUUM).
    assert a_id.encode() not in acme.registry.path.read_bytes()
    with pytest.raises(NotFoundError):
        AlertBook(acme, "acme")
    assert beta.feedback()["alert_id"].to_list() == [b_id]


# --------------------------------------------------------------------------- property

MACHINES = ("CNC-01", "PUMP-02")
MODES = ("bearing_wear", "overheating", "unknown")
SEVERITY = st.sampled_from(("watch", "warning", "critical"))
STEP = st.tuples(
    st.integers(min_value=1, max_value=4),  # days since the previous applied day
    st.dictionaries(
        st.tuples(st.sampled_from(MACHINES), st.sampled_from(MODES)),
        SEVERITY,
        max_size=4,
    ),
    st.sampled_from(
        ("none", "acknowledge", "resolve", "feedback")
    ),  # a person acts on an alert
    st.integers(min_value=0, max_value=20),  # ... which one
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEP, min_size=1, max_size=8),
    clear_days=st.integers(min_value=1, max_value=4),
)
def test_property_one_unresolved_alert_per_problem(
    steps: list[Any], clear_days: int
) -> None:
    alert_settings = AlertSettings(clear_days=clear_days)
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub.open(data_dir=tmp)
        hub.registry.register_plant(PlantDescription.model_validate(PLANT))
        book = AlertBook(hub, "acme")
        n = 0
        for gap, found, action, pick in steps:
            n += gap
            candidates = [
                AlertCandidate(m, mode, sev, day(n), {"n": n})
                for (m, mode), sev in found.items()
            ]
            book.apply_day(day(n), candidates, settings=alert_settings, now=at(n))
            unresolved = book.open_alerts()
            if action != "none" and unresolved:
                target = unresolved[pick % len(unresolved)]
                if action == "resolve":
                    book.resolve(target.alert_id, "kim")
                elif action == "feedback":
                    book.give_feedback(target.alert_id, "false_alarm", user="kim")
                elif target.status == "open":
                    book.acknowledge(target.alert_id, "kim")
            alerts = book.alerts()
            keys = [(a.machine_id, a.mode) for a in alerts if a.status != "resolved"]
            assert len(keys) == len(set(keys))
            assert all(a.last_day >= a.opened_day for a in alerts)
            assert all(
                0 <= a.escalation <= alert_settings.max_escalation for a in alerts
            )
            # Every candidate of the day is carried by an unresolved alert seen today.
            today = {
                (a.machine_id, a.mode)
                for a in alerts
                if a.last_day == day(n) and a.status != "resolved"
            }
            assert set(found) <= today | {
                (a.machine_id, a.mode)
                for a in alerts
                if a.status == "resolved" and a.resolved_by == "kim"
            }
