"""Hub admin (admins only; the router gives no one else this page): factories, users and the
pipeline's runs with their status."""

import polars as pl
import streamlit as st

from analytics.i18n import LANGUAGE_NAMES, localize_text, machine_type_label, pooled_status_label, run_kind_label, run_status_label, stage_label
from analytics.pipeline.runs import RunLog
from analytics.store.overview import factory_overview
from analytics.store.users import UserBook
from app.common import hub, session, show_table

s = session()
t = s.t
if not s.user.is_admin:  # defence in depth: the router already leaves this page out
    st.stop()
st.title(t("admin.title"))

st.subheader(t("admin.factories"))
show_table(factory_overview(hub()), s)

st.subheader(t("admin.users"))
users = UserBook(hub()).users()
show_table(
    pl.DataFrame(
        [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": t(f"role.{u.role}"),
                "factory_id": u.factory_id or t("admin.all_factories"),
                "language": u.language,
                "last_login_at": u.last_login_at,
                "disabled": u.disabled,
            }
            for u in users
        ],
        schema={
            "username": pl.String,
            "display_name": pl.String,
            "role": pl.String,
            "factory_id": pl.String,
            "language": pl.String,
            "last_login_at": pl.String,
            "disabled": pl.Boolean,
        },
    ),
    s,
    values={"language": lambda code, _: LANGUAGE_NAMES.get(code, code)},
)

st.subheader(t("admin.runs"))
runs = RunLog(hub()).runs(limit=200)
if runs.height:
    show_table(runs, s, values={"kind": run_kind_label, "status": run_status_label})
    labels = {r["run_id"]: f"{r['day'] or '—'} · {run_kind_label(r['kind'], s.language)} · {r['started_at']}" for r in runs.iter_rows(named=True)}
    chosen = st.selectbox(t("admin.run_detail"), list(labels), format_func=labels.__getitem__, key="admin_run")
    show_table(RunLog(hub()).summary(chosen), s, values={"status": run_status_label, "stage": stage_label})
    pooled = RunLog(hub()).pooled(chosen)
    if pooled.height:
        st.caption(t("admin.run_pooled"))
        show_table(pooled, s, values={"machine_type": machine_type_label, "status": pooled_status_label, "reason": localize_text})
else:
    st.caption(t("admin.no_runs"))
