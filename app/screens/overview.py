"""Fleet overview: which machines need attention, why, and what to do, in ten seconds."""

import polars as pl
import streamlit as st

from analytics.i18n import STATUS_COLORS, format_hours, format_local, format_percent, machine_type_label, mode_label, status_label
from app.common import fleet, number_column, risk_label, session, show_table

s = session()
t = s.t
overview = fleet(s)

st.title(t("overview.title"))
fresh = overview.freshness
parts = [t("overview.as_of", day=overview.day.isoformat()) if overview.day else t("overview.not_solved")]
parts.append(t("overview.latest_reading", when=format_local(fresh.latest_reading, s.timezone)) if fresh.latest_reading else t("overview.no_readings"))
if fresh.last_ingest:
    parts.append(t("overview.last_ingest", when=format_local(fresh.last_ingest, s.timezone)))
st.caption(" · ".join(parts) + f" · {s.timezone}")
if fresh.stale_machines:
    st.warning(t("overview.stale", machines=", ".join(fresh.stale_machines)), icon=":material/signal_disconnected:")

tiles = overview.tiles
attention = tiles.filter(pl.col("status").is_in(["warning", "critical"])).height
factory_rows = overview.reliability.filter(pl.col("machine_id").is_null())


def _figure(period: str, column: str) -> float | None:
    row = factory_rows.filter(pl.col("period") == period)
    return row.get_column(column)[0] if row.height else None


availability, availability_last = _figure("this_month", "availability"), _figure("last_month", "availability")
downtime, downtime_last = _figure("this_month", "downtime_h"), _figure("last_month", "downtime_h")
cols = st.columns(4)
cols[0].metric(t("overview.attention"), f"{attention} / {tiles.height}", border=True)
alerts = overview.open_alerts
cols[1].metric(
    t("overview.open_alerts"),
    sum(v for k, v in alerts.items() if k != "acknowledged"),
    t("overview.alert_breakdown", critical=alerts.get("critical", 0), warning=alerts.get("warning", 0), acknowledged=alerts.get("acknowledged", 0)),
    delta_color="off",
    border=True,
)
cols[2].metric(
    t("overview.availability"),
    format_percent(availability),
    None if availability is None or availability_last is None else f"{(availability - availability_last) * 100:+.1f} pp {t('overview.vs_last_month')}",
    border=True,
)
cols[3].metric(
    t("overview.downtime"),
    format_hours(downtime, s.language),
    None if downtime is None or downtime_last is None else f"{downtime - downtime_last:+.1f} h {t('overview.vs_last_month')}",
    delta_color="inverse",
    border=True,
)

st.subheader(t("overview.machines"))
per_row = 4
rows = list(tiles.iter_rows(named=True))
for start in range(0, len(rows), per_row):
    columns = st.columns(per_row)
    for column, tile in zip(columns, rows[start : start + per_row], strict=False):
        with column.container(border=True, key=f"tile-{tile['machine_id']}"):
            st.markdown(f"**{tile['machine_id']}** · {machine_type_label(tile['machine_type'], s.language)}")
            st.badge(status_label(tile["status"], s.language), color=STATUS_COLORS[tile["status"]])
            left, right = st.columns(2)
            left.metric(t("overview.health_index"), "—" if tile["health_index"] is None else f"{tile['health_index']:.0f}")
            right.metric(risk_label(s, tile["machine_type"], tile["horizon_hours"]), format_percent(tile["probability"]))
            if tile["ttf_median_h"] is not None:
                st.caption(t("overview.ttf", median=format_hours(tile["ttf_median_h"], s.language), p10=format_hours(tile["ttf_p10_h"], s.language)))
            if tile["failure_mode"]:
                st.caption(t("overview.mode", mode=mode_label(tile["failure_mode"], s.language)))
            action = tile["action_ko"] if s.language == "ko" else tile["action_en"]
            if action:
                st.markdown(f":material/build: {action}")
            if tile["open_alerts"]:
                st.caption(t("overview.tile_alerts", n=tile["open_alerts"]))
            st.page_link("screens/machine.py", label=t("overview.details"), icon=":material/arrow_forward:", query_params={"machine": tile["machine_id"]})

st.subheader(t("overview.reliability"))
st.caption(t("overview.reliability_caption"))
table = overview.reliability.with_columns(pl.col("machine_id").fill_null(t("overview.whole_factory")))
this_month = table.filter(pl.col("period") == "this_month").drop("period")
last_month = table.filter(pl.col("period") == "last_month").select(
    "machine_id", *(pl.col(c).alias(f"{c}_last") for c in ("downtime_h", "availability", "mtbf_h", "mttr_h"))
)
compared = this_month.join(last_month, on="machine_id", how="left").select(
    "machine_id", "failures", "downtime_h", "downtime_h_last", "mtbf_h", "mtbf_h_last", "mttr_h", "mttr_h_last", "availability", "availability_last"
)
show_table(
    compared,
    s,
    formats={
        "downtime_h": number_column("%.1f"),
        "downtime_h_last": number_column("%.1f"),
        "mtbf_h": number_column("%.0f"),
        "mtbf_h_last": number_column("%.0f"),
        "mttr_h": number_column("%.1f"),
        "mttr_h_last": number_column("%.1f"),
        "availability": number_column("percent"),
        "availability_last": number_column("percent"),
    },
)
