"""Simulating one machine: operation, degradation, maintenance, failures, signals, sensor faults.

Every random draw comes from a stream of its own (duty cycle, episodes, maintenance, noise, sensor
faults), each seeded from the simulation seed and the machine's position. So the same seed gives
the same machine, and switching degradation or sensor faults off changes nothing else: the
counterfactual healthy machine has exactly the same jobs and measurement noise, which is what the
tests compare against.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy.signal import lfilter

from analytics.simulate.calendar import Clock, FactoryCalendar
from analytics.simulate.degradation import MODES, VISIBLE_SEVERITY, DegradationMode
from analytics.simulate.machines import IDLE, MACHINE_TYPES, OFF, RUNNING, MachineType, Operation

log = logging.getLogger(__name__)

# Stream numbers of a machine's random generators (fixed: changing them changes every data set).
_DUTY, _EPISODES, _MAINTENANCE, _NOISE, _FAULTS = range(5)
ERROR_CODE = -9999.0  # what a gateway writes when a sensor's transmitter reports a fault
PM_START_MINUTE = 9 * 60
PM_HOURS = 3.0


def rng(seed: int, *key: int) -> np.random.Generator:
    """An independent generator for ``key`` (factory, machine, stream) under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class MachinePlan:
    """A machine to simulate: identity, type and where its random streams come from."""

    machine_id: str
    type_name: str
    seed: int
    key: tuple[int, int]  # (factory index, machine index)
    install_date: date
    failure_rate: float = 1.0

    @property
    def type(self) -> MachineType:
        return MACHINE_TYPES[self.type_name]

    def stream(self, number: int) -> np.random.Generator:
        return rng(self.seed, *self.key, number)


@dataclass(frozen=True)
class Episode:
    """One degradation from onset to its end: a failure, preventive maintenance, or the horizon."""

    mode: str
    onset: int
    end: int  # first sample after the degradation (the failure sample for a failure)
    outcome: str  # "failure", "maintenance" or "ongoing"
    lead_running_hours: float
    visible_from: int | None
    repaired: int | None = None  # first sample after the repair, for failures


@dataclass(frozen=True)
class Maintenance:
    start: int
    end: int
    kind: str  # "preventive" or "repair"
    mode: str | None = None  # the degradation a repair fixed


@dataclass(frozen=True)
class SensorFault:
    """A fault of the measurement, not the machine: the machine's true state is unchanged."""

    sensor: str  # "*" for a whole-gateway outage
    kind: str  # "gateway_outage", "dropout", "stuck", "spike", "error_code"
    start: int
    end: int


@dataclass
class MachineRun:
    plan: MachinePlan
    clock: Clock
    operation: Operation
    severity: np.ndarray
    mode_code: np.ndarray  # index into plan.type.modes of the active degradation, -1 if none
    true: dict[str, np.ndarray]  # what the sensors would read if they worked (rounded)
    observed: dict[str, np.ndarray]  # what the gateway sends: NaN = missing sample
    episodes: list[Episode] = field(default_factory=list)
    maintenance: list[Maintenance] = field(default_factory=list)
    faults: list[SensorFault] = field(default_factory=list)

    @property
    def failures(self) -> list[Episode]:
        return [e for e in self.episodes if e.outcome == "failure"]


def thermal_lag(rise: np.ndarray, tau_samples: float) -> np.ndarray:
    """First-order lag ``y[i] = y[i-1] + a (x[i] - y[i-1])``, starting in equilibrium with ``x[0]``."""
    a = 1.0 - np.exp(-1.0 / tau_samples)
    out, _ = lfilter([a], [1.0, -(1.0 - a)], rise, zi=[(1.0 - a) * rise[0]])
    return out


def ar1(gen: np.random.Generator, n: int, tau_samples: float, sd: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation ``sd`` and correlation time ``tau_samples``."""
    phi = np.exp(-1.0 / tau_samples)
    shocks = gen.standard_normal(n) * sd * np.sqrt(1 - phi**2)
    out, _ = lfilter([1.0], [1.0, -phi], shocks, zi=[phi * gen.standard_normal() * sd])
    return out


def shop_temperature(clock: Clock, calendar: FactoryCalendar, seed: int, factory_index: int) -> np.ndarray:
    """Indoor air temperature of an unconditioned Korean shop floor, °C.

    Seasonal swing from about 5 °C in late January to 29 °C in early August, a daily swing of
    ±3 °C peaking mid-afternoon, +2 °C of machine heat while the plant produces (lagged by an
    hour), and slow weather noise.
    """
    gen = rng(seed, factory_index, 1_000)
    doy = (clock.local["date"].dt.ordinal_day().to_numpy() - 1) + clock.local["minute_of_day"].to_numpy() / 1440
    seasonal = 17 - 12 * np.cos(2 * np.pi * (doy - 25) / 365.25)
    daily = 3 * np.cos(2 * np.pi * (clock.local["minute_of_day"].to_numpy() / 1440 - 15 / 24))
    plant_heat = thermal_lag(2.0 * calendar.producing.astype(float), clock.per_hour)
    weather = ar1(gen, clock.n, 36 * clock.per_hour, 1.5)
    return seasonal + daily + plant_heat + weather


def _segments(gen: np.random.Generator, n: int, lo: float, hi: float, samples_per_minute: float) -> np.ndarray:
    mean = (lo + hi) / 2 * samples_per_minute
    count = int(n / max(mean, 1.0)) + 16
    return np.maximum(1, np.round(gen.uniform(lo, hi, count) * samples_per_minute)).astype(np.int64)


def base_operation(plan: MachinePlan, clock: Clock, calendar: FactoryCalendar, ambient: np.ndarray) -> Operation:
    """The machine's planned operation (before failures take it down)."""
    duty = plan.type.duty
    gen = plan.stream(_DUTY)
    n = clock.n
    per_min = 60 / clock.interval_s
    powered, producing = calendar.powered, calendar.producing
    if duty.kind == "jobs":
        runs = _segments(gen, n, *duty.run_minutes, per_min)
        gaps = _segments(gen, n, *duty.gap_minutes, per_min)
        count = min(len(runs), len(gaps))
        durations = np.empty(2 * count, dtype=np.int64)
        durations[0::2], durations[1::2] = gaps[:count], runs[:count]
        # Start part-way into a segment so machines of the same type are not in step.
        offset = int(gen.integers(0, durations[0] + durations[1]))
        segment = np.repeat(np.arange(2 * count), durations)[offset : offset + n]
        if len(segment) < n:  # cannot happen with the +16 margin; fail loudly rather than misalign
            raise RuntimeError("duty cycle shorter than the horizon")
        job = segment // 2
        job_load = gen.uniform(*duty.load, count)
        job_recipe = gen.uniform(0, 1, count)
        in_job = (segment % 2 == 1) & producing
        load_noise = ar1(gen, n, 10 * per_min, 0.03)
        load = np.where(in_job, np.clip(job_load[job] + load_noise, 0.05, 1.0), 0.0)
        recipe = job_recipe[job]
        state = np.where(in_job, RUNNING, np.where(powered, IDLE, OFF)).astype(np.int8)
    else:
        lo, hi = duty.load
        demand = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.tanh(ar1(gen, n, 45 * per_min, 0.9))
        demand = np.where(producing, demand, demand * 0.7)  # plant air and water demand drop in breaks
        running = powered & (demand >= duty.unload_below)
        load = np.where(running, demand, 0.0)
        recipe = np.full(n, 0.5)
        state = np.where(running, RUNNING, np.where(powered, IDLE, OFF)).astype(np.int8)
    return Operation(state=state, load=load, recipe=recipe, ambient=ambient)


def preventive_maintenance(plan: MachinePlan, clock: Clock, calendar: FactoryCalendar) -> list[int]:
    """Start samples of preventive maintenance: every ``pm_interval_days``, on the first day off
    (weekend or holiday) on or after the due date, at 09:00, when the machine stands still."""
    gen = plan.stream(_MAINTENANCE)
    interval = plan.type.pm_interval_days
    due = float(gen.uniform(0, interval))
    days_off = np.array(calendar.non_working_days, dtype=np.int64)
    starts: list[int] = []
    while due < clock.days and len(days_off):
        later = days_off[days_off >= int(due)]
        if not len(later):
            break
        day = int(later[0])
        starts.append(int(clock.day_bounds[day]) + clock.minutes(PM_START_MINUTE))
        due = day + interval
    return [s for s in starts if s < clock.n]


@dataclass(frozen=True)
class ScriptedDegradation:
    """A degradation to put on a machine instead of random ones (for tests and what-if studies):
    ``mode`` starting at sample ``onset`` and failing after ``lead_hours`` of running, unless
    preventive maintenance comes first."""

    mode: str
    onset: int
    lead_hours: float
    downtime_hours: float = 4.0


class _EpisodeResolver:
    """Turns (mode, onset, lead time, downtime) into an :class:`Episode`: failure, or ended by the
    next preventive maintenance, or still going at the end of the horizon."""

    def __init__(self, clock: Clock, running: np.ndarray, pm_starts: list[int]) -> None:
        self.clock = clock
        self.used = np.cumsum(running)  # running samples up to and including each sample
        self.pm = np.array(sorted(pm_starts), dtype=np.int64)
        self.pm_len = clock.minutes(PM_HOURS * 60)

    def resolve(self, mode: DegradationMode, onset: int, lead_h: float, downtime_h: float) -> tuple[Episode, int]:
        """The episode and the first sample at which the machine is healthy again."""
        clock, used = self.clock, self.used
        lead_samples = lead_h * clock.per_hour
        base = used[onset - 1] if onset else 0
        # The sample after the one that completes the lead: the machine has run the whole lead
        # time when it fails, and was running just before.
        fail = int(np.searchsorted(used, base + lead_samples, side="left")) + 1
        next_pm = self.pm[self.pm > onset]
        pm_at = int(next_pm[0]) if len(next_pm) else clock.n
        visible = _visible_from(mode, used, base, lead_samples, onset, min(fail, pm_at, clock.n))
        if pm_at < min(fail, clock.n):
            return Episode(mode.name, onset, pm_at, "maintenance", lead_h, visible), pm_at + self.pm_len
        if fail < clock.n:
            repaired = fail + clock.minutes(downtime_h * 60)  # may lie beyond the horizon
            return Episode(mode.name, onset, fail, "failure", lead_h, visible, repaired), repaired
        return Episode(mode.name, onset, clock.n, "ongoing", lead_h, visible), clock.n


def plan_episodes(plan: MachinePlan, clock: Clock, running: np.ndarray, pm_starts: list[int]) -> list[Episode]:
    """Random degradations one after another: each starts on a healthy machine (a Poisson process
    per mode; the first to fire wins) and ends in a failure, at preventive maintenance, or at the
    end of the horizon."""
    gen = plan.stream(_EPISODES)
    modes = [MODES[m] for m in plan.type.modes]
    rates = np.array([m.onset_per_day for m in modes]) * plan.failure_rate
    if not rates.any():
        return []
    resolver = _EpisodeResolver(clock, running, pm_starts)
    per_day = 86400 / clock.interval_s
    episodes: list[Episode] = []
    t = 0
    while t < clock.n:
        with np.errstate(divide="ignore"):
            waits = gen.exponential(1.0 / rates)  # days until each mode would start (inf if off)
        lead = gen.uniform(0, 1, len(modes))
        downtime = gen.uniform(0, 1, len(modes))
        k = int(np.argmin(waits))
        mode = modes[k]
        onset = t + int(waits[k] * per_day)
        if onset >= clock.n:
            break
        lead_h = mode.lead_hours[0] + lead[k] * (mode.lead_hours[1] - mode.lead_hours[0])
        downtime_h = mode.downtime_hours[0] + downtime[k] * (mode.downtime_hours[1] - mode.downtime_hours[0])
        episode, t = resolver.resolve(mode, onset, lead_h, downtime_h)
        episodes.append(episode)
    return episodes


def scripted_episodes(plan: MachinePlan, clock: Clock, running: np.ndarray, pm_starts: list[int], script: Sequence[ScriptedDegradation]) -> list[Episode]:
    """The scripted degradations, in onset order; one that starts before the previous one is over is refused."""
    resolver = _EpisodeResolver(clock, running, pm_starts)
    episodes: list[Episode] = []
    healthy_from = 0
    for item in sorted(script, key=lambda d: d.onset):
        if item.mode not in plan.type.modes:
            raise ValueError(f"{plan.type_name} has no degradation mode {item.mode!r} (it has {', '.join(plan.type.modes)})")
        if item.onset < healthy_from or not 0 <= item.onset < clock.n:
            raise ValueError(f"scripted {item.mode} at sample {item.onset} overlaps the previous degradation or lies outside the horizon")
        episode, healthy_from = resolver.resolve(MODES[item.mode], item.onset, item.lead_hours, item.downtime_hours)
        episodes.append(episode)
    return episodes


def _visible_from(mode: DegradationMode, used: np.ndarray, base: float, lead_samples: float, onset: int, end: int) -> int | None:
    if end <= onset:
        return None
    u = np.clip((used[onset:end] - base) / lead_samples, 0, 1)
    hits = np.flatnonzero(mode.severity(u) >= VISIBLE_SEVERITY)
    return onset + int(hits[0]) if len(hits) else None


def simulate_machine(
    plan: MachinePlan,
    clock: Clock,
    calendar: FactoryCalendar,
    ambient: np.ndarray,
    *,
    degradation: bool = True,
    sensor_faults: bool = True,
    script: Sequence[ScriptedDegradation] | None = None,
) -> MachineRun:
    """Simulate one machine over the clock's horizon.

    ``degradation=False`` gives the healthy counterfactual (same jobs, maintenance and noise);
    ``script`` replaces the random degradations by the given ones.
    """
    mtype = plan.type
    planned = base_operation(plan, clock, calendar, ambient)
    pm_starts = preventive_maintenance(plan, clock, calendar)
    running = planned.state == RUNNING
    if script is not None:
        episodes = scripted_episodes(plan, clock, running, pm_starts, script)
    elif degradation:
        episodes = plan_episodes(plan, clock, running, pm_starts)
    else:
        episodes = []

    # A failed machine stands still until it is repaired.
    state, load = planned.state.copy(), planned.load.copy()
    for ep in episodes:
        if ep.outcome == "failure":
            state[ep.end : ep.repaired] = OFF
            load[ep.end : ep.repaired] = 0.0
    op = Operation(state=state, load=load, recipe=planned.recipe, ambient=ambient)

    severity, code = _severity(plan, clock, running, episodes)
    signals = _signals(mtype, op, severity, code, clock, plan.stream(_NOISE))
    maintenance = [Maintenance(s, min(clock.n, s + clock.minutes(PM_HOURS * 60)), "preventive") for s in pm_starts]
    maintenance += [Maintenance(e.end, e.repaired, "repair", e.mode) for e in episodes if e.outcome == "failure"]
    maintenance.sort(key=lambda m: m.start)
    observed, faults = (
        inject_sensor_faults(mtype, signals, clock, plan.stream(_FAULTS)) if sensor_faults else ({k: v.copy() for k, v in signals.items()}, [])
    )
    return MachineRun(plan, clock, op, severity, code, signals, observed, episodes, maintenance, faults)


def _severity(plan: MachinePlan, clock: Clock, running: np.ndarray, episodes: list[Episode]) -> tuple[np.ndarray, np.ndarray]:
    used = np.cumsum(running)
    severity = np.zeros(clock.n)
    code = np.full(clock.n, -1, dtype=np.int8)
    for ep in episodes:
        mode = MODES[ep.mode]
        base = used[ep.onset - 1] if ep.onset else 0
        u = np.clip((used[ep.onset : ep.end] - base) / (ep.lead_running_hours * clock.per_hour), 0, 1)
        severity[ep.onset : ep.end] = mode.severity(u)
        code[ep.onset : ep.end] = plan.type.modes.index(ep.mode)
    return severity, code


def _signals(mtype: MachineType, op: Operation, severity: np.ndarray, code: np.ndarray, clock: Clock, noise: np.random.Generator) -> dict[str, np.ndarray]:
    base = mtype.physics(op)
    running = op.running
    for k, mode in enumerate(mtype.modes):
        s = np.where(code == k, severity, 0.0) * running
        if not s.any():
            continue
        for effect in mtype.effects[mode]:
            v = base[effect.sensor]
            if effect.kind == "scale":
                base[effect.sensor] = v * (1 + effect.magnitude * s)
            else:  # "shift" adds in the sensor's unit; "heat" adds to the rise before the thermal lag
                base[effect.sensor] = v + effect.magnitude * s
    powered = op.powered
    out: dict[str, np.ndarray] = {}
    for sensor in mtype.sensors:  # fixed order: the noise stream is consumed identically every time
        white = noise.standard_normal(clock.n)
        drift = ar1(noise, clock.n, 2 * clock.per_hour, 0.5 * sensor.noise_sd)
        value = base[sensor.name]
        if sensor.tau_min is not None:
            value = op.ambient + thermal_lag(value, sensor.tau_min * 60 / clock.interval_s)
        gain = op.running if sensor.zero_at_rest else 0.3 + 0.7 * powered
        value = value + (white * sensor.noise_sd + drift) * gain
        out[sensor.name] = np.round(np.clip(value, sensor.min, sensor.max), sensor.decimals) + 0.0
    return out


def _poisson_windows(gen: np.random.Generator, n: int, per_day: float, rate: float, minutes: tuple[float, float], per_min: float) -> list[tuple[int, int]]:
    count = int(gen.poisson(rate * n / per_day))
    starts = gen.integers(0, n, count)
    lengths = np.maximum(1, np.round(gen.uniform(*minutes, count) * per_min)).astype(np.int64)
    return [(int(s), int(min(n, s + length))) for s, length in zip(starts, lengths, strict=True)]


def inject_sensor_faults(mtype: MachineType, signals: dict[str, np.ndarray], clock: Clock, gen: np.random.Generator) -> tuple[dict[str, np.ndarray], list[SensorFault]]:
    """What the gateway sends: the true readings with measurement faults.

    Per machine and day on average: a stuck sensor every 20 days (repeats its last value for
    1-12 h), an in-range spike every 3 days (one sample, a knock or an electrical glitch), an
    error code (-9999, outside every valid range) every 8 days, a gateway outage every 15 days
    (10 min to 4 h, all sensors missing) and, per sensor, a dropout every 12 days (5 min to 2 h).
    """
    n, per_min, per_day = clock.n, 60 / clock.interval_s, 86400 / clock.interval_s
    names = [s.name for s in mtype.sensors]
    observed = {k: v.copy() for k, v in signals.items()}
    faults: list[SensorFault] = []
    for start, end in _poisson_windows(gen, n, per_day, 1 / 20, (60, 720), per_min):
        name = names[int(gen.integers(len(names)))]
        observed[name][start:end] = observed[name][start]
        faults.append(SensorFault(name, "stuck", start, end))
    for start, _ in _poisson_windows(gen, n, per_day, 1 / 3, (1, 1), per_min):
        sensor = mtype.sensors[int(gen.integers(len(names)))]
        jump = gen.uniform(0.3, 0.6) * (sensor.max - sensor.min)
        value = min(observed[sensor.name][start] + jump, sensor.max - 10 ** -sensor.decimals)
        observed[sensor.name][start] = np.round(value, sensor.decimals)
        faults.append(SensorFault(sensor.name, "spike", start, start + 1))
    for start, end in _poisson_windows(gen, n, per_day, 1 / 8, (1, 5), per_min):
        name = names[int(gen.integers(len(names)))]
        observed[name][start:end] = ERROR_CODE
        faults.append(SensorFault(name, "error_code", start, end))
    for start, end in _poisson_windows(gen, n, per_day, 1 / 15, (10, 240), per_min):
        for name in names:
            observed[name][start:end] = np.nan
        faults.append(SensorFault("*", "gateway_outage", start, end))
    for name in names:
        for start, end in _poisson_windows(gen, n, per_day, 1 / 12, (5, 120), per_min):
            observed[name][start:end] = np.nan
            faults.append(SensorFault(name, "dropout", start, end))
    faults.sort(key=lambda f: (f.start, f.sensor, f.kind))
    return observed, faults
