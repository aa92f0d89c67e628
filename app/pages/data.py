"""Data health of one factory: ingest history, per-sensor quality, quarantined rows with reasons."""

import polars as pl
import streamlit as st

from app.common import choose_factory, history, quality, quarantine

factory_id = choose_factory()
if factory_id is not None:
    st.title("Data health / 데이터 상태")
    st.subheader("Ingest history / 수집 이력")
    st.dataframe(history(factory_id), width="stretch", hide_index=True)
    reports = quality(factory_id)
    st.subheader("Latest quality report per sensor / 센서별 품질")
    if reports.height:
        latest = reports.sort("reported_at").group_by("machine_id", "sensor").last().sort("machine_id", "sensor")
        st.dataframe(
            latest.select("machine_id", "sensor", "received", "share_missing", "share_invalid", "share_duplicate", "gaps", "longest_gap_s", "flatline_stretches", "history_days", "enough_history"),
            width="stretch",
            hide_index=True,
            column_config={
                "share_missing": st.column_config.ProgressColumn("missing", format="percent", min_value=0, max_value=1),
                "share_invalid": st.column_config.ProgressColumn("invalid", format="percent", min_value=0, max_value=1),
                "share_duplicate": st.column_config.ProgressColumn("duplicate", format="percent", min_value=0, max_value=1),
            },
        )
    else:
        st.info("No quality reports yet.")
    st.subheader("Quarantined rows / 격리된 행")
    rows = quarantine(factory_id)
    if rows.height:
        st.dataframe(rows.select("source_file", "row", "column", "reason", "raw", pl.col("quarantined_at")), width="stretch", hide_index=True)
    else:
        st.success("Nothing quarantined.")
