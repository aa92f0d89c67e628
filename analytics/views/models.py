"""The models in use for a factory, as their cards say: what they were trained on, with which
feature set, how well they validated and when they were last retrained.

Anomaly models are per machine; the one in use is the newest fitted (the monitor refits on a
schedule, on drift and on feedback). Failure models are per machine type; the one in use is the
champion of the factory's model store (promoted only when it beat the previous one on the same
validation and the base rate). A pooled model's card counts the factories it learned from and
never names them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analytics.models.anomaly.scoring import KIND as ANOMALY
from analytics.models.failure.training import KIND as FAILURE
from analytics.schemas import validate_factory_id
from analytics.store.hub import Hub
from analytics.store.models import ModelStore

MODEL_CARD_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),  # "anomaly" | "failure"
    "subject": pl.String(),  # machine id (anomaly) or machine type (failure)
    "model_id": pl.String(),
    "method": pl.String(),  # detector or recipe
    "training_from": pl.String(),
    "training_to": pl.String(),
    "training_rows": pl.Int64(),
    "training_failures": pl.Int64(),
    "training_factories": pl.Int64(),
    "feature_set": pl.String(),
    "feature_version": pl.Int64(),
    "fitted_at": pl.String(),  # the last (re)training
    "fitted_until": pl.String(),
    "reason": pl.String(),  # why it was (re)fitted or promoted
    "brier": pl.Float64(),
    "brier_baseline": pl.Float64(),
    "pr_auc": pl.Float64(),
    "pr_auc_naive": pl.Float64(),
    "validated_rows": pl.Int64(),
    "validated_from": pl.String(),
    "validated_to": pl.String(),
    "note": pl.String(),
    "models_fitted": pl.Int64(),  # how many models of this subject are stored (retrain history)
}


def _anomaly_row(card: dict[str, Any], fitted: int) -> dict[str, Any]:
    return {
        "kind": ANOMALY,
        "subject": card.get("machine_id"),
        "model_id": card.get("model_id"),
        "method": card.get("detector"),
        "training_from": card.get("training_start"),
        "training_to": card.get("training_end"),
        "training_rows": card.get("training_rows"),
        "training_failures": None,
        "training_factories": 1,
        "feature_set": card.get("feature_set"),
        "feature_version": card.get("feature_version"),
        "fitted_at": card.get("fitted_at"),
        "fitted_until": card.get("fitted_until"),
        "reason": card.get("reason"),
        "note": f"{card.get('n_modes', 1)} operating mode(s), window {card.get('window')}",
        "models_fitted": fitted,
    }


def _failure_row(card: dict[str, Any], fitted: int) -> dict[str, Any]:
    training = card.get("training") or {}
    metrics = card.get("metrics") or {}
    validated = metrics.get("validated_on") or {}
    return {
        "kind": FAILURE,
        "subject": card.get("machine_id"),
        "model_id": card.get("model_id"),
        "method": f"xgboost, {card.get('recipe')} recipe",
        "training_from": training.get("from"),
        "training_to": training.get("to"),
        "training_rows": training.get("rows"),
        "training_failures": training.get("failures"),
        "training_factories": training.get("factories"),
        "feature_set": card.get("feature_set"),
        "feature_version": None,
        "fitted_at": card.get("fitted_at"),
        "fitted_until": card.get("fitted_until"),
        "reason": card.get("promotion"),
        "brier": metrics.get("brier"),
        "brier_baseline": metrics.get("brier_baseline"),
        "pr_auc": metrics.get("pr_auc"),
        "pr_auc_naive": metrics.get("pr_auc_naive"),
        "validated_rows": validated.get("rows"),
        "validated_from": validated.get("from"),
        "validated_to": validated.get("to"),
        "note": card.get("note") or "",
        "models_fitted": fitted,
    }


def model_cards(hub: Hub, factory_id: str) -> pl.DataFrame:
    """One row per model in use for the factory (:data:`MODEL_CARD_SCHEMA`): each machine's
    current anomaly model and each machine type's champion failure model."""
    store = ModelStore(hub, validate_factory_id(factory_id))
    rows: list[dict[str, Any]] = []
    anomaly: dict[str, list[dict[str, Any]]] = {}
    for card in store.cards(ANOMALY):
        anomaly.setdefault(card["machine_id"], []).append(card)
    for machine_id in sorted(anomaly):
        rows.append(_anomaly_row(anomaly[machine_id][-1], len(anomaly[machine_id])))
    failure: dict[str, int] = {}
    for card in store.cards(FAILURE):
        failure[card["machine_id"]] = failure.get(card["machine_id"], 0) + 1
    for machine_type in sorted(failure):
        champion = store.champion(FAILURE, machine_type)
        if champion is not None:
            rows.append(_failure_row(champion, failure[machine_type]))
    return pl.DataFrame(rows, schema=MODEL_CARD_SCHEMA) if rows else pl.DataFrame(schema=MODEL_CARD_SCHEMA)
