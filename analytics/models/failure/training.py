"""Training failure models for a factory, learning across factories, and the champion in use.

One model per machine type (a type's machines share sensors and failure modes). Three *recipes*
compete for each factory and type:

- ``factory``: trained on the factory's own machines only; it competes once the factory has
  :attr:`~analytics.config.FailureSettings.min_failures` failures of that type and two machines
  to validate across;
- ``pooled``: trained on every factory that allows sharing (:meth:`Registry.set_model_sharing`,
  off by default) together with the factory's own rows; offered only to factories that share;
- ``tuned``: the pooled recipe's trees fine-tuned on the factory: boosting continued on its own
  rows for as many rounds as its own held-out machines show to help, and calibrated on them
  (:class:`~analytics.models.failure.risk.FineTunedRiskClassifier`); offered to a factory that
  shares and has the history a model of its own needs (``min_failures``). Its time-to-failure
  model is the pooled recipe's.

All are judged on the *same* validation: the factory's own machines, time-ordered and
machine-grouped (:func:`~analytics.models.failure.risk.time_grouped_splits`); the pooled and
tuned recipes are refitted per split on the other factories' rows whose labels were known before
the test block plus the factory's own training rows, so their figures are as honest as the
factory recipe's. The recipe with the lowest Brier score wins; it becomes the champion if no
champion exists, if it is the champion's own recipe (a refresh on newer data), or if it beat the
champion's recipe on this validation. A recipe whose Brier score is not below the base rate's (a
constant forecast of the training failure rate) is never promoted: a risk figure worse than that
would mislead. A factory with no model of its own and no sharing gets no failure risk, and is
told why.

Only models and aggregate figures cross tenants: the pooled model is trained hub-side on the
sharing factories' features and labels, and its card names how many factories and machines it
learned from, never which.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, clone

from analytics.config import FailureSettings, get_settings
from analytics.features import MACHINE_HEALTH, FeatureStore
from analytics.features.labels import FAILURE
from analytics.models.failure.dataset import add_labels, failure_features, feature_columns
from analytics.models.failure.risk import (
    FailureRiskClassifier,
    FailureTimeModel,
    FineTunedRiskClassifier,
    NotEnoughFailuresError,
    PlattTrees,
    time_grouped_splits,
    validate,
)
from analytics.store.hub import Hub
from analytics.store.models import POOLED, ModelStore
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

KIND = "failure"
WINDOW = "1h"
RECIPES = ("factory", "pooled", "tuned")
SHARED_RECIPES = frozenset({"pooled", "tuned"})  # the recipes that learn from other factories' rows
# What a model card's note says of each recipe (the pooled one says more when the factory has no
# failures of its own).
RECIPE_NOTES = {
    "factory": "",
    "pooled": "pooled model with this factory's own rows",
    "tuned": "pooled model fine-tuned on this factory's own rows",
}


@dataclass
class FailureModel:
    """What is stored: the calibrated risk classifier and the time-to-failure model, with the
    feature columns (and sensors) they were trained on."""

    classifier: FailureRiskClassifier | PlattTrees | FineTunedRiskClassifier
    time_model: FailureTimeModel | None
    columns: list[str]
    sensors: list[str]
    horizon_hours: float
    hazard_hours: float
    machine_type: str
    recipe: str

    def risk(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probability of a failure within ``hazard_hours`` (what the classifier
        learned) and within ``horizon_hours`` (compounded as if that hazard held)."""
        near = self.classifier.predict_proba(X)[:, 1]
        return near, 1.0 - (1.0 - near) ** (self.horizon_hours / self.hazard_hours)

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        present = frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in self.columns if c not in frame.columns)
        return present.select(pl.col(c).cast(pl.Float64) for c in self.columns).to_numpy().astype(np.float32)


def machines_by_type(hub: Hub, factory_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in hub.registry.machines(factory_id):
        out.setdefault(m.machine_type, []).append(m.machine_id)
    return out


def type_sensors(hub: Hub, factory_ids: list[str], machine_type: str) -> list[str]:
    """Sensors the machines of a type carry (the union over the given factories)."""
    names: set[str] = set()
    for fid in factory_ids:
        ids = set(machines_by_type(hub, fid).get(machine_type, []))
        names |= {s.sensor for s in hub.registry.sensors(fid) if s.machine_id in ids}
    return sorted(names)


def factory_frame(
    hub: Hub,
    factory_id: str,
    machine_type: str,
    horizon_hours: float,
    *,
    until: datetime,
    sensors: list[str],
    since: date | None = None,
) -> pl.DataFrame:
    """Labelled failure features of one factory's machines of one type, windows ending by ``until``
    (labels observed up to ``until`` too: nothing after it is used)."""
    store = FeatureStore(hub, factory_id)
    ids = machines_by_type(hub, factory_id).get(machine_type, [])
    if not ids:
        return pl.DataFrame()
    last_day = until.date() + timedelta(days=1)  # local dates can run a day ahead of UTC
    sensor = store.read(MACHINE_HEALTH, WINDOW, "sensor", since, last_day).filter(pl.col("machine_id").is_in(ids) & (pl.col("window_end") <= until))
    machine = store.read(MACHINE_HEALTH, WINDOW, "machine", since, last_day).filter(pl.col("machine_id").is_in(ids) & (pl.col("window_end") <= until))
    feats = failure_features(sensor, machine, sensors=sensors, load_of=load_sensors(store))
    if feats.height == 0:
        return pl.DataFrame()
    events = FactoryReader(hub, factory_id).events(end=until).collect()
    events = with_confirmed_problems(hub, factory_id, events, until)
    return add_labels(feats, events, horizon_hours, until).with_columns(pl.lit(factory_id).alias("factory_id"))


CONFIRMED_TEXT = "confirmed by feedback on an alert"


def with_confirmed_problems(hub: Hub, factory_id: str, events: pl.DataFrame, until: datetime) -> pl.DataFrame:
    """``events`` plus a failure event for every alert a person confirmed as a true problem whose
    machine logged no failure of its own within a week of it (then the log already labels it).

    A problem found and fixed before the machine broke is the failure the model should have
    predicted; without it, the model would learn that the days before it were healthy. The event
    is stamped at the end of the alert's last local day, and only feedback on days before
    ``until`` counts."""
    from analytics.solutions.alerts import AlertBook  # solutions builds on the models, not the reverse

    confirmed = AlertBook(hub, factory_id).confirmed_problems()
    if confirmed.height == 0:
        return events
    zone = hub.registry.factory(factory_id).timezone
    stamped = confirmed.select(
        "machine_id",
        (pl.col("day").cast(pl.Datetime("us")) + pl.duration(days=1)).dt.replace_time_zone(zone).dt.convert_time_zone("UTC").alias("ts"),
        pl.col("failure_mode").alias("component"),
    ).filter(pl.col("ts") <= until)
    logged = events.filter(pl.col("kind") == FAILURE).select("machine_id", pl.col("ts").alias("logged"))
    near = stamped.join(logged, on="machine_id").filter((pl.col("logged") - pl.col("ts")).dt.total_days().abs() <= 7).select("machine_id", "ts")
    new = stamped.join(near, on=["machine_id", "ts"], how="anti")
    if new.height == 0:
        return events
    added = new.with_columns(
        pl.lit(factory_id).alias("factory_id"), pl.lit(FAILURE).alias("kind"), pl.lit(CONFIRMED_TEXT).alias("text"),
        pl.col("ts").cast(events.schema["ts"]),
    ).select(events.columns)  # fmt: skip
    log.info("%s: %d confirmed problems added as failure events", factory_id, new.height)
    return pl.concat([events, added]).sort("ts")


def load_sensors(store: FeatureStore) -> dict[str, str]:
    """Each machine's load sensor, from the feature store's state rules."""
    return {machine_id: rule.sensor for machine_id, rule in store.rules().items()}


def training_rows(frame: pl.DataFrame, stride_hours: int) -> pl.DataFrame:
    """Rows a model learns from: labelled, not in repair, every ``stride_hours``-th hour."""
    if frame.height == 0:
        return frame
    keep = (~pl.col("in_repair")) & pl.col("failure_within").is_not_null()
    if stride_hours > 1:
        keep = keep & ((pl.col("window_end").dt.hour() % stride_hours) == 0)
    return frame.filter(keep)


def model_arrays(frame: pl.DataFrame, model: FailureModel) -> dict[str, np.ndarray]:
    """What the estimators take from a labelled table: the feature matrix ``X`` (the model's
    columns), ``y`` (failure within the horizon), ``groups`` (factory/machine), ``times``
    (window ends) and the survival bounds ``lower``/``upper`` (hours; ``upper`` infinite where
    censored)."""
    censored = frame.get_column("censored").to_numpy()
    to_failure = frame.get_column("hours_to_failure").fill_null(0).to_numpy()
    lower = np.where(censored, frame.get_column("hours_observed").to_numpy(), to_failure)
    return {
        "X": model.matrix(frame),
        "y": frame.get_column("failure_within").cast(pl.Int32).to_numpy(),
        "groups": (frame.get_column("factory_id") + "/" + frame.get_column("machine_id")).to_numpy(),
        "times": frame.get_column("window_end").to_numpy(),
        "lower": lower,
        "upper": np.where(censored, np.inf, lower),
    }


def fit_model(frame: pl.DataFrame, template: FailureModel, *, own: np.ndarray | None = None) -> FailureModel:
    """Fit the classifier and the time model of ``template`` on all of ``frame``'s rows (``own``:
    which are the factory's, for the tuned recipe's classifier)."""
    a = model_arrays(frame, template)
    classifier = clone(template.classifier).fit(a["X"], a["y"], a["groups"], **({} if own is None else {"own": own}))
    try:
        time_model: FailureTimeModel | None = FailureTimeModel(**template.time_model.get_params()).fit(a["X"], a["lower"], a["upper"]) if template.time_model else None
    except NotEnoughFailuresError:
        time_model = None
    return FailureModel(classifier, time_model, template.columns, template.sensors, template.horizon_hours, template.hazard_hours, template.machine_type, template.recipe)


def recipe_classifier(recipe: str) -> FailureRiskClassifier | FineTunedRiskClassifier:
    """The (unfitted) classifier of a recipe. The factory's own recipe up-weights its failure rows
    (``class_weight="balanced"``): a factory has a few dozen failures, too few for unweighted trees
    to split on (``min_child_weight`` counts the Hessian, which a rare row's small probability keeps
    small); on the test fleet's injection moulding machines, unweighted trees did not beat the base
    rate's Brier score (0.0771 against 0.0745). The pooled recipes learn from a fleet's failures,
    where reweighting only costs calibration (:mod:`~analytics.models.failure.risk`)."""
    if recipe == "factory":
        return FailureRiskClassifier(class_weight="balanced")
    return FineTunedRiskClassifier(FailureRiskClassifier()) if recipe == "tuned" else FailureRiskClassifier()


def _template(machine_type: str, sensors: list[str], columns: list[str], horizon: float, hazard: float, recipe: str, *, time_model: bool = True) -> FailureModel:
    classifier = recipe_classifier(recipe)
    return FailureModel(classifier, FailureTimeModel() if time_model else None, columns, sensors, horizon, hazard, machine_type, recipe)


def time_model_verdict(metrics: dict[str, Any]) -> dict[str, Any]:
    """Whether the time-to-failure model validated well enough to be kept beside the classifier,
    and why: its ``P(T <= hazard_hours)`` must score a lower Brier score than the base rate on the
    same validation rows, as the classifier must to be promoted. A distribution worse than that
    would mislead twice: its "median time to failure" is written in the day's reasons, and its
    10 % time sets how soon the work must be done. Without it the hub says neither."""
    survival, base = metrics.get("survival_brier"), metrics.get("brier_baseline")
    if survival is None or base is None:
        return {"kept": False, "reason": "the time-to-failure model could not be validated"}
    if survival >= base:
        return {"kept": False, "reason": f"its failure probability validated at Brier {survival}, not below the base rate's {base}"}
    return {"kept": True, "reason": f"its failure probability validated at Brier {survival} against the base rate's {base}"}


def _iso(value: np.datetime64) -> str:
    """ISO 8601 UTC of a numpy datetime (window ends are UTC)."""
    return np.datetime_as_string(value, unit="s") + "+00:00"


def validate_recipes(
    own: pl.DataFrame,
    donors: pl.DataFrame | None,
    template: FailureModel,
    settings: FailureSettings,
    *,
    tuned: bool = True,
) -> dict[str, dict[str, Any]]:
    """Figures of each available recipe on the same time-ordered, machine-grouped splits of the
    factory's own rows (see the module doc); a recipe that cannot be fitted is left out, and the
    tuned one is tried only when ``tuned``."""
    a = model_arrays(own, template)
    splits = time_grouped_splits(
        a["times"], a["groups"], horizon_hours=template.hazard_hours, n_blocks=settings.validation_blocks, n_groups=settings.validation_groups
    )
    out: dict[str, dict[str, Any]] = {}
    if not splits:
        return out
    validated_on = {
        "rows": int(sum(t.size for _, t in splits)),
        "machines": int(np.unique(a["groups"]).size),
        "from": _iso(min(a["times"][t].min() for _, t in splits)),
        "to": _iso(max(a["times"][t].max() for _, t in splits)),
        "blocks": settings.validation_blocks,
        "groups": settings.validation_groups,
    }
    try:
        v = validate(a["X"], a["y"], a["groups"], splits, template.classifier, template.columns, time_model=template.time_model, lower=a["lower"], upper=a["upper"], horizon_hours=template.hazard_hours)
        out["factory"] = {**v.metrics, "validated_on": validated_on}
    except NotEnoughFailuresError as exc:
        log.info("factory recipe not validated: %s", exc)
    if donors is not None and donors.height:
        d = model_arrays(donors, template)
        n = a["X"].shape[0]
        X = np.vstack([a["X"], d["X"]])
        joined = {k: np.concatenate([a[k], d[k]]) for k in ("y", "groups", "lower", "upper")}
        donor_times = d["times"].astype("datetime64[s]")
        gap = np.timedelta64(int(template.hazard_hours * 3600), "s")
        pooled_splits = []
        for train, test in splits:
            first_test = a["times"][test].min().astype("datetime64[s]")
            pooled_splits.append((np.concatenate([train, n + np.flatnonzero(donor_times <= first_test - gap)]), test))
        try:
            v = validate(X, joined["y"], joined["groups"], pooled_splits, recipe_classifier("pooled"), template.columns, time_model=template.time_model, lower=joined["lower"], upper=joined["upper"], horizon_hours=template.hazard_hours)
            out["pooled"] = {**v.metrics, "validated_on": validated_on}
        except NotEnoughFailuresError as exc:
            log.info("pooled recipe not validated: %s", exc)
        if tuned:
            # The same splits: the shared trees learn from the donors' rows of the split and the
            # factory's training rows, the continued rounds and the calibration from the latter.
            try:
                t = validate(X, joined["y"], joined["groups"], pooled_splits, recipe_classifier("tuned"), template.columns, fit_rows={"own": np.arange(X.shape[0]) < n})
                # Its time model is the pooled recipe's, judged on the same rows above.
                pooled = out.get("pooled", {})
                survival = {k: pooled[k] for k in ("survival_brier", "survival_pr_auc") if k in pooled}
                out["tuned"] = {**t.metrics, **survival, "validated_on": validated_on}
            except NotEnoughFailuresError as exc:
                log.info("tuned recipe not validated: %s", exc)
    return out


def learned_from(store: ModelStore, machine_type: str, model_id: str) -> set[str] | None:
    """The other factories whose rows a model learned from, from the hub's private note beside it:
    a pooled model's factories, a factory's model's donors (none for its own recipe); None when
    no note was kept (a model saved before they were)."""
    note = store.read_private(KIND, machine_type, model_id)
    if note is None:
        return None
    return set(note.get("factories", [])) | set(note.get("donors", []))


def withdrawal(store: ModelStore, machine_type: str, card: dict[str, Any], sharing: Collection[str]) -> str | None:
    """Why the model of ``card`` may no longer be used (None: it may), given the factories that
    share (``sharing``). A factory's own recipe learned from its rows alone and is always usable;
    a model that learned from other factories' rows (the hub's pooled models, a factory's model of
    the pooled or tuned recipe) only while each of them still shares, and a factory's only while the
    factory itself does (the pool is for factories that share)."""
    if store.factory_id != POOLED:
        if card.get("recipe") not in SHARED_RECIPES:
            return None
        if store.factory_id not in sharing:
            return "it learned from other factories' rows and this factory no longer shares"
    sources = learned_from(store, machine_type, card["model_id"])
    if sources is None:
        return "it is not known which factories' rows it learned from"
    gone = sources - set(sharing) - {store.factory_id}
    return f"{len(gone)} of the factories whose rows it learned from no longer share" if gone else None


def withdrawn(hub: Hub, store: ModelStore, machine_type: str) -> str | None:
    """Why a factory's champion of ``machine_type`` may no longer be used (None: it may):
    :func:`withdrawal` of it against the factories sharing now."""
    champion = store.champion(KIND, machine_type)
    return None if champion is None else withdrawal(store, machine_type, champion, hub.registry.sharing_factories())


@dataclass
class TrainResult:
    factory_id: str
    machine_type: str
    status: str  # "promoted", "kept", "no_model"
    recipe: str | None = None
    model_id: str | None = None
    reason: str = ""
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    own_failures: int = 0
    seconds: float = 0.0


def _failures(frame: pl.DataFrame) -> int:
    """Failures seen in a labelled frame: distinct (machine, failure) pairs, counted by the
    machines' hours-to-failure reaching zero between windows."""
    if frame.height == 0:
        return 0
    ends = frame.filter(pl.col("hours_to_failure").is_not_null() & ~pl.col("censored")).with_columns(
        (pl.col("window_end") + pl.duration(seconds=(pl.col("hours_to_failure") * 3600).cast(pl.Int64))).dt.truncate("1h").alias("__at")
    )
    return ends.select("factory_id", "machine_id", "__at").unique().height


def training_summary(frame: pl.DataFrame) -> dict[str, Any]:
    """What a model card says of the rows a model learned from (:func:`combine_summaries` adds
    up the summaries of parts trained on together)."""
    return {
        "from": str(frame.get_column("window_end").min()),
        "to": str(frame.get_column("window_end").max()),
        "rows": frame.height,
        "positive_rows": int(frame.get_column("failure_within").sum()),
        "failures": _failures(frame),
        "machines": frame.select("factory_id", "machine_id").unique().height,
        "factories": frame.get_column("factory_id").n_unique(),
    }


def combine_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of tables of different factories (machines and failures do not overlap)."""
    return {
        "from": min(p["from"] for p in parts),
        "to": max(p["to"] for p in parts),
        **{k: sum(p[k] for p in parts) for k in ("rows", "positive_rows", "failures", "machines", "factories")},
    }


def card_parameters(estimator: Any) -> dict[str, Any]:
    """An estimator's parameters as its card records them: a nested estimator's by scikit-learn's
    deep names (``pooled__max_depth``), and the tuned recipe's rounds it chose when fitted."""
    params = {k: v for k, v in estimator.get_params(deep=True).items() if not isinstance(v, BaseEstimator)}
    if isinstance(estimator, FineTunedRiskClassifier) and hasattr(estimator, "tuned_rounds_"):
        params["tuned_rounds"] = estimator.tuned_rounds_
    return params


def model_card(model: FailureModel, training: dict[str, Any], metrics: dict[str, Any], *, until: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    """The card saved with a failure model (what the Models page and the registry show)."""
    return {
        "recipe": model.recipe,
        "machine_type": model.machine_type,
        "horizon_hours": model.horizon_hours,
        "hazard_hours": model.hazard_hours,
        "feature_set": MACHINE_HEALTH.key,
        "feature_window": WINDOW,
        "columns": model.columns,
        "sensors": model.sensors,
        "parameters": {"classifier": card_parameters(model.classifier), "time_model": card_parameters(model.time_model) if model.time_model else None},
        "training": training,
        "metrics": metrics,
        "fitted_until": until.isoformat(),
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def train_factory(
    hub: Hub,
    factory_id: str,
    *,
    until: datetime | None = None,
    settings: FailureSettings | None = None,
    machine_types: list[str] | None = None,
) -> list[TrainResult]:
    """Train, validate and (where better) promote the failure models of every machine type of
    a factory, on data up to ``until`` (default: now)."""
    settings = settings or get_settings().failure
    until = (until or datetime.now(UTC)).astimezone(UTC)
    reader = FactoryReader(hub, factory_id)
    factory_id = reader.factory_id
    store = ModelStore(hub, factory_id)
    shares = hub.registry.model_sharing(factory_id)
    donors_ids = [f for f in hub.registry.sharing_factories() if f != factory_id] if shares else []
    results = []
    for machine_type in sorted(machines_by_type(hub, factory_id)):
        if machine_types and machine_type not in machine_types:
            continue
        started = time.perf_counter()
        why = withdrawn(hub, store, machine_type)
        if why is not None:  # not used again, whether or not a new model replaces it below
            store.retire(KIND, machine_type, f"retired: {why}")
            log.info("%s %s: champion retired: %s", factory_id, machine_type, why)
        horizon, hazard = settings.horizon(machine_type), settings.hazard_hours
        sensors = type_sensors(hub, [factory_id, *donors_ids], machine_type)
        # Labels at the hazard horizon: what the classifier learns (see FailureSettings.hazard_hours).
        own_all = factory_frame(hub, factory_id, machine_type, hazard, until=until, sensors=sensors)
        own = training_rows(own_all, settings.train_stride_hours)
        result = TrainResult(factory_id, machine_type, "no_model", own_failures=_failures(own_all))
        if own.height == 0:
            result.reason = "no features for this machine type yet"
            results.append(result)
            continue
        donor_frames = [training_rows(factory_frame(hub, f, machine_type, hazard, until=until, sensors=sensors), settings.train_stride_hours) for f in donors_ids]
        donors_used = [f for f, frame in zip(donors_ids, donor_frames, strict=True) if frame.height]
        donor_frames = [f for f in donor_frames if f.height]
        donors = pl.concat(donor_frames, how="diagonal_relaxed") if donor_frames else None
        columns = feature_columns(own.drop("factory_id"))
        template = _template(machine_type, sensors, columns, horizon, hazard, "factory")
        enough_history = result.own_failures >= settings.min_failures
        metrics = validate_recipes(own, donors, template, settings, tuned=enough_history)
        if not enough_history:
            metrics.pop("factory", None)
        result.metrics = metrics
        # A model that forecasts worse than the base rate would mislead: it is never promoted.
        useful = {r: m for r, m in metrics.items() if m["brier"] is not None and m["brier_baseline"] is not None and m["brier"] < m["brier_baseline"]}
        if metrics and not useful:
            result.reason = "no recipe beat the base-rate forecast on validation (" + ", ".join(
                f"{r}: Brier {m['brier']} against {m['brier_baseline']}" for r, m in metrics.items()
            ) + ")"
            results.append(result)
            log.info("%s %s: no failure model: %s", factory_id, machine_type, result.reason)
            continue
        metrics = useful
        if not metrics:
            result.reason = (
                f"{result.own_failures} failures of its own (a model of its own needs {settings.min_failures} and two machines)"
                + ("" if shares else "; turn on model sharing to use the pooled model of this machine type")
            )
            results.append(result)
            log.info("%s %s: no failure model: %s", factory_id, machine_type, result.reason)
            continue
        winner = min(metrics, key=lambda r: metrics[r]["brier"] if metrics[r]["brier"] is not None else np.inf)
        champion = store.champion(KIND, machine_type)
        if champion is None:
            reason = f"first model: {winner} recipe, Brier {metrics[winner]['brier']}"
        elif champion["recipe"] == winner:
            reason = f"refresh of the champion's {winner} recipe on data to {until:%Y-%m-%d}"
        elif champion["recipe"] in metrics:
            reason = f"{winner} recipe beat the champion's {champion['recipe']} recipe on the same validation: Brier {metrics[winner]['brier']} against {metrics[champion['recipe']]['brier']}"
        else:
            reason = f"the champion's {champion['recipe']} recipe is no longer available or no longer beats the base rate; {winner} recipe validated at Brier {metrics[winner]['brier']}"
        frame = own if winner == "factory" else pl.concat([own, donors], how="diagonal_relaxed")
        time_verdict = time_model_verdict(metrics[winner])
        own_rows = np.arange(frame.height) < own.height if winner == "tuned" else None
        model = fit_model(frame, _template(machine_type, sensors, columns, horizon, hazard, winner, time_model=time_verdict["kept"]), own=own_rows)
        if time_verdict["kept"] and model.time_model is None:
            time_verdict = {"kept": False, "reason": "no failure was observed in the training rows to fit it on"}
        model_id = uuid.uuid4().hex[:12]
        card = model_card(
            model,
            training_summary(frame),
            metrics[winner],
            until=until,
            extra={
                "alternatives": {r: {k: m[k] for k in ("brier", "brier_baseline", "pr_auc", "pr_auc_naive")} for r, m in result.metrics.items()},
                "own_failures": result.own_failures,
                "time_to_failure": time_verdict,
                "note": RECIPE_NOTES[winner] if winner != "pooled" or result.own_failures else "pooled model: this factory has no failures of this type of its own",
            },
        )
        store.save(KIND, machine_type, model_id, model, card)
        # Whose rows it learned from, for the hub alone (the card only counts factories).
        store.write_private(KIND, machine_type, model_id, {"donors": donors_used if winner in SHARED_RECIPES else []})
        store.promote(KIND, machine_type, model_id, reason)
        result.status, result.recipe, result.model_id, result.reason = "promoted", winner, model_id, reason
        result.seconds = round(time.perf_counter() - started, 2)
        log.info("%s %s: %s", factory_id, machine_type, reason)
        results.append(result)
    return results
