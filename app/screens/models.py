"""Models: the card of every model in use — what it learned from, with which feature set, how
well it validated and when it was last retrained."""

import polars as pl
import streamlit as st

from app.common import model_cards, session

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
    st.dataframe(
        anomaly.select("subject", "model_id", "method", "training_from", "training_to", "training_rows", "feature_set", "feature_version", "fitted_at", "reason", "note", "models_fitted"),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption(t("models.none"))

st.subheader(t("models.failure"))
failure = cards.filter(pl.col("kind") == "failure")
if failure.height:
    st.dataframe(
        failure.select(
            "subject", "model_id", "method", "training_from", "training_to", "training_rows", "training_failures", "training_factories",
            "feature_set", "fitted_at", "brier", "brier_baseline", "pr_auc", "pr_auc_naive", "validated_rows", "validated_from", "validated_to", "reason", "note", "models_fitted",
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption(t("models.none"))
