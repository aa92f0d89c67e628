"""Machine types: their sensors, how the sensors follow the load, and what each degradation moves.

A machine's signals are built in three layers (see :mod:`analytics.simulate.engine`):

1. *operation*: per sample the state (off, idle, running), the load (0-1) and the current job's
   recipe (0-1: spindle speed, barrel set point ...), from the factory calendar and the machine's
   duty cycle;
2. *physics* (this module): the noise-free value of every sensor for that operation. Temperatures
   are given as the steady-state rise above the shop's ambient temperature; the engine passes them
   through a first-order thermal lag with the sensor's time constant, so they warm up after a
   start and cool down after a stop instead of jumping;
3. *degradation effects* (:class:`~analytics.simulate.degradation.Effect`) on the sensors each mode
   names, then measurement noise and rounding to the sensor's resolution.

Figures are those of typical small-plant machines: a 15 kW machining-centre spindle, a 150 t
hydraulic injection moulding machine, a 37 kW VSD screw compressor, a 15 kW centrifugal
cooling-water pump. Vibration is overall velocity RMS (ISO 10816-3: under 2.8 mm/s good, above
7.1 mm/s damage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from analytics.simulate.degradation import Effect

OFF, IDLE, RUNNING = 0, 1, 2
STATE_NAMES = {OFF: "off", IDLE: "idle", RUNNING: "running"}


@dataclass(frozen=True)
class SensorModel:
    """One sensor: unit, valid range (what the physics allows), resolution and noise.

    ``tau_min`` is the thermal time constant in minutes for temperatures (None otherwise).
    ``label_ko`` is the column header a Korean gateway writes.
    """

    name: str
    unit: str
    min: float
    max: float
    decimals: int
    label_ko: str
    noise_sd: float
    tau_min: float | None = None
    # Encoder-type readings (speeds) are exactly zero when the shaft stands still; analog
    # transmitters (pressure, current, temperature) show their noise whenever powered or not.
    zero_at_rest: bool = False


@dataclass(frozen=True)
class Operation:
    """Per-sample operating conditions of one machine."""

    state: np.ndarray  # int8: OFF, IDLE, RUNNING
    load: np.ndarray  # 0-1 while running, 0 otherwise
    recipe: np.ndarray  # 0-1: the current job's set point, held between jobs
    ambient: np.ndarray  # shop air temperature, °C

    @property
    def running(self) -> np.ndarray:
        return (self.state == RUNNING).astype(np.float64)

    @property
    def idle(self) -> np.ndarray:
        return (self.state == IDLE).astype(np.float64)

    @property
    def powered(self) -> np.ndarray:
        return (self.state != OFF).astype(np.float64)


@dataclass(frozen=True)
class DutyCycle:
    """How a machine works inside the factory's shifts.

    ``jobs``: alternating production runs and gaps (set-up, loading, waiting for material) with a
    load and recipe per job. ``demand``: a utility (compressor, pump) that runs whenever the plant
    is powered, its load following plant demand, unloading (idle) when demand drops below
    ``unload_below``.
    """

    kind: str  # "jobs" or "demand"
    run_minutes: tuple[float, float] = (30, 180)
    gap_minutes: tuple[float, float] = (5, 30)
    load: tuple[float, float] = (0.3, 1.0)
    unload_below: float = 0.0


@dataclass(frozen=True)
class MachineType:
    name: str
    prefix: str
    label_ko: str
    label_en: str
    model: str
    sensors: tuple[SensorModel, ...]
    duty: DutyCycle
    effects: dict[str, tuple[Effect, ...]]  # degradation mode -> the sensors it moves
    physics: Callable[[Operation], dict[str, np.ndarray]] = field(repr=False)
    pm_interval_days: int = 28

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.effects)

    def sensor(self, name: str) -> SensorModel:
        return next(s for s in self.sensors if s.name == name)

    def moved_by(self, mode: str) -> dict[str, int]:
        """Sensors a mode moves and the direction of the move (+1 up, -1 down) at full severity."""
        return {e.sensor: 1 if e.magnitude > 0 else -1 for e in self.effects[mode]}


def _cnc(op: Operation) -> dict[str, np.ndarray]:
    run, idle = op.running, op.idle
    speed = op.recipe * run  # share of the top spindle speed used by the job
    return {
        "spindle_speed": run * (3000 + 9000 * op.recipe),
        "spindle_load": run * (25 + 55 * op.load),
        "motor_current": idle * 3.5 + run * (6 + 24 * op.load),
        "vibration_rms": run * (0.6 + 1.2 * speed + 0.4 * op.load) + idle * 0.12 + 0.02,
        "bearing_temp": run * (8 + 14 * op.recipe) + idle * 1.5,
        "motor_temp": idle * 3 + run * (10 + 25 * op.load),
        "coolant_temp": run * (4 + 6 * op.load) + idle * 1.0,
        "coolant_flow": run * 40.0,
    }


def _injection(op: Operation) -> dict[str, np.ndarray]:
    run, idle, powered = op.running, op.idle, op.powered
    # Barrel heaters hold the recipe's set point (200-240 °C) whenever the machine is on.
    barrel_set = 200 + 40 * op.recipe
    return {
        "barrel_temp": powered * (barrel_set - op.ambient),
        "mould_temp": powered * (25 + 15 * op.recipe) + run * 5 * op.load,
        "hydraulic_oil_temp": idle * 8 + run * (16 + 10 * op.load),
        "injection_pressure": run * (900 + 500 * op.load),
        "screw_speed": run * (60 + 100 * op.recipe),
        "motor_current": idle * 9 + run * (25 + 45 * op.load),
        "vibration_rms": idle * 0.7 + run * (1.1 + 0.8 * op.load) + 0.02,
    }


def _compressor(op: Operation) -> dict[str, np.ndarray]:
    run, idle = op.running, op.idle
    return {
        "discharge_pressure": run * 7.0 + idle * 6.8,
        "motor_speed": run * (1200 + 2300 * op.load) + idle * 1000,
        "motor_current": run * (22 + 48 * op.load) + idle * 12,
        "air_flow": run * 6.5 * op.load,
        # 45-60 K above the shop air: 70-95 °C most of the year, under the 105-110 °C trip point
        # even on a 38 °C summer afternoon.
        "discharge_temp": run * (45 + 15 * op.load) + idle * 22,
        "oil_temp": run * (35 + 12 * op.load) + idle * 16,
        "vibration_rms": run * (1.4 + 0.9 * op.load) + idle * 0.9 + 0.02,
        "bearing_temp": run * (22 + 10 * op.load) + idle * 10,
    }


def _pump(op: Operation) -> dict[str, np.ndarray]:
    run = op.running
    return {
        "flow": run * 120 * (0.6 + 0.4 * op.load),
        "discharge_pressure": run * (4.2 + 1.2 * op.load) + 0.3,
        # Static head on the suction side when stopped; the running pump draws it down.
        "suction_pressure": 1.5 - run * (0.3 + 0.2 * op.load),
        "motor_current": run * (16 + 14 * op.load),
        "motor_temp": run * (22 + 14 * op.load),
        "vibration_rms": run * (1.7 + 0.6 * op.load) + 0.02,
        "bearing_temp": run * (16 + 8 * op.load),
        "speed": run * 1780.0,
    }


def _vibration(max_: float = 50.0) -> SensorModel:
    return SensorModel("vibration_rms", "mm/s", 0, max_, 2, "진동(mm/s)", 0.04)


def _temp(name: str, label: str, tau: float, lo: float = -20, hi: float = 150) -> SensorModel:
    return SensorModel(name, "°C", lo, hi, 1, f"{label}(℃)", 0.2, tau_min=tau)


MACHINE_TYPES: dict[str, MachineType] = {
    t.name: t
    for t in (
        MachineType(
            "cnc_machining_center", "CNC", "CNC 머시닝센터", "CNC machining centre", "VMC-850 (15 kW spindle)",
            sensors=(
                SensorModel("spindle_speed", "rpm", 0, 15000, 0, "스핀들회전수(rpm)", 5, zero_at_rest=True),
                SensorModel("spindle_load", "%", 0, 200, 1, "스핀들부하(%)", 1.5),
                SensorModel("motor_current", "A", 0, 100, 1, "모터전류(A)", 0.3),
                _vibration(),
                _temp("bearing_temp", "베어링온도", 25),
                _temp("motor_temp", "모터온도", 35, hi=180),
                _temp("coolant_temp", "절삭유온도", 60, lo=-10, hi=80),
                SensorModel("coolant_flow", "L/min", 0, 100, 1, "절삭유유량(L/min)", 0.5),
            ),
            duty=DutyCycle("jobs", run_minutes=(20, 150), gap_minutes=(5, 30), load=(0.3, 1.0)),
            effects={
                "bearing_wear": (Effect("vibration_rms", "scale", 5.0), Effect("bearing_temp", "heat", 22)),
                "tool_wear": (
                    Effect("spindle_load", "shift", 28), Effect("motor_current", "shift", 8),
                    Effect("motor_temp", "heat", 8), Effect("vibration_rms", "scale", 0.5),
                ),
                "clogging": (Effect("coolant_flow", "scale", -0.55), Effect("coolant_temp", "heat", 9)),
            },
            physics=_cnc,
            pm_interval_days=14,
        ),
        MachineType(
            "injection_molding", "INJ", "사출성형기", "injection moulding machine", "IM-150 (150 t hydraulic)",
            sensors=(
                _temp("barrel_temp", "실린더온도", 30, hi=400),
                _temp("mould_temp", "금형온도", 20, hi=200),
                _temp("hydraulic_oil_temp", "작동유온도", 45, hi=120),
                SensorModel("injection_pressure", "bar", 0, 2500, 0, "사출압력(bar)", 15),
                SensorModel("screw_speed", "rpm", 0, 400, 0, "스크류회전수(rpm)", 1.5, zero_at_rest=True),
                SensorModel("motor_current", "A", 0, 200, 1, "모터전류(A)", 0.5),
                _vibration(),
            ),
            duty=DutyCycle("jobs", run_minutes=(60, 480), gap_minutes=(10, 45), load=(0.5, 0.95)),
            effects={
                "overheating": (Effect("hydraulic_oil_temp", "heat", 28), Effect("motor_current", "shift", 6)),
                "bearing_wear": (Effect("vibration_rms", "scale", 4.0),),
            },
            physics=_injection,
            pm_interval_days=21,
        ),
        MachineType(
            "air_compressor", "CMP", "공기압축기", "air compressor", "SC-37V (37 kW VSD screw)",
            sensors=(
                SensorModel("discharge_pressure", "bar", 0, 16, 2, "토출압력(bar)", 0.04),
                SensorModel("motor_speed", "rpm", 0, 4000, 0, "모터회전수(rpm)", 8, zero_at_rest=True),
                SensorModel("motor_current", "A", 0, 150, 1, "모터전류(A)", 0.4),
                SensorModel("air_flow", "m³/min", 0, 12, 2, "토출유량(m3/min)", 0.05),
                _temp("discharge_temp", "토출온도", 15, hi=150),
                _temp("oil_temp", "오일온도", 40, hi=130),
                _vibration(),
                _temp("bearing_temp", "베어링온도", 30),
            ),
            duty=DutyCycle("demand", load=(0.35, 0.95), unload_below=0.45),
            effects={
                "overheating": (Effect("discharge_temp", "heat", 25), Effect("oil_temp", "heat", 18)),
                "clogging": (
                    Effect("air_flow", "scale", -0.3), Effect("motor_speed", "scale", 0.12),
                    Effect("motor_current", "shift", 7),
                ),
                "bearing_wear": (Effect("vibration_rms", "scale", 3.0), Effect("bearing_temp", "heat", 20)),
            },
            physics=_compressor,
            pm_interval_days=28,
        ),
        MachineType(
            "centrifugal_pump", "PMP", "원심펌프 (냉각수)", "centrifugal pump (cooling water)", "CP-15 (15 kW, 4-pole)",
            sensors=(
                SensorModel("flow", "m³/h", 0, 300, 1, "유량(m3/h)", 0.8),
                SensorModel("discharge_pressure", "bar", 0, 16, 2, "토출압력(bar)", 0.03),
                SensorModel("suction_pressure", "bar", -1, 6, 2, "흡입압력(bar)", 0.02),
                SensorModel("motor_current", "A", 0, 80, 1, "모터전류(A)", 0.25),
                _temp("motor_temp", "모터온도", 40, hi=180),
                _vibration(),
                _temp("bearing_temp", "베어링온도", 30),
                SensorModel("speed", "rpm", 0, 3600, 0, "회전수(rpm)", 3, zero_at_rest=True),
            ),
            duty=DutyCycle("demand", load=(0.5, 0.95)),
            effects={
                "clogging": (
                    Effect("flow", "scale", -0.4), Effect("suction_pressure", "shift", -0.9),
                    Effect("motor_current", "shift", -2.5),
                ),
                "bearing_wear": (Effect("vibration_rms", "scale", 3.0), Effect("bearing_temp", "heat", 22)),
                "overheating": (Effect("motor_temp", "heat", 30),),
            },
            physics=_pump,
            pm_interval_days=28,
        ),
    )
}
