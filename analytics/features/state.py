"""Operating state (off / idle / running) of each machine, from its load sensor.

Health statistics are computed over running time only: a spindle that stands still over lunch
is not "abnormally cold". Each machine gets a :class:`StateRule`: which sensor shows its load and
the two thresholds that separate off from idle and idle from running. Rules are fitted once per
machine from its history (:func:`fit_state_rule`) and then kept fixed, so a daily update and a
full recompute classify every sample the same way; refit them explicitly when a machine changes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
from upath import UPath

from analytics.schemas import validate_machine_id
from analytics.store.storage import write_text_atomic

log = logging.getLogger(__name__)

OFF, IDLE, RUNNING, UNKNOWN = 0, 1, 2, -1

# Which sensor shows a machine's load, best first: electrical current follows the work done
# most directly; load %, power and speed are the next best.
_LOAD_UNITS = ("A", "kW", "W", "%", "rpm")
_LOAD_NAMES = ("motor_current", "current", "spindle_load", "load", "power", "spindle_speed", "motor_speed", "speed")


@dataclass(frozen=True)
class StateRule:
    """Off below ``off_below``, running at or above ``run_above``, idle in between."""

    machine_id: str
    sensor: str
    off_below: float
    run_above: float
    fitted_from: str
    fitted_to: str


def load_sensor(sensors: pl.DataFrame) -> str | None:
    """The sensor of one machine that best shows its load (columns ``sensor``, ``unit``), or None."""
    names = sensors.get_column("sensor").to_list()
    units = dict(zip(names, sensors.get_column("unit").to_list(), strict=True))
    for name in _LOAD_NAMES:
        if name in units:
            return name
    for unit in _LOAD_UNITS:
        for name in names:
            if units[name] == unit:
                return name
    return None


def otsu_threshold(values: np.ndarray, bins: int = 256) -> tuple[float, float]:
    """Otsu's threshold of ``values`` and its effectiveness (between-class / total variance)."""
    hist, edges = np.histogram(values, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    weights = hist.astype(float) / hist.sum()
    w0 = np.cumsum(weights)
    w1 = 1 - w0
    m = np.cumsum(weights * centers)
    total_mean = m[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * w0 - m) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = 0
    k = int(np.argmax(between))
    total_var = float(np.sum(weights * (centers - total_mean) ** 2))
    return float(edges[k + 1]), float(between[k] / total_var) if total_var > 0 else 0.0


def fit_state_rule(machine_id: str, sensor: str, load: np.ndarray, fitted_from: str, fitted_to: str) -> StateRule:
    """Thresholds from a machine's load history.

    Off: below 5 % of the load's 99th percentile (a stopped drive draws almost nothing). Among the
    samples above that, idle and running form two clusters when the machine idles powered (a CNC
    between jobs draws a tenth of its cutting current); Otsu's threshold separates them when the
    split is clear (effectiveness ≥ 0.7 and the lower cluster's mean under half the upper's).
    Otherwise (a pump that is either off or pumping) every powered sample is running.
    """
    load = load[np.isfinite(load)]
    if len(load) == 0:
        raise ValueError(f"{machine_id}: no {sensor} readings to fit an operating-state rule on")
    high = float(np.quantile(load, 0.99))
    off_below = 0.05 * high if high > 0 else 0.0
    powered = load[load >= off_below]
    run_above = off_below
    if len(powered) > 10 and np.ptp(powered) > 0:
        threshold, effectiveness = otsu_threshold(powered)
        lower, upper = powered[powered < threshold], powered[powered >= threshold]
        if len(lower) and len(upper) and effectiveness >= 0.7 and lower.mean() < 0.5 * upper.mean():
            run_above = threshold
    return StateRule(validate_machine_id(machine_id), sensor, off_below, run_above, fitted_from, fitted_to)


def save_rules(path: Path | UPath, rules: dict[str, StateRule]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({m: asdict(r) for m, r in sorted(rules.items())}, indent=2))


def load_rules(path: Path | UPath) -> dict[str, StateRule]:
    if not path.is_file():
        return {}
    return {m: StateRule(**r) for m, r in json.loads(path.read_text(encoding="utf-8")).items()}
