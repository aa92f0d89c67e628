"""Feature sets: declared, versioned lists of features, so a model knows what it was trained on.

A feature set has a name, a version, the window sizes it is computed for, and every feature with
its table, description and unit. Changing how any feature is computed means a new version:
stored features live under ``features/<name>/v<version>/``, so two versions never mix.

Two tables per window size:

- ``sensor``: one row per machine, sensor and window (statistics of one signal);
- ``machine``: one row per machine and window (operating state, cross-sensor physics, events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from analytics.schemas import parse_duration_seconds

Table = Literal["sensor", "machine"]
# How a feature's unit follows from its sensor's unit.
UnitRule = Literal["sensor", "sensor/h", "sensor^2", "1", "h", "count"]


@dataclass(frozen=True)
class Feature:
    name: str
    table: Table
    description: str
    unit: UnitRule
    vibration_only: bool = False

    def unit_for(self, sensor_unit: str) -> str:
        """The feature's unit for a sensor measured in ``sensor_unit``."""
        return {
            "sensor": sensor_unit,
            "sensor/h": f"{sensor_unit}/h",
            "sensor^2": f"({sensor_unit})²",
            "1": "1",
            "h": "h",
            "count": "count",
        }[self.unit]


@dataclass(frozen=True)
class CrossFeature:
    """A machine-level feature from the window means of two sensors: ``numerator / denominator``
    (``ratio``) or ``minuend - subtrahend`` (``difference``), where the machine has both."""

    name: str
    kind: Literal["ratio", "difference"]
    left: str
    right: str
    description: str
    unit: str


@dataclass(frozen=True)
class FeatureSet:
    name: str
    version: int
    windows: tuple[str, ...]
    features: tuple[Feature, ...]
    cross: tuple[CrossFeature, ...] = ()
    trailing: tuple[str, ...] = ("24h", "7d")
    vibration_units: frozenset[str] = field(default_factory=lambda: frozenset({"mm/s", "g", "m/s²", "m/s2", "um", "µm"}))

    @property
    def key(self) -> str:
        return f"{self.name}/v{self.version}"

    def columns(self, table: Table) -> list[str]:
        return [f.name for f in self.features if f.table == table]

    def window_seconds(self, window: str) -> float:
        if window not in self.windows:
            raise ValueError(f"feature set {self.key} has no window {window!r} (it has {', '.join(self.windows)})")
        return parse_duration_seconds(window)

    def describe(self) -> list[dict[str, str]]:
        """Every feature as a row (name, table, unit rule, description), for docs and model cards."""
        rows = [{"name": f.name, "table": f.table, "unit": f.unit, "description": f.description} for f in self.features]
        rows += [{"name": c.name, "table": "machine", "unit": c.unit, "description": c.description} for c in self.cross]
        return rows


_SENSOR_STATS = (
    Feature("n", "sensor", "samples received in the window (any state)", "count"),
    Feature("n_used", "sensor", "samples the statistics are computed on: those while running (all, for a machine without a load sensor)", "count"),
    Feature("share_missing", "sensor", "1 - samples received / samples expected at the sensor's nominal interval", "1"),
    Feature("mean", "sensor", "mean while running", "sensor"),
    Feature("std", "sensor", "sample standard deviation (ddof 1) while running", "sensor"),
    Feature("min", "sensor", "minimum while running", "sensor"),
    Feature("max", "sensor", "maximum while running", "sensor"),
    Feature("first", "sensor", "first value while running", "sensor"),
    Feature("last", "sensor", "last value while running", "sensor"),
    Feature("q10", "sensor", "10th percentile while running (linear interpolation)", "sensor"),
    Feature("q50", "sensor", "median while running", "sensor"),
    Feature("q90", "sensor", "90th percentile while running", "sensor"),
    Feature("slope_per_h", "sensor", "least-squares slope against time while running", "sensor/h"),
    Feature("roc_per_h", "sensor", "rate of change: (last - first) / hours between them", "sensor/h"),
    Feature("rms", "sensor", "root mean square while running", "sensor", vibration_only=True),
    Feature("peak", "sensor", "largest absolute value while running", "sensor", vibration_only=True),
    Feature("crest", "sensor", "crest factor: peak / RMS", "1", vibration_only=True),
    Feature("kurtosis", "sensor", "excess kurtosis (Fisher, biased) while running", "1", vibration_only=True),
)


def _trailing(horizon: str) -> tuple[Feature, ...]:
    return (
        Feature(f"mean_{horizon}", "sensor", f"mean over the trailing {horizon} before the window (running samples)", "sensor"),
        Feature(f"std_{horizon}", "sensor", f"standard deviation over the trailing {horizon} before the window", "sensor"),
        Feature(f"min_{horizon}", "sensor", f"minimum over the trailing {horizon} before the window", "sensor"),
        Feature(f"max_{horizon}", "sensor", f"maximum over the trailing {horizon} before the window", "sensor"),
        Feature(f"z_{horizon}", "sensor", f"deviation of the window mean from the trailing {horizon} mean, in trailing standard deviations", "1"),
    )


_MACHINE = (
    Feature("share_running", "machine", "share of the window's state samples in which the machine ran", "1"),
    Feature("share_idle", "machine", "share in which it was powered but idle", "1"),
    Feature("share_off", "machine", "share in which it was off", "1"),
    Feature("hours_since_maintenance", "machine", "hours from the last maintenance or repair event to the window's end", "h"),
    Feature("hours_since_failure", "machine", "hours from the last failure event to the window's end", "h"),
    Feature("alarms", "machine", "alarm events in the window", "count"),
)

# Physics that survives a change of load: what a healthy machine keeps constant.
_CROSS = (
    CrossFeature("current_per_load", "ratio", "motor_current", "spindle_load", "motor current per % spindle load (cutting efficiency)", "A/%"),
    CrossFeature("current_per_flow", "ratio", "motor_current", "flow", "motor current per m³/h pumped", "A/(m³/h)"),
    CrossFeature("current_per_air_flow", "ratio", "motor_current", "air_flow", "motor current per m³/min of air delivered", "A/(m³/min)"),
    CrossFeature("bearing_rise_over_coolant", "difference", "bearing_temp", "coolant_temp", "spindle bearing temperature above the coolant", "K"),
    CrossFeature("discharge_rise_over_oil", "difference", "discharge_temp", "oil_temp", "compressor discharge temperature above the oil", "K"),
    CrossFeature("pressure_rise", "difference", "discharge_pressure", "suction_pressure", "pump head: discharge minus suction pressure", "bar"),
    CrossFeature("motor_rise_over_ambient", "difference", "motor_temp", "ambient_temp", "motor temperature above the shop air", "K"),
)


def _build() -> FeatureSet:
    trailing = ("24h", "7d")
    features = _SENSOR_STATS + tuple(f for h in trailing for f in _trailing(h)) + _MACHINE
    return FeatureSet("machine_health", 1, ("10min", "1h", "1d"), features, _CROSS, trailing)


MACHINE_HEALTH = _build()
FEATURE_SETS: dict[str, FeatureSet] = {MACHINE_HEALTH.key: MACHINE_HEALTH}
