"""What to simulate: the factories of a hub, their machines, shift patterns and gateways."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics.schemas import parse_duration_seconds, validate_timezone
from analytics.simulate.calendar import SHIFT_PATTERNS
from analytics.simulate.engine import MachinePlan, rng
from analytics.simulate.machines import MACHINE_TYPES

DEFAULT_START = date(2026, 9, 1)


class SimulationConfig(BaseModel):
    """Parameters of a simulation; the same values always give the same files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factories: int = Field(3, ge=1, le=999)
    machines: int = Field(8, ge=2, le=999, description="machines per factory")
    days: int = Field(30, ge=1, le=3660)
    seed: int = Field(1, ge=0)
    start: date = DEFAULT_START
    interval: str = "1min"
    timezone: str = "Asia/Seoul"
    failure_rate: float = Field(1.0, ge=0.0, le=100.0, description="multiplies every degradation onset rate")
    sensor_faults: bool = True
    late_share: float = Field(0.05, ge=0.0, le=1.0, description="share of daily files delivered 2-4 days late")
    repeat_share: float = Field(0.03, ge=0.0, le=1.0, description="share of daily files sent again unchanged")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return validate_timezone(value)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        seconds = parse_duration_seconds(value)
        if seconds < 1 or seconds > 3600 or seconds != int(seconds) or 86400 % int(seconds):
            raise ValueError("interval must be whole seconds, at most 1h, dividing a day evenly (e.g. 10s, 1min, 5min)")
        return value

    @property
    def interval_s(self) -> int:
        return int(parse_duration_seconds(self.interval))

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class GatewayProfile:
    """How a factory's gateway writes its daily files.

    ``long``: one row per reading; ``wide``: one row per minute and one column per sensor.
    ``overlap_minutes``: each day's file starts that many minutes before midnight, re-sending the
    end of the previous day (a gateway that flushes its buffer from a fixed look-back), so the
    hub sees exact duplicates.
    """

    name: str
    format: Literal["long", "wide"]
    encoding: Literal["utf-8", "cp949"]
    korean_headers: bool
    ts_style: Literal["iso_offset", "local", "epoch_s"]
    line_terminator: str
    overlap_minutes: int = 0


GATEWAYS: tuple[GatewayProfile, ...] = (
    GatewayProfile("long_utf8", "long", "utf-8", False, "iso_offset", "\n"),
    # Saved from Korean Excel: CP949, CRLF, Korean headers, local wall-clock times.
    GatewayProfile("wide_cp949", "wide", "cp949", True, "local", "\r\n"),
    GatewayProfile("wide_epoch_resend", "wide", "utf-8", False, "epoch_s", "\n", overlap_minutes=30),
)

# (id stem, Korean name, English name); industry follows the position: machining, plastics, mixed.
FACTORY_NAMES: tuple[tuple[str, str, str], ...] = (
    ("hanbit", "한빛정밀", "Hanbit Precision"),
    ("daeyang", "대양플라스틱", "Daeyang Plastics"),
    ("seoyeon", "서연테크", "Seoyeon Tech"),
    ("mirae", "미래금속가공", "Mirae Metalworks"),
    ("dongbang", "동방사출", "Dongbang Injection"),
    ("saehan", "새한산업", "Saehan Industrial"),
    ("gwangmyeong", "광명기공", "Gwangmyeong Machining"),
    ("hyeopjin", "협진화성", "Hyeopjin Polymers"),
    ("sinil", "신일부품", "Sinil Parts"),
    ("jinwoo", "진우오토텍", "Jinwoo Autotech"),
)
INDUSTRIES = ("machining", "plastics", "mixed")


@dataclass(frozen=True)
class FactoryPlan:
    index: int
    factory_id: str
    name_ko: str
    name_en: str
    industry: str
    shift_pattern: str
    gateway: GatewayProfile
    machines: tuple[MachinePlan, ...]


def _machine_types(industry: str, count: int) -> list[str]:
    """Utilities first (a compressor and a cooling-water pump per ten machines, at least one
    each), then the production machines of the industry."""
    compressors = max(1, round(count / 10))
    pumps = max(1, round(count / 10)) if count >= 3 else 0
    main = count - compressors - pumps
    if industry == "machining":
        production = ["cnc_machining_center"] * main
    elif industry == "plastics":
        production = ["injection_molding"] * main
    else:
        production = ["cnc_machining_center"] * ((main + 1) // 2) + ["injection_molding"] * (main // 2)
    return ["air_compressor"] * compressors + ["centrifugal_pump"] * pumps + production


def plan_factory(config: SimulationConfig, index: int) -> FactoryPlan:
    stem, name_ko, name_en = FACTORY_NAMES[index % len(FACTORY_NAMES)]
    lap = index // len(FACTORY_NAMES)
    if lap:
        name_ko, name_en = f"{name_ko} {lap + 1}공장", f"{name_en} Plant {lap + 1}"
    factory_id = f"{stem}-{index + 1:02d}"
    industry = INDUSTRIES[index % len(INDUSTRIES)]
    patterns = list(SHIFT_PATTERNS)
    gen = rng(config.seed, index, 2_000)
    counters: dict[str, int] = {}
    machines = []
    for m, type_name in enumerate(_machine_types(industry, config.machines)):
        prefix = MACHINE_TYPES[type_name].prefix
        counters[prefix] = counters.get(prefix, 0) + 1
        installed = date(2012, 1, 1) + timedelta(days=int(gen.integers(0, 12 * 365)))
        machines.append(
            MachinePlan(f"{prefix}-{counters[prefix]:02d}", type_name, config.seed, (index, m), installed, config.failure_rate)
        )
    return FactoryPlan(
        index=index,
        factory_id=factory_id,
        name_ko=name_ko,
        name_en=name_en,
        industry=industry,
        shift_pattern=patterns[(index + index // 3) % len(patterns)],
        gateway=GATEWAYS[index % len(GATEWAYS)],
        machines=tuple(machines),
    )


def plan_hub(config: SimulationConfig) -> list[FactoryPlan]:
    return [plan_factory(config, i) for i in range(config.factories)]
