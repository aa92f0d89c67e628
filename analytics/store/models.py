"""Fitted models of one factory, each saved with its card.

Layout: ``factories/<id>/models/<kind>/<machine>/<model_id>.joblib`` and ``<model_id>.json`` (the
card: training range, rows, feature set and version, parameters, why it was fitted). The model
file is written first and the card last, each appearing whole or not at all (a temporary file
renamed into place on a local disk, one PUT on an object store:
:func:`~analytics.store.storage.write_bytes_atomic`), so a card always names a complete model; a
crash leaves at most an orphaned model file that no card points to.

Failure models are kept per machine type (the ``machine`` key is the type) and have a
*champion*: ``champion.json`` beside them names the model in use, and changes only by
:meth:`ModelStore.promote`, after the training run compared the challenger with the champion's
recipe on the same validation (:mod:`analytics.models.failure.training`), or is withdrawn by
:meth:`ModelStore.retire`. Pooled models, trained
on every factory that allows it, live in the same layout under ``<storage>/pooled/models/``: a
pooled store holds models and their aggregate figures only, never a factory's data.

Models are written and read only by the hub itself (joblib is pickle: never load
a model file from elsewhere).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import joblib
from upath import UPath

from analytics.schemas import validate_factory_id, validate_machine_id
from analytics.store.hub import Hub
from analytics.store.storage import write_bytes_atomic, write_text_atomic

KINDS = ("anomaly", "failure")
POOLED = "pooled"
"""The owner named on a pooled model's card (not a factory id: factory ids have no such form)."""
PRIVATE_SUFFIX = ".private.json"
"""Notes the hub keeps beside models for itself (:meth:`ModelStore.write_private`), not cards."""


class ModelStore:
    """Save, list and load one factory's models; paths come from validated identifiers only."""

    def __init__(self, hub: Hub, factory_id: str) -> None:
        self.factory_id = validate_factory_id(factory_id)
        hub.registry.factory(self.factory_id)  # must be registered
        self.root = hub.lake.factory_root(self.factory_id) / "models"

    @classmethod
    def pooled(cls, hub: Hub) -> ModelStore:
        """The hub's store of pooled (cross-factory) models."""
        store = cls.__new__(cls)
        store.factory_id = POOLED
        store.root = hub.lake.root / POOLED / "models"
        return store

    def _dir(self, kind: str, machine_id: str) -> UPath:
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; have {', '.join(KINDS)}")
        return self.root / kind / validate_machine_id(machine_id)

    def save(self, kind: str, machine_id: str, model_id: str, model: Any, card: dict[str, Any]) -> UPath:
        """Store ``model`` under ``model_id`` with its ``card``; returns the card's path."""
        if not model_id.isalnum():
            raise ValueError(f"model id must be alphanumeric, got {model_id!r}")
        folder = self._dir(kind, machine_id)
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        write_bytes_atomic(folder / f"{model_id}.joblib", buffer.getvalue())
        card = {**card, "model_id": model_id, "kind": kind, "machine_id": machine_id, "factory_id": self.factory_id}
        write_text_atomic(folder / f"{model_id}.json", json.dumps(card, default=str, indent=1))
        return folder / f"{model_id}.json"

    def latest_card(self, kind: str, machine_id: str, *, until: datetime | None = None) -> dict[str, Any] | None:
        """The card of the newest model fitted on data up to ``until`` (all, if None), so re-running
        a past day never uses a model that saw later data."""
        cards = self.cards(kind, machine_id)
        if until is not None:
            cards = [c for c in cards if datetime.fromisoformat(c["fitted_until"]) <= until]
        return cards[-1] if cards else None

    def load(self, kind: str, machine_id: str, model_id: str) -> Any:
        if not model_id.isalnum():
            raise ValueError(f"model id must be alphanumeric, got {model_id!r}")
        with (self._dir(kind, machine_id) / f"{model_id}.joblib").open("rb") as handle:
            return joblib.load(handle)

    # --- champion ----------------------------------------------------------------------------
    def _pointer(self, kind: str, machine_id: str) -> dict[str, Any] | None:
        path = self._dir(kind, machine_id) / "champion.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def champion(self, kind: str, machine_id: str) -> dict[str, Any] | None:
        """The card of the model in use for ``(kind, machine)``, or None before any promotion and
        after :meth:`retire`."""
        pointer = self._pointer(kind, machine_id)
        if pointer is None or pointer["model_id"] is None:
            return None
        card_path = self._dir(kind, machine_id) / f"{pointer['model_id']}.json"
        return {**json.loads(card_path.read_text(encoding="utf-8")), "promoted_at": pointer["promoted_at"], "promotion": pointer["reason"]}

    def promote(self, kind: str, machine_id: str, model_id: str, reason: str) -> None:
        """Make a stored model the champion (atomically; the previous pointer is kept in the
        history so the dashboards can show when and why the model changed)."""
        folder = self._dir(kind, machine_id)
        if not (folder / f"{model_id}.json").is_file():
            raise ValueError(f"no stored {kind} model {model_id!r} for {machine_id}")
        self._point(kind, machine_id, model_id, reason)

    def retire(self, kind: str, machine_id: str, reason: str) -> None:
        """Stop using any model of ``(kind, machine)``: no champion, and :meth:`retired` says so
        (the stored models stay, for the record), until a new model is promoted."""
        self._point(kind, machine_id, None, reason)

    def retired(self, kind: str, machine_id: str) -> bool:
        pointer = self._pointer(kind, machine_id)
        return pointer is not None and pointer["model_id"] is None

    def _point(self, kind: str, machine_id: str, model_id: str | None, reason: str) -> None:
        """Write the champion pointer (atomically), the previous one kept in its history."""
        folder = self._dir(kind, machine_id)
        folder.mkdir(parents=True, exist_ok=True)
        old = self._pointer(kind, machine_id)
        history = [*old.get("history", []), {k: old[k] for k in ("model_id", "promoted_at", "reason")}][-50:] if old else []
        pointer = {"model_id": model_id, "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"), "reason": reason, "history": history}
        write_text_atomic(folder / "champion.json", json.dumps(pointer, indent=1))

    # --- the hub's own notes beside the models (never on a card, which tenants see) ----------
    def write_private(self, kind: str, machine_id: str, name: str, content: dict[str, Any]) -> None:
        """Store a note only the hub reads (e.g. which factories a pooled model learned from)."""
        if not name.isalnum():
            raise ValueError(f"note name must be alphanumeric, got {name!r}")
        folder = self._dir(kind, machine_id)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / f"{name}{PRIVATE_SUFFIX}", json.dumps(content, default=str))

    def read_private(self, kind: str, machine_id: str, name: str) -> dict[str, Any] | None:
        if not name.isalnum():
            raise ValueError(f"note name must be alphanumeric, got {name!r}")
        path = self._dir(kind, machine_id) / f"{name}{PRIVATE_SUFFIX}"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def machine_ids(self, kind: str) -> list[str]:
        """Machines (machine types, for failure models) with stored models or a pointer."""
        base = self.root / kind
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def cards(self, kind: str, machine_id: str | None = None) -> list[dict[str, Any]]:
        """Cards of the stored models (one machine's, or every machine's), oldest fit first."""
        base = self.root / kind
        folders = [self._dir(kind, machine_id)] if machine_id else (sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else [])
        cards = []
        for folder in folders:
            for path in folder.glob("*.json") if folder.is_dir() else []:
                if path.name != "champion.json" and not path.name.endswith(PRIVATE_SUFFIX):
                    cards.append(json.loads(path.read_text(encoding="utf-8")))
        return sorted(cards, key=lambda c: (c.get("fitted_until", ""), c.get("fitted_at", "")))
