"""Machine health for one day: a status and a 0-100 index from the anomaly monitor and the failure
model, the sensor evidence behind it, and the knowledge-base action that evidence points to.

Three steps, each a plain function of frames so a notebook can run them on its own data:

1. :func:`anomaly_state` — per machine, the day's alarmed and above-threshold hours, the worst
   score, how many days in a row the machine has been in warning-level alarm, and the sensors
   that drove the alarms (the monitor's per-window drivers, weighted by score).
2. :func:`sensor_evidence` — per machine and sensor, the level over the hours that matter (the
   alarmed hours, else the last day's running hours) against the machine's own baseline (median
   and robust sd of its running, not-flagged hours of the last ``baseline_days``), and its trend
   per day: the figures a technician can check on the machine.
3. :func:`assess` — status (normal / watch / warning / critical, rules in
   :class:`~analytics.config.SolutionSettings`), health index, reasons in Korean and English, and
   the best matching rule of the knowledge base (:func:`~analytics.solutions.knowledge.match`).
   When no rule matches, the reason says so and lists the evidence; no cause is invented.

Health index: ``100 × (1 − a) × (1 − f)``, where ``f`` is the failure probability within the
horizon and ``a = 1 − exp(−h / 8)`` grows with ``h``, the day's alarmed hours plus a full day per
further day in alarm: 100 is a machine with neither an alarm nor a failure risk, an eight-hour
alarm alone takes it to 37, a week in alarm to nearly 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from analytics.config import SolutionSettings
from analytics.solutions.knowledge import FAILURE_MODE_LABELS, UNKNOWN_MODE, URGENCY_LABELS, Evidence, KnowledgeBase, Match, match

log = logging.getLogger(__name__)

STATUSES = ("normal", "watch", "warning", "critical")
WARNING_STATUSES = ("warning", "critical")  # statuses that open (or keep open) an alert
STATUS_LABELS: dict[str, dict[str, str]] = {
    "ko": {"normal": "정상", "watch": "관찰", "warning": "경고", "critical": "위험"},
    "en": {"normal": "normal", "watch": "watch", "warning": "warning", "critical": "critical"},
}
ALARM_HOURS_SCALE = 8.0  # alarmed hours that take the anomaly side of the index to 1 - 1/e
RUNNING_SHARE = 0.5  # an hour counts as running (for evidence) when the machine ran at least half of it

ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "machine_id": pl.String(),
    "alarm_hours": pl.Float64(),
    "above_hours": pl.Float64(),
    "max_score": pl.Float64(),
    "alarm_days": pl.Int64(),
    "drivers": pl.List(pl.String()),
    "anomaly_model_id": pl.String(),
}
EVIDENCE_SCHEMA: dict[str, pl.DataType] = {
    "machine_id": pl.String(),
    "sensor": pl.String(),
    "value": pl.Float64(),
    "baseline": pl.Float64(),
    "scale": pl.Float64(),
    "z": pl.Float64(),
    "trend_per_day": pl.Float64(),
}
HEALTH_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "machine_id": pl.String(),
    "machine_type": pl.String(),
    "status": pl.String(),
    "health_index": pl.Float64(),
    "alarm_hours": pl.Float64(),
    "above_hours": pl.Float64(),
    "max_score": pl.Float64(),
    "alarm_days": pl.Int64(),
    "probability": pl.Float64(),
    "horizon_hours": pl.Float64(),
    "ttf_median_h": pl.Float64(),
    "ttf_p10_h": pl.Float64(),
    "failure_mode": pl.String(),
    "rule_id": pl.String(),
    "match_score": pl.Float64(),
    "urgency": pl.String(),
    "downtime_min_h": pl.Float64(),
    "downtime_max_h": pl.Float64(),
    "cause_en": pl.String(),
    "cause_ko": pl.String(),
    "action_en": pl.String(),
    "action_ko": pl.String(),
    "reason_en": pl.String(),
    "reason_ko": pl.String(),
    "evidence_json": pl.String(),
    "anomaly_model_id": pl.String(),
    "failure_model_id": pl.String(),
    "failure_note": pl.String(),
}


def _hours(start: str, end: str) -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_seconds() / 3600


def anomaly_state(
    scores: pl.DataFrame,
    day_start: datetime,
    day_end: datetime,
    timezone: str,
    settings: SolutionSettings,
) -> pl.DataFrame:
    """Per machine, the anomaly side of the day (see the module doc); ``scores`` are the stored
    anomaly scores of the day and the days before it (for the run of days in alarm)."""
    if scores.height == 0:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    scores = scores.filter(pl.col("window_start") < day_end).with_columns(
        _hours("window_start", "window_end").alias("_h"),
        pl.col("window_start").dt.convert_time_zone(timezone).dt.date().alias("_date"),
    )
    today = scores.filter(pl.col("window_start") >= day_start)
    day = today.group_by("machine_id").agg(
        (pl.col("_h") * pl.col("alarm")).sum().alias("alarm_hours"),
        (pl.col("_h") * pl.col("above")).sum().alias("above_hours"),
        pl.col("score").filter(~pl.col("excluded")).max().alias("max_score"),
        pl.col("model_id").drop_nulls().last().alias("anomaly_model_id"),
    )
    drivers = _alarm_drivers(today)
    streak = _alarm_streak(scores, day_start, timezone, settings.warning_alarm_hours)
    return (
        day.join(drivers, on="machine_id", how="left")
        .join(streak, on="machine_id", how="left")
        .with_columns(pl.col("alarm_days").fill_null(0), pl.col("drivers").fill_null([]))
        .select(list(ANOMALY_SCHEMA))
        .cast(ANOMALY_SCHEMA)  # type: ignore[arg-type]
        .sort("machine_id")
    )


def _alarm_drivers(today: pl.DataFrame) -> pl.DataFrame:
    """Sensors behind the day's alarms (else its exceedances), by score-weighted share, largest first."""
    focus = today.filter(pl.col("alarm"))
    focus = pl.concat([focus, today.filter(pl.col("above") & ~pl.col("machine_id").is_in(focus.get_column("machine_id").unique().implode()))])
    if focus.height == 0:
        return pl.DataFrame(schema={"machine_id": pl.String(), "drivers": pl.List(pl.String())})
    return (
        focus.select("machine_id", "score", "drivers")
        .explode("drivers")
        .drop_nulls("drivers")
        .unnest("drivers")
        .group_by("machine_id", "sensor")
        .agg((pl.col("share") * pl.col("score")).sum().alias("weight"))
        .sort(["machine_id", "weight", "sensor"], descending=[False, True, False])
        .group_by("machine_id", maintain_order=True)
        .agg(pl.col("sensor").alias("drivers"))
    )


def _alarm_streak(scores: pl.DataFrame, day_start: datetime, timezone: str, hours: float) -> pl.DataFrame:
    """Consecutive local days, ending with the day processed, with at least ``hours`` alarmed."""
    today = day_start.astimezone(ZoneInfo(timezone)).date()
    per_day = (
        scores.group_by("machine_id", "_date")
        .agg((pl.col("_h") * pl.col("alarm")).sum().alias("h"))
        .filter(pl.col("h") >= hours)
        # Days back from today; a streak is the run 0, 1, 2, ... without a gap.
        .with_columns((pl.lit(today) - pl.col("_date")).dt.total_days().alias("back"))
        .filter(pl.col("back") >= 0)
        .sort("machine_id", "back")
    )
    return (
        per_day.with_columns((pl.col("back") == pl.int_range(pl.len()).over("machine_id")).alias("unbroken"))
        .group_by("machine_id")
        .agg(pl.col("unbroken").cum_min().sum().cast(pl.Int64).alias("alarm_days"))
    )


def sensor_evidence(
    sensor_features: pl.DataFrame,
    machine_features: pl.DataFrame,
    scores: pl.DataFrame,
    day_start: datetime,
    day_end: datetime,
    settings: SolutionSettings,
    load_of: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Per machine and sensor: level over the hours that matter against what the machine's own
    baseline expects at the same load, robust z and trend per day (see the module doc).

    ``sensor_features``/``machine_features``: the 1-hour feature tables covering ``baseline_days``
    before the day; ``scores``: the stored anomaly scores over the same span (their flagged
    windows stay out of the baseline); ``load_of``: each machine's load sensor (the state rule's).
    Where a machine has one, every other sensor is first fitted on it over the baseline
    (``y = a + b × load``, least squares): a compressor that delivers less air because less is
    asked of it is not clogged, and the offset is measured from the fit. ``baseline`` is then the
    level expected at the current load."""
    running = machine_features.filter(pl.col("share_running") >= RUNNING_SHARE).select("machine_id", "window_start")
    hourly = sensor_features.select("machine_id", "sensor", "window_start", "mean").drop_nulls("mean").join(
        running, on=["machine_id", "window_start"], how="semi"
    )
    if hourly.height == 0:
        return pl.DataFrame(schema=EVIDENCE_SCHEMA)
    hourly = _with_load(hourly, load_of or {})
    flagged = scores.filter(pl.col("above") | pl.col("excluded")).select("machine_id", "window_start") if scores.height else None
    since = day_start - timedelta(days=settings.baseline_days)
    base = hourly.filter((pl.col("window_start") >= since) & (pl.col("window_start") < day_start))
    if flagged is not None:
        base = base.join(flagged, on=["machine_id", "window_start"], how="anti")
    fit = base.group_by("machine_id", "sensor").agg(
        pl.when(pl.col("load").var() > 0).then(pl.cov("load", "mean") / pl.col("load").var()).otherwise(0.0).fill_null(0.0).alias("b"),
        pl.col("mean").mean().alias("_my"),
        pl.col("load").mean().fill_null(0.0).alias("_ml"),
        pl.col("mean").std().alias("sd"),
        pl.len().alias("n_base"),
    ).with_columns((pl.col("_my") - pl.col("b") * pl.col("_ml")).alias("a"))
    residual = pl.col("mean") - pl.col("a") - pl.col("b") * pl.col("load").fill_null(0.0)
    baseline = (
        base.join(fit.select("machine_id", "sensor", "a", "b"), on=["machine_id", "sensor"])
        .with_columns(residual.alias("r"))
        .group_by("machine_id", "sensor")
        .agg(pl.col("r").median().alias("r_med"), ((pl.col("r") - pl.col("r").median()).abs().median() * 1.4826).alias("mad"))
        .join(fit, on=["machine_id", "sensor"])
    )
    now = (
        _focus_hours(hourly, scores, day_start, day_end)
        .group_by("machine_id", "sensor")
        .agg(pl.col("mean").mean().alias("value"), pl.col("load").mean().fill_null(0.0).alias("load_now"))
    )
    trend_from = day_end - timedelta(days=settings.trend_days)
    trend = (
        hourly.filter((pl.col("window_start") >= trend_from) & (pl.col("window_start") < day_end))
        .join(fit.select("machine_id", "sensor", "a", "b"), on=["machine_id", "sensor"])
        .with_columns(residual.alias("r"), ((pl.col("window_start") - pl.lit(trend_from)).dt.total_seconds() / 86400).alias("t"))
        .group_by("machine_id", "sensor")
        .agg((pl.cov("t", "r") / pl.col("t").var()).alias("trend_per_day"), pl.len().alias("n_trend"))
        # A slope over a few hours of one day is not a trend over days.
        .with_columns(pl.when(pl.col("n_trend") >= 12).then(pl.col("trend_per_day")).alias("trend_per_day"))
    )
    # The robust sd, floored by a tenth of the plain sd: a sensor that barely moves must not make
    # every small step look like a fault.
    scale = pl.max_horizontal(pl.col("mad"), pl.col("sd").fill_null(0) * 0.1, pl.lit(1e-9))
    expected = pl.col("a") + pl.col("b") * pl.col("load_now") + pl.col("r_med")
    return (
        now.join(baseline.filter(pl.col("n_base") >= 12), on=["machine_id", "sensor"], how="inner")
        .join(trend, on=["machine_id", "sensor"], how="left")
        .with_columns(scale.alias("scale"), expected.alias("baseline"))
        .with_columns(((pl.col("value") - pl.col("baseline")) / pl.col("scale")).alias("z"))
        .select(list(EVIDENCE_SCHEMA))
        .cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]
        .sort("machine_id", "sensor")
    )


def _with_load(hourly: pl.DataFrame, load_of: Mapping[str, str]) -> pl.DataFrame:
    """``hourly`` plus ``load``: the machine's load-sensor mean in the same hour (null for the load
    sensor itself and for machines without one, so those are compared with their plain level)."""
    if not load_of:
        return hourly.with_columns(pl.lit(None, dtype=pl.Float64).alias("load"))
    rules = pl.DataFrame({"machine_id": list(load_of), "load_sensor": list(load_of.values())})
    loads = hourly.join(rules, left_on=["machine_id", "sensor"], right_on=["machine_id", "load_sensor"]).select(
        "machine_id", "window_start", pl.col("mean").alias("load")
    )
    return (
        hourly.join(rules, on="machine_id", how="left")
        .join(loads, on=["machine_id", "window_start"], how="left")
        .with_columns(pl.when(pl.col("sensor") == pl.col("load_sensor")).then(None).otherwise(pl.col("load")).alias("load"))
        .drop("load_sensor")
    )


def _focus_hours(hourly: pl.DataFrame, scores: pl.DataFrame, day_start: datetime, day_end: datetime) -> pl.DataFrame:
    """The day's alarmed hours of machines with alarms (else exceedances), the day's running hours of the others."""
    day = hourly.filter((pl.col("window_start") >= day_start) & (pl.col("window_start") < day_end))
    if scores.height == 0:
        return day
    today = scores.filter((pl.col("window_start") >= day_start) & (pl.col("window_start") < day_end))
    alarmed = today.filter(pl.col("alarm")).select("machine_id", "window_start")
    above = today.filter(pl.col("above")).select("machine_id", "window_start").join(alarmed.select("machine_id").unique(), on="machine_id", how="anti")
    focus = pl.concat([alarmed, above])
    in_focus = day.join(focus, on=["machine_id", "window_start"], how="semi")
    rest = day.join(focus.select("machine_id").unique(), on="machine_id", how="anti")
    return pl.concat([in_focus, rest])


def evidence_items(rows: pl.DataFrame, units: dict[str, str], settings: SolutionSettings, drivers: Sequence[str] = ()) -> list[Evidence]:
    """One machine's evidence rows (from :func:`sensor_evidence`), as
    knowledge-base :class:`~analytics.solutions.knowledge.Evidence`: the sensors that drove the
    anomaly alarm first (the detector compares like with like, load and operating mode; a
    driver counts from ``driver_z``), then other sensors past ``evidence_z``, largest first."""
    rank = {sensor: i for i, sensor in enumerate(drivers)}
    found = (
        rows.with_columns(pl.col("sensor").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("_rank"))
        # A sensor the detector named is evidence once its offset is clear of noise; any other
        # must stand out on its own.
        .filter(pl.col("z").abs() >= pl.when(pl.col("_rank") < len(rank)).then(settings.driver_z).otherwise(settings.evidence_z))
        .sort(["_rank", pl.col("z").abs()], descending=[False, True])
        .head(settings.max_evidence)
    )
    items = []
    for r in found.iter_rows(named=True):
        up = r["z"] > 0
        unit = units.get(r["sensor"], "")
        sd = abs(r["z"])
        items.append(
            Evidence(
                sensor=r["sensor"],
                direction="up" if up else "down",
                value=r["value"],
                baseline=r["baseline"],
                unit=unit,
                trend_per_day=r["trend_per_day"],
                text_en=f"{sd:.1f} sd {'above' if up else 'below'} its {settings.baseline_days}-day normal",
                text_ko=f"최근 {settings.baseline_days}일 정상 수준보다 {sd:.1f} 표준편차 {'높음' if up else '낮음'}",
            )
        )
    return items


def rising_offset(rows: pl.DataFrame, items: Sequence[Evidence]) -> float:
    """The largest offset above its normal, in robust sd, of an evidence sensor (``items``, from
    ``rows`` of :func:`sensor_evidence`) whose trend still rises; 0 when none does."""
    cited = {e.sensor for e in items}
    rising = rows.filter(pl.col("sensor").is_in(list(cited)) & (pl.col("z") > 0) & (pl.col("trend_per_day") > 0))
    return float(rising.get_column("z").max()) if rising.height else 0.0  # type: ignore[arg-type]


def warning_hours(false_alarms: int, settings: SolutionSettings) -> float:
    """Alarmed hours that make a warning on a machine with ``false_alarms`` recent false-alarm verdicts."""
    return min(settings.warning_alarm_hours + settings.false_alarm_hours * false_alarms, max(settings.max_alarm_hours, settings.warning_alarm_hours))


def classify(
    alarm_hours: float,
    alarm_days: int,
    probability: float | None,
    ttf_p10_h: float | None,
    settings: SolutionSettings,
    false_alarms: int = 0,
    above_hours: float = 0.0,
    rising_sd: float = 0.0,
) -> str:
    """The status from the anomaly and failure sides (rules in :class:`~analytics.config.SolutionSettings`);
    ``false_alarms``: recent false-alarm verdicts on the machine, each raising the alarmed hours
    a warning needs (:func:`warning_hours`); ``above_hours``: the day's hours above the
    monitor's threshold, alarmed or not; ``rising_sd``: the largest offset, in robust sd above its
    own normal, of an evidence sensor that is still rising (:func:`rising_offset`)."""
    p = probability if probability is not None and not math.isnan(probability) else 0.0
    level = 0
    if alarm_hours >= settings.watch_alarm_hours:
        level = 1
    trusted = false_alarms == 0  # on a machine whose alarms people called false, only the alarm-hour bar counts
    late_rise = bool(settings.rising_above_hours) and level == 1 and above_hours >= settings.rising_above_hours
    corroborated = bool(settings.corroborated_above_hours) and above_hours >= settings.corroborated_above_hours and rising_sd >= settings.corroborated_sd
    if alarm_hours >= warning_hours(false_alarms, settings) or (trusted and (late_rise or corroborated)):
        level = 2
    if level == 2 and alarm_days >= settings.critical_alarm_days:
        level = 3
    if p >= settings.watch_probability:
        # The model and the monitor agreeing is stronger than either alone.
        level = max(level, 2 if level >= 1 else 1)
    if p >= settings.warning_probability:
        level = max(level, 2)
    if level >= 2 and ttf_p10_h is not None and not math.isnan(ttf_p10_h) and ttf_p10_h <= settings.critical_ttf_hours:
        level = 3
    return STATUSES[level]


def health_index(alarm_hours: float, alarm_days: int, probability: float | None) -> float:
    """0-100, 100 healthy (formula in the module doc)."""
    hours = alarm_hours + 24.0 * max(alarm_days - 1, 0)
    a = 1 - math.exp(-hours / ALARM_HOURS_SCALE)
    f = probability if probability is not None and not math.isnan(probability) else 0.0
    return round(100 * (1 - a) * (1 - f), 1)


def _reasons(row: dict[str, Any], evidence: list[Evidence], best: Match | None, language: str) -> str:
    ko = language == "ko"
    parts = []
    if row["alarm_hours"]:
        drivers = ", ".join(row["drivers"][:3]) or "-"
        # A warning can come from hours above the threshold the persistence rule has not yet
        # alarmed (a rise late in the day): say them, so the status is explained.
        above = round(row.get("above_hours") or 0.0)  # compared as shown: whole hours
        if ko:
            streak = f" ({row['alarm_days']}일 연속)" if row["alarm_days"] > 1 else ""
            extra = f", 기준 초과 {above}시간" if above > round(row["alarm_hours"]) else ""
            parts.append(f"이상 감지 경보 {row['alarm_hours']:.0f}시간{streak}{extra}, 주요 센서: {drivers}")
        else:
            streak = f" ({row['alarm_days']} days running)" if row["alarm_days"] > 1 else ""
            extra = f", {above} h above the threshold" if above > round(row["alarm_hours"]) else ""
            parts.append(f"anomaly alarm for {row['alarm_hours']:.0f} h{streak}{extra}, driven by {drivers}")
    elif row.get("above_hours"):
        drivers = ", ".join(row["drivers"][:3]) or "-"
        parts.append(f"이상 감지 기준 초과 {row['above_hours']:.0f}시간, 주요 센서: {drivers}" if ko else f"above the anomaly threshold for {row['above_hours']:.0f} h, driven by {drivers}")
    p = row.get("probability")
    if p is not None and not math.isnan(p) and p > 0:
        days = (row.get("horizon_hours") or 168) / 24
        ttf = row.get("ttf_median_h")
        if ko:
            text = f"{days:.0f}일 내 고장 확률 {p:.0%}"
            if ttf is not None and not math.isnan(ttf):
                text += f", 예상 고장까지 약 {ttf:.0f}시간(중앙값)"
        else:
            text = f"failure probability {p:.0%} within {days:.0f} days"
            if ttf is not None and not math.isnan(ttf):
                text += f", median time to failure about {ttf:.0f} h"
        reason = row.get("failure_reason")
        if reason:
            text += f" ({reason})"
        parts.append(text)
    if evidence:
        parts.append(("근거: " if ko else "evidence: ") + "; ".join(e.describe(language) for e in evidence))  # type: ignore[arg-type]
    if best is None and row["status"] in ("warning", "critical"):
        parts.append(
            "지식베이스에 이 증상과 일치하는 규칙이 없습니다. 추정 원인을 제시하지 않으니 위 근거를 현장에서 확인하십시오"
            if ko
            else "no rule of the knowledge base matches these symptoms; no cause is suggested, check the evidence above on the machine"
        )
    return "; ".join(parts)


def assess(
    day: date,
    machines: pl.DataFrame,
    anomaly: pl.DataFrame,
    risk: pl.DataFrame,
    evidence: pl.DataFrame,
    kb: KnowledgeBase,
    units: dict[str, str],
    settings: SolutionSettings,
    false_alarms: Mapping[str, int] | None = None,
) -> pl.DataFrame:
    """One row per machine (:data:`HEALTH_SCHEMA`) for the local ``day``: status, index, reasons
    and the recommended action. ``false_alarms``: per machine, the false-alarm verdicts people
    gave on its recent alerts (they raise the alarm hours a warning needs).

    ``machines``: machine_id, machine_type of every machine to assess; ``anomaly``: from
    :func:`anomaly_state`; ``risk``: each machine's latest failure-risk row of the day
    (:data:`~analytics.models.failure.predict.RISK_SCHEMA`; no rows without a failure model); ``evidence``: from :func:`sensor_evidence`."""
    risk = risk.select("machine_id", "probability", "horizon_hours", "ttf_median_h", "ttf_p10_h", "reason_en", "reason_ko", "model_id", "note")
    frame = (
        machines.select("machine_id", "machine_type")
        .join(anomaly, on="machine_id", how="left")
        .join(risk.rename({"model_id": "failure_model_id", "note": "failure_note"}), on="machine_id", how="left")
        .with_columns(
            pl.col("alarm_hours").fill_null(0.0),
            pl.col("above_hours").fill_null(0.0),
            pl.col("alarm_days").fill_null(0),
            pl.col("drivers").fill_null([]),
        )
        .sort("machine_id")
    )
    evidence_of = evidence.partition_by("machine_id", as_dict=True) if evidence.height else {}
    rows = []
    for row in frame.iter_rows(named=True):
        false = (false_alarms or {}).get(row["machine_id"], 0)
        own = evidence_of.get((row["machine_id"],), pl.DataFrame(schema=EVIDENCE_SCHEMA))
        items = evidence_items(own, units, settings, row["drivers"])
        status = classify(row["alarm_hours"], row["alarm_days"], row["probability"], row["ttf_p10_h"], settings, false, row["above_hours"], rising_offset(own, items))
        best = None
        if status != "normal":
            found = match(kb, row["machine_type"], items)
            best = found[0] if found else None
        row = {**row, "status": status}
        out: dict[str, Any] = {k: row.get(k) for k in HEALTH_SCHEMA if k in row}
        out["day"] = day
        out["health_index"] = health_index(row["alarm_hours"], row["alarm_days"], row["probability"])
        for language in ("en", "ko"):
            reason = _reasons({**row, "failure_reason": row.get(f"reason_{language}")}, items, best, language) if status != "normal" else ""
            if reason and false:
                hours = warning_hours(false, settings)
                reason += (
                    f"; 최근 이 설비의 경보 {false}건이 오경보로 확인되어 경고 기준을 {hours:g}시간으로 높였습니다"
                    if language == "ko"
                    else f"; {false} recent alarms on this machine were confirmed false, so a warning needs {hours:g} alarmed hours"
                )
            out[f"reason_{language}"] = reason
        out["failure_mode"] = best.rule.failure_mode if best else (UNKNOWN_MODE if status != "normal" else None)
        if best is not None:
            r = best.rule
            out.update(
                rule_id=r.id, match_score=best.score, urgency=r.urgency,
                downtime_min_h=r.typical_downtime_hours[0], downtime_max_h=r.typical_downtime_hours[1],
                cause_en=r.cause_en, cause_ko=r.cause_ko, action_en=r.action_en, action_ko=r.action_ko,
            )  # fmt: skip
        elif status == "critical":
            out["urgency"] = "immediate"
        out["evidence_json"] = json.dumps([asdict(e) for e in items], ensure_ascii=False)
        rows.append(out)
    health = pl.DataFrame(rows, schema=HEALTH_SCHEMA) if rows else pl.DataFrame(schema=HEALTH_SCHEMA)
    log.debug("assessed %d machines: %s", health.height, dict(health.group_by("status").len().iter_rows()) if health.height else {})
    return health


def describe_status(row: dict[str, Any], language: str) -> str:
    """One line for a tile or a report: status, index, mode and urgency in one language."""
    status = STATUS_LABELS[language][row["status"]]
    text = f"{row['machine_id']}: {status} ({row['health_index']:.0f}/100)"
    mode = row.get("failure_mode")
    if mode and mode != UNKNOWN_MODE:
        text += f", {FAILURE_MODE_LABELS[language].get(mode, mode)}"  # type: ignore[index]
    if row.get("urgency"):
        text += f", {URGENCY_LABELS[language][row['urgency']]}"  # type: ignore[index]
    return text
