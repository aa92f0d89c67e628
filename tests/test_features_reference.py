"""The feature layer against a naive reference written for clarity, not speed.

The reference below recomputes every feature from raw samples with plain NumPy / pandas / SciPy
and loops over windows; nothing in it reuses the pipeline's code paths (window grid, as-of merge,
kernels, rolling sums). Covered:

1. per-window statistics of :func:`partition_features` on random data (hypothesis);
2. DST days: 23/25-hour daily windows, 1-hour windows on whole local hours, every sample once;
3. operating-state assignment (as-of with tolerance) against ``pandas.merge_asof``;
4. trailing context of :func:`build_features` against a recomputation from raw samples;
5. incremental builds (day by day, late data) against a full recompute;
6. event context (hours since maintenance / failure, alarms) without look-ahead.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.features import FeatureStore, build_features
from analytics.features.featureset import MACHINE_HEALTH
from analytics.features.pipeline import StageTimes, partition_features, rules_table, sample_state, sorted_readings
from analytics.features.state import StateRule
from analytics.schemas import PlantDescription
from analytics.store.hub import Hub

US = 1_000_000
US_PER_H = 3600 * US
WIDTH_US = {"10min": 600 * US, "1h": 3600 * US}
VIB_UNITS = MACHINE_HEALTH.vibration_units
BASE_STATS = ("mean", "std", "min", "max", "first", "last", "q10", "q50", "q90", "slope_per_h", "roc_per_h", "rms", "peak", "crest", "kurtosis")
TRAILING = tuple(f"{s}_{h}" for h in ("24h", "7d") for s in ("mean", "std", "min", "max", "z"))
RTOL = 1e-9
ATOL = 1e-9

HYPOTHESIS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=True)


# =================================================================================================
# Naive reference
# =================================================================================================
def standard_offset_us(tz: str, year: int) -> int:
    """The zone's standard (non-DST) UTC offset: the smaller of its January and July offsets."""
    zone = ZoneInfo(tz)
    offsets = [datetime(year, month, 1, 12, tzinfo=zone).utcoffset() for month in (1, 7)]
    return int(min(offsets).total_seconds()) * US


def local_midnight_us(tz: str, day: date) -> int:
    return int(pd.Timestamp(day).tz_localize(tz).value // 1000)


def local_dates(ts_us: np.ndarray, tz: str) -> np.ndarray:
    return np.asarray(pd.to_datetime(ts_us, unit="us", utc=True).tz_convert(tz).date)


def window_bounds(ts_us: np.ndarray, tz: str, window: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC start and end (µs) of the window of each sample."""
    days = local_dates(ts_us, tz)
    if window == "1d":
        bounds = {d: (local_midnight_us(tz, d), local_midnight_us(tz, d + timedelta(days=1))) for d in set(days.tolist())}
        start = np.array([bounds[d][0] for d in days], dtype=np.int64)
        end = np.array([bounds[d][1] for d in days], dtype=np.int64)
        return start, end
    width = WIDTH_US[window]
    offset = np.array([standard_offset_us(tz, d.year) for d in days], dtype=np.int64)
    start = np.floor_divide(ts_us + offset, width) * width - offset
    return start, start + width


def classify(values: np.ndarray, rule: StateRule) -> np.ndarray:
    """RUNNING (2) at or above run_above, IDLE (1) at or above off_below, else OFF (0)."""
    out = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v >= rule.run_above:
            out[i] = 2
        elif v >= rule.off_below:
            out[i] = 1
    return out


def reference_state(pdf: pd.DataFrame, rules: dict[str, StateRule], intervals: dict[tuple[str, str], float]) -> np.ndarray:
    """State of every row of ``pdf`` (machine_id, sensor, ts_us, value): as of the machine's latest
    load sample at or before it, no older than twice the load sensor's interval; -1 = unknown."""
    state = np.full(len(pdf), -1, dtype=np.int64)
    for machine, rule in rules.items():
        load = pdf[(pdf.machine_id == machine) & (pdf.sensor == rule.sensor)].sort_values("ts_us", kind="stable")
        rows = pdf[pdf.machine_id == machine]
        if load.empty or rows.empty:
            continue
        right = pd.DataFrame({"ts_us": load.ts_us.to_numpy(), "load_state": classify(load.value.to_numpy(), rule)})
        left = pd.DataFrame({"ts_us": rows.ts_us.to_numpy(), "pos": np.flatnonzero((pdf.machine_id == machine).to_numpy())}).sort_values("ts_us", kind="stable")
        tolerance = round(2 * intervals[(machine, rule.sensor)] * US)
        merged = pd.merge_asof(left, right, on="ts_us", direction="backward", tolerance=tolerance, allow_exact_matches=True)
        state[merged.pos.to_numpy()] = merged.load_state.fillna(-1).astype(np.int64).to_numpy()
    return state


def none_if_nan(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def reference_stats(t: np.ndarray, v: np.ndarray, use: np.ndarray, vib: bool, length_s: float, interval_s: float) -> dict:
    """Every base statistic of one window (samples in time order)."""
    valid = ~np.isnan(v)
    used = valid & use
    x, tt = v[used], t[used]
    n = int(valid.sum())
    row: dict = dict.fromkeys(BASE_STATS)
    row["n"] = n
    row["n_used"] = len(x)
    row["share_missing"] = max(0.0, 1.0 - n / math.floor(length_s / interval_s))
    if len(x) == 0:
        return row
    mean = float(np.mean(x))
    row["mean"] = mean
    row["std"] = float(np.std(x, ddof=1)) if len(x) >= 2 else None
    row["min"], row["max"] = float(np.min(x)), float(np.max(x))
    row["first"], row["last"] = float(x[0]), float(x[-1])
    row["q10"], row["q50"], row["q90"] = (float(q) for q in np.quantile(x, [0.1, 0.5, 0.9]))
    hours = (tt - tt[0]) / US_PER_H
    if hours.max() > hours.min():
        dh = hours - hours.mean()
        row["slope_per_h"] = float(np.sum(dh * (x - mean)) / np.sum(dh * dh))
    if len(x) >= 2 and tt[-1] > tt[0]:
        row["roc_per_h"] = float((x[-1] - x[0]) / ((tt[-1] - tt[0]) / US_PER_H))
    if vib:
        rms = math.sqrt(float(np.mean(x * x)))
        peak = float(np.max(np.abs(x)))
        row["rms"], row["peak"] = rms, peak
        row["crest"] = peak / rms if rms > 0 else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            row["kurtosis"] = none_if_nan(float(scipy.stats.kurtosis(x, fisher=True, bias=True)))
    return row


@dataclass
class Reference:
    sensor: dict  # (machine, sensor, window_start_us) -> row
    machine: dict  # (machine, window_start_us) -> shares
    samples: pd.DataFrame  # every sample with state, use, window bounds


def reference_features(frame: pl.DataFrame, tz: str, window: str, rules: dict[str, StateRule], catalog: pl.DataFrame) -> Reference:
    pdf = frame.select("machine_id", "sensor", pl.col("ts").dt.epoch("us").alias("ts_us"), "value").to_pandas()
    pdf = pdf.sort_values(["machine_id", "sensor", "ts_us"], kind="stable").reset_index(drop=True)
    cat = {(r["machine_id"], r["sensor"]): r for r in catalog.iter_rows(named=True)}
    intervals = {k: r["interval_s"] for k, r in cat.items()}
    pdf["state"] = reference_state(pdf, rules, intervals)
    ruled = pdf.machine_id.isin(list(rules)).to_numpy()
    pdf["use"] = np.where(ruled, pdf.state.to_numpy() == 2, True)
    start, end = window_bounds(pdf.ts_us.to_numpy(), tz, window)
    pdf["ws"], pdf["we"] = start, end
    sensor = {}
    for (machine, name, ws), g in pdf.groupby(["machine_id", "sensor", "ws"], sort=True):
        spec = cat[(machine, name)]
        length_s = (int(g.we.iloc[0]) - int(ws)) / US
        row = reference_stats(g.ts_us.to_numpy(), g.value.to_numpy(), g.use.to_numpy(), spec["unit"] in VIB_UNITS, length_s, spec["interval_s"])
        row["window_end"] = int(g.we.iloc[0])
        sensor[(machine, name, int(ws))] = row
    machine = {}
    for m, rule in rules.items():
        load = pdf[(pdf.machine_id == m) & (pdf.sensor == rule.sensor)]
        for ws, g in load.groupby("ws"):
            s = classify(g.value.to_numpy(), rule)
            machine[(m, int(ws))] = {"share_running": float(np.mean(s == 2)), "share_idle": float(np.mean(s == 1)), "share_off": float(np.mean(s == 0))}
    return Reference(sensor, machine, pdf)


def reference_trailing(ref: Reference, tz: str, window: str) -> dict:
    """Trailing 24h / 7d context of every window, pooled over the raw used samples of the earlier
    windows whose start lies in [start - horizon, start) (daily: the 1 / 7 previous local dates)."""
    out = {}
    used = ref.samples[ref.samples.use & ~ref.samples.value.isna()]
    for (machine, name), _series in ref.samples.groupby(["machine_id", "sensor"]):
        windows = sorted({k[2] for k in ref.sensor if k[0] == machine and k[1] == name})
        values_by_window = {ws: g.value.to_numpy() for ws, g in used[(used.machine_id == machine) & (used.sensor == name)].groupby("ws")}
        for ws in windows:
            row = {}
            for horizon, days in (("24h", 1), ("7d", 7)):
                if window == "1d":
                    d = local_dates(np.array([ws]), tz)[0]
                    lo = local_midnight_us(tz, d - timedelta(days=days))
                else:
                    lo = ws - days * 24 * US_PER_H
                before = [w for w in windows if lo <= w < ws]
                pooled = np.concatenate([values_by_window.get(w, np.zeros(0)) for w in before]) if before else np.zeros(0)
                mean = float(pooled.mean()) if len(pooled) else None
                std = float(pooled.std(ddof=1)) if len(pooled) >= 2 else None
                current = ref.sensor[(machine, name, ws)]["mean"]
                row[f"mean_{horizon}"] = mean
                row[f"std_{horizon}"] = std
                row[f"min_{horizon}"] = float(pooled.min()) if len(pooled) else None
                row[f"max_{horizon}"] = float(pooled.max()) if len(pooled) else None
                row[f"z_{horizon}"] = (current - mean) / std if current is not None and std is not None and std > 0 else None
            out[(machine, name, ws)] = row
    return out


# =================================================================================================
# Comparison helpers
# =================================================================================================
def close(actual, expected, rtol: float = RTOL, atol: float = ATOL) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return actual is None
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return False
    return math.isclose(float(actual), float(expected), rel_tol=rtol, abs_tol=atol)


def sensor_rows(table: pl.DataFrame) -> dict:
    out = {}
    for row in table.with_columns(pl.col("window_start").dt.epoch("us").alias("__ws"), pl.col("window_end").dt.epoch("us").alias("__we")).iter_rows(named=True):
        key = (row["machine_id"], row["sensor"], row["__ws"])
        assert key not in out, f"duplicate sensor row {key}"
        out[key] = row
    return out


def machine_rows(table: pl.DataFrame) -> dict:
    out = {}
    for row in table.with_columns(pl.col("window_start").dt.epoch("us").alias("__ws"), pl.col("window_end").dt.epoch("us").alias("__we")).iter_rows(named=True):
        key = (row["machine_id"], row["__ws"])
        assert key not in out, f"duplicate machine row {key}"
        out[key] = row
    return out


def fmt_key(key: tuple) -> str:
    *names, ws = key
    return "/".join(names) + "@" + pd.Timestamp(ws, unit="us", tz="UTC").isoformat()


def compare(actual: dict, expected: dict, columns: tuple[str, ...], what: str) -> None:
    assert set(actual) == set(expected), (
        f"{what}: window keys differ; only in pipeline {sorted(map(fmt_key, set(actual) - set(expected)))[:5]}, "
        f"only in reference {sorted(map(fmt_key, set(expected) - set(actual)))[:5]}"
    )
    bad = []
    for key in sorted(expected):
        for c in columns:
            a, e = actual[key][c], expected[key][c]
            if not close(a, e):
                bad.append(f"{fmt_key(key)} {c}: pipeline {a!r} != reference {e!r}")
    assert not bad, f"{what}: {len(bad)} mismatches, e.g.\n" + "\n".join(bad[:12])


# =================================================================================================
# 1. Window statistics of partition_features on random data
# =================================================================================================
TZ_DAYS = [
    ("Asia/Seoul", date(2026, 1, 5)),
    ("UTC", date(2026, 6, 1)),
    ("Europe/Berlin", date(2026, 3, 29)),  # 23 h
    ("Europe/Berlin", date(2026, 10, 25)),  # 25 h
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Asia/Kolkata", date(2026, 2, 2)),  # +05:30
]


def catalog_frame(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"machine_id": pl.String, "sensor": pl.String, "unit": pl.String, "interval_s": pl.Float64}, orient="row")


def readings_frame(parts: list[tuple[str, str, np.ndarray, np.ndarray]]) -> pl.DataFrame:
    frames = [
        pl.DataFrame({"machine_id": [m] * len(t), "sensor": [s] * len(t), "ts": t.astype(np.int64), "value": v.astype(np.float64)},
                     schema={"machine_id": pl.String, "sensor": pl.String, "ts": pl.Int64, "value": pl.Float64})
        for m, s, t, v in parts
    ]
    return pl.concat(frames).with_columns(pl.from_epoch("ts", time_unit="us").dt.replace_time_zone("UTC").alias("ts"))


def window_boundaries(tz: str, day: date, window: str, start: int, end: int) -> np.ndarray:
    if window == "1d":
        return np.array([start], dtype=np.int64)
    width, off = WIDTH_US[window], standard_offset_us(tz, day.year)
    first = -((-(start + off)) // width) * width - off
    return np.arange(first, end, width, dtype=np.int64)


def random_times(rng: np.random.Generator, n: int, start: int, end: int, stretches: list[tuple[int, int]], boundaries: np.ndarray) -> np.ndarray:
    """Unique µs times in [start, end): mostly inside the stretches, some anywhere, some exactly on
    (or 1 µs before) a window boundary."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6 and stretches:
            a, b = stretches[rng.integers(len(stretches))]
            out.append(int(rng.integers(a, b)))
        elif r < 0.8:
            out.append(int(rng.integers(start, end)))
        else:
            b = int(boundaries[rng.integers(len(boundaries))])
            out.append(b if rng.random() < 0.7 else b - 1)
    t = np.unique(np.array(out, dtype=np.int64))
    return t[(t >= start) & (t < end)]


def load_series(rng: np.random.Generator, rule: StateRule, interval_us: int, stretches: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Load samples on the sensor's grid inside the stretches (with drop-outs), in runs of
    off / idle / running, with values exactly on the thresholds now and then."""
    ts = np.concatenate([np.arange(a, b, interval_us, dtype=np.int64) for a, b in stretches]) if stretches else np.zeros(0, np.int64)
    ts = np.unique(ts[rng.random(len(ts)) > 0.1])
    states = np.zeros(len(ts), dtype=np.int64)
    i = 0
    while i < len(ts):
        run = int(rng.geometric(0.05))
        states[i : i + run] = rng.choice([0, 1, 2], p=[0.2, 0.2, 0.6])
        i += run
    off, on = rule.off_below, rule.run_above
    values = np.where(states == 2, on + 30 * rng.random(len(ts)), np.where(states == 1, off + (on - off) * rng.random(len(ts)), off * rng.random(len(ts)) - 0.5))
    edge = rng.random(len(ts))
    values = np.where(edge < 0.05, off, np.where(edge < 0.10, on, values))
    return ts, values


@dataclass(frozen=True)
class Scenario:
    tz: str
    day: date
    window: str
    load_interval: float
    off_below: float
    run_gap: float
    nan_share: float
    duplicate_share: float
    shuffle: bool
    seed: int


@st.composite
def scenarios(draw) -> Scenario:
    tz, day = draw(st.sampled_from(TZ_DAYS))
    return Scenario(
        tz=tz,
        day=day,
        window=draw(st.sampled_from(["10min", "1h", "1d"])),
        load_interval=draw(st.sampled_from([1.0, 5.0, 30.0])),
        off_below=draw(st.sampled_from([0.5, 2.0])),
        run_gap=draw(st.sampled_from([0.0, 5.0])),  # 0: no idle band (off_below == run_above)
        nan_share=draw(st.sampled_from([0.0, 0.1, 0.4])),
        duplicate_share=draw(st.sampled_from([0.0, 0.1])),
        shuffle=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31)),
    )


def scenario_data(sc: Scenario) -> tuple[pl.DataFrame, dict[str, StateRule], pl.DataFrame]:
    rng = np.random.default_rng(sc.seed)
    start, end = local_midnight_us(sc.tz, sc.day), local_midnight_us(sc.tz, sc.day + timedelta(days=1))
    boundaries = window_boundaries(sc.tz, sc.day, sc.window, start, end)
    rules = {
        m: StateRule(m, "motor_current", sc.off_below, sc.off_below + sc.run_gap, "2026-01-01", "2026-01-01")
        for m in ("CNC-1", "CNC-3", "CNC-4", "GHOST")  # CNC-4: load sensor silent; GHOST: no data at all
    }
    li = sc.load_interval
    catalog = catalog_frame([
        ("CNC-1", "motor_current", "A", li), ("CNC-1", "vibration_rms", "mm/s", 1.0), ("CNC-1", "spindle_temp", "°C", 10.0),
        ("CNC-1", "dead_temp", "°C", 60.0), ("CNC-1", "rare", "bar", 600.0),
        ("CNC-3", "motor_current", "A", li), ("CNC-3", "accel", "g", 10.0),
        ("CNC-4", "motor_current", "A", li), ("CNC-4", "spindle_temp", "°C", 10.0),
        ("PUMP-2", "pressure", "bar", 10.0), ("PUMP-2", "flow", "m3/h", 10.0), ("PUMP-2", "motor_current", "A", 10.0),
        ("PUMP-2", "vibration_rms", "mm/s", 10.0),
    ])

    def stretches() -> list[tuple[int, int]]:
        out = []
        for _ in range(int(rng.integers(1, 4))):
            a = int(rng.integers(start, end))
            out.append((a, min(end, a + int(rng.integers(60, 3 * 3600)) * US)))
        return out

    parts = []
    for machine in ("CNC-1", "CNC-3"):
        spans = stretches()
        t, v = load_series(rng, rules[machine], int(li * US), spans)
        parts.append((machine, "motor_current", t, v))
        others = {"CNC-1": [("vibration_rms", 1.5, 0.5), ("spindle_temp", 50.0, 3.0)], "CNC-3": [("accel", 0.0, 2.0)]}[machine]
        for name, mu, sd in others:
            t = random_times(rng, int(rng.integers(0, 400)), start, end, spans, boundaries)
            parts.append((machine, name, t, mu + sd * rng.standard_normal(len(t))))
    # A sensor that only ever sends NaN, and one with a handful of samples.
    t = random_times(rng, int(rng.integers(1, 10)), start, end, [], boundaries)
    parts.append(("CNC-1", "dead_temp", t, np.full(len(t), np.nan)))
    t = random_times(rng, int(rng.integers(1, 4)), start, end, [], boundaries)
    parts.append(("CNC-1", "rare", t, 3 + rng.standard_normal(len(t))))
    # CNC-4 has a rule but its load sensor sends nothing: state unknown all day.
    t = random_times(rng, int(rng.integers(1, 50)), start, end, [], boundaries)
    parts.append(("CNC-4", "spindle_temp", t, 40 + rng.standard_normal(len(t))))
    # PUMP-2 has no rule: every sample counts.
    for name, mu, sd in (("pressure", 5.0, 0.5), ("flow", 100.0, 10.0), ("motor_current", 20.0, 2.0), ("vibration_rms", 2.0, 0.7)):
        t = random_times(rng, int(rng.integers(0, 300)), start, end, stretches(), boundaries)
        parts.append(("PUMP-2", name, t, mu + sd * rng.standard_normal(len(t))))
    frame = readings_frame(parts)
    # NaN values on non-load sensors; exact duplicate rows; any row order.
    not_load = pl.col("sensor") != "motor_current"
    nan_mask = pl.Series(rng.random(frame.height) < sc.nan_share)
    frame = frame.with_columns(pl.when(not_load & nan_mask).then(float("nan")).otherwise(pl.col("value")).alias("value"))
    dups = frame.filter(pl.Series(rng.random(frame.height) < sc.duplicate_share))
    frame = pl.concat([frame, dups])
    if sc.shuffle:
        frame = frame.sample(fraction=1.0, shuffle=True, seed=sc.seed % 2**32)
    else:
        frame = frame.sort("machine_id", "sensor", "ts")
    return frame, rules, catalog


def check_partition(sc: Scenario) -> None:
    frame, rules, catalog = scenario_data(sc)
    part = partition_features(frame, sc.day, sc.tz, sc.window, MACHINE_HEALTH, rules, catalog, StageTimes())
    ref = reference_features(frame, sc.tz, sc.window, rules, catalog)
    actual = sensor_rows(part.sensor)
    for row in ref.sensor.values():
        row["__we"] = row["window_end"]
    compare(actual, ref.sensor, ("n", "n_used", "share_missing", *BASE_STATS, "__we"), f"sensor table {sc}")
    # Machine table: state shares among the load sensor's own samples.
    machines = machine_rows(part.machine)
    expected = {k: v for k, v in ref.machine.items()}
    got = {k: r for k, r in machines.items() if k[0] in rules and r["share_running"] is not None}
    compare(got, expected, ("share_running", "share_idle", "share_off"), f"machine shares {sc}")
    # Cross feature of the un-ruled pump: mean motor current per mean flow.
    for (m, ws), r in machines.items():
        if m != "PUMP-2":
            continue
        cur, flow = ref.sensor.get(("PUMP-2", "motor_current", ws)), ref.sensor.get(("PUMP-2", "flow", ws))
        want = cur["mean"] / flow["mean"] if cur and flow and cur["mean"] is not None and flow["mean"] not in (None, 0.0) else None
        assert close(r["current_per_flow"], want), f"current_per_flow {fmt_key((m, ws))}: {r['current_per_flow']} != {want}"


@HYPOTHESIS
@given(scenarios())
def test_partition_statistics_match_naive_reference(sc: Scenario) -> None:
    check_partition(sc)


@pytest.mark.parametrize("window", ["10min", "1h", "1d"])
def test_partition_statistics_fixed_examples(window: str) -> None:
    """A few fixed scenarios (DST days, NaN, duplicates, unsorted) that always run."""
    for k, (tz, day) in enumerate(TZ_DAYS[2:5]):
        check_partition(Scenario(tz, day, window, 1.0 if k else 5.0, 2.0, 5.0 if k != 1 else 0.0, 0.2, 0.1, bool(k % 2), 1234 + k))


def test_flatline_vibration_has_no_kurtosis() -> None:
    """A constant (flat-lined) vibration signal has variance 0: its kurtosis is undefined (null,
    as scipy.stats.kurtosis gives NaN), not a number."""
    t0 = local_midnight_us("UTC", date(2026, 1, 5))
    frame = readings_frame([("M", "vib", t0 + np.arange(3) * US, np.full(3, 0.1))])
    catalog = catalog_frame([("M", "vib", "mm/s", 1.0)])
    part = partition_features(frame, date(2026, 1, 5), "UTC", "1h", MACHINE_HEALTH, {}, catalog, StageTimes())
    row = part.sensor.row(0, named=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert math.isnan(scipy.stats.kurtosis([0.1, 0.1, 0.1], fisher=True, bias=True))
    assert row["std"] == pytest.approx(0.0, abs=1e-12)
    assert row["kurtosis"] is None, f"kurtosis of a constant signal should be null, got {row['kurtosis']!r}"


def test_all_zero_vibration_crest_is_null_not_nan() -> None:
    """peak / rms is undefined when every value is 0: the tables use null, never NaN."""
    t0 = local_midnight_us("UTC", date(2026, 1, 5))
    frame = readings_frame([("M", "vib", t0 + np.arange(4) * US, np.zeros(4))])
    catalog = catalog_frame([("M", "vib", "mm/s", 1.0)])
    part = partition_features(frame, date(2026, 1, 5), "UTC", "1h", MACHINE_HEALTH, {}, catalog, StageTimes())
    row = part.sensor.row(0, named=True)
    assert row["rms"] == 0.0 and row["peak"] == 0.0
    assert row["crest"] is None, f"crest of an all-zero window should be null, got {row['crest']!r}"


# =================================================================================================
# 2. DST days
# =================================================================================================
DST_DAYS = [
    ("Europe/Berlin", date(2026, 3, 29), 23),
    ("Europe/Berlin", date(2026, 10, 25), 25),
    ("America/New_York", date(2026, 3, 8), 23),
    ("America/New_York", date(2026, 11, 1), 25),
    ("Europe/Berlin", date(2026, 3, 30), 24),
]


@HYPOTHESIS
@given(st.sampled_from(DST_DAYS), st.sampled_from([30.0, 60.0, 90.0]), st.floats(0.0, 0.3), st.integers(0, 2**31))
def test_dst_days(case, interval: float, drop: float, seed: int) -> None:
    tz, day, hours = case
    rng = np.random.default_rng(seed)
    start, end = local_midnight_us(tz, day), local_midnight_us(tz, day + timedelta(days=1))
    assert end - start == hours * US_PER_H
    step = int(interval * US)
    ts = np.arange(start, end, step, dtype=np.int64)
    ts = ts[rng.random(len(ts)) >= drop]
    values = 20 + rng.standard_normal(len(ts))
    values[rng.random(len(ts)) < 0.05] = np.nan
    frame = readings_frame([("M1", "temp", ts, values)])
    catalog = catalog_frame([("M1", "temp", "°C", interval)])
    n_valid = int((~np.isnan(values)).sum())
    zone = ZoneInfo(tz)

    daily = partition_features(frame, day, tz, "1d", MACHINE_HEALTH, {}, catalog, StageTimes()).sensor
    assert daily.height == 1
    row = daily.row(0, named=True)
    assert row["window_start"] == datetime.fromtimestamp(start / US, UTC)
    assert row["window_end"] == datetime.fromtimestamp(end / US, UTC)
    assert (row["window_end"] - row["window_start"]) == timedelta(hours=hours)
    assert row["n"] == n_valid
    expected = math.floor(hours * 3600 / interval)
    assert row["share_missing"] == pytest.approx(max(0.0, 1 - n_valid / expected), abs=1e-12)

    for window, minutes in (("1h", 60), ("10min", 10)):
        table = partition_features(frame, day, tz, window, MACHINE_HEALTH, {}, catalog, StageTimes()).sensor
        starts = table.get_column("window_start").to_list()
        ends = table.get_column("window_end").to_list()
        assert len(set(starts)) == len(starts)
        for s, e in zip(starts, ends, strict=True):
            assert e - s == timedelta(minutes=minutes)
            local = s.astimezone(zone)
            assert local.minute % minutes == 0 and local.second == 0 and local.microsecond == 0, f"{window} window starts at local {local}"
            assert start <= s.timestamp() * US and e.timestamp() * US <= end, f"{window} window {s}..{e} leaves the local date"
        assert table.get_column("n").sum() == n_valid, "every non-NaN sample in exactly one window"
        # With no sample dropped there is one window per local hour / 10 minutes of the date.
        if drop == 0.0:
            assert table.height == hours * 60 // minutes
        # Each sample lies in its window.
        ref = reference_features(frame, tz, window, {}, catalog)
        compare(sensor_rows(table), ref.sensor, ("n", "mean", "share_missing"), f"{tz} {day} {window}")


@pytest.mark.xfail(
    strict=True,
    reason="known limit: in a zone whose DST shift is not a multiple of the window (only Australia/Lord_Howe, 30 min), "
    "hourly windows follow standard time and the one around local midnight is split between two dates",
)
def test_windows_never_cross_local_midnight_with_half_hour_dst() -> None:
    """Every window must lie inside one local date (dates are computed independently).
    Australia/Lord_Howe shifts by 30 minutes for DST (+10:30 / +11:00): on standard-time-aligned
    1 h windows, local midnight in summer falls in the middle of a window."""
    tz = "Australia/Lord_Howe"
    catalog = catalog_frame([("M1", "temp", "°C", 60.0)])
    tables, outside = [], 0
    for day in (date(2026, 1, 15), date(2026, 1, 16)):  # DST (+11:00)
        start, end = local_midnight_us(tz, day), local_midnight_us(tz, day + timedelta(days=1))
        ts = np.arange(start, end, 60 * US, dtype=np.int64)
        frame = readings_frame([("M1", "temp", ts, np.ones(len(ts)))])
        table = partition_features(frame, day, tz, "1h", MACHINE_HEALTH, {}, catalog, StageTimes()).sensor
        outside += table.filter((pl.col("window_start").dt.epoch("us") < start) | (pl.col("window_end").dt.epoch("us") > end)).height
        tables.append(table)
    both = pl.concat(tables)
    repeated = both.filter(pl.col("window_start").is_duplicated()).select("window_start", "window_end", "n")
    assert outside == 0 and repeated.height == 0, (
        f"{outside} 1h windows cross local midnight; the same window is computed by two "
        f"date partitions and stored twice: {repeated.to_dicts()}"
    )


def test_state_tolerance_is_per_machine() -> None:
    """Minimal case: machine A's load sensor every 1 s (tolerance 2 s), machine B's every 10 s.
    A's temperature sample 5 s after A's last load sample has no known state, so it is not used
    — whatever other machines' load intervals are."""
    t0 = local_midnight_us("UTC", date(2026, 1, 5))
    frame = readings_frame([
        ("A", "current", t0 + np.arange(3) * US, np.full(3, 9.0)),  # running; last load sample at +2 s
        ("A", "temp", np.array([t0 + 7 * US]), np.array([50.0])),  # 5 s later: state unknown
    ])
    catalog = catalog_frame([("A", "current", "A", 1.0), ("A", "temp", "°C", 1.0), ("B", "current", "A", 10.0)])
    rules = {m: StateRule(m, "current", 1.0, 5.0, "x", "y") for m in "AB"}
    alone = partition_features(frame, date(2026, 1, 5), "UTC", "1h", MACHINE_HEALTH, {"A": rules["A"]}, catalog, StageTimes())
    with_b = partition_features(frame, date(2026, 1, 5), "UTC", "1h", MACHINE_HEALTH, rules, catalog, StageTimes())
    n_used = [t.sensor.filter(pl.col("sensor") == "temp").get_column("n_used").item() for t in (alone, with_b)]
    assert n_used == [0, 0], f"n_used of A's temperature without / with machine B's rule: {n_used}"


# =================================================================================================
# 3. Operating state
# =================================================================================================
@HYPOTHESIS
@given(st.integers(0, 2**31), st.sampled_from([(1.0, 10.0), (10.0, 1.0), (5.0, 5.0), (2.0, 30.0)]), st.sampled_from(["10min", "1h"]))
def test_state_assignment_matches_merge_asof(seed: int, load_intervals: tuple[float, float], window: str) -> None:
    """n_used of every window = samples whose as-of state (per machine, tolerance 2 x that
    machine's load interval) is RUNNING; machines with a rule but no load sample: nothing used."""
    rng = np.random.default_rng(seed)
    tz, day = "Asia/Seoul", date(2026, 1, 5)
    start = local_midnight_us(tz, day)
    rules = {m: StateRule(m, "current", 1.0, 5.0, "x", "y") for m in ("A", "B", "C")}
    ia, ib = load_intervals
    catalog = catalog_frame([
        ("A", "current", "A", ia), ("A", "temp", "°C", 1.0),
        ("B", "current", "A", ib), ("B", "temp", "°C", 1.0),
        ("C", "current", "A", 1.0), ("C", "temp", "°C", 1.0),  # C: rule, no load samples
        ("D", "temp", "°C", 1.0),  # D: no rule
    ])
    parts = []
    for m, interval in (("A", ia), ("B", ib)):
        step = int(interval * US)
        tol = 2 * step
        base = start + int(rng.integers(0, 3600)) * US
        # Load samples in bursts separated by gaps longer than any tolerance.
        load_ts = []
        t = base
        for _ in range(int(rng.integers(2, 6))):
            k = int(rng.integers(1, 30))
            load_ts.extend(t + np.arange(k) * step)
            t += k * step + int(rng.integers(70, 600)) * US
        load_ts = np.array(load_ts, dtype=np.int64)
        load_val = rng.choice([0.0, 2.0, 1.0, 5.0, 9.0], size=len(load_ts))
        parts.append((m, "current", load_ts, load_val))
        # Samples on, just inside, exactly at and just past the tolerance after load samples,
        # before the first load sample, and at random.
        probes = [load_ts, load_ts + tol, load_ts + tol + 1, load_ts + step // 2, load_ts + 3 * US, load_ts + 15 * US,
                  np.array([load_ts[0] - 1, base - 10 * US]), start + rng.integers(0, 4 * 3600, 50) * US]
        temp_ts = np.unique(np.concatenate(probes))
        parts.append((m, "temp", temp_ts, 30 + rng.standard_normal(len(temp_ts))))
    for m in ("C", "D"):
        t = np.unique(start + rng.integers(0, 4 * 3600, 40) * US)
        parts.append((m, "temp", t, 30 + rng.standard_normal(len(t))))
    frame = readings_frame(parts).sample(fraction=1.0, shuffle=True, seed=seed % 2**32)

    part = partition_features(frame, day, tz, window, MACHINE_HEALTH, rules, catalog, StageTimes())
    ref = reference_features(frame, tz, window, rules, catalog)
    compare(sensor_rows(part.sensor), ref.sensor, ("n", "n_used", "mean"), f"state, load intervals A={ia}s B={ib}s")


@HYPOTHESIS
@given(st.integers(0, 2**31), st.sampled_from([1, 2, 10, 60]))
def test_sample_state_per_sample(seed: int, tolerance_s: int) -> None:
    """sample_state's per-sample state and use against merge_asof with the same tolerance."""
    rng = np.random.default_rng(seed)
    start = local_midnight_us("UTC", date(2026, 1, 5))
    rules = {"A": StateRule("A", "load", 1.0, 5.0, "x", "y"), "B": StateRule("B", "load", 0.0, 0.0, "x", "y")}
    tol = tolerance_s * US
    parts = []
    for m in ("A", "B"):
        load_ts = np.unique(start + rng.integers(0, 1800, int(rng.integers(0, 40))) * US)
        parts.append((m, "load", load_ts, rng.choice([-1.0, 0.0, 1.0, 3.0, 5.0, 7.0], size=len(load_ts))))
        extra = np.concatenate([load_ts + tol, load_ts + tol + 1, load_ts - 1]) if len(load_ts) else np.zeros(0, np.int64)
        t = np.unique(np.concatenate([start + rng.integers(0, 1800 * US, 60), extra]))
        parts.append((m, "x", t, rng.standard_normal(len(t))))
    t = np.unique(start + rng.integers(0, 1800 * US, 20))
    parts.append(("Z", "x", t, rng.standard_normal(len(t))))
    frame = readings_frame(parts).sample(fraction=1.0, shuffle=True, seed=seed % 2**32)
    data = sorted_readings(frame)
    catalog = pl.DataFrame({"machine_id": ["A", "B"], "sensor": ["load", "load"], "unit": ["A", "A"], "interval_s": [tolerance_s / 2] * 2})
    got = sample_state(data, rules_table(rules, catalog))
    pdf = data.frame.select("machine_id", "sensor", pl.col("ts").dt.epoch("us").alias("ts_us"), "value").to_pandas()
    intervals = {(m, "load"): tolerance_s / 2 for m in rules}
    want = reference_state(pdf, rules, intervals)
    np.testing.assert_array_equal(got.state.astype(np.int64), want)
    np.testing.assert_array_equal(got.use, np.where(pdf.machine_id.isin(list(rules)), want == 2, True))


# =================================================================================================
# End-to-end hub: plant, readings, events, rules
# =================================================================================================
FID = "trail"
TZ = "Europe/Berlin"
DAYS = [date(2026, 3, 24) + timedelta(days=i) for i in range(10)]  # spring-forward on 2026-03-29
PLANT = {
    "factory": {"id": FID, "timezone": TZ},
    "machines": [
        {"id": "CNC-01", "type": "cnc_spindle", "sensors": [
            {"name": "motor_current", "unit": "A", "min": 0, "max": 500, "interval": "60s"},
            {"name": "spindle_temp", "unit": "°C", "min": -20, "max": 200, "interval": "60s"},
            {"name": "vibration_rms", "unit": "mm/s", "min": 0, "max": 100, "interval": "60s"},
        ]},
        {"id": "PUMP-02", "type": "pump", "sensors": [
            {"name": "pressure", "unit": "bar", "min": 0, "max": 40, "interval": "120s"},
            {"name": "flow", "unit": "m3/h", "min": 0, "max": 500, "interval": "120s"},
        ]},
    ],
}
RULES = {"CNC-01": StateRule("CNC-01", "motor_current", 2.0, 10.0, "2026-03-24T00:00:00", "2026-03-24T00:00:00")}


def make_readings(seed: int, days: list[date]) -> pl.DataFrame:
    """CNC-01 every 60 s (all three sensors at the same instants, so a sample's as-of load sample
    is never on the previous date), PUMP-02 every 120 s; offline hours, drop-outs, off / idle /
    running runs, and a drift from day to day."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, day in enumerate(days):
        start, end = local_midnight_us(TZ, day), local_midnight_us(TZ, day + timedelta(days=1))
        ts = np.arange(start, end, 60 * US, dtype=np.int64)
        hour = (ts - start) // US_PER_H
        offline = rng.random(26) < 0.12
        keep = ~offline[hour] & (rng.random(len(ts)) > 0.05)
        ts = ts[keep]
        states = np.zeros(len(ts), dtype=np.int64)
        i = 0
        while i < len(ts):
            run = int(rng.integers(1, 120))
            states[i : i + run] = rng.choice([0, 1, 2], p=[0.15, 0.15, 0.7])
            i += run
        current = np.where(states == 2, 12 + 28 * rng.random(len(ts)), np.where(states == 1, 3 + 5 * rng.random(len(ts)), 1.5 * rng.random(len(ts))))
        parts.append(("CNC-01", "motor_current", ts, current))
        parts.append(("CNC-01", "spindle_temp", ts, 40 + 0.3 * current + 0.5 * k + rng.standard_normal(len(ts))))
        parts.append(("CNC-01", "vibration_rms", ts, np.abs(1.2 + 0.05 * current + 0.4 * rng.standard_normal(len(ts)))))
        pts = np.arange(start + 30 * US, end, 120 * US, dtype=np.int64)
        pts = pts[rng.random(len(pts)) > 0.1]
        parts.append(("PUMP-02", "pressure", pts, 5 + 0.05 * k + 0.3 * rng.standard_normal(len(pts))))
        parts.append(("PUMP-02", "flow", pts, 100 + 8 * rng.standard_normal(len(pts))))
    return readings_frame(parts)


def make_events() -> pl.DataFrame:
    def at(local: str) -> datetime:
        return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(TZ)).astimezone(UTC)

    rows = [
        ("CNC-01", at("2026-03-20T08:00:00"), "maintenance"),  # before the first reading day
        ("CNC-01", at("2026-03-25T10:00:00"), "maintenance"),  # exactly on a 1 h window boundary
        ("CNC-01", at("2026-03-26T14:30:00"), "repair"),
        ("CNC-01", at("2026-03-27T00:00:00"), "failure"),  # exactly on a daily window boundary
        ("CNC-01", at("2026-03-29T03:15:00"), "failure"),  # just after the DST jump
        ("CNC-01", at("2026-03-30T09:00:00"), "inspection"),  # not counted anywhere
        ("CNC-01", at("2026-04-05T09:00:00"), "maintenance"),  # after the last reading day
        ("CNC-01", at("2026-03-25T09:00:00"), "alarm"),  # on a window start: counted in 09-10
        ("CNC-01", at("2026-03-25T09:59:59.999999"), "alarm"),
        ("CNC-01", at("2026-03-25T10:00:00"), "alarm"),  # on a window end: counted in 10-11 only
        ("CNC-01", at("2026-03-28T23:59:59"), "alarm"),
        ("CNC-01", at("2026-03-29T00:00:00"), "alarm"),
        ("PUMP-02", at("2026-03-26T12:00:00"), "failure"),
        ("PUMP-02", at("2026-03-26T12:20:00"), "alarm"),
        ("PUMP-02", at("2026-03-31T18:00:00"), "repair"),
    ]
    frame = pl.DataFrame(rows, schema={"machine_id": pl.String, "ts": pl.Datetime("us", "UTC"), "kind": pl.String}, orient="row")
    return frame.with_columns(pl.Series("component", [f"c{i}" for i in range(len(rows))]), pl.lit("").alias("text"))


def write_lake(hub: Hub, table: str, frame: pl.DataFrame, tag: str) -> None:
    out = frame.with_columns(
        pl.lit(FID).alias("factory_id"),
        pl.col("ts").dt.convert_time_zone(TZ).dt.date().cast(pl.String).alias("date"),
    )
    if table == "readings":
        out = out.sort("machine_id", "sensor", "ts")
    hub.lake.append(FID, table, out, tag)


def open_hub(root: Path, readings: pl.DataFrame, events: pl.DataFrame | None = None) -> Hub:
    hub = Hub.open(data_dir=root)
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    write_lake(hub, "readings", readings, "test")
    if events is not None:
        write_lake(hub, "events", events, "events")
    FeatureStore(hub, FID).save_rules(RULES)
    return hub


def catalog_of(hub: Hub) -> pl.DataFrame:
    return catalog_frame([(s.machine_id, s.sensor, s.unit, float(s.interval_s)) for s in hub.registry.sensors(FID)])


def stored(hub: Hub, window: str, table: str) -> pl.DataFrame:
    key = ["machine_id", "sensor", "window_start"] if table == "sensor" else ["machine_id", "window_start"]
    return FeatureStore(hub, FID).read(MACHINE_HEALTH, window, table).collect().sort(key)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """One hub with ten days of readings and events, features built for 1 h and 1 d windows."""
    readings = make_readings(7, DAYS)
    events = make_events()
    hub = open_hub(tmp_path_factory.mktemp("built") / "hub", readings, events)
    for window in ("1h", "1d"):
        build_features(hub, FID, window=window)
    return {"hub": hub, "readings": readings, "events": events}


# =================================================================================================
# 4. Trailing context against the raw samples
# =================================================================================================
@pytest.mark.parametrize("window", ["1h", "1d"])
def test_trailing_context_matches_raw_recomputation(built: dict, window: str) -> None:
    hub = built["hub"]
    table = stored(hub, window, "sensor")
    ref = reference_features(built["readings"], TZ, window, RULES, catalog_of(hub))
    trailing = reference_trailing(ref, TZ, window)
    actual = sensor_rows(table)
    for key, row in ref.sensor.items():
        row.update(trailing[key])
    compare(actual, ref.sensor, ("n", "n_used", "share_missing", *BASE_STATS, *TRAILING), f"stored {window} sensor table")
    # Sanity: the data exercise the interesting cases.
    if window == "1h":
        assert table.filter(pl.col("n_used") == 0).height > 0
    assert table.filter(pl.col("mean_7d").is_not_null() & (pl.col("z_7d").abs() > 0)).height > 0


# =================================================================================================
# 5. Incremental builds equal a full recompute
# =================================================================================================
# Not bit-exact: the rolling sums of the trailing context round differently depending on where
# the frame starts (measured differences ~1e-15 relative); anything beyond rounding fails.
FLOAT_RTOL = 1e-12
FLOAT_ATOL = 1e-10


def assert_same_tables(a: Hub, b: Hub, window: str, what: str) -> None:
    for table in ("sensor", "machine"):
        left, right = stored(a, window, table), stored(b, window, table)
        assert left.columns == right.columns, f"{what} {table}: columns differ"
        assert left.height == right.height, f"{what} {table}: {left.height} != {right.height} rows"
        key = ["machine_id", "sensor", "window_start"] if table == "sensor" else ["machine_id", "window_start"]
        assert left.select(key).equals(right.select(key)), f"{what} {table}: window keys differ"
        diffs = []
        for c in left.columns:
            if c in key:
                continue
            inc, full = left.get_column(c), right.get_column(c)
            if inc.dtype.is_float():
                # Rolling sums depend on where the frame starts: allow rounding, nothing more.
                scale = pl.DataFrame({"i": inc.abs(), "f": full.abs()}).select(pl.max_horizontal("i", "f")).to_series()
                same = ((inc - full).abs() <= FLOAT_RTOL * scale + FLOAT_ATOL) | (inc.is_null() & full.is_null())
            else:
                same = (inc == full) | (inc.is_null() & full.is_null())
            if not same.fill_null(False).all():
                bad = left.select(key).with_columns(inc.alias("incremental"), full.alias("full")).filter(~same.fill_null(False))
                diffs.append(f"{c}: {bad.height} rows, e.g. {bad.head(3).to_dicts()}")
        assert not diffs, f"{what} {table} differs from a full recompute:\n" + "\n".join(diffs)


def late_readings(days: list[date]) -> pl.DataFrame:
    """Late data for an earlier date: CNC-01 samples at 30 s past each minute of its last hour."""
    rng = np.random.default_rng(99)
    parts = []
    for day in days:
        end = local_midnight_us(TZ, day + timedelta(days=1))
        ts = np.arange(end - US_PER_H + 30 * US, end, 60 * US, dtype=np.int64)
        current = 15 + 10 * rng.random(len(ts))
        parts.append(("CNC-01", "motor_current", ts, current))
        parts.append(("CNC-01", "spindle_temp", ts, 80 + rng.standard_normal(len(ts))))
        parts.append(("CNC-01", "vibration_rms", ts, 4 + rng.random(len(ts))))
    return readings_frame(parts)


WINTER = [date(2026, 1, 5) + timedelta(days=i) for i in range(10)]


@pytest.mark.parametrize(("window", "days"), [("1h", WINTER), ("1d", DAYS), ("1h", DAYS)], ids=["1h-winter", "1d-dst", "1h-dst"])
def test_day_by_day_equals_full_recompute(tmp_path: Path, window: str, days: list[date]) -> None:
    """Building one date per call, in date order and in a shuffled order, gives the tables of
    one build over every date. (1h-dst spans the spring-forward of 2026-03-29.)"""
    readings = make_readings(11, days)
    events = make_events()
    daily = open_hub(tmp_path / "daily", readings, events)
    full = open_hub(tmp_path / "full", readings, events)
    shuffled = open_hub(tmp_path / "shuffled", readings, events)
    for day in days:
        run = build_features(daily, FID, [day], window=window)
        assert run.computed == [day]
    order = list(np.random.default_rng(3).permutation(len(days)))
    for i in order:
        build_features(shuffled, FID, [days[i]], window=window)
    build_features(full, FID, window=window)
    assert_same_tables(daily, full, window, f"{window}, day by day in order")
    assert_same_tables(shuffled, full, window, f"{window}, day by day in order {[days[i].isoformat() for i in order]}")


@pytest.mark.parametrize("window", ["1h", "1d"])
def test_late_data_refreshes_following_dates(tmp_path: Path, window: str) -> None:
    """Late data for an earlier date: recomputing that date refreshes the stored dates whose
    trailing horizon covers it, and the result equals a full recompute."""
    readings = make_readings(13, DAYS)
    inc = open_hub(tmp_path / "inc", readings)
    full = open_hub(tmp_path / "full", readings)
    build_features(inc, FID, window=window)
    late_day = DAYS[2]  # 03-26: the eighth date after it (04-03) is not stored, see the next test
    late = late_readings([late_day])
    write_lake(inc, "readings", late, "late")
    write_lake(full, "readings", late, "late")
    before = stored(inc, window, "sensor")
    run = build_features(inc, FID, [late_day], window=window)
    assert run.computed == [late_day]
    assert run.refreshed == [d for d in DAYS if 0 < (d - late_day).days <= 7]
    after = stored(inc, window, "sensor")
    changed = before.join(after, on=["machine_id", "sensor", "window_start"], suffix="_new").filter(
        pl.col("mean_24h").ne_missing(pl.col("mean_24h_new")) | pl.col("n").ne_missing(pl.col("n_new"))
    )
    assert changed.height > 0 and changed.get_column("window_start").max() >= datetime.fromtimestamp(local_midnight_us(TZ, late_day + timedelta(days=1)) / US, UTC)
    build_features(full, FID, window=window)
    assert_same_tables(inc, full, window, f"{window}, after late data for {late_day}")


def test_incremental_across_spring_forward_refreshes_the_eighth_day(tmp_path: Path) -> None:
    """1 h windows, 7 d horizon: 168 h before local midnight of 2026-04-02 is 2026-03-25 23:00
    local (the week holds the 23 h day 2026-03-29), so late data in the last hour of 03-25 changes
    the trailing 7 d context of 04-02's first window."""
    readings = make_readings(5, DAYS)
    daily = open_hub(tmp_path / "daily", readings)
    full = open_hub(tmp_path / "full", readings)
    build_features(daily, FID, window="1h")
    late_day = date(2026, 3, 25)
    late = late_readings([late_day])
    write_lake(daily, "readings", late, "late")
    write_lake(full, "readings", late, "late")
    build_features(daily, FID, [late_day], window="1h")
    build_features(full, FID, window="1h")
    assert_same_tables(daily, full, "1h", "after late data for 2026-03-25")


# =================================================================================================
# 3b. State across local midnight (as-of merge must see the previous date's load sample)
# =================================================================================================
def test_state_as_of_reaches_across_local_midnight(tmp_path: Path) -> None:
    """Load sampled at :30 of every minute, temperature at :00 (both 60 s, tolerance 120 s):
    the temperature sample at local midnight has its latest load sample 30 s earlier, on the
    previous date; the machine is running, so the sample counts (n_used == n)."""
    days = [date(2026, 1, 5), date(2026, 1, 6)]
    start, end = local_midnight_us(TZ, days[0]), local_midnight_us(TZ, days[-1] + timedelta(days=1))
    temp_ts = np.arange(start, end, 60 * US, dtype=np.int64)
    load_ts = temp_ts + 30 * US
    frame = readings_frame([("CNC-01", "motor_current", load_ts, np.full(len(load_ts), 20.0)),
                            ("CNC-01", "spindle_temp", temp_ts, np.full(len(temp_ts), 50.0))])
    hub = open_hub(tmp_path / "hub", frame)
    build_features(hub, FID, window="1h")
    table = stored(hub, "1h", "sensor").filter(pl.col("sensor") == "spindle_temp")
    # The very first sample of the data has no load sample before it at all: state unknown.
    table = table.filter(pl.col("window_start") > table["window_start"].min())
    short = table.filter(pl.col("n_used") != pl.col("n"))
    assert short.height == 0, f"samples with a running load sample 30 s before them not used: {short.select('window_start', 'n', 'n_used').to_dicts()}"


# =================================================================================================
# 6. Event context without look-ahead
# =================================================================================================
@pytest.mark.parametrize("window", ["1h", "1d"])
def test_event_context_uses_only_past_events(built: dict, window: str) -> None:
    hub, events = built["hub"], built["events"]
    table = stored(hub, window, "machine")
    ev = events.with_columns(pl.col("ts").dt.epoch("us").alias("ts_us")).to_dicts()
    assert table.height > 0 and set(table.get_column("machine_id").unique()) == {"CNC-01", "PUMP-02"}
    bad = []
    for key, row in machine_rows(table).items():
        machine, ws = key
        we = row["__we"]
        mine = [e for e in ev if e["machine_id"] == machine]
        expect = {}
        for name, kinds in (("hours_since_maintenance", {"maintenance", "repair"}), ("hours_since_failure", {"failure"})):
            past = [e["ts_us"] for e in mine if e["kind"] in kinds and e["ts_us"] < we]
            expect[name] = (we - max(past)) / US_PER_H if past else None
        expect["alarms"] = sum(1 for e in mine if e["kind"] == "alarm" and ws <= e["ts_us"] < we)
        for c, want in expect.items():
            if not close(row[c], want, atol=1e-12):
                bad.append(f"{fmt_key(key)} {c}: pipeline {row[c]!r} != reference {want!r}")
        for c in ("hours_since_maintenance", "hours_since_failure"):
            if row[c] is not None and row[c] <= 0:
                bad.append(f"{fmt_key(key)} {c} = {row[c]}: uses an event at or after the window end")
    assert not bad, f"{len(bad)} mismatches, e.g.\n" + "\n".join(bad[:12])
    # The boundary cases are present in the table.
    alarms = table.filter(pl.col("alarms") > 0)
    assert alarms.height > 0
    if window == "1h":
        nine = datetime(2026, 3, 25, 9, tzinfo=ZoneInfo(TZ)).astimezone(UTC)
        got = dict(zip(table.filter(pl.col("machine_id") == "CNC-01").get_column("window_start").to_list(),
                       table.filter(pl.col("machine_id") == "CNC-01").get_column("alarms").to_list(), strict=True))
        # Alarms at 09:00 and 09:59:59.999999 in 09-10; the one at 10:00 in 10-11 only.
        assert (got[nine], got[nine + timedelta(hours=1)]) == (2, 1)
        # Maintenance at 10:00 exactly: not yet seen by the window ending at 10:00.
        cnc = machine_rows(table.filter(pl.col("machine_id") == "CNC-01"))
        key = ("CNC-01", int(nine.timestamp()) * US)
        assert cnc[key]["hours_since_maintenance"] == pytest.approx(122.0)
        assert cnc[("CNC-01", key[1] + US_PER_H)]["hours_since_maintenance"] == pytest.approx(1.0)


def test_machine_table_of_a_date_without_load_samples_keeps_its_schema(tmp_path: Path) -> None:
    """A date on which no machine has load or cross-feature samples (here: only CNC-01's
    spindle temperature reported) still has machine rows (the machine sent data: its event
    context matters) with unknown state shares; reading the machine table over a range starting
    with that date works, with the table's column types."""
    readings = make_readings(7, DAYS[:2])
    second = local_midnight_us(TZ, DAYS[1])
    readings = readings.filter((pl.col("ts").dt.epoch("us") >= second) | (pl.col("sensor") == "spindle_temp"))
    hub = open_hub(tmp_path / "hub", readings)
    build_features(hub, FID, window="1h")
    store = FeatureStore(hub, FID)
    first = store.read(MACHINE_HEALTH, "1h", "machine", DAYS[0], DAYS[0]).collect()
    assert first.height > 0 and set(first["machine_id"]) == {"CNC-01"}
    assert first["share_running"].is_null().all() and first["hours_since_maintenance"].dtype == pl.Float64
    assert first.schema["machine_id"] == pl.String and first.schema["window_start"] == pl.Datetime("us", "UTC"), dict(first.schema)
    both = store.read(MACHINE_HEALTH, "1h", "machine").collect()
    assert both.height > 0
