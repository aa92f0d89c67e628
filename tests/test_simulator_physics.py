"""Physics and ground truth of the factory simulator (:mod:`analytics.simulate`).

The simulator's contract, checked here against expectations derived by hand from the documented
models (not from the engine's own helpers):

1. a degradation moves exactly the sensors its machine type names, in the stated direction and by
   the stated magnitude, and only while the machine runs; every other reading is bit-identical to
   the healthy counterfactual (``degradation=False``: same jobs, maintenance and noise);
2. preventive maintenance ends a degradation and restores health;
3. failures in the truth files are where the machine really stops (states, RUL, events log);
4. weekends and Korean public holidays are idle;
5. sensor faults are measurement faults only: marked in the truth, absent from the machine truth;
6. healthy physics is plausible (thermal lag, current follows load, ISO 10816 vibration, 7 bar air);
7. lead times differ by mode as documented.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.simulate import SimulationConfig, plan_factory, simulate_hub
from analytics.simulate.calendar import SHIFT_PATTERNS, Clock, FactoryCalendar, korean_holidays
from analytics.simulate.degradation import MODES, VISIBLE_SEVERITY
from analytics.simulate.engine import (
    ERROR_CODE,
    MachinePlan,
    MachineRun,
    ScriptedDegradation,
    shop_temperature,
    simulate_machine,
)
from analytics.simulate.machines import IDLE, MACHINE_TYPES, OFF, RUNNING

TZ = "Asia/Seoul"
SEOUL = ZoneInfo(TZ)
# A Monday; no Korean public holiday between 2026-10-12 and 2026-11-16 (Hangul Day is 10-09).
START = date(2026, 10, 12)
INTERVAL_S = 60

# The damage curves as the docstrings of analytics/simulate/degradation.py state them.
DOCUMENTED_SEVERITY = {
    "bearing_wear": lambda u: (np.exp(4.0 * u) - 1) / (np.exp(4.0) - 1),
    "overheating": lambda u: u**1.5,
    "clogging": lambda u: u,
    "tool_wear": lambda u: u**2,
}
DOCUMENTED_LEAD_HOURS = {"bearing_wear": (80, 240), "overheating": (12, 48), "clogging": (40, 120), "tool_wear": (3, 10)}

TYPE_MODES = [(t, m) for t, mt in MACHINE_TYPES.items() for m in mt.effects]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
@cache
def factory_setup(start: date, days: int, pattern: str, seed: int = 5, factory: int = 0) -> tuple[Clock, FactoryCalendar, np.ndarray]:
    clock = Clock(start, days, INTERVAL_S, TZ)
    calendar = FactoryCalendar(clock, SHIFT_PATTERNS[pattern])
    return clock, calendar, shop_temperature(clock, calendar, seed, factory)


def machine_plan(type_name: str, seed: int = 5, index: int = 0, failure_rate: float = 1.0) -> MachinePlan:
    return MachinePlan(f"{MACHINE_TYPES[type_name].prefix}-{index + 1:02d}", type_name, seed, (0, index), date(2018, 3, 1), failure_rate)


@cache
def healthy_run(type_name: str, start: date, days: int, pattern: str, seed: int = 5, index: int = 0) -> MachineRun:
    clock, calendar, ambient = factory_setup(start, days, pattern, seed)
    return simulate_machine(machine_plan(type_name, seed, index), clock, calendar, ambient, degradation=False, sensor_faults=False)


def first_order_lag(x: np.ndarray, tau_samples: float) -> np.ndarray:
    """y[i] = y[i-1] + a (x[i] - y[i-1]), a = 1 - exp(-1/tau), starting in equilibrium with x[0]."""
    a = 1.0 - math.exp(-1.0 / tau_samples)
    y = np.empty(len(x))
    prev = float(x[0])
    for i, value in enumerate(x.tolist()):
        prev += a * (value - prev)
        y[i] = prev
    return y


def step(decimals: int) -> float:
    """One unit of a sensor's resolution (plus float slack)."""
    return 10.0**-decimals + 1e-9


def running_since(run_mask: np.ndarray, onset: int) -> np.ndarray:
    """Running samples from ``onset`` up to and including each sample (0 before ``onset``)."""
    used = np.cumsum(run_mask)
    base = used[onset - 1] if onset else 0
    out = used - base
    out[:onset] = 0
    return out


def workday_mornings(clock: Clock, calendar: FactoryCalendar, hour: int = 8) -> list[int]:
    return [int(clock.day_bounds[d]) + clock.minutes(hour * 60) for d, k in enumerate(calendar.day_kind) if k == "workday"]


def preventive_starts(run: MachineRun) -> list[int]:
    return [m.start for m in run.maintenance if m.kind == "preventive"]


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# 1. a degradation moves the sensors its mode names, and nothing else
# --------------------------------------------------------------------------------------------
DEG_DAYS = 21
DEG_PATTERN = "three_shift"


def pick_failure_script(type_name: str, mode: str) -> tuple[int, float]:
    """A workday-morning onset with the most running time before the next preventive maintenance,
    and a lead inside the mode's range that fits in 80 % of that running time."""
    clock, calendar, _ = factory_setup(START, DEG_DAYS, DEG_PATTERN)
    healthy = healthy_run(type_name, START, DEG_DAYS, DEG_PATTERN)
    used = np.cumsum(healthy.operation.state == RUNNING)
    pms = np.array([*preventive_starts(healthy), clock.n])
    best_onset, best_hours = 0, -1.0
    for onset in workday_mornings(clock, calendar):
        nxt = int(pms[pms > onset][0])
        hours = (used[nxt - 1] - used[onset - 1]) / clock.per_hour
        if hours > best_hours:
            best_onset, best_hours = onset, hours
    lo, hi = MODES[mode].lead_hours
    lead = min(lo + 0.25 * (hi - lo), 0.8 * best_hours)
    assert lead >= lo, f"test setup: only {best_hours:.0f} running hours between maintenances for {mode}"
    return best_onset, lead


@pytest.mark.parametrize(("type_name", "mode"), TYPE_MODES, ids=[f"{t}-{m}" for t, m in TYPE_MODES])
def test_degradation_moves_named_sensors_only(type_name: str, mode: str) -> None:
    clock, calendar, ambient = factory_setup(START, DEG_DAYS, DEG_PATTERN)
    mtype = MACHINE_TYPES[type_name]
    plan = machine_plan(type_name)
    healthy = healthy_run(type_name, START, DEG_DAYS, DEG_PATTERN)
    onset, lead = pick_failure_script(type_name, mode)
    run = simulate_machine(plan, clock, calendar, ambient, sensor_faults=False, script=[ScriptedDegradation(mode, onset, lead, downtime_hours=4.0)])

    # -- the episode: a failure after `lead` running hours --------------------------------------
    assert len(run.episodes) == 1
    ep = run.episodes[0]
    assert (ep.mode, ep.onset, ep.outcome) == (mode, onset, "failure")
    fail = ep.end
    lead_samples = lead * clock.per_hour
    planned_running = healthy.operation.state == RUNNING
    ran = running_since(planned_running, onset)
    # The failure comes when the lead's running time is used up (within one sample).
    assert abs(ran[fail - 1] - lead_samples) <= 1
    assert planned_running[fail - 1] or planned_running[fail]
    assert ep.repaired == fail + 4 * 60
    assert (run.operation.state[fail : ep.repaired] == OFF).all()
    assert np.array_equal(run.operation.state[ep.repaired :], healthy.operation.state[ep.repaired :])
    assert np.array_equal(run.operation.state[:fail], healthy.operation.state[:fail])

    # -- severity: the documented curve of the running-time share used up ----------------------
    u = np.clip(ran / lead_samples, 0, 1)
    expected_sev = np.zeros(clock.n)
    expected_sev[onset:fail] = DOCUMENTED_SEVERITY[mode](u[onset:fail])
    np.testing.assert_allclose(run.severity, expected_sev, atol=1e-12)
    assert run.severity[fail - 1] > 0.98  # about to fail
    assert (run.mode_code[onset:fail] == mtype.modes.index(mode)).all()
    assert (run.mode_code[:onset] == -1).all() and (run.mode_code[fail:] == -1).all()
    assert ep.visible_from == onset + int(np.flatnonzero(expected_sev[onset:fail] >= VISIBLE_SEVERITY)[0])

    # -- sensors ------------------------------------------------------------------------------
    moved = mtype.moved_by(mode)
    effects = {e.sensor: e for e in mtype.effects[mode]}
    assert set(moved) == set(effects) and moved  # moved_by agrees with the effects
    late = planned_running & (np.arange(clock.n) >= onset) & (np.arange(clock.n) < fail) & (u >= 0.8)
    assert late.sum() > 0.15 * lead_samples
    for sensor in mtype.sensors:
        name, deg, ok = sensor.name, run.true[sensor.name], healthy.true[sensor.name]
        assert np.array_equal(deg[:onset], ok[:onset]), f"{name} changed before the onset"
        if name not in moved:
            assert np.array_equal(deg[:fail], ok[:fail]), f"{mode} moved {name}, which it does not name"
            continue
        effect = effects[name]
        diff = deg - ok
        sev = expected_sev * planned_running
        if effect.kind == "shift":
            expected = effect.magnitude * sev
            assert np.abs(diff[:fail] - expected[:fail]).max() <= step(sensor.decimals), name
        elif effect.kind == "heat":
            expected = first_order_lag(effect.magnitude * sev, sensor.tau_min * 60 / INTERVAL_S)
            assert np.abs(diff[:fail] - expected[:fail]).max() <= step(sensor.decimals), name
        else:  # scale: diff = base * m * s, base = healthy reading minus its (small) noise
            expected_mean = effect.magnitude * float(np.mean(sev[late] * ok[late]))
            assert float(np.mean(diff[late])) == pytest.approx(expected_mean, rel=0.03, abs=step(sensor.decimals)), name
        if sensor.tau_min is None:
            # "a worn bearing is silent in a stopped spindle": no effect while not running
            stopped = ~planned_running[:fail]
            assert np.array_equal(deg[:fail][stopped], ok[:fail][stopped]), f"{name} moved while the machine stood still"
        # The last fifth of the lead: a clear move in the stated direction.
        mean_diff = float(np.mean(diff[late]))
        assert np.sign(mean_diff) == moved[name], f"{name} moved the wrong way: {mean_diff}"
        assert abs(mean_diff) > 5 * sensor.noise_sd, f"{name} moved only {mean_diff} (noise sd {sensor.noise_sd})"
        assert abs(mean_diff) >= 0.5 * abs(effect.magnitude) * float(np.mean(run.severity[late])) * (
            float(np.mean(ok[late])) if effect.kind == "scale" else 1.0
        ), f"{name}: {mean_diff} is far below the effect's magnitude"


def test_bearing_failure_reaches_iso_zone_d() -> None:
    """BearingWear's docstring: before failure "overall vibration velocity rises several-fold
    (ISO 10816 zone A/B, under 2.8 mm/s, into zone D, above 7 mm/s)". Checked on every machine type
    with bearing wear: the mean running vibration over the last running hour before the failure."""
    clock, calendar, ambient = factory_setup(START, DEG_DAYS, DEG_PATTERN)
    found = {}
    for type_name, mtype in MACHINE_TYPES.items():
        if "bearing_wear" not in mtype.effects:
            continue
        onset, lead = pick_failure_script(type_name, "bearing_wear")
        run = simulate_machine(machine_plan(type_name), clock, calendar, ambient, sensor_faults=False, script=[ScriptedDegradation("bearing_wear", onset, lead)])
        (ep,) = run.failures
        last_hour = np.flatnonzero(run.operation.state[: ep.end] == RUNNING)[-60:]
        healthy = healthy_run(type_name, START, DEG_DAYS, DEG_PATTERN).true["vibration_rms"][last_hour]
        vib = run.true["vibration_rms"][last_hour]
        assert vib.mean() > 2.5 * healthy.mean(), type_name  # several-fold: this part holds
        found[type_name] = round(float(vib.mean()), 2)
    assert all(v > 7.1 for v in found.values()), f"mean vibration (mm/s) in the last running hour before a bearing failure: {found}"


def test_scripted_degradation_is_validated() -> None:
    clock, calendar, ambient = factory_setup(START, DEG_DAYS, DEG_PATTERN)
    plan = machine_plan("centrifugal_pump")
    with pytest.raises(ValueError, match="no degradation mode"):
        simulate_machine(plan, clock, calendar, ambient, script=[ScriptedDegradation("tool_wear", 600, 5)])
    first = ScriptedDegradation("clogging", 600, 30)
    with pytest.raises(ValueError, match="overlaps"):
        simulate_machine(plan, clock, calendar, ambient, script=[first, ScriptedDegradation("overheating", 700, 5)])
    with pytest.raises(ValueError, match="outside the horizon"):
        simulate_machine(plan, clock, calendar, ambient, script=[ScriptedDegradation("clogging", clock.n, 5)])


# --------------------------------------------------------------------------------------------
# 2. preventive maintenance restores health
# --------------------------------------------------------------------------------------------
PM_DAYS = 35  # longer than every pm_interval_days, so each machine gets at least one PM


@pytest.mark.parametrize("type_name", list(MACHINE_TYPES))
def test_preventive_maintenance_ends_degradation(type_name: str) -> None:
    clock, calendar, ambient = factory_setup(START, PM_DAYS, DEG_PATTERN)
    mtype = MACHINE_TYPES[type_name]
    healthy = healthy_run(type_name, START, PM_DAYS, DEG_PATTERN)
    pms = preventive_starts(healthy)
    assert pms, "a 35-day horizon holds a preventive maintenance for every type"
    pm = pms[0]
    # PM is at 09:00 on a day off, with the machine standing still, for 3 h.
    day = int(clock.day_index[pm])
    assert calendar.day_kind[day] in {"weekend", "holiday"}
    assert pm - int(clock.day_bounds[day]) == 9 * 60
    assert (healthy.operation.state[pm : pm + 180] == OFF).all()
    # Start bearing wear on the last workday morning two+ days before the PM (or the first one).
    mornings = [m for m in workday_mornings(clock, calendar) if m < pm - 2 * 1440] or [workday_mornings(clock, calendar)[0]]
    onset = mornings[-1]
    used = np.cumsum(healthy.operation.state == RUNNING)
    available = (used[pm - 1] - used[onset - 1]) / clock.per_hour
    assert available > 10
    lead = available * 1.15 + 1  # would fail after the PM: the PM comes first
    run = simulate_machine(machine_plan(type_name), clock, calendar, ambient, sensor_faults=False, script=[ScriptedDegradation("bearing_wear", onset, lead)])

    (ep,) = run.episodes
    assert (ep.outcome, ep.end, ep.repaired) == ("maintenance", pm, None)
    assert not run.failures
    assert [m.kind for m in run.maintenance] == [m.kind for m in healthy.maintenance]  # no repair
    assert run.severity[pm - 1] > 0.3  # the damage was real ...
    assert (run.severity[pm:] == 0).all() and (run.mode_code[pm:] == -1).all()  # ... and is gone
    assert np.array_equal(run.operation.state, healthy.operation.state)  # nothing failed

    moved = mtype.moved_by("bearing_wear")
    degrading = (np.arange(clock.n) < pm) & (np.arange(clock.n) >= onset) & (healthy.operation.state == RUNNING)
    for sensor in mtype.sensors:
        deg, ok = run.true[sensor.name], healthy.true[sensor.name]
        if sensor.name not in moved:
            assert np.array_equal(deg, ok), sensor.name
            continue
        assert moved[sensor.name] * float(np.mean((deg - ok)[degrading][-300:])) > 5 * sensor.noise_sd, sensor.name
        if sensor.tau_min is None:
            assert np.array_equal(deg[pm:], ok[pm:]), f"{sensor.name} still degraded after the PM"
        else:
            settled = pm + 3 * 60
            assert np.abs(deg[settled:] - ok[settled:]).max() <= step(sensor.decimals), f"{sensor.name} still hot after the PM"


# --------------------------------------------------------------------------------------------
# whole-factory fixtures
# --------------------------------------------------------------------------------------------
HUB_CONFIG = SimulationConfig(factories=3, machines=5, days=14, seed=11, start=START, interval="1min", failure_rate=3.0)


@pytest.fixture(scope="module")
def hub_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "hub"
    simulate_hub(HUB_CONFIG, out, workers=1)
    return out


@pytest.fixture(scope="module")
def hub_out_no_faults(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim_nofaults") / "hub"
    simulate_hub(HUB_CONFIG.model_copy(update={"sensor_faults": False}), out, workers=1)
    return out


def factory_ids() -> list[str]:
    return [plan_factory(HUB_CONFIG, i).factory_id for i in range(HUB_CONFIG.factories)]


def read_events(out: Path, index: int) -> list[dict]:
    """Every row of every events file of factory ``index``, with the file's local day and delivery day."""
    plan = plan_factory(HUB_CONFIG, index)
    rows = []
    for path in sorted((out / plan.factory_id / "incoming").glob("*/events_*.csv")):
        text = path.read_bytes().decode(plan.gateway.encoding)
        for row in csv.DictReader(text.splitlines()):
            rows.append({**row, "file_day": path.stem.removeprefix("events_"), "delivered": path.parent.name})
    return rows


def resimulate(index: int) -> dict[str, MachineRun]:
    """The factory's machines again, from a clock, calendar and ambient built as output.py does."""
    config = HUB_CONFIG
    plan = plan_factory(config, index)
    clock = Clock(config.start, config.days, config.interval_s, config.timezone)
    calendar = FactoryCalendar(clock, SHIFT_PATTERNS[plan.shift_pattern])
    ambient = shop_temperature(clock, calendar, config.seed, plan.index)
    return {m.machine_id: simulate_machine(m, clock, calendar, ambient, sensor_faults=config.sensor_faults) for m in plan.machines}


def _first_ts() -> str:
    first = datetime.combine(HUB_CONFIG.start, datetime.min.time(), SEOUL).astimezone(UTC)
    return first.strftime("%Y-%m-%dT%H:%M:%SZ")


def horizon_end() -> datetime:
    return datetime.combine(HUB_CONFIG.end, datetime.min.time(), SEOUL).astimezone(UTC)


# --------------------------------------------------------------------------------------------
# 3. failures happen where the truth says
# --------------------------------------------------------------------------------------------
def test_hub_has_failures_of_several_modes(hub_out: Path) -> None:
    failures = pl.concat([pl.read_csv(hub_out / "truth" / f / "failures.csv") for f in factory_ids()])
    assert failures.height >= 5
    assert failures["mode"].n_unique() >= 2
    assert failures["machine_type"].n_unique() >= 2


@pytest.mark.parametrize("index", range(HUB_CONFIG.factories))
def test_failures_match_states_rul_events_and_degradations(hub_out: Path, index: int) -> None:
    factory = plan_factory(HUB_CONFIG, index).factory_id
    truth = hub_out / "truth" / factory
    failures = pl.read_csv(truth / "failures.csv")
    degradations = pl.read_csv(truth / "degradations.csv")
    states = pl.read_parquet(truth / "states.parquet")
    rul = pl.read_parquet(truth / "rul.parquet")
    events = read_events(hub_out, index)
    runs = resimulate(index)
    end = horizon_end()
    step_s = HUB_CONFIG.interval_s

    assert failures.height == degradations.filter(pl.col("outcome") == "failure").height
    assert failures.height == sum(len(r.failures) for r in runs.values())
    for row in failures.iter_rows(named=True):
        machine, mode = row["machine_id"], row["mode"]
        failed, repaired = utc(row["failure_ts"]), utc(row["repaired_ts"])
        what = f"{factory}/{machine} {mode} failure at {row['failure_ts']}"

        # states: off from the failure until the repair (or the end of the horizon)
        mine = states.filter(pl.col("machine_id") == machine)
        at = mine.filter((pl.col("start") <= failed) & (pl.col("end") > failed))
        assert at.height == 1 and at["state"][0] == "off", what
        assert at["end"][0] >= min(repaired, end), f"{what}: back on before the repair"
        assert (repaired - failed).total_seconds() == pytest.approx(row["downtime_hours"] * 3600, abs=5)

        # the severity reaches ~1 just before the failure (same plan simulated again)
        run = runs[machine]
        fail = int((failed - utc(_first_ts())).total_seconds() // step_s)
        assert any(e.end == fail and e.mode == mode for e in run.failures), what
        assert run.severity[fail - 1] > 0.98, what
        assert run.mode_code[fail - 1] == run.plan.type.modes.index(mode)

        # rul.parquet: hours to the failure at the last hourly row before it
        rows = rul.filter((pl.col("machine_id") == machine) & (pl.col("ts") < failed)).sort("ts")
        last = rows.row(-1, named=True)
        hours = (failed - last["ts"]).total_seconds() / 3600
        assert last["rul_hours"] == pytest.approx(hours, abs=1 / 60), what
        assert not last["censored"]
        assert last["mode"] == mode
        last_index = fail - int((failed - last["ts"]).total_seconds()) // step_s
        assert last["state"] == {OFF: "off", IDLE: "idle", RUNNING: "running"}[int(run.operation.state[last_index])]
        assert last["health"] == pytest.approx(1 - run.severity[last_index], abs=1e-4)

        # events log: a failure line at the local time of failure_ts, in the file of that local day
        local = failed.astimezone(SEOUL)
        hits = [e for e in events if e["machine_id"] == machine and e["kind"] == "failure" and e["ts"] == local.strftime("%Y-%m-%d %H:%M:%S")]
        assert len(hits) == 1, f"{what}: no failure event at {local}"
        assert hits[0]["component"] == mode
        assert hits[0]["file_day"] == local.strftime("%Y%m%d")
        assert hits[0]["delivered"] == (local.date() + timedelta(days=1)).isoformat()
        if repaired < end:
            local_fix = repaired.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S")
            assert any(e["machine_id"] == machine and e["kind"] == "repair" and e["ts"] == local_fix for e in events), what

        # degradations.csv: the episode behind it
        match = degradations.filter(
            (pl.col("machine_id") == machine) & (pl.col("mode") == mode) & (pl.col("end") == row["failure_ts"])
        )
        assert match.height == 1, what
        assert match["outcome"][0] == "failure"
        assert match["onset"][0] == row["onset"]
        assert match["lead_running_hours"][0] == row["lead_running_hours"]
        assert match["sensors"][0] == ";".join(f"{k}:{'+' if v > 0 else '-'}" for k, v in run.plan.type.moved_by(mode).items())


def test_machine_runs_until_the_moment_it_fails(hub_out: Path) -> None:
    """'A failure always happens while the machine runs' (degradation.py): just before every
    failure_ts, states.parquet shows the machine running."""
    for factory in factory_ids():
        truth = hub_out / "truth" / factory
        states = pl.read_parquet(truth / "states.parquet")
        for row in pl.read_csv(truth / "failures.csv").iter_rows(named=True):
            before = utc(row["failure_ts"]) - timedelta(seconds=HUB_CONFIG.interval_s)
            at = states.filter((pl.col("machine_id") == row["machine_id"]) & (pl.col("start") <= before) & (pl.col("end") > before))
            assert at["state"].to_list() == ["running"], f"{factory}/{row['machine_id']} at {before}"


def _machine_of(config: SimulationConfig, index: int, machine_id: str) -> MachineRun:
    plan = plan_factory(config, index)
    clock = Clock(config.start, config.days, config.interval_s, config.timezone)
    calendar = FactoryCalendar(clock, SHIFT_PATTERNS[plan.shift_pattern])
    ambient = shop_temperature(clock, calendar, config.seed, plan.index)
    machine = next(m for m in plan.machines if m.machine_id == machine_id)
    return simulate_machine(machine, clock, calendar, ambient, sensor_faults=False)


def test_failure_comes_after_the_full_lead_while_running() -> None:
    """A failure must follow the lead's last running sample: "a failure always happens while the
    machine runs" and ``lead_running_hours`` is the running time from onset to failure.

    The engine instead takes the running sample that *completes* the lead as the failure sample and
    turns it off, so the machine runs one sample less than its lead, and:
    - when that sample is the first of a job, the machine goes idle -> off at failure_ts and does
      not run just before its failure (seed 1, factory 0, CNC-03, 28 days: tool_wear);
    - on a machine that runs without a break, failures.csv shows lead_running_hours larger than
      the calendar hours from onset to failure (seed 11, factory 1, PMP-01, 14 days: clogging,
      105.548 running hours in 105.533 hours).
    """
    cases = [
        (SimulationConfig(factories=1, machines=6, days=28, seed=1, start=START, failure_rate=3.0), 0, "CNC-03"),
        (HUB_CONFIG, 1, "PMP-01"),
    ]
    problems = []
    for config, index, machine_id in cases:
        run = _machine_of(config, index, machine_id)
        assert run.failures
        for ep in run.failures:
            where = f"seed {config.seed} factory {index} {machine_id} {ep.mode} failure at sample {ep.end}"
            if run.operation.state[ep.end - 1] != RUNNING:
                problems.append(f"{where}: state just before is {int(run.operation.state[ep.end - 1])}, not RUNNING")
            lead_samples = ep.lead_running_hours * run.clock.per_hour
            if ep.end - ep.onset < lead_samples:  # truth: lead_hours < lead_running_hours
                problems.append(f"{where}: {lead_samples:.1f} running samples of lead within {ep.end - ep.onset} samples")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# 7. lead times by mode
# --------------------------------------------------------------------------------------------
def test_modes_lead_times_and_severity_curves_as_documented() -> None:
    assert set(MODES) == set(DOCUMENTED_LEAD_HOURS)
    for name, mode in MODES.items():
        assert mode.lead_hours == DOCUMENTED_LEAD_HOURS[name]
        u = np.linspace(0, 1, 101)
        s = mode.severity(u)
        np.testing.assert_allclose(s, DOCUMENTED_SEVERITY[name](u), atol=1e-12)
        assert s[0] == 0 and s[-1] == pytest.approx(1.0)
        assert (np.diff(s) > 0).all()
    by_longest = sorted(MODES, key=lambda m: MODES[m].lead_hours, reverse=True)
    assert by_longest[0] == "bearing_wear" and by_longest[-1] == "tool_wear"
    # bearing wear outlasts every other mode even at its shortest; tool wear is always the quickest
    assert MODES["bearing_wear"].lead_hours[1] > max(m.lead_hours[1] for n, m in MODES.items() if n != "bearing_wear")
    assert MODES["tool_wear"].lead_hours[1] < min(m.lead_hours[0] for n, m in MODES.items() if n != "tool_wear")
    # every mode a machine type names exists, and every effect names a sensor of that type
    for mtype in MACHINE_TYPES.values():
        names = {s.name for s in mtype.sensors}
        for mode, effects in mtype.effects.items():
            assert mode in MODES
            assert {e.sensor for e in effects} <= names


def test_failure_lead_times_lie_in_their_mode_range(hub_out: Path) -> None:
    end = horizon_end()
    for factory in factory_ids():
        truth = hub_out / "truth" / factory
        states = pl.read_parquet(truth / "states.parquet")
        degradations = pl.read_csv(truth / "degradations.csv")
        for row in degradations.iter_rows(named=True):
            lo, hi = MODES[row["mode"]].lead_hours
            assert lo <= row["lead_running_hours"] <= hi, row
        for row in pl.read_csv(truth / "failures.csv").iter_rows(named=True):
            onset, failed = utc(row["onset"]), utc(row["failure_ts"])
            assert failed < end
            # calendar time >= running time (within a sample: see the test of the failure sample)
            assert row["lead_hours"] >= row["lead_running_hours"] - HUB_CONFIG.interval_s / 3600 - 0.001
            # running time between onset and failure in states.parquet = the lead (within a sample)
            running = states.filter(
                (pl.col("machine_id") == row["machine_id"]) & (pl.col("state") == "running") & (pl.col("end") > onset) & (pl.col("start") < failed)
            )
            seconds = sum(
                (min(e, failed) - max(s, onset)).total_seconds() for s, e in zip(running["start"], running["end"], strict=True)
            )
            assert abs(seconds - row["lead_running_hours"] * 3600) <= HUB_CONFIG.interval_s + 4, row


# --------------------------------------------------------------------------------------------
# 4. weekends and Korean holidays are idle
# --------------------------------------------------------------------------------------------
CHUSEOK_START = date(2026, 9, 21)  # Mon; Chuseok Thu 24 - Sat 26, Sun 27, back Mon 28


def test_korean_holidays() -> None:
    h2026 = korean_holidays([2026])
    for d in (date(2026, 9, 24), date(2026, 9, 25), date(2026, 9, 26), date(2026, 5, 1), date(2026, 1, 1), date(2026, 10, 9)):
        assert d in h2026, d
    assert date(2026, 9, 23) not in h2026 and date(2026, 9, 28) not in h2026
    # Labour Day is added even where the holidays package does not list it
    assert date(2024, 5, 1) in korean_holidays([2024])
    assert korean_holidays([2024])[date(2024, 5, 1)] == "근로자의 날"


@pytest.mark.parametrize("pattern", list(SHIFT_PATTERNS))
def test_weekends_and_holidays_are_idle(pattern: str) -> None:
    clock, calendar, ambient = factory_setup(CHUSEOK_START, 10, pattern)
    assert calendar.day_kind == ["workday"] * 3 + ["holiday"] * 3 + ["weekend"] + ["workday"] * 3
    assert calendar.non_working_days == [3, 4, 5, 6]
    day = clock.day_index
    off_day = np.isin(day, calendar.non_working_days)
    assert not calendar.powered[off_day].any() and calendar.powered[~off_day].any()
    for i, type_name in enumerate(MACHINE_TYPES):
        run = simulate_machine(machine_plan(type_name, 5, i), clock, calendar, ambient, degradation=False, sensor_faults=False)
        state = run.operation.state
        assert (state[off_day] == OFF).all(), f"{type_name} powered on a day off"
        assert (run.operation.load[off_day] == 0).all()
        current = run.true["motor_current"]
        running_level = np.percentile(current[state == RUNNING], 5)
        assert current[off_day].max() < 0.1 * running_level, f"{type_name}: motor current {current[off_day].max()} on a day off"
        for d, kind in enumerate(calendar.day_kind):
            hours = (state[day == d] == RUNNING).sum() / clock.per_hour
            if kind == "workday":
                assert hours >= 2, f"{type_name} ran only {hours:.1f} h on workday {d}"
        # production machines run only while the calendar says the plant produces
        if MACHINE_TYPES[type_name].duty.kind == "jobs":
            assert not (state == RUNNING)[~calendar.producing].any()
        assert not (state != OFF)[~calendar.powered].any()


def test_worked_saturday_is_a_short_morning() -> None:
    clock, calendar, ambient = factory_setup(START, 7, "day_evening")
    assert calendar.day_kind == ["workday"] * 5 + ["saturday", "weekend"]
    run = simulate_machine(machine_plan("cnc_machining_center", 5, 3), clock, calendar, ambient, degradation=False, sensor_faults=False)
    sat = clock.day_index == 5
    minute = clock.local["minute_of_day"].to_numpy()
    running = (run.operation.state == RUNNING) & sat
    assert running.any()
    assert minute[running].min() >= 8 * 60 and minute[running].max() < 12 * 60  # 08:00-13:00, lunch break 12-13
    assert (run.operation.state[sat & (minute >= 13 * 60)] == OFF).all()
    assert (run.operation.state[sat & (minute >= 12 * 60) & (minute < 13 * 60)] == IDLE).all()
    assert (run.operation.state[clock.day_index == 6] == OFF).all()


# --------------------------------------------------------------------------------------------
# 5. sensor faults: in the truth, not in the machine
# --------------------------------------------------------------------------------------------
def check_sensor_faults(run: MachineRun, clean: MachineRun) -> None:
    assert run.episodes == clean.episodes
    assert run.maintenance == clean.maintenance
    assert np.array_equal(run.severity, clean.severity)
    assert np.array_equal(run.operation.state, clean.operation.state)
    assert not clean.faults
    n = run.clock.n
    sensors = run.plan.type.sensors
    assert run.true.keys() == clean.true.keys() == {s.name for s in sensors}
    for sensor in sensors:
        name = sensor.name
        assert np.array_equal(run.true[name], clean.true[name]), name
        assert np.array_equal(clean.observed[name], clean.true[name], equal_nan=True), name
        windows = {k: np.zeros(n, dtype=bool) for k in ("gateway_outage", "dropout", "stuck", "spike", "error_code")}
        for f in run.faults:
            assert f.kind in windows and 0 <= f.start < f.end <= n
            if f.sensor in {name, "*"}:
                windows[f.kind][f.start : f.end] = True
        obs, true = run.observed[name], run.true[name]
        missing = np.isnan(obs)
        error = obs == ERROR_CODE
        changed = ~missing & ~error & (obs != true)
        assert (windows["gateway_outage"] | windows["dropout"])[missing].all(), f"{name}: NaN outside an outage/dropout"
        assert windows["error_code"][error].all(), f"{name}: -9999 outside an error_code window"
        assert (windows["stuck"] | windows["spike"])[changed].all(), f"{name}: altered reading outside a stuck/spike window"
        # every outage / dropout sample is missing; every error_code sample not missing is -9999
        assert missing[windows["gateway_outage"] | windows["dropout"]].all(), name
        assert (error | missing)[windows["error_code"]].all(), name
        # outside fault windows the observation is the truth
        any_window = np.logical_or.reduce(list(windows.values()))
        assert np.array_equal(obs[~any_window], true[~any_window]), name
        # true readings never carry a fault marker
        assert not np.isnan(true).any() and not (true == ERROR_CODE).any()
        # spikes are in range; stuck windows repeat one value
        spikes = windows["spike"] & ~missing & ~error & ~windows["stuck"]
        assert ((obs[spikes] >= sensor.min) & (obs[spikes] <= sensor.max)).all(), name
    for f in run.faults:
        if f.kind == "stuck":
            obs = run.observed[f.sensor][f.start : f.end]
            keep = ~np.isnan(obs) & (obs != ERROR_CODE)
            for g in run.faults:  # a spike on top, or a later stuck window that freezes another value
                if g.sensor == f.sensor and g is not f and (g.kind == "spike" or (g.kind == "stuck" and g.start > f.start)):
                    keep[max(g.start, f.start) - f.start : max(0, min(g.end, f.end) - f.start)] = False
            assert len(set(obs[keep].tolist())) <= 1, f


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), type_name=st.sampled_from(list(MACHINE_TYPES)), pattern=st.sampled_from(list(SHIFT_PATTERNS)))
def test_sensor_faults_touch_only_observations(seed: int, type_name: str, pattern: str) -> None:
    clock, calendar, ambient = factory_setup(START, 14, pattern)
    plan = MachinePlan("M-01", type_name, seed, (0, 1), date(2019, 1, 1), failure_rate=3.0)
    run = simulate_machine(plan, clock, calendar, ambient, sensor_faults=True)
    clean = simulate_machine(plan, clock, calendar, ambient, sensor_faults=False)
    assert run.faults  # 14 days of a machine: spikes alone come every 3 days
    check_sensor_faults(run, clean)


def test_sensor_faults_do_not_change_machine_truth(hub_out: Path, hub_out_no_faults: Path) -> None:
    for factory in factory_ids():
        with_faults, without = hub_out / "truth" / factory, hub_out_no_faults / "truth" / factory
        for name in ("failures.csv", "degradations.csv", "maintenance.csv", "calendar.csv"):
            assert (with_faults / name).read_bytes() == (without / name).read_bytes(), f"{factory}/{name}"
        for name in ("rul.parquet", "states.parquet"):
            assert pl.read_parquet(with_faults / name).equals(pl.read_parquet(without / name)), f"{factory}/{name}"
        assert pl.read_csv(without / "sensor_faults.csv").height == 0
        faults = pl.read_csv(with_faults / "sensor_faults.csv")
        assert faults.height > 0
        assert set(faults["kind"]) <= {"gateway_outage", "dropout", "stuck", "spike", "error_code"}
        assert (faults.filter(pl.col("kind") == "gateway_outage")["sensor"] == "*").all()
        step_s = HUB_CONFIG.interval_s
        for row in faults.iter_rows(named=True):
            assert (utc(row["end"]) - utc(row["start"])).total_seconds() == row["samples"] * step_s


# --------------------------------------------------------------------------------------------
# 6. healthy physics is plausible
# --------------------------------------------------------------------------------------------
SUMMER = date(2026, 7, 27)  # the hottest fortnight of the shop-temperature model; no public holiday


@pytest.mark.parametrize("start", [START, SUMMER], ids=["october", "summer"])
@pytest.mark.parametrize("type_name", list(MACHINE_TYPES))
def test_healthy_physics_is_plausible(type_name: str, start: date) -> None:
    _clock, _calendar, ambient = factory_setup(start, 14, "day_evening")
    mtype = MACHINE_TYPES[type_name]
    run = healthy_run(type_name, start, 14, "day_evening")
    op = run.operation
    running = op.state == RUNNING
    assert running.sum() > 50 * 60

    # motor current follows the load while running
    r = np.corrcoef(run.true["motor_current"][running], op.load[running])[0, 1]
    assert r > 0.9, f"corr(current, load) = {r:.3f}"
    # ISO 10816: a healthy machine is in zone A/B (< 2.8 mm/s) nearly all the time
    vib = run.true["vibration_rms"][running]
    assert np.mean(vib < 2.8) >= 0.99, f"vibration above 2.8 mm/s in {np.mean(vib >= 2.8):.1%} of running samples"
    assert np.median(vib) > 0.5  # ... but a running machine does vibrate
    if type_name == "air_compressor":
        p = run.true["discharge_pressure"][running]
        assert abs(p.mean() - 7.0) < 0.05 and np.mean(np.abs(p - 7.0) < 0.2) > 0.99

    powered = op.state != OFF
    cold_starts = [int(i) + 1 for i in np.flatnonzero(powered[1:] & ~powered[:-1]) if not powered[max(0, i - 8 * 60) : i + 1].any()]
    assert len(cold_starts) >= 8  # one a working day
    steady = mtype.physics(op)  # noise-free, un-lagged rises above ambient
    for sensor in mtype.sensors:
        true = run.true[sensor.name]
        assert (true >= sensor.min).all() and (true <= sensor.max).all(), sensor.name
        assert not (true >= sensor.max).any(), f"{sensor.name} saturates its sensor while healthy"
        if sensor.tau_min is None:
            continue
        # first-order lag: no jump larger than a * (largest step of the steady state) + a few noise sd
        a = 1 - math.exp(-INTERVAL_S / 60 / sensor.tau_min)
        target = ambient + steady[sensor.name]
        span = float(target.max() - target.min())
        jumps = np.abs(np.diff(true))
        bound = a * span + 7 * sensor.noise_sd + step(sensor.decimals)
        assert jumps.max() <= bound, f"{sensor.name} jumps {jumps.max():.2f} °C in one sample (bound {bound:.2f})"
        # (the un-lagged steady state jumps far more: without the lag this check would fail)
        assert np.abs(np.diff(target)).max() > 2 * bound, sensor.name
        for s0 in cold_starts:
            # after a night off a temperature has cooled down to the shop's air temperature ...
            assert abs(true[s0 - 1] - ambient[s0 - 1]) < 0.5, (sensor.name, s0)
            # ... and at power-on moves only the lag's first step towards its steady state
            first_step = a * steady[sensor.name][s0]
            assert abs(true[s0] - ambient[s0] - first_step) <= 6 * sensor.noise_sd + step(sensor.decimals), (sensor.name, s0)


def test_barrel_heats_with_documented_time_constant() -> None:
    """Injection barrel: steady state = the recipe's set point (200-240 °C) whenever powered, so
    after a cold start T(t) = T_air + (set - T_air)(1 - exp(-t/tau)) with tau = 30 min."""
    clock, calendar, ambient = factory_setup(START, 14, "day_evening")
    run = simulate_machine(machine_plan("injection_molding", 5, 2), clock, calendar, ambient, degradation=False, sensor_faults=False)
    tau = MACHINE_TYPES["injection_molding"].sensor("barrel_temp").tau_min
    op, barrel = run.operation, run.true["barrel_temp"]
    powered = op.state != OFF
    checked = 0
    for i in np.flatnonzero(powered[1:] & ~powered[:-1]):
        s0 = int(i) + 1
        window = slice(s0, s0 + int(2 * tau) + 1)
        if powered[max(0, s0 - 480) : s0].any() or not powered[window].all() or len(set(op.recipe[window].tolist())) != 1:
            continue
        set_point = 200 + 40 * op.recipe[s0]
        for k in (int(tau) - 1, int(2 * tau) - 1):  # k+1 samples of heating
            air = ambient[s0 + k]
            expected = air + (set_point - air) * (1 - math.exp(-(k + 1) / tau))
            assert barrel[s0 + k] == pytest.approx(expected, abs=1.5), (s0, k)
        checked += 1
    assert checked >= 4
