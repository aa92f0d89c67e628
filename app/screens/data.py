"""Data: upload a file with a preview and its validation before anything is stored; the upload
history, per-sensor quality, sensor faults (gaps, stuck, spikes) and quarantined rows."""

from datetime import timedelta

import polars as pl
import streamlit as st
import yaml
from pydantic import ValidationError

from analytics.errors import HubError
from analytics.i18n import event_label, fault_kind_label, format_local, localize_text, run_status_label
from analytics.ingest import ingest_file
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.preview import preview_file, save_upload
from app.common import (
    clear_factory_caches,
    history,
    hub,
    quality,
    quarantine,
    require_factory,
    sensor_faults,
    session,
    share_column,
    show_table,
    solved_days,
    to_local,
)

UPLOAD_ROLES = ("engineer", "admin")  # plant managers read the data health; engineers change the data

s = session()
t = s.t
factory_id = require_factory(s)
st.title(t("data.title"))

# --- upload ---------------------------------------------------------------------------------------
st.subheader(t("data.upload"))
if s.user.role not in UPLOAD_ROLES:
    st.caption(t("data.not_allowed"))
else:
    st.caption(t("data.upload_help"))
    left, right = st.columns([2, 1])
    upload = left.file_uploader(t("data.upload"), type=["csv", "tsv", "xlsx", "xlsm", "parquet"], key="upload_file", label_visibility="collapsed")
    table = right.radio(t("data.table"), ["readings", "events"], format_func=lambda v: t(f"data.table_{v}"), key="upload_table", horizontal=True)
    mapping_file = right.file_uploader(t("data.mapping"), type=["yaml", "yml"], key="upload_mapping")
    if upload is not None:
        try:
            mapping = (
                ImportMapping.model_validate(yaml.safe_load(mapping_file.getvalue().decode("utf-8")) or {}) if mapping_file else ImportMapping(table=table)
            )
            if mapping.table != table:
                mapping = mapping.model_copy(update={"table": table})
            path = save_upload(hub(), factory_id, upload.name, upload.getvalue())
            preview = preview_file(hub(), factory_id, path, mapping)
        except (HubError, yaml.YAMLError, UnicodeDecodeError, ValidationError) as exc:
            st.error(str(exc))
        else:
            st.markdown(f"**{t('data.preview')}** · {preview.source_file}")
            st.info(
                t(
                    "data.preview_counts",
                    rows=f"{preview.rows_read:,}",
                    valid=f"{preview.valid:,}",
                    quarantined=f"{preview.quarantined:,}",
                    machines=", ".join(preview.machines) or "—",
                    first=format_local(preview.first_ts, s.timezone),
                    last=format_local(preview.last_ts, s.timezone),
                )
            )
            if preview.already_ingested:
                st.warning(t("data.already"))
            show_table(to_local(preview.sample, s.timezone, "ts"), s, values={"kind": event_label}, height=220)
            if preview.problems.height:
                st.markdown(f"**{t('data.problems')}**")
                show_table(preview.problems, s, values={"reason": localize_text}, height=220)
            if st.button(t("data.store"), type="primary", key="upload_store", icon=":material/save:"):
                try:
                    result = ingest_file(hub(), factory_id, path, mapping)
                except HubError as exc:
                    st.error(str(exc))
                else:
                    clear_factory_caches()
                    st.success(t("data.stored", accepted=f"{result.accepted:,}", duplicate=f"{result.duplicate:,}", quarantined=f"{result.quarantined:,}"))

# --- what arrived and how good it is ---------------------------------------------------------------
st.subheader(t("data.history"))
show_table(
    history(s).drop("factory_id"),
    s,
    values={"status": run_status_label, "table_name": lambda name, _: t(f"data.table_{name}")},
)

st.subheader(t("data.quality"))
reports = quality(s)
if reports.height:
    latest = reports.sort("reported_at").group_by("machine_id", "sensor").last().sort("machine_id", "sensor")
    show_table(
        latest.select(
            "machine_id",
            "sensor",
            "received",
            "share_missing",
            "share_invalid",
            "share_duplicate",
            "gaps",
            "longest_gap_s",
            "flatline_stretches",
            "history_days",
            "enough_history",
        ),
        s,
        formats={"share_missing": share_column, "share_invalid": share_column, "share_duplicate": share_column},
    )
else:
    st.info(t("data.no_quality"))

st.subheader(t("data.faults"))
days = solved_days(s)
faults = sensor_faults(s, days[-1] - timedelta(days=13), days[-1]) if days else pl.DataFrame()
if faults.height:
    show_table(to_local(faults, s.timezone, "start", "end").sort("start", descending=True), s, values={"kind": fault_kind_label, "detail": localize_text})
else:
    st.success(t("data.no_faults"))

st.subheader(t("data.quarantine"))
rows = quarantine(s)
if rows.height:
    show_table(
        to_local(rows, s.timezone, "ts", "quarantined_at").select("source_file", "row", "column", "reason", "raw", "quarantined_at"),
        s,
        values={"reason": localize_text},
    )
else:
    st.success(t("data.no_quarantine"))
