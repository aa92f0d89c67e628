"""Writing a simulated factory the way a factory sends it, and its ground truth beside it.

Layout of one simulation (``OUT``)::

    OUT/manifest.json                  configuration, per-factory counts and expected ingest figures
    OUT/<factory>/plant.yaml           the factory's plant description (factoryhub factory add --plant)
    OUT/<factory>/calendar.yaml        when it produces (shifts, Saturdays, holidays): factoryhub factory calendar
    OUT/<factory>/mapping.yaml         how its gateway's readings files map (factoryhub ingest --mapping)
    OUT/<factory>/events_mapping.yaml
    OUT/<factory>/incoming/<delivery date>/<machine>_<YYYYMMDD>.csv   one file per machine and day
    OUT/<factory>/incoming/<delivery date>/events_<YYYYMMDD>.csv      the maintenance log of a day
    OUT/truth/<factory>/...            what really happened (never sent to the hub)

Files arrive the day after the day they cover, some 2-4 days late, some twice (identical bytes,
which the hub skips), and one gateway re-sends the last half hour of the previous day at the start
of every file (exact duplicates, which the hub counts and drops).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import yaml

from analytics.simulate.calendar import SHIFT_PATTERNS, Clock, FactoryCalendar
from analytics.simulate.degradation import MODES
from analytics.simulate.engine import MachineRun, rng, shop_temperature, simulate_machine
from analytics.simulate.machines import STATE_NAMES
from analytics.simulate.plans import FactoryPlan, GatewayProfile, SimulationConfig

TRUTH_DIR = "truth"
INCOMING_DIR = "incoming"
MANIFEST = "manifest.json"
_DELIVERY_STREAM = 3_000


@dataclass
class Expected:
    """What ingesting every file of a factory must report (order-independent totals)."""

    files: int = 0
    skipped_files: int = 0  # exact re-sends: the hub recognises the content and skips the file,
    # reporting the rows it stored from the first copy as duplicates
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    blank_cells: int = 0  # wide files: missing samples of a row that has others


@dataclass
class FactorySummary:
    factory_id: str
    readings: int = 0  # samples x sensors simulated
    values_in_files: int = 0
    files: int = 0
    late_files: int = 0
    repeated_files: int = 0
    failures: int = 0
    degradations: int = 0
    sensor_faults: int = 0
    readings_expected: Expected = field(default_factory=Expected)
    events_expected: Expected = field(default_factory=Expected)
    info: dict = field(default_factory=dict)


def _utc_text(clock: Clock, index: int | None) -> str | None:
    """The UTC time of sample ``index`` (which may be ``n``: the end of the horizon)."""
    if index is None:
        return None
    seconds = int(clock.utc[0]) + index * clock.interval_s
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_text(clock: Clock, index: int) -> str:
    seconds = int(clock.utc[0]) + index * clock.interval_s
    return datetime.fromtimestamp(seconds, ZoneInfo(clock.timezone)).strftime("%Y-%m-%d %H:%M:%S")


def _timestamps(clock: Clock, style: str) -> pl.Series:
    if style == "epoch_s":
        return pl.Series("ts", clock.utc)
    local = pl.from_epoch(pl.Series("ts", clock.utc), time_unit="s").dt.replace_time_zone("UTC").dt.convert_time_zone(clock.timezone)
    fmt = "%Y-%m-%dT%H:%M:%S%:z" if style == "iso_offset" else "%Y-%m-%d %H:%M:%S"
    return local.dt.strftime(fmt)


def korean_sensor_labels(plan: FactoryPlan) -> dict[str, str]:
    """Column header -> sensor name of a Korean gateway, for every sensor type in the factory."""
    labels: dict[str, str] = {}
    for machine in plan.machines:
        for sensor in machine.type.sensors:
            known = labels.setdefault(sensor.label_ko, sensor.name)
            if known != sensor.name:
                raise ValueError(f"Korean header {sensor.label_ko!r} means both {known} and {sensor.name}")
    return labels


def _write_yaml(path: Path, data: dict, comment: str) -> None:
    text = "".join(f"# {line}\n" for line in comment.splitlines())
    path.write_text(text + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def write_descriptions(config: SimulationConfig, plan: FactoryPlan, folder: Path) -> None:
    """plant.yaml, mapping.yaml and events_mapping.yaml of a factory folder."""
    plant = {
        "factory": {"id": plan.factory_id, "name_ko": plan.name_ko, "name_en": plan.name_en, "timezone": config.timezone},
        "machines": [
            {
                "id": m.machine_id,
                "type": m.type_name,
                "model": m.type.model,
                "install_date": m.install_date.isoformat(),
                "sensors": [
                    {"name": s.name, "unit": s.unit, "min": s.min, "max": s.max, "interval": config.interval}
                    for s in m.type.sensors
                ],
            }
            for m in plan.machines
        ],
    }
    _write_yaml(
        folder / "plant.yaml", plant,
        f"Simulated factory ({plan.industry}, shift pattern {plan.shift_pattern}); written by factoryhub simulate.",
    )
    from analytics.solutions.calendar import calendar_from_pattern  # the hub's calendar format, one way

    _write_yaml(
        folder / "calendar.yaml", calendar_from_pattern(SHIFT_PATTERNS[plan.shift_pattern]).model_dump(mode="json"),
        f"When the factory produces (shift pattern {plan.shift_pattern}): factoryhub factory calendar; maintenance is planned outside it.",
    )
    gw = plan.gateway
    if gw.format == "long":
        mapping: dict = {"format": "long"}
        note = "Long form: machine_id, sensor, ts (ISO 8601 with offset), value."
    elif gw.korean_headers:
        mapping = {
            "format": "wide",
            "timestamp": {"column": "일시"},
            "machine_column": "설비번호",
            "sensors": korean_sensor_labels(plan),
            "missing_sensor_columns": "ignore",
        }
        note = "Wide CP949 files with Korean headers; each machine type's file holds its own columns."
    else:
        mapping = {"format": "wide", "timestamp": {"column": "ts", "format": "epoch_s"}}
        note = "Wide UTF-8 files, time in epoch seconds, one column per sensor named as in the plant."
    _write_yaml(folder / "mapping.yaml", mapping, note)
    _write_yaml(folder / "events_mapping.yaml", {"table": "events"}, "Maintenance log: machine_id, ts (local), kind, component, text.")


def _write_csv(path: Path, frame: pl.DataFrame, gw: GatewayProfile, header: list[str]) -> None:
    body = frame.write_csv(include_header=False, line_terminator=gw.line_terminator)
    text = ",".join(header) + gw.line_terminator + body
    path.write_bytes(text.encode(gw.encoding))


def _valid_counts(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int]:
    """(valid, out of range, blank) over a (samples, sensors) block; rows with nothing are not written."""
    present = ~np.isnan(values)
    in_range = present & (values >= lo) & (values <= hi)
    written_rows = present.any(axis=1)
    blank = int((~present[written_rows]).sum())
    return int(in_range.sum()), int((present & ~in_range).sum()), blank


class FactoryWriter:
    """Simulates the machines of one factory one at a time and writes their files and truth."""

    def __init__(self, config: SimulationConfig, plan: FactoryPlan, out: Path) -> None:
        self.config, self.plan, self.out = config, plan, out
        self.clock = Clock(config.start, config.days, config.interval_s, config.timezone)
        self.calendar = FactoryCalendar(self.clock, SHIFT_PATTERNS[plan.shift_pattern])
        self.ambient = shop_temperature(self.clock, self.calendar, config.seed, plan.index)
        self.folder = out / plan.factory_id
        self.truth = out / TRUTH_DIR / plan.factory_id
        self.summary = FactorySummary(plan.factory_id)
        self.timestamps = _timestamps(self.clock, plan.gateway.ts_style)
        self.deliveries = rng(config.seed, plan.index, _DELIVERY_STREAM)
        self.truth_rows: dict[str, list[dict]] = {k: [] for k in ("degradations", "failures", "maintenance", "sensor_faults")}
        self.events: list[dict] = []
        self.rul: list[pl.DataFrame] = []
        self.states: list[pl.DataFrame] = []

    def run(self, runs: list[MachineRun] | None = None) -> FactorySummary:
        self.folder.mkdir(parents=True)
        self.truth.mkdir(parents=True)
        write_descriptions(self.config, self.plan, self.folder)
        for machine in self.plan.machines:
            run = simulate_machine(machine, self.clock, self.calendar, self.ambient, sensor_faults=self.config.sensor_faults)
            self._write_machine(run)
            self._collect_truth(run)
            if runs is not None:
                runs.append(run)
        self._write_events()
        self._write_truth()
        s = self.summary
        s.info = {
            "name_ko": self.plan.name_ko,
            "name_en": self.plan.name_en,
            "industry": self.plan.industry,
            "shift_pattern": self.plan.shift_pattern,
            "gateway": self.plan.gateway.name,
            "machines": {m.machine_id: m.type_name for m in self.plan.machines},
        }
        return s

    # -- readings files ---------------------------------------------------------------------
    def _delivery_day(self, day: int) -> tuple[int, int | None]:
        """(delivery day, day of an identical re-send or None) of the file covering ``day``."""
        late, lag, repeat, again = self.deliveries.uniform(size=4)
        delivery = day + 1 + (1 + int(lag * 3) if late < self.config.late_share else 0)
        resend = delivery + 1 + int(again * 3) if repeat < self.config.repeat_share else None
        return delivery, resend

    def _place(self, name: str, delivery: int) -> Path:
        folder = self.folder / INCOMING_DIR / (self.config.start + timedelta(days=delivery)).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def _write_machine(self, run: MachineRun) -> None:
        gw, clock, plan = self.plan.gateway, self.clock, run.plan
        sensors = plan.type.sensors
        names = [s.name for s in sensors]
        matrix = np.stack([run.observed[n] for n in names], axis=1)
        lo = np.array([s.min for s in sensors])
        hi = np.array([s.max for s in sensors])
        overlap = clock.minutes(gw.overlap_minutes) if gw.overlap_minutes else 0
        bounds = clock.day_bounds
        s, r = self.summary, self.summary.readings_expected
        s.readings += matrix.size
        for day in range(clock.days):
            start, end = int(bounds[day]), int(bounds[day + 1])
            first = max(0, start - overlap)
            block = matrix[first:end]
            valid, invalid, blank = _valid_counts(block, lo, hi)
            repeat_valid = _valid_counts(matrix[first:start], lo, hi)[0] if first < start else 0
            local_day = (clock.start + timedelta(days=day)).strftime("%Y%m%d")
            name = f"{plan.machine_id}_{local_day}.csv"
            frame, header = self._frame(run, names, first, end, block)
            if frame.height == 0:
                continue  # the gateway was down all day: nothing to send
            delivery, resend = self._delivery_day(day)
            path = self._place(name, delivery)
            _write_csv(path, frame, gw, header)
            s.files += 1
            s.values_in_files += valid + invalid
            s.late_files += delivery > day + 1
            r.files += 1
            r.accepted += valid - repeat_valid
            r.duplicate += repeat_valid
            r.quarantined += invalid
            r.blank_cells += blank
            if resend is not None:
                again = self._place(name, resend)
                shutil.copyfile(path, again)
                s.files += 1
                s.repeated_files += 1
                r.files += 1
                r.skipped_files += 1
                r.duplicate += valid  # the hub reports a skipped file's stored rows as duplicates

    def _frame(self, run: MachineRun, names: list[str], first: int, end: int, block: np.ndarray) -> tuple[pl.DataFrame, list[str]]:
        gw, plan = self.plan.gateway, run.plan
        ts = self.timestamps[first:end]
        sensors = plan.type.sensors
        if gw.format == "long":
            k = len(names)
            flat = block.ravel()
            keep = ~np.isnan(flat)
            rows = np.repeat(np.arange(end - first), k)[keep]
            which = np.tile(np.arange(k), end - first)[keep]
            frame = pl.DataFrame(
                {
                    "machine_id": pl.repeat(plan.machine_id, int(keep.sum()), eager=True),
                    "sensor": pl.Series(names).gather(which),
                    "ts": ts.gather(rows),
                    "value": flat[keep],
                }
            )
            return frame, ["machine_id", "sensor", "ts", "value"]
        columns = {}
        for j, sensor in enumerate(sensors):
            values = pl.Series(sensor.name, block[:, j], nan_to_null=True)
            columns[sensor.name] = values.cast(pl.Int64) if sensor.decimals == 0 else values
        frame = pl.DataFrame({"ts": ts, "machine_id": pl.repeat(plan.machine_id, end - first, eager=True), **columns})
        frame = frame.filter(pl.any_horizontal(pl.col(n).is_not_null() for n in names))
        if gw.korean_headers:
            header = ["일시", "설비번호", *[s.label_ko for s in sensors]]
        else:
            header = ["ts", "machine_id", *names]
        return frame, header

    # -- ground truth -----------------------------------------------------------------------
    def _collect_truth(self, run: MachineRun) -> None:
        clock, plan, mtype = self.clock, run.plan, run.plan.type
        t = self.truth_rows
        hours = 1 / clock.per_hour
        for ep in run.episodes:
            moved = mtype.moved_by(ep.mode)
            t["degradations"].append(
                {
                    "machine_id": plan.machine_id,
                    "machine_type": plan.type_name,
                    "mode": ep.mode,
                    "onset": _utc_text(clock, ep.onset),
                    "visible_from": _utc_text(clock, ep.visible_from),
                    "end": _utc_text(clock, ep.end),
                    "outcome": ep.outcome,
                    "lead_running_hours": round(ep.lead_running_hours, 3),
                    "sensors": ";".join(f"{k}:{'+' if v > 0 else '-'}" for k, v in moved.items()),
                }
            )
            if ep.outcome == "failure":
                t["failures"].append(
                    {
                        "machine_id": plan.machine_id,
                        "machine_type": plan.type_name,
                        "mode": ep.mode,
                        "failure_ts": _utc_text(clock, ep.end),
                        "repaired_ts": _utc_text(clock, ep.repaired),
                        "onset": _utc_text(clock, ep.onset),
                        "visible_from": _utc_text(clock, ep.visible_from),
                        "lead_running_hours": round(ep.lead_running_hours, 3),
                        "lead_hours": round((ep.end - ep.onset) * hours, 3),
                        "downtime_hours": round((ep.repaired - ep.end) * hours, 3),
                    }
                )
                mode = MODES[ep.mode]
                self.events.append(self._event(run, ep.end, "failure", ep.mode, f"고장: {mode.label_ko} ({mode.label_en})"))
                if ep.repaired < clock.n:  # a repair still under way at the end is not in the log yet
                    self.events.append(self._event(run, ep.repaired, "repair", ep.mode, f"{mode.repair_ko} ({mode.repair_en})"))
        for m in run.maintenance:
            t["maintenance"].append(
                {
                    "machine_id": plan.machine_id,
                    "kind": m.kind,
                    "start": _utc_text(clock, m.start),
                    "end": _utc_text(clock, m.end),
                    "mode": m.mode,
                }
            )
            if m.kind == "preventive":
                self.events.append(self._event(run, m.start, "maintenance", "preventive", "정기 예방정비 (preventive maintenance)"))
        for f in run.faults:
            t["sensor_faults"].append(
                {
                    "machine_id": plan.machine_id,
                    "sensor": f.sensor,
                    "kind": f.kind,
                    "start": _utc_text(clock, f.start),
                    "end": _utc_text(clock, f.end),
                    "samples": f.end - f.start,
                }
            )
        self.summary.failures += len(run.failures)
        self.summary.degradations += len(run.episodes)
        self.summary.sensor_faults += len(run.faults)
        self.rul.append(self._rul(run))
        self.states.append(self._states(run))

    def _event(self, run: MachineRun, index: int, kind: str, component: str, text: str) -> dict:
        return {"index": index, "machine_id": run.plan.machine_id, "ts": _local_text(self.clock, index), "kind": kind, "component": component, "text": text}

    def _rul(self, run: MachineRun) -> pl.DataFrame:
        """Hourly: state, health (1 - severity), active mode, hours to the next failure."""
        clock = self.clock
        step = max(1, round(clock.per_hour))
        idx = np.arange(0, clock.n, step)
        fails = np.array([e.end for e in run.failures], dtype=np.int64)
        nxt = np.searchsorted(fails, idx, side="left")
        has = nxt < len(fails)
        rul = np.full(len(idx), np.nan)
        rul[has] = (fails[nxt[has]] - idx[has]) / clock.per_hour
        modes = [*run.plan.type.modes, None]  # code -1 (healthy) picks the last
        return pl.DataFrame(
            {
                "machine_id": pl.repeat(run.plan.machine_id, len(idx), eager=True),
                "ts": pl.from_epoch(pl.Series(clock.utc[idx]), time_unit="s").dt.replace_time_zone("UTC"),
                "state": [STATE_NAMES[int(s)] for s in run.operation.state[idx]],
                "health": np.round(1 - run.severity[idx], 4),
                "mode": pl.Series([modes[c] for c in run.mode_code[idx]], dtype=pl.String),
                "rul_hours": pl.Series(np.round(rul, 4), nan_to_null=True),
                "censored": ~has,
            }
        )

    def _states(self, run: MachineRun) -> pl.DataFrame:
        """Operating state as intervals [start, end)."""
        state = run.operation.state
        change = np.flatnonzero(np.diff(state)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(state)]])
        base = int(self.clock.utc[0])
        to_ts = lambda a: pl.from_epoch(pl.Series(base + a * self.clock.interval_s), time_unit="s").dt.replace_time_zone("UTC")  # noqa: E731
        return pl.DataFrame(
            {
                "machine_id": pl.repeat(run.plan.machine_id, len(starts), eager=True),
                "start": to_ts(starts),
                "end": to_ts(ends),
                "state": [STATE_NAMES[int(s)] for s in state[starts]],
            }
        )

    def _write_events(self) -> None:
        if not self.events:
            return
        gw = self.plan.gateway
        frame = pl.DataFrame(self.events).sort("index", "machine_id")
        days = self.clock.day_index[np.minimum(frame["index"].to_numpy(), self.clock.n - 1)]
        frame = frame.with_columns(pl.Series("day", days))
        for (day,), part in frame.group_by("day", maintain_order=True):
            local_day = (self.clock.start + timedelta(days=int(day))).strftime("%Y%m%d")
            path = self._place(f"events_{local_day}.csv", int(day) + 1)
            _write_csv(path, part.select("machine_id", "ts", "kind", "component", "text"), gw, ["machine_id", "ts", "kind", "component", "text"])
            self.summary.files += 1
            self.summary.events_expected.files += 1
            self.summary.events_expected.accepted += part.height

    def _write_truth(self) -> None:
        schemas = {
            "degradations": ["machine_id", "machine_type", "mode", "onset", "visible_from", "end", "outcome", "lead_running_hours", "sensors"],
            "failures": ["machine_id", "machine_type", "mode", "failure_ts", "repaired_ts", "onset", "visible_from", "lead_running_hours", "lead_hours", "downtime_hours"],
            "maintenance": ["machine_id", "kind", "start", "end", "mode"],
            "sensor_faults": ["machine_id", "sensor", "kind", "start", "end", "samples"],
        }
        for name, columns in schemas.items():
            rows = self.truth_rows[name]
            frame = pl.DataFrame(rows, schema=None if rows else {c: pl.String for c in columns}, infer_schema_length=None)
            frame.select(columns).write_csv(self.truth / f"{name}.csv")
        pl.concat(self.rul).write_parquet(self.truth / "rul.parquet")
        pl.concat(self.states).write_parquet(self.truth / "states.parquet")
        self.calendar.to_frame().write_csv(self.truth / "calendar.csv")


def summary_to_dict(s: FactorySummary) -> dict:
    return {
        "factory_id": s.factory_id,
        **s.info,
        "readings": s.readings,
        "values_in_files": s.values_in_files,
        "files": s.files,
        "late_files": s.late_files,
        "repeated_files": s.repeated_files,
        "failures": s.failures,
        "degradations": s.degradations,
        "sensor_faults": s.sensor_faults,
        "expected_ingest": {"readings": vars(s.readings_expected), "events": vars(s.events_expected)},
    }


def write_manifest(out: Path, config: SimulationConfig, factories: list[dict]) -> None:
    manifest = {"generator": "factoryhub simulate", "config": config.model_dump(mode="json"), "factories": factories}
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")


SOURCE_NOTE = """# Simulated factories

Generated by the Factory Data Hub simulator (`analytics/simulate/`), not taken from any dataset:

```bash
factoryhub simulate {options} --out DIR
```

The same options give byte-identical files. Layout:

- `<factory>/plant.yaml`, `mapping.yaml`, `events_mapping.yaml`: what to register and how the files map;
- `<factory>/calendar.yaml`: when the factory produces (its shifts, Saturdays and public holidays);
- `<factory>/incoming/<delivery date>/`: one CSV per machine and day, and the day's maintenance log
  (`events_YYYYMMDD.csv`), in the folder of the day they were delivered (some late, some twice);
- `truth/<factory>/`: what really happened: `degradations.csv` (anomaly windows and the sensors
  each moves), `failures.csv`, `maintenance.csv`, `sensor_faults.csv` (measurement faults, not
  machine faults), `rul.parquet` (hourly health and hours to the next failure), `states.parquet`
  (off / idle / running), `calendar.csv`; times in UTC;
- `manifest.json`: the configuration and, per factory, what an ingest of its files must report.

Factories:

{factories}
"""


def write_source_note(out: Path, config: SimulationConfig, factories: list[dict]) -> None:
    """SOURCE.md: how the folder was made and what is in it."""
    defaults = SimulationConfig()
    options = " ".join(
        f"--{name.replace('_', '-')} {value}" if not isinstance(value, bool) else f"--{'' if value else 'no-'}{name.replace('_', '-')}"
        for name, value in config.model_dump(mode="json").items()
        if name in {"factories", "machines", "days", "seed", "start"} or value != defaults.model_dump(mode="json")[name]
    )
    lines = [
        f"- `{f['factory_id']}` ({f['name_ko']}, {f['industry']}): {len(f['machines'])} machines "
        f"({', '.join(sorted(set(f['machines'].values())))}); gateway `{f['gateway']}`; shift pattern `{f['shift_pattern']}`"
        for f in factories
    ]
    (out / "SOURCE.md").write_text(SOURCE_NOTE.format(options=options, factories="\n".join(lines)), encoding="utf-8")


def read_manifest(out: Path) -> dict:
    return json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))


# The time columns of each truth table (UTC), typed when read: a table with no rows, or a column
# with no value (a factory whose degradations never showed), would otherwise come back as text.
TRUTH_TIMES: dict[str, tuple[str, ...]] = {
    "degradations": ("onset", "visible_from", "end"),
    "failures": ("failure_ts", "repaired_ts", "onset", "visible_from"),
    "maintenance": ("start", "end"),
    "sensor_faults": ("start", "end"),
    "calendar": (),
}
TRUTH_TABLES = tuple(TRUTH_TIMES)


def read_truth(out: Path, factory_id: str, table: str) -> pl.DataFrame:
    """One CSV table of a simulated factory's truth (``truth/<factory>/<table>.csv``, see
    :data:`TRUTH_TABLES`): e.g. ``degradations`` (mode, onset, visible_from, null if it never
    showed, end, outcome) or ``maintenance`` (kind, start, end); times in UTC."""
    if table not in TRUTH_TIMES:
        raise ValueError(f"no truth table {table!r} (one of {', '.join(TRUTH_TABLES)})")
    overrides: dict[str, pl.DataType] = {c: pl.Datetime("us", "UTC") for c in TRUTH_TIMES[table]}
    if table == "calendar":
        overrides["date"] = pl.Date()
    return pl.read_csv(Path(out) / TRUTH_DIR / factory_id / f"{table}.csv", schema_overrides=overrides)
