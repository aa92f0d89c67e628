"""Hub admin (admins only; the router gives no one else this page): factories, users and the
pipeline's runs with their status."""

import streamlit as st

from analytics.pipeline.runs import RunLog
from analytics.store.overview import factory_overview
from analytics.store.users import UserBook
from app.common import hub, session

s = session()
t = s.t
if not s.user.is_admin:  # defence in depth: the router already leaves this page out
    st.stop()
st.title(t("admin.title"))

st.subheader(t("admin.factories"))
st.dataframe(factory_overview(hub()), hide_index=True, width="stretch")

st.subheader(t("admin.users"))
users = UserBook(hub()).users()
st.dataframe(
    [{"username": u.username, "name": u.display_name, "role": t(f"role.{u.role}"), "factory": u.factory_id or "*", "language": u.language or "", "last_login_at": u.last_login_at or "", "disabled": u.disabled} for u in users],
    hide_index=True,
    width="stretch",
)

st.subheader(t("admin.runs"))
runs = RunLog(hub()).runs(limit=200)
if runs.height:
    st.dataframe(runs, hide_index=True, width="stretch")
else:
    st.caption(t("admin.no_runs"))
