"""Small PNG charts for the daily report e-mail: a machine's risk and health trend, and its top
anomalous sensor against its normal envelope.

Mail clients show images, not scripts, so the charts are drawn here with matplotlib (the Agg
canvas, no pyplot state shared with anyone else) and embedded in the message by Content-ID.
Korean labels need a font with Hangul: NanumGothic, shipped on PyPI by koreanize-matplotlib (so
``make install`` brings it on any machine, without root) or Debian's fonts-nanum.
"""

from __future__ import annotations

import importlib.util
import io
import logging
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import polars as pl
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg  # drawn without pyplot: no display, no shared state
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FONT_NAME: Final = "NanumGothic"
_DEBIAN_NANUM: Final = Path("/usr/share/fonts/truetype/nanum")
WIDTH_PX, HEIGHT_PX, DPI = 560, 180, 100  # drawn at 2x for sharp text on high-density screens
SCALE: Final = 2
INK, MUTED, ENVELOPE, RISK, HEALTH, BAND = "#1f2937", "#6b7280", "#d1fae5", "#dc2626", "#2563eb", "#fde68a"


class MissingFontError(RuntimeError):
    """No font with Hangul glyphs is installed (``make install`` brings one)."""


@cache
def korean_font() -> str:
    """Register NanumGothic with matplotlib once and return its family name."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec("koreanize_matplotlib")  # located, not imported: its import restyles pyplot
    if spec is not None and spec.submodule_search_locations:
        candidates += sorted(Path(next(iter(spec.submodule_search_locations))).glob("fonts/NanumGothic*.ttf"))
    candidates += sorted(_DEBIAN_NANUM.glob("NanumGothic*.ttf"))
    if not candidates:
        raise MissingFontError("no NanumGothic font found: install koreanize-matplotlib (make install) or Debian's fonts-nanum")
    for path in candidates:
        font_manager.fontManager.addfont(str(path))
    log.debug("report charts use %s from %s", FONT_NAME, candidates[0].parent)
    return FONT_NAME


def _figure() -> tuple[Figure, object]:
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI * SCALE)
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=8, colors=MUTED)
    axes.grid(axis="y", color="#e5e7eb", linewidth=0.6)
    return figure, axes


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout(pad=0.6)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI * SCALE)
    return out.getvalue()


def _local(values: pl.Series, timezone: str) -> list[datetime]:
    """UTC times as naive wall-clock times of the factory (what matplotlib draws as they are)."""
    zone = ZoneInfo(timezone)
    return [v.astimezone(zone).replace(tzinfo=None) for v in values]


def risk_trend_png(health: pl.DataFrame, risk: pl.DataFrame, timezone: str, *, title: str, risk_label: str, health_label: str) -> bytes:
    """Daily health index (0-100, left axis) and hourly failure probability (0-1, right axis).

    ``health``: ``day``, ``health_index``; ``risk``: ``window_end`` (UTC), ``probability`` (empty
    when the machine's type has no failure model: the chart then shows health only)."""
    font = korean_font()
    figure, axes = _figure()
    axes.set_title(title, fontsize=10, color=INK, loc="left", fontfamily=font)
    if health.height:
        days = [datetime.combine(d, datetime.min.time()).replace(hour=12) for d in health.get_column("day")]
        axes.plot(days, health.get_column("health_index").to_list(), color=HEALTH, marker="o", markersize=3, linewidth=1.5, label=health_label)
    axes.set_ylim(0, 105)
    axes.set_ylabel(health_label, fontsize=8, color=HEALTH, fontfamily=font)
    if risk.height:
        right = axes.twinx()
        right.plot(_local(risk.get_column("window_end"), timezone), risk.get_column("probability").to_list(), color=RISK, linewidth=1.2, label=risk_label)
        right.set_ylim(0, 1.02)
        right.set_ylabel(risk_label, fontsize=8, color=RISK, fontfamily=font)
        right.tick_params(labelsize=8, colors=MUTED)
        right.spines["top"].set_visible(False)
    axes.xaxis.set_major_locator(mdates.DayLocator(interval=2))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    return _png(figure)


def sensor_png(
    series: pl.DataFrame,
    envelope: pl.DataFrame,
    bands: pl.DataFrame,
    timezone: str,
    *,
    title: str,
    unit: str,
    normal_label: str,
) -> bytes:
    """One sensor's readings (``ts``, ``value``) over its normal envelope (``ts``, ``lower``,
    ``upper``) with the anomaly bands (``start``, ``end``) shaded; times in ``timezone``."""
    font = korean_font()
    figure, axes = _figure()
    axes.set_title(title, fontsize=10, color=INK, loc="left", fontfamily=font)
    for start, end in bands.select("start", "end").iter_rows():
        axes.axvspan(*_local(pl.Series([start, end]), timezone), color=BAND, alpha=0.6, linewidth=0)
    if envelope.height:
        env = envelope.sort("ts").drop_nulls(["lower", "upper"])
        axes.fill_between(_local(env.get_column("ts"), timezone), env.get_column("lower").to_list(), env.get_column("upper").to_list(), color=ENVELOPE, linewidth=0, label=normal_label, step="post")
    if series.height:
        ordered = series.sort("ts")
        axes.plot(_local(ordered.get_column("ts"), timezone), ordered.get_column("value").to_list(), color=INK, linewidth=0.8)
    if unit:
        axes.set_ylabel(unit, fontsize=8, color=MUTED, fontfamily=font)
    axes.xaxis.set_major_locator(mdates.HourLocator(byhour=(0, 12)))  # twice a day over the few days shown
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # numbers read the same in both languages
    if envelope.height:
        axes.legend(loc="upper left", fontsize=7, frameon=False, prop={"family": font, "size": 7})
    return _png(figure)
