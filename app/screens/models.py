"""Models: the card of every model in use — what it learned from, with which feature set, how
well it validated and when it was last retrained."""

import polars as pl
import streamlit as st

from analytics.i18n import localize_text, machine_type_label
from app.common import model_cards, session, show_table

s = session()
t = s.t
st.title(t("models.title"))
st.caption(t("models.caption"))
cards = model_cards(s)
if cards.height == 0:
    st.info(t("models.none"))
    st.stop()

st.subheader(t("models.anomaly"))
anomaly = cards.filter(pl.col("kind") == "anomaly")
if anomaly.height:
    show_table(
        anomaly.select(
            "subject",
            "model_id",
            "method",
            "training_from",
            "training_to",
            "training_rows",
            "feature_set",
            "feature_version",
            "fitted_at",
            "reason",
            "note",
            "models_fitted",
        ),
        s,
        values={"reason": localize_text, "note": localize_text},
    )
else:
    st.caption(t("models.none"))

st.subheader(t("models.failure"))
failure = cards.filter(pl.col("kind") == "failure")
if failure.height:
    show_table(
        failure.select(
            "subject",
            "model_id",
            "method",
            "training_from",
            "training_to",
            "training_rows",
            "training_failures",
            "training_factories",
            "feature_set",
            "fitted_at",
            "brier",
            "brier_baseline",
            "pr_auc",
            "pr_auc_naive",
            "validated_rows",
            "validated_from",
            "validated_to",
            "reason",
            "note",
            "models_fitted",
        ),
        s,
        values={"subject": machine_type_label, "method": localize_text, "reason": localize_text, "note": localize_text},
    )
else:
    st.caption(t("models.none"))
