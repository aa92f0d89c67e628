"""Degradation modes: how a healthy machine drifts towards a failure, and how fast.

Each mode is a small object with:

- ``onset_per_day``: rate of a Poisson process (per calendar day) at which the mode starts on a
  machine that is healthy; the hub's rates are raised above a real plant's so a month of a few
  dozen machines holds enough failures to learn from (scale them with ``failure_rate``);
- ``lead_hours``: range of the *running* hours from onset to failure (uniformly drawn). Wear
  advances with use, not with the calendar, so a machine that stands still over a holiday does not
  come closer to failing, and a failure always happens while the machine runs;
- ``severity(u)``: the shape of the damage, a function of the share ``u`` in [0, 1] of the lead time
  used up, with ``severity(0) = 0`` and ``severity(1) = 1`` (the failure);
- ``downtime_hours``: range of the repair time after a failure.

How a severity shows in the sensors depends on the machine, so each machine type lists the
sensors a mode moves (:class:`Effect`, in :mod:`analytics.simulate.machines`). A mode moves those
sensors and no others, and only while the machine runs: a worn bearing is silent in a stopped
spindle. Preventive maintenance ends a degradation in progress and restores health.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

EffectKind = Literal["scale", "shift", "heat"]


@dataclass(frozen=True)
class Effect:
    """What a degradation of severity ``s`` does to one sensor while the machine runs.

    ``scale``: the running value is multiplied by ``1 + magnitude * s`` (vibration, flow);
    ``shift``: ``magnitude * s`` is added (current, load, pressure, in the sensor's unit);
    ``heat``: ``magnitude * s`` °C of extra heat input, passed through the sensor's thermal lag,
    so a temperature rises and falls with the machine's thermal time constant.
    """

    sensor: str
    kind: EffectKind
    magnitude: float


@dataclass(frozen=True)
class DegradationMode(ABC):
    name: str
    label_ko: str
    label_en: str
    onset_per_day: float
    lead_hours: tuple[float, float]
    downtime_hours: tuple[float, float]
    repair_ko: str
    repair_en: str

    @abstractmethod
    def severity(self, u: np.ndarray) -> np.ndarray:
        """Damage for the share ``u`` of the lead time used up (0 healthy, 1 failure)."""

    def describe(self) -> str:
        return f"{self.label_en} ({self.label_ko})"


@dataclass(frozen=True)
class BearingWear(DegradationMode):
    """Rolling-element bearing wear: spalling that grows on itself.

    A defect on a race or ball grows with every over-roll and the debris it sheds damages the rest,
    so damage grows exponentially with running time: ``s(u) = (exp(k u) - 1) / (exp(k) - 1)`` with
    ``k = 4``. For most of the lead time the change is small (an early bearing defect shows only in
    high-frequency envelope spectra, not in overall RMS), then overall vibration velocity rises
    four- to six-fold, from ISO 10816 zone A/B (under 2.8 mm/s) into zone D (above 7.1 mm/s) at a
    job's typical speed (a slow job stays in zone C), and friction heats the bearing housing by
    15-25 °C. Lead time 80-240 running hours (one to three weeks
    of two shifts), the longest of the modes; a failure needs a bearing replacement, 8-24 h.
    """

    k: float = 4.0

    def severity(self, u: np.ndarray) -> np.ndarray:
        return np.expm1(self.k * u) / np.expm1(self.k)


@dataclass(frozen=True)
class Overheating(DegradationMode):
    """Loss of cooling: a fouled oil cooler or heat exchanger, a failing cooling fan.

    The cooler's heat-transfer coefficient falls as deposits build up, so the temperature a given
    load reaches creeps up; the last part goes faster as hot oil thins, leaks internally and makes
    the pump work harder. Modelled as ``s(u) = u ** 1.5``: 20-30 °C of extra temperature rise at
    failure (the machine trips on over-temperature or a seal fails), with a few amperes of extra
    motor current where the machine's pump works against internal leakage. Lead time 12-48 running
    hours; repair (clean or replace the cooler, change oil and seals) 4-12 h.
    """

    def severity(self, u: np.ndarray) -> np.ndarray:
        return u**1.5


@dataclass(frozen=True)
class Clogging(DegradationMode):
    """A filter, strainer or intake that clogs: flow falls, the drive compensates.

    Deposits accumulate at a steady rate with throughput, so the added flow resistance grows
    linearly: ``s(u) = u``. Flow falls by a third or more at failure (the pump cavitates or the
    machine starves of coolant or air); suction pressure drops; where a drive holds the set point
    (a VSD compressor) speed and current rise instead. Lead time 40-120 running hours; a failure
    means cleaning or replacing the filter and flushing, 2-6 h.
    """

    def severity(self, u: np.ndarray) -> np.ndarray:
        return u


@dataclass(frozen=True)
class ToolWear(DegradationMode):
    """Flank wear of a cutting tool, ending in breakage when the tool is not changed in time.

    After a short run-in, flank wear grows and then accelerates as the worn edge heats up (the
    Taylor tool-life curve): ``s(u) = u ** 2``. Cutting forces grow with the wear land, so
    spindle load and motor current rise (about +35 % load at breakage), the motor warms, and
    chatter raises vibration. The shortest lead time (3-10 cutting hours); a broken tool costs
    0.5-2 h (tool change, re-measure, scrap part).
    """

    def severity(self, u: np.ndarray) -> np.ndarray:
        return u**2


MODES: dict[str, DegradationMode] = {
    mode.name: mode
    for mode in (
        BearingWear(
            "bearing_wear", "베어링 마모", "bearing wear", onset_per_day=1 / 60,
            lead_hours=(80, 240), downtime_hours=(8, 24),
            repair_ko="베어링 교체 및 윤활", repair_en="bearing replaced and lubricated",
        ),
        Overheating(
            "overheating", "과열 (냉각 불량)", "overheating (loss of cooling)", onset_per_day=1 / 50,
            lead_hours=(12, 48), downtime_hours=(4, 12),
            repair_ko="냉각기 세척 및 오일 교환", repair_en="cooler cleaned and oil changed",
        ),
        Clogging(
            "clogging", "필터 막힘", "clogging", onset_per_day=1 / 45,
            lead_hours=(40, 120), downtime_hours=(2, 6),
            repair_ko="필터/스트레이너 교체 및 배관 세척", repair_en="filter replaced and line flushed",
        ),
        ToolWear(
            "tool_wear", "공구 마모", "tool wear", onset_per_day=1 / 20,
            lead_hours=(3, 10), downtime_hours=(0.5, 2),
            repair_ko="파손 공구 교체 및 공구 보정", repair_en="broken tool replaced and re-measured",
        ),
    )
}

# A degradation is "visible" (the truth's anomaly window opens) once its severity reaches this.
VISIBLE_SEVERITY = 0.1
