"""Machine health by hand: alarm hours and streaks, the status rules, the index formula, evidence
against a machine's own (load-aware) baseline, the knowledge-base action it selects, and
confirmed problems becoming failure labels."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from analytics.config import SolutionSettings
from analytics.models.anomaly.monitor import SCORE_SCHEMA
from analytics.models.anomaly.scoring import day_bounds
from analytics.models.failure.predict import RISK_SCHEMA
from analytics.solutions.alerts import AlertBook, AlertCandidate, AlertSettings
from analytics.solutions.health import (
    EVIDENCE_SCHEMA,
    anomaly_state,
    assess,
    classify,
    evidence_items,
    health_index,
    sensor_evidence,
    warning_hours,
)
from analytics.solutions.knowledge import KnowledgeBase
from analytics.store.hub import Hub

TZ = "Asia/Seoul"
DAY = date(2026, 10, 14)
SETTINGS = SolutionSettings()


def _scores(machine: str, day: date, alarmed: int, above_only: int, drivers: list[dict[str, float | str]] | None = None) -> list[dict]:
    """``alarmed`` alarmed hours then ``above_only`` exceedances without alarm, from 09:00 local."""
    start, _ = day_bounds(day, TZ)
    rows = []
    for h in range(alarmed + above_only):
        t = start + timedelta(hours=9 + h)
        rows.append(
            {
                "machine_id": machine, "window_start": t, "window_end": t + timedelta(hours=1), "score": 2.0 if h < alarmed else 1.5,
                "above": True, "alarm": h < alarmed, "excluded": False, "drivers": drivers or [{"sensor": "vibration_rms", "share": 0.6}], "model_id": "m1",
            }
        )  # fmt: skip
    return rows


def test_anomaly_state_counts_hours_streaks_and_drivers() -> None:
    drivers = [{"sensor": "bearing_temp", "share": 0.7}, {"sensor": "vibration_rms", "share": 0.2}]
    rows = (
        _scores("A", DAY - timedelta(days=2), 4, 0)
        + _scores("A", DAY - timedelta(days=1), 3, 0)
        + _scores("A", DAY, 5, 2, drivers)
        + _scores("B", DAY - timedelta(days=2), 6, 0)  # a gap on the day before: no streak
        + _scores("B", DAY, 3, 0)
        + _scores("C", DAY, 0, 2)
    )
    scores = pl.DataFrame(rows, schema=SCORE_SCHEMA)
    start, end = day_bounds(DAY, TZ)
    state = {r["machine_id"]: r for r in anomaly_state(scores, start, end, TZ, SETTINGS).iter_rows(named=True)}
    assert state["A"]["alarm_hours"] == 5 and state["A"]["above_hours"] == 7 and state["A"]["alarm_days"] == 3
    assert state["A"]["max_score"] == 2.0 and state["A"]["drivers"][:2] == ["bearing_temp", "vibration_rms"]
    assert state["B"]["alarm_hours"] == 3 and state["B"]["alarm_days"] == 1
    # Exceedances without an alarm: no alarm hours, drivers still named from the exceedances.
    assert state["C"]["alarm_hours"] == 0 and state["C"]["above_hours"] == 2 and state["C"]["alarm_days"] == 0
    assert state["C"]["drivers"] == ["vibration_rms"]


@pytest.mark.parametrize(
    ("alarm_hours", "alarm_days", "probability", "ttf_p10", "false_alarms", "above_hours", "expected"),
    [
        (0, 0, None, None, 0, 0, "normal"),
        (1, 1, None, None, 0, 1, "watch"),
        (2, 1, None, None, 0, 2, "warning"),
        (2, 3, None, None, 0, 2, "critical"),
        (0, 0, 0.35, None, 0, 0, "normal"),  # near the base rate of a machine-week
        (0, 0, 0.55, None, 0, 0, "watch"),
        (1, 1, 0.55, None, 0, 1, "warning"),  # the model and the monitor agree
        (0, 0, 0.85, None, 0, 0, "warning"),
        (0, 0, 0.85, 12.0, 0, 0, "critical"),
        (0, 0, 0.55, 12.0, 0, 0, "watch"),  # a short time to failure alone does not make it critical
        (0, 0, math.nan, None, 0, 0, "normal"),
        (3, 1, None, None, 1, 3, "watch"),  # one false alarm: a warning needs 4 h
        (4, 1, None, None, 1, 4, "warning"),
        (1, 1, None, None, 0, 3, "warning"),  # an alarm begun late in the day: 3 h above, the last alarmed
        (1, 1, None, None, 0, 2, "watch"),  # not enough of a rise
        (0, 0, None, None, 0, 5, "normal"),  # exceedances that never made an alarm
        (1, 1, None, None, 1, 5, "watch"),  # not on a machine whose alarms people called false
    ],
)
def test_status_rules(
    alarm_hours: float, alarm_days: int, probability: float | None, ttf_p10: float | None, false_alarms: int, above_hours: float, expected: str
) -> None:
    assert classify(alarm_hours, alarm_days, probability, ttf_p10, SETTINGS, false_alarms, above_hours) == expected


def test_the_late_rise_rule_can_be_turned_off() -> None:
    assert classify(1, 1, None, None, SETTINGS.model_copy(update={"rising_above_hours": 0.0}), 0, 8) == "watch"


@pytest.mark.parametrize(
    ("above_hours", "rising_sd", "false_alarms", "expected"),
    [
        (2, 3.0, 0, "warning"),  # exceedances and a sensor 3 sd above its normal, still rising
        (2, 2.9, 0, "normal"),  # the sensor not far enough off
        (1, 5.0, 0, "normal"),  # one hour above: a passing disturbance
        (0, 5.0, 0, "normal"),  # a drifting sensor the monitor does not find abnormal
        (2, 3.0, 1, "normal"),  # not on a machine whose alarms people called false
    ],
)
def test_exceedances_corroborated_by_a_rising_sensor_make_a_warning(above_hours: float, rising_sd: float, false_alarms: int, expected: str) -> None:
    assert classify(0, 0, None, None, SETTINGS, false_alarms, above_hours, rising_sd) == expected


def test_the_rising_offset_is_the_largest_of_the_cited_sensors_still_rising() -> None:
    from analytics.solutions.health import rising_offset
    from analytics.solutions.knowledge import Evidence

    rows = pl.DataFrame(
        [
            ("M", "oil_temp", 70.0, 50.0, 4.0, 5.0, 2.5),  # 5 sd above, rising: counts
            ("M", "discharge_temp", 90.0, 80.0, 2.0, 6.0, -1.0),  # further off but falling back: not a rise
            ("M", "current", 10.0, 20.0, 2.0, -5.0, 1.0),  # below its normal
            ("M", "vibration", 9.0, 1.0, 1.0, 8.0, 3.0),  # rising, but not cited as evidence
        ],
        schema=EVIDENCE_SCHEMA, orient="row",
    )  # fmt: skip
    cited = [Evidence(sensor=s, direction="up", value=0.0, baseline=0.0, unit="", trend_per_day=0.0, text_en="", text_ko="") for s in ("oil_temp", "discharge_temp", "current")]
    assert rising_offset(rows, cited) == 5.0
    assert rising_offset(rows, []) == 0.0


def test_false_alarms_raise_the_warning_bar_up_to_a_cap() -> None:
    assert warning_hours(0, SETTINGS) == 2.0 and warning_hours(2, SETTINGS) == 6.0 and warning_hours(50, SETTINGS) == 12.0


def test_health_index_formula() -> None:
    assert health_index(0, 0, None) == 100.0
    assert health_index(8, 1, None) == round(100 * math.exp(-1), 1)
    assert health_index(0, 0, 0.5) == 50.0
    assert health_index(8, 2, 0.5) == round(100 * math.exp(-32 / 8) * 0.5, 1)


def _hourly(machine: str, sensor: str, start: datetime, values: list[float]) -> pl.DataFrame:
    times = [start + timedelta(hours=i) for i in range(len(values))]
    return pl.DataFrame({"machine_id": machine, "sensor": sensor, "window_start": times, "mean": values})


def test_evidence_against_the_machines_own_baseline() -> None:
    start, end = day_bounds(DAY, TZ)
    base_from = start - timedelta(days=10)
    base = [9.0, 10.0, 11.0] * 80  # 240 hours: median 10, MAD 1
    history = _hourly("A", "bearing_temp", base_from, base)
    today = _hourly("A", "bearing_temp", start, [13.0] * 10)
    sensor = pl.concat([history, today])
    machine = sensor.select("machine_id", "window_start").with_columns(pl.lit(1.0).alias("share_running"))
    evidence = sensor_evidence(sensor, machine, pl.DataFrame(schema=SCORE_SCHEMA), start, end, SETTINGS)
    row = evidence.row(0, named=True)
    assert row["baseline"] == pytest.approx(10.0) and row["value"] == pytest.approx(13.0)
    assert row["scale"] == pytest.approx(1.4826) and row["z"] == pytest.approx(3 / 1.4826)
    assert row["trend_per_day"] > 0


def test_evidence_compares_at_the_same_load() -> None:
    """A sensor that follows the load is not abnormal because the load rose; one that departs from
    its load relation is."""
    start, end = day_bounds(DAY, TZ)
    base_from = start - timedelta(days=10)
    load = [0.3 + 0.4 * ((i * 7) % 10) / 10 for i in range(240)]
    follows = [20 + 50 * x + (0.5 if i % 2 else -0.5) for i, x in enumerate(load)]
    frames = [
        _hourly("A", "motor_current", base_from, load),
        _hourly("A", "oil_temp", base_from, follows),
        _hourly("A", "motor_current", start, [0.9] * 10),
        _hourly("A", "oil_temp", start, [20 + 50 * 0.9] * 10),  # on its load line at a load never seen
        _hourly("B", "motor_current", base_from, load),
        _hourly("B", "oil_temp", base_from, follows),
        _hourly("B", "motor_current", start, [0.5] * 10),
        _hourly("B", "oil_temp", start, [20 + 50 * 0.5 + 8] * 10),  # 8 above its line at a usual load
    ]
    sensor = pl.concat(frames)
    machine = sensor.select("machine_id", "window_start").unique().with_columns(pl.lit(1.0).alias("share_running"))
    none = pl.DataFrame(schema=SCORE_SCHEMA)
    aware = sensor_evidence(sensor, machine, none, start, end, SETTINGS, {"A": "motor_current", "B": "motor_current"}).filter(pl.col("sensor") == "oil_temp")
    plain = sensor_evidence(sensor, machine, none, start, end, SETTINGS).filter(pl.col("sensor") == "oil_temp")
    z_aware = dict(aware.select("machine_id", "z").iter_rows())
    z_plain = dict(plain.select("machine_id", "z").iter_rows())
    assert abs(z_aware["A"]) < 1 < z_plain["A"]
    assert z_aware["B"] > 5
    assert aware.filter(pl.col("machine_id") == "A").get_column("baseline").item() == pytest.approx(65.0, abs=0.6)


def test_evidence_items_put_the_detectors_drivers_first() -> None:
    rows = pl.DataFrame(
        {"machine_id": "A", "sensor": ["a", "b", "c", "d"], "value": [1.0] * 4, "baseline": [0.0] * 4, "scale": [1.0] * 4,
         "z": [0.8, 5.0, -2.5, 1.5], "trend_per_day": [None] * 4},
        schema=EVIDENCE_SCHEMA,
    )  # fmt: skip
    items = evidence_items(rows, {"a": "°C"}, SETTINGS, drivers=["a", "d"])
    # a (driver, past driver_z 0.5), d (driver), then b and c past evidence_z 2 by size.
    assert [(e.sensor, e.direction) for e in items] == [("a", "up"), ("d", "up"), ("b", "up"), ("c", "down")]
    assert items[0].unit == "°C" and "0.8 sd above" in items[0].text_en and "높음" in items[0].text_ko
    # Without the detector naming them, small offsets are not evidence.
    assert [e.sensor for e in evidence_items(rows, {}, SETTINGS)] == ["b", "c"]


def test_assess_picks_the_rule_cites_the_evidence_and_never_invents_a_cause() -> None:
    machines = pl.DataFrame({"machine_id": ["CNC-01", "CNC-02", "CNC-03", "CNC-04"], "machine_type": "cnc_machining_center"})
    anomaly = pl.DataFrame(
        {"machine_id": ["CNC-01", "CNC-02"], "alarm_hours": [6.0, 5.0], "above_hours": [6.0, 5.0], "max_score": [3.0, 2.0],
         "alarm_days": [1, 1], "drivers": [["vibration_rms", "bearing_temp"], ["door_sensor"]], "anomaly_model_id": ["m1", "m2"]},
    )  # fmt: skip
    risk = pl.DataFrame(
        {"machine_id": ["CNC-03"], "probability": [0.9], "horizon_hours": [168.0], "ttf_median_h": [30.0], "ttf_p10_h": [10.0],
         "reason_en": ["bearing_temp rising"], "reason_ko": ["베어링 온도 상승"], "model_id": ["f1"], "note": [""]},
    )  # fmt: skip
    evidence = pl.DataFrame(
        {"machine_id": ["CNC-01", "CNC-01", "CNC-02"], "sensor": ["vibration_rms", "bearing_temp", "door_sensor"],
         "value": [4.0, 60.0, 1.0], "baseline": [2.0, 45.0, 0.0], "scale": [0.5, 3.0, 0.1], "z": [4.0, 5.0, 10.0], "trend_per_day": [0.3, 2.0, None]},
        schema=EVIDENCE_SCHEMA,
    )  # fmt: skip
    health = assess(DAY, machines, anomaly, risk, evidence, KnowledgeBase.load(), {"bearing_temp": "°C", "vibration_rms": "mm/s"}, SETTINGS)
    rows = {r["machine_id"]: r for r in health.iter_rows(named=True)}
    bearing = rows["CNC-01"]
    assert bearing["status"] == "warning" and bearing["failure_mode"] == "bearing_wear" and bearing["rule_id"] == "cnc_spindle_bearing_wear"
    assert bearing["urgency"] and bearing["downtime_min_h"] <= bearing["downtime_max_h"]
    assert "vibration_rms" in bearing["evidence_json"] and "mm/s" in bearing["reason_en"] and "근거" in bearing["reason_ko"]
    unknown = rows["CNC-02"]
    assert unknown["status"] == "warning" and unknown["failure_mode"] == "unknown" and unknown["rule_id"] is None
    assert unknown["cause_en"] is None and unknown["action_en"] is None
    assert "no rule of the knowledge base matches" in unknown["reason_en"] and "door_sensor" in unknown["reason_en"]
    assert "일치하는 규칙이 없습니다" in unknown["reason_ko"]
    at_risk = rows["CNC-03"]
    assert at_risk["status"] == "critical" and at_risk["urgency"] == "immediate"
    assert at_risk["probability"] == 0.9 and at_risk["failure_model_id"] == "f1" and "90%" in at_risk["reason_en"]
    assert at_risk["health_index"] == pytest.approx(10.0)
    quiet = rows["CNC-04"]
    assert quiet["status"] == "normal" and quiet["health_index"] == 100.0 and quiet["reason_en"] == "" and quiet["failure_mode"] is None
    assert set(health.get_column("day")) == {DAY}


def test_a_late_rise_says_its_hours_above_the_threshold() -> None:
    # One alarmed hour but four above the threshold: a warning (rising_above_hours), and the
    # reason says the four hours, or a plant manager reads "alarm for 1 h" beside a warning.
    machines = pl.DataFrame({"machine_id": ["CMP-01"], "machine_type": "air_compressor"})
    anomaly = pl.DataFrame(
        {"machine_id": ["CMP-01"], "alarm_hours": [1.0], "above_hours": [4.0], "max_score": [2.0],
         "alarm_days": [1], "drivers": [["vibration_rms"]], "anomaly_model_id": ["m1"]},
    )  # fmt: skip
    risk = pl.DataFrame(schema=RISK_SCHEMA)  # no failure model yet
    evidence = pl.DataFrame(schema=EVIDENCE_SCHEMA)
    health = assess(DAY, machines, anomaly, risk, evidence, KnowledgeBase.load(), {}, SETTINGS)
    row = health.row(0, named=True)
    assert SETTINGS.rising_above_hours <= 4.0 and row["status"] == "warning"
    assert "anomaly alarm for 1 h, 4 h above the threshold" in row["reason_en"]
    assert "이상 감지 경보 1시간, 기준 초과 4시간" in row["reason_ko"]
    # Compared as shown, in whole hours: 1.3 h above beside 1 alarmed hour adds nothing.
    close = anomaly.with_columns(pl.lit(1.3).alias("above_hours"))
    reason = assess(DAY, machines, close, risk, evidence, KnowledgeBase.load(), {}, SETTINGS).row(0, named=True)["reason_en"]
    assert "anomaly alarm for 1 h, driven by" in reason and "above the threshold" not in reason


def test_confirmed_problems_become_failure_labels(acme: Hub) -> None:
    from analytics.models.failure.training import CONFIRMED_TEXT, with_confirmed_problems

    hub, factory_id, machine = acme, "acme", "CNC-01"
    book = AlertBook(hub, factory_id)
    book.apply_day(DAY, [AlertCandidate(machine, "bearing_wear", "warning", DAY, {})], settings=AlertSettings())
    alert = book.open_alerts()[0]
    book.give_feedback(alert.alert_id, "true_problem", user="kim", failure_mode="bearing_wear")
    events = pl.DataFrame(schema={"factory_id": pl.String(), "machine_id": pl.String(), "ts": pl.Datetime("us", "UTC"), "kind": pl.String(), "component": pl.String(), "text": pl.String()})
    labelled = with_confirmed_problems(hub, factory_id, events, datetime(2027, 1, 1, tzinfo=UTC))
    added = labelled.filter(pl.col("text") == CONFIRMED_TEXT)
    assert added.height == 1 and added.get_column("kind").item() == "failure" and added.get_column("component").item() == "bearing_wear"
    assert added.get_column("ts").item() == day_bounds(DAY, hub.registry.factory(factory_id).timezone)[1]
    # Not before it was known, and not twice when the machine logged its own failure that week.
    assert with_confirmed_problems(hub, factory_id, events, datetime(2026, 10, 14, tzinfo=UTC)).height == 0
    logged = pl.DataFrame(
        {"factory_id": factory_id, "machine_id": machine, "ts": [datetime(2026, 10, 16, tzinfo=UTC)], "kind": "failure", "component": "spindle", "text": ""},
        schema=events.schema,
    )
    assert with_confirmed_problems(hub, factory_id, logged, datetime(2027, 1, 1, tzinfo=UTC)).height == 1
