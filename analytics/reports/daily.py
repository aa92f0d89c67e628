"""The daily report of one factory: what a plant manager reads in the morning.

:func:`build_daily_report` gathers, for one factory and local day, what the dashboards already show
(the fleet overview, the day's health rows, the alerts, the data's quality) through the same
factory-scoped library calls, and renders it in the factory's (or the recipient's) language:

- a subject line carrying the headline ("2 machines need attention");
- the headline with yesterday's downtime and availability against the month so far, and the open
  alerts;
- the machines at risk, most urgent first, with status, failure probability, time to failure,
  the recommended action and the reasons, a link to the machine's dashboard page, and two small
  charts (health and risk over 14 days; the top anomalous sensor over 3 days on its normal
  envelope) embedded as PNG by Content-ID;
- new and still-open alerts; yesterday's data health (readings, quarantined rows, sensor faults,
  machines gone quiet).

The HTML uses tables and inline styles only (what Outlook, Gmail and phone clients all render) and
comes with a plain-text alternative carrying the same facts. Nothing here sends mail
(:mod:`analytics.reports.mail` does) or writes files except :meth:`DailyReport.write`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from upath import UPath

from analytics.i18n import (
    STATUS_COLORS,
    alert_status_label,
    fault_kind_label,
    format_hours,
    format_local,
    format_percent,
    localize_text,
    machine_type_label,
    mode_label,
    status_label,
    t,
)
from analytics.ingest.pipeline import reason_kind
from analytics.models.anomaly.scoring import day_bounds, read_faults
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from analytics.store.storage import write_bytes_atomic
from analytics.store.users import default_language

log = logging.getLogger(__name__)

AT_RISK: Final = ("critical", "warning", "watch")
ATTENTION: Final = ("critical", "warning")  # what the headline counts as "needs attention"
TREND_DAYS: Final = 14
SENSOR_DAYS: Final = 3
MAX_CHARTED: Final = 5  # machines at risk drawn with charts; the rest are listed, linked
# Colours of the status badges (the dashboard's Streamlit colour names, as hex for mail clients).
BADGE_HEX: Final = {"red": "#dc2626", "orange": "#ea580c", "yellow": "#ca8a04", "green": "#16a34a", "gray": "#6b7280"}


@dataclass(frozen=True)
class DailyReport:
    """One factory's report of one day, ready to send or save.

    ``images``: Content-ID (without angle brackets) -> PNG bytes, each referenced by the HTML as
    ``cid:<id>``; ``attention``: machines warning or critical (the headline's count);
    ``analysed``: whether the day had been analysed."""

    factory_id: str
    day: date
    language: str
    subject: str
    html: str
    text: str
    images: dict[str, bytes] = field(repr=False)
    attention: int
    watch: int
    analysed: bool

    def write(self, folder: Path | UPath) -> Path | UPath:
        """Save the report in ``folder`` (``report.<language>.html`` with its images beside it,
        ``report.<language>.txt``; a local folder or one on the hub's storage) and return the
        HTML's path. Each file appears whole or not at all, so a reader never sees half a report."""
        target = folder if isinstance(folder, UPath) else Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        html = self.html
        for cid, png in self.images.items():
            name = f"{cid.split('@')[0]}.{self.language}.png"
            write_bytes_atomic(target / name, png)
            html = html.replace(f"cid:{cid}", name)
        write_bytes_atomic(target / f"report.{self.language}.txt", self.text.encode("utf-8"))
        path = target / f"report.{self.language}.html"
        write_bytes_atomic(path, html.encode("utf-8"))
        return path


_ENV = Environment(
    loader=PackageLoader("analytics.reports", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a misspelt field fails the build, not the reader
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def machine_link(dashboard_url: str | None, factory_id: str, machine_id: str) -> str | None:
    """The dashboard page of a machine (the page checks that the reader may see the factory)."""
    if not dashboard_url:
        return None
    return f"{dashboard_url.rstrip('/')}/machine?{urlencode({'machine': machine_id, 'factory': factory_id})}"


def _factory_row(frame: pl.DataFrame, period: str | None = None) -> dict[str, Any]:
    rows = frame.filter(pl.col("machine_id").is_null() & ((pl.col("period") == period) if period else pl.lit(True)))
    return rows.row(0, named=True) if rows.height else {}


def _top_sensor(health_row: dict[str, Any] | None) -> str | None:
    """The sensor the day's evidence names first (the detector's top driver when it named one)."""
    if not health_row or not health_row.get("evidence_json"):
        return None
    evidence = json.loads(health_row["evidence_json"])
    return evidence[0]["sensor"] if evidence else None


def _charts(hub: Hub, factory_id: str, machine_id: str, day_end: datetime, timezone: str, top_sensor: str | None, language: str) -> dict[str, bytes]:
    """The machine's two charts by role ("risk", "sensor"); the sensor chart needs a top sensor."""
    from analytics.reports.charts import risk_trend_png, sensor_png
    from analytics.views.machine import machine_detail

    start = day_end - timedelta(days=TREND_DAYS)
    detail = machine_detail(hub, factory_id, machine_id, start, day_end, sensors=[top_sensor] if top_sensor else None, max_points=1600)
    charts = {
        "risk": risk_trend_png(
            detail.health.select("day", "health_index"),
            detail.risk.select("window_end", "probability") if detail.risk.height else pl.DataFrame(schema={"window_end": pl.Datetime("us", "UTC"), "probability": pl.Float64}),
            timezone,
            title=t("report.risk_chart", language, machine=machine_id),
            risk_label=t("machine.risk_axis", language),
            health_label=t("report.health_axis", language),
        )
    }
    # Without evidence (read with every sensor), the anomaly detector's top driver of the range.
    sensor = top_sensor or (detail.drivers.get_column("sensor")[0] if detail.drivers.height else None)
    if sensor is not None:
        recent = day_end - timedelta(days=SENSOR_DAYS)
        series = detail.series.filter((pl.col("sensor") == sensor) & (pl.col("ts") >= recent))
        envelope = detail.envelope.filter((pl.col("sensor") == sensor) & (pl.col("ts") >= recent))
        bands = detail.anomaly_bands.filter(pl.col("end") > recent).with_columns(pl.max_horizontal("start", pl.lit(recent)).alias("start"))
        unit = detail.sensors.filter(pl.col("sensor") == sensor).get_column("unit")
        charts["sensor"] = sensor_png(
            series,
            envelope,
            bands,
            timezone,
            title=t("report.sensor_chart", language, machine=machine_id, sensor=sensor),
            unit=unit[0] if unit.len() and unit[0] else "",
            normal_label=t("report.normal_range", language),
        )
    return charts


def build_daily_report(
    hub: Hub,
    factory_id: str,
    day: date,
    *,
    language: str | None = None,
    dashboard_url: str | None = None,
    charts: int = MAX_CHARTED,
    now: datetime | None = None,
) -> DailyReport:
    """The report of ``factory_id``'s local ``day`` (see the module doc), in ``language``
    (default: the factory's, from its time zone). ``dashboard_url``: the dashboard's address, for
    the links to each machine's page (none without it); ``charts``: most machines drawn with
    charts. Raises :class:`~analytics.errors.NotFoundError` for an unregistered factory."""
    from analytics.solutions.alerts import AlertBook
    from analytics.solutions.solve import read_health
    from analytics.views.fleet import fleet_overview
    from analytics.views.reliability import reliability

    reader = FactoryReader(hub, factory_id)  # validates the id; NotFoundError when unregistered
    factory = reader.factory
    timezone = factory.timezone
    language = language or default_language(timezone)
    name = factory.name_ko if language == "ko" else factory.name_en
    name = name or factory.factory_id
    day_start, day_end = day_bounds(day, timezone)

    overview = fleet_overview(hub, factory_id, day=day, now=now or day_end)
    analysed = overview.day == day
    yesterday = _factory_row(reliability(hub, factory_id, day_start, day_end, period="day"))
    month = _factory_row(overview.reliability, "this_month")
    health = {r["machine_id"]: r for r in read_health(hub, factory_id, day, day).collect().iter_rows(named=True)} if analysed else {}

    tiles = overview.tiles.filter(pl.col("status").is_in(AT_RISK)) if analysed else overview.tiles.clear()
    attention = tiles.filter(pl.col("status").is_in(ATTENTION)).height
    watch = tiles.height - attention
    images: dict[str, bytes] = {}
    machines: list[dict[str, Any]] = []
    for position, tile in enumerate(tiles.iter_rows(named=True)):
        row = health.get(tile["machine_id"], {})
        item = {
            "machine_id": tile["machine_id"],
            "machine_type": machine_type_label(tile["machine_type"], language),
            "status": status_label(tile["status"], language),
            "color": BADGE_HEX[STATUS_COLORS[tile["status"]]],
            "health": t("report.health", language, value=f"{tile['health_index']:.0f}") if tile["health_index"] is not None else None,
            "probability": (
                t("report.probability", language, horizon=format_hours(tile["horizon_hours"], language), p=format_percent(tile["probability"]))
                if tile["probability"] is not None
                else t("report.no_model", language)
            ),
            "ttf": (
                t("report.ttf", language, median=format_hours(tile["ttf_median_h"], language), p10=format_hours(tile["ttf_p10_h"], language))
                if tile["ttf_median_h"] is not None
                else None
            ),
            "mode": mode_label(tile["failure_mode"], language) if tile["failure_mode"] else None,
            "action": tile[f"action_{language}"],
            "reason": row.get(f"reason_{language}"),
            "link": machine_link(dashboard_url, factory_id, tile["machine_id"]),
            "charts": [],
        }
        if position < charts:
            for role, png in _charts(hub, factory_id, tile["machine_id"], day_end, timezone, _top_sensor(row), language).items():
                cid = f"{role}-{tile['machine_id'].lower()}@factoryhub"
                images[cid] = png
                item["charts"].append(cid)
        machines.append(item)

    book = AlertBook(hub, factory_id)
    unresolved = book.alerts(status=("open", "acknowledged"))

    def alert_item(alert: Any) -> dict[str, Any]:
        return {
            "machine_id": alert.machine_id,
            "mode": mode_label(alert.mode, language),
            "severity": status_label(alert.severity, language),
            "color": BADGE_HEX[STATUS_COLORS.get(alert.severity, "gray")],
            "since": t("report.alert_since", language, day=alert.opened_day.isoformat()),
            "status": alert_status_label(alert.status, language),
            "link": machine_link(dashboard_url, factory_id, alert.machine_id),
        }

    new_alerts = [alert_item(a) for a in unresolved if a.opened_day == day]
    still_open = [alert_item(a) for a in unresolved if a.opened_day < day]

    readings = reader.readings(day_start, day_end).select(pl.len()).collect().item()
    # The day's rows that failed validation; a row whose time could not be read counts when it
    # was quarantined during the day or the morning after (when the day's files arrive).
    in_day = (pl.col("ts") >= day_start) & (pl.col("ts") < day_end)
    unreadable_time = pl.col("ts").is_null() & (pl.col("quarantined_at") >= day_start) & (pl.col("quarantined_at") < day_end + timedelta(days=1))
    quarantined = reader.quarantine().filter(in_day | unreadable_time).select("reason").collect()
    # Ties in a stable order: the same day reads the same however often it is built.
    by_reason = quarantined.group_by(reason_kind(pl.col("reason"))).len().sort(["len", "reason"], descending=[True, False])
    faults = read_faults(hub, factory_id, day, day).collect()
    fault_counts = faults.group_by("kind").len().sort(["len", "kind"], descending=[True, False]) if faults.height else pl.DataFrame(schema={"kind": pl.String, "len": pl.UInt32})

    if not analysed:
        subject_key, headline = "report.subject_not_analysed", t("report.not_analysed", language, day=day.isoformat())
    elif attention:
        subject_key, headline = "report.subject_attention", t("report.headline_attention", language, n=attention)
    elif watch:
        subject_key, headline = "report.subject_watch", t("report.headline_watch", language, n=watch)
    elif unresolved:  # nothing at risk today, but alerts of earlier days are not closed yet
        subject_key, headline = "report.subject_open_alerts", t("report.headline_open_alerts", language, n=len(unresolved))
    else:
        subject_key, headline = "report.subject_normal", t("report.headline_normal", language)
    subject = t(subject_key, language, factory=name, day=day.isoformat(), n=attention or watch or len(unresolved))

    context = {
        "lang": language,
        "t": lambda key, **values: t(key, language, **values),
        "title": t("report.title", language),
        "subject": subject,
        "intro": t("report.intro", language, factory=name, day=day.isoformat(), tz=timezone),
        "headline": headline,
        "headline_color": BADGE_HEX["red" if attention else "yellow" if watch or unresolved else "green" if analysed else "gray"],
        "figures": [
            (t("report.downtime_day", language), format_hours(yesterday.get("downtime_h"), language), t("report.month_so_far", language, value=format_hours(month.get("downtime_h"), language))),
            (t("report.availability_day", language), format_percent(yesterday.get("availability")), t("report.month_so_far", language, value=format_percent(month.get("availability")))),
            (t("report.open_alerts", language), str(len(unresolved)), t("report.open_alerts_detail", language, new=len(new_alerts))),
        ],
        "machines": machines,
        "more": max(0, len(machines) - charts),
        "dashboard": dashboard_url,
        "new_alerts": new_alerts,
        "still_open": still_open,
        "data": {
            "readings": t("report.readings", language, n=f"{readings:,}"),
            "quarantined": t("report.quarantined", language, n=f"{quarantined.height:,}"),
            "reasons": [(localize_text(reason, language), n) for reason, n in by_reason.iter_rows()],
            "faults": t("report.faults", language, n=faults.height),
            "fault_kinds": [(fault_kind_label(kind, language), n) for kind, n in fault_counts.iter_rows()],
            "stale": t("overview.stale", language, machines=", ".join(overview.freshness.stale_machines)) if overview.freshness.stale_machines else None,
        },
        "footer": t("report.footer", language, when=format_local(now or datetime.now(UTC), timezone), factory=name),
    }
    html = _ENV.get_template("daily.html").render(context)
    text = _ENV.get_template("daily.txt").render(context)
    log.info("%s %s: report built (%s, %d machines at risk, %d images)", factory_id, day, language, len(machines), len(images))
    return DailyReport(factory_id, day, language, subject, html, text, images, attention, watch, analysed)
