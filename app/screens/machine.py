"""Machine detail: sensors over a chosen range with the normal envelope, anomaly bands and the
maintenance log; risk and health trend; what drives the score; the recommended action with the
evidence a technician can check."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import altair as alt
import polars as pl
import streamlit as st

from analytics.i18n import (
    STATUS_COLORS,
    column_labels,
    direction_label,
    event_label,
    format_hours,
    format_percent,
    localize_text,
    machine_type_label,
    mode_label,
    status_label,
    urgency_label,
)
from app.common import fleet, machine, machines, risk_label, session, show_table, to_local

s = session()
t = s.t
st.title(t("nav.machine"))
known = machines(s)
if known.height == 0:
    st.info(t("machine.none"))
    st.stop()
ids = known.get_column("machine_id").to_list()
asked = st.query_params.get("machine")
if asked is not None and asked not in ids:
    # The same words for a machine of another factory and one that does not exist.
    st.error(t("machine.unknown"))
chosen = st.selectbox(
    column_labels(["machine_id"], s.language)["machine_id"],
    ids,
    index=ids.index(asked) if asked in ids else 0,
    key="machine_choice",
    format_func=lambda m: f"{m} · {machine_type_label(known.filter(pl.col('machine_id') == m).get_column('machine_type')[0], s.language)}",
)
st.query_params["machine"] = chosen
chosen_type = known.filter(pl.col("machine_id") == chosen).get_column("machine_type")[0]

zone = ZoneInfo(s.timezone)
overview = fleet(s)
last_day = overview.day or (overview.freshness.latest_reading.astimezone(zone).date() if overview.freshness.latest_reading else datetime.now(zone).date())
spans = {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}
span = st.segmented_control(t("machine.range"), list(spans), default="7d", format_func=lambda k: t(f"machine.range_{k}"), key="machine_span") or "7d"
dates = st.date_input(
    t("machine.dates"), value=(last_day - timedelta(days=spans[span] - 1), last_day), max_value=last_day + timedelta(days=1), key=f"machine_dates_{span}"
)
if not isinstance(dates, tuple) or len(dates) != 2:
    st.caption(t("machine.pick_end"))  # the picker holds only a first date until the second is chosen
    st.stop()
first, last = dates
start = datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC)
end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)

detail = machine(s, chosen, start, end)
sensor_names = detail.sensors.get_column("sensor").to_list()
picked = st.multiselect(t("machine.sensors"), sensor_names, default=sensor_names, key=f"machine_sensors_{chosen}")

# --- what to do ----------------------------------------------------------------------------------
latest = detail.latest
with st.container(border=True):
    if latest is None:
        st.info(t("machine.no_health"))
    else:
        head = st.columns([1, 1, 1, 2])
        head[0].badge(status_label(latest["status"], s.language), color=STATUS_COLORS[latest["status"]])
        head[0].caption(t("machine.as_of", day=str(latest["day"])))
        head[1].metric(t("overview.health_index"), "—" if latest["health_index"] is None else f"{latest['health_index']:.0f}")
        head[2].metric(risk_label(s, chosen_type, latest.get("horizon_hours")), format_percent(latest["probability"]))
        if latest.get("ttf_median_h") is not None:
            head[3].metric(
                t("machine.ttf"),
                format_hours(latest["ttf_median_h"], s.language),
                t("machine.ttf_p10", p10=format_hours(latest["ttf_p10_h"], s.language)),
                delta_color="off",
            )
        reason = latest["reason_ko"] if s.language == "ko" else latest["reason_en"]
        if reason:
            st.markdown(f"**{t('machine.why')}** {reason}")
        action = latest["action_ko"] if s.language == "ko" else latest["action_en"]
        if action:
            cause = latest["cause_ko"] if s.language == "ko" else latest["cause_en"]
            st.markdown(f"**{t('machine.action')}** {action}")
            details = []
            if latest.get("failure_mode"):
                details.append(t("overview.mode", mode=mode_label(latest["failure_mode"], s.language)))
            if cause:
                details.append(t("machine.cause", cause=cause))
            if latest.get("urgency"):
                details.append(urgency_label(latest["urgency"], s.language))
            if latest.get("downtime_min_h") is not None:
                details.append(t("machine.downtime", lo=f"{latest['downtime_min_h']:g}", hi=f"{latest['downtime_max_h']:g}"))
            st.caption(" · ".join(details))
        elif latest["status"] != "normal":
            st.warning(t("machine.no_rule"))
        evidence = pl.DataFrame(latest.get("evidence") or [])
        if evidence.height:
            st.markdown(f"**{t('machine.evidence')}**")
            show_table(
                evidence.select("sensor", "direction", "value", "baseline", "unit", "trend_per_day", pl.col(f"text_{s.language}").alias("text")),
                s,
                values={"direction": direction_label},
            )
        models = [m for m in (latest.get("anomaly_model_id"), latest.get("failure_model_id")) if m]
        if models:
            st.caption(
                t("machine.models", models=", ".join(models))
                + (f" · {localize_text(latest['failure_note'], s.language)}" if latest.get("failure_note") else "")
            )

# --- sensors -------------------------------------------------------------------------------------
st.subheader(t("machine.sensor_charts"))
if detail.downsampled:
    st.caption(t("machine.downsampled", raw=f"{detail.raw_points:,}", shown=f"{detail.series.height:,}"))
series = to_local(detail.series, s.timezone, "ts")
envelope = to_local(detail.envelope, s.timezone, "ts")
bands = to_local(detail.anomaly_bands, s.timezone, "start", "end")
events = to_local(detail.events, s.timezone, "ts").with_columns(
    pl.col("kind").map_elements(lambda k: event_label(k, s.language), return_dtype=pl.String).alias("label")
)
units = dict(detail.sensors.select("sensor", "unit").iter_rows())
x_title = t("machine.time")
# Numbers only: Vega's own labels ("Fri 18", "12 PM") are English whatever the user's language.
TIME_AXIS = alt.Axis(format="%m-%d %H:%M", labelOverlap=True)
if series.height == 0:
    st.info(t("machine.no_readings"))
for sensor in picked:
    own = series.filter(pl.col("sensor") == sensor)
    if own.height == 0:
        continue
    unit = units.get(sensor) or ""
    base = alt.Chart(own).encode(x=alt.X("ts:T", title=x_title, axis=TIME_AXIS))
    layers = []
    band = envelope.filter(pl.col("sensor") == sensor)
    if band.height:
        layers.append(
            alt.Chart(band)
            .mark_area(opacity=0.18, color="#2e7d32")
            .encode(
                x="ts:T",
                y=alt.Y("lower:Q"),
                y2="upper:Q",
                tooltip=[alt.Tooltip("lower:Q", title=t("machine.normal_low")), alt.Tooltip("upper:Q", title=t("machine.normal_high"))],
            )
        )
    if bands.height:
        layers.append(
            alt.Chart(bands)
            .mark_rect(opacity=0.15, color="#c62828")
            .encode(
                x="start:T",
                x2="end:T",
                tooltip=[
                    alt.Tooltip("start:T", title=t("machine.anomaly_from"), format="%Y-%m-%d %H:%M"),
                    alt.Tooltip("end:T", title=t("machine.anomaly_to"), format="%Y-%m-%d %H:%M"),
                    alt.Tooltip("max_score:Q", title=t("machine.score"), format=".2f"),
                ],
            )
        )
    layers.append(
        base.mark_line(strokeWidth=1.2).encode(
            y=alt.Y("value:Q", title=unit or None, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("ts:T", title=x_title, format="%Y-%m-%d %H:%M"), alt.Tooltip("value:Q", title=sensor, format=".3g")],
        )
    )
    if events.height:
        layers.append(
            alt.Chart(events)
            .mark_rule(strokeDash=[4, 3], color="#37474f")
            .encode(
                x="ts:T",
                tooltip=[
                    alt.Tooltip("ts:T", title=x_title, format="%Y-%m-%d %H:%M"),
                    alt.Tooltip("label:N", title=t("machine.event")),
                    alt.Tooltip("text:N", title=t("machine.event_text")),
                ],
            )
        )
    # The name goes above the chart, not into a Vega title: Streamlit sizes the frame to the plot
    # and a Vega title drawn above it gets clipped.
    st.markdown(f"**{sensor}**" + (f" · {unit}" if unit else ""))
    st.altair_chart(alt.layer(*layers).properties(height=150).interactive(bind_y=False), width="stretch")

# --- risk and health ----------------------------------------------------------------------------
st.subheader(t("machine.trend"))
left, right = st.columns(2)
health = detail.health.with_columns(pl.col("day").cast(pl.Datetime))
if health.height:
    left.altair_chart(
        alt.Chart(health)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=t("machine.day"), axis=alt.Axis(format="%m-%d")),
            y=alt.Y("health_index:Q", title=t("overview.health_index"), scale=alt.Scale(domain=[0, 100])),
            tooltip=["day:T", "status:N", alt.Tooltip("health_index:Q", format=".0f")],
        )
        .properties(height=220, title=t("machine.health_trend")),
        width="stretch",
    )
else:
    left.info(t("machine.no_health"))
risk = to_local(detail.risk, s.timezone, "window_end")
if risk.height:
    right.altair_chart(
        alt.Chart(risk)
        .mark_line()
        .encode(
            x=alt.X("window_end:T", title=x_title, axis=TIME_AXIS),
            y=alt.Y("probability:Q", title=t("machine.risk_axis"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            tooltip=[
                alt.Tooltip("window_end:T", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("probability:Q", format=".0%"),
                alt.Tooltip("ttf_median_h:Q", format=".0f"),
            ],
        )
        .properties(height=220, title=t("machine.risk_trend")),
        width="stretch",
    )
else:
    right.info(t("machine.no_risk"))

# --- drivers and the log --------------------------------------------------------------------------
left, right = st.columns(2)
drivers = detail.drivers.with_columns(pl.col("source").map_elements(lambda v: t(f"machine.source_{v}"), return_dtype=pl.String).alias("source_label"))
left.markdown(f"**{t('machine.drivers')}**")
if drivers.height:
    left.altair_chart(
        alt.Chart(drivers)
        .mark_bar()
        .encode(
            y=alt.Y("sensor:N", sort="-x", title=None),
            x=alt.X("share:Q", title=t("machine.share"), axis=alt.Axis(format="%")),
            color=alt.Color("source_label:N", title=None),
            tooltip=["sensor:N", "source_label:N", alt.Tooltip("share:Q", format=".0%")],
        )
        .properties(height=220),
        width="stretch",
    )
else:
    left.info(t("machine.no_drivers"))
right.markdown(f"**{t('machine.events')}**")
if events.height:
    with right:
        show_table(
            events.select("ts", pl.col("label").alias("kind"), "component", "text"),
            s,
            formats={"ts": lambda label: st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm")},
        )
else:
    right.info(t("machine.no_events"))
