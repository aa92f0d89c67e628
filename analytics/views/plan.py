"""The maintenance plan as people read and export it: the day's priority list in the factory's
language and wall-clock time, one table for the screen, the CSV and the Excel file alike."""

from __future__ import annotations

import io

import polars as pl

from analytics.i18n import column_labels, mode_label, status_label, t, urgency_label, window_kind_label
from analytics.solutions.priority import PRIORITY_SCHEMA


def _local(column: str, timezone: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone(timezone).dt.strftime("%Y-%m-%d %H:%M")


def plan_table(priority: pl.DataFrame, timezone: str, language: str) -> pl.DataFrame:
    """A stored priority list (:data:`~analytics.solutions.priority.PRIORITY_SCHEMA`) with
    translated headers and labels, times as local ``YYYY-MM-DD HH:MM`` text, rank order kept."""
    missing = set(PRIORITY_SCHEMA) - set(priority.columns)
    if missing:
        raise ValueError(f"not a priority list: missing {sorted(missing)}")

    def labels(column: str, label) -> pl.Expr:
        return pl.col(column).map_elements(lambda v: label(v, language), return_dtype=pl.String, skip_nulls=True)

    return priority.sort("rank").select(
        pl.col("rank").alias(t("plan.col_rank", language)),
        pl.col("machine_id").alias(column_labels(["machine_id"], language)["machine_id"]),
        labels("status", status_label).alias(t("plan.col_status", language)),
        labels("failure_mode", mode_label).alias(t("plan.col_mode", language)),
        labels("urgency", urgency_label).alias(t("plan.col_urgency", language)),
        pl.col("risk").round(3).alias(t("plan.col_risk", language)),
        pl.col("expected_loss").round(0).alias(t("plan.col_loss", language)),
        _local("deadline", timezone).alias(t("plan.col_deadline", language)),
        _local("window_start", timezone).alias(t("plan.col_window_start", language)),
        _local("window_end", timezone).alias(t("plan.col_window_end", language)),
        labels("window_kind", window_kind_label).alias(t("plan.col_window_kind", language)),
        pl.col("window_note_ko" if language == "ko" else "window_note_en").alias(t("plan.col_note", language)),
    )


def plan_excel(table: pl.DataFrame, *, sheet: str = "plan") -> bytes:
    """The table as an .xlsx workbook (one sheet, header row frozen, columns fitted)."""
    buffer = io.BytesIO()
    # Excel forbids []:*?/\ in sheet names and cuts them at 31 characters.
    name = "".join(c for c in sheet if c not in "[]:*?/\\")[:31] or "plan"
    table.write_excel(buffer, worksheet=name, autofit=True, freeze_panes=(1, 0))
    return buffer.getvalue()
