"""Maintenance plan: the machines that need work, ranked by expected loss, each with a deadline
and a suggested window outside production; exported as CSV or Excel (what is shown is what is
exported)."""

import streamlit as st

from analytics.views.plan import plan_excel, plan_table
from app.common import MISSING, priority, session, solved_days

s = session()
t = s.t
st.title(t("plan.title"))
days = solved_days(s)
if not days:
    st.info(t("overview.not_solved"))
    st.stop()
day = st.selectbox(t("plan.day"), days[::-1], index=0, key="plan_day")
plan = priority(s, day)
st.caption(t("plan.caption", day=day.isoformat(), tz=s.timezone))
if plan.height == 0:
    st.success(t("plan.nothing"))
    st.stop()

table = plan_table(plan, s.timezone, s.language)
st.dataframe(table, hide_index=True, width="stretch", placeholder=MISSING)  # headers already in the language: it is also the export
left, right = st.columns(2)
stem = f"maintenance-plan-{s.factory_id}-{day.isoformat()}"
# UTF-8 with a byte-order mark: Excel opens a CSV of Korean text correctly only with it.
left.download_button(t("plan.csv"), table.write_csv().encode("utf-8-sig"), file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:", key="plan_csv")
right.download_button(
    t("plan.excel"),
    plan_excel(table, sheet=t("plan.title")),
    file_name=f"{stem}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    icon=":material/table_view:",
    key="plan_excel",
)
