"""Alerts: open and recent ones; acknowledge, resolve, and say what was found (true problem with
its failure mode, or false alarm). Every action is written through the library and shown at once."""

from datetime import timedelta

import polars as pl
import streamlit as st

from analytics.errors import HubError
from analytics.i18n import STATUS_COLORS, alert_status_label, format_local, mode_choices, mode_label, status_label, verdict_label
from analytics.solutions.alerts import VERDICTS
from analytics.solutions.knowledge import UNKNOWN_MODE
from app.common import alert_book, clear_factory_caches, session, show_table, to_local

s = session()
t = s.t
book = alert_book(s)
user = s.user.username


def _done(message: str) -> None:
    clear_factory_caches()
    st.toast(message, icon=":material/check:")
    st.rerun()


st.title(t("alerts.title"))
open_alerts = book.open_alerts()
st.subheader(t("alerts.open", n=len(open_alerts)))
if not open_alerts:
    st.success(t("alerts.none_open"))
latest_verdicts = {r["alert_id"]: r for r in book.feedback().filter(pl.col("latest")).iter_rows(named=True)} if open_alerts else {}
for alert in open_alerts:
    details = alert.details
    title = f"{status_label(alert.severity, s.language)} · {alert.machine_id} · {mode_label(alert.mode, s.language)} · {t('alerts.since', day=alert.opened_day.isoformat())}"
    with st.expander(title, expanded=alert.severity == "critical", icon=":material/warning:" if alert.severity == "critical" else ":material/notifications:"):
        st.badge(alert_status_label(alert.status, s.language), color="gray" if alert.status == "acknowledged" else STATUS_COLORS[alert.severity])
        if alert.escalation:
            st.caption(t("alerts.escalated", n=alert.escalation))
        reason = details.get("reason_ko" if s.language == "ko" else "reason_en")
        action = details.get("action_ko" if s.language == "ko" else "action_en")
        if reason:
            st.markdown(f"**{t('machine.why')}** {reason}")
        if action:
            st.markdown(f"**{t('machine.action')}** {action}")
        st.caption(
            t("alerts.last_seen", day=alert.last_day.isoformat())
            + (
                f" · {t('alerts.acknowledged_by', user=alert.acknowledged_by, when=format_local(alert.acknowledged_at, s.timezone))}"
                if alert.acknowledged_at
                else ""
            )
        )
        verdict = latest_verdicts.get(alert.alert_id)
        if verdict:
            st.info(t("alerts.verdict_given", verdict=verdict_label(verdict["verdict"], s.language), user=verdict["given_by"]))
        st.page_link("screens/machine.py", label=t("overview.details"), icon=":material/arrow_forward:", query_params={"machine": alert.machine_id})
        act, resolve, feedback = st.columns(3)
        with act:
            if alert.status == "open" and st.button(t("alerts.acknowledge"), key=f"ack-{alert.alert_id}", icon=":material/visibility:"):
                try:
                    book.acknowledge(alert.alert_id, user)
                except HubError as exc:
                    st.error(str(exc))
                else:
                    _done(t("alerts.acknowledged"))
        with resolve, st.form(f"resolve-{alert.alert_id}", border=False):
            note = st.text_input(t("alerts.resolve_note"), key=f"note-{alert.alert_id}")
            if st.form_submit_button(t("alerts.resolve"), icon=":material/task_alt:"):
                try:
                    book.resolve(alert.alert_id, user, note)
                except HubError as exc:
                    st.error(str(exc))
                else:
                    _done(t("alerts.resolved"))
        with feedback, st.form(f"feedback-{alert.alert_id}", border=False):
            given = st.radio(
                t("alerts.verdict"), VERDICTS, format_func=lambda v: verdict_label(v, s.language), key=f"verdict-{alert.alert_id}", horizontal=True
            )
            modes = mode_choices()
            found = st.selectbox(
                t("alerts.mode_found"),
                modes,
                index=modes.index(alert.mode) if alert.mode in modes else 0,
                format_func=lambda m: mode_label(m, s.language),
                key=f"mode-{alert.alert_id}",
            )
            remark = st.text_input(t("alerts.feedback_note"), key=f"remark-{alert.alert_id}")
            if st.form_submit_button(t("alerts.give_feedback"), icon=":material/rate_review:"):
                try:
                    book.give_feedback(alert.alert_id, given, user=user, failure_mode=found if given == "true_problem" else None, note=remark)
                except HubError as exc:
                    st.error(str(exc))
                else:
                    _done(t("alerts.feedback_saved"))

st.subheader(t("alerts.recent"))
today = max((a.last_day for a in book.alerts()), default=None)
recent = book.alerts(status="resolved", since=today - timedelta(days=30)) if today else []
if recent:
    show_table(
        pl.DataFrame(
            [
                {
                    "machine_id": a.machine_id,
                    "failure_mode": a.mode or UNKNOWN_MODE,
                    "severity": a.severity,
                    "opened_day": a.opened_day,
                    "last_day": a.last_day,
                    "resolved_by": t("alerts.system") if (a.resolved_by or "").startswith("system:") else a.resolved_by,
                    "resolution_note": a.resolution_note or None,
                }
                for a in recent
            ]
        ),
        s,
        values={"failure_mode": mode_label, "severity": status_label},
    )
else:
    st.caption(t("alerts.none_recent"))

st.subheader(t("alerts.feedback"))
given = book.feedback()
if given.height:
    show_table(
        to_local(given.sort("given_at", descending=True), s.timezone, "given_at").select(
            "machine_id", "verdict", "failure_mode", "note", "given_by", "given_at"
        ),
        s,
        values={"verdict": verdict_label, "failure_mode": mode_label},
    )
else:
    st.caption(t("alerts.no_feedback"))
