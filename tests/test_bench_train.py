"""The training benchmark on a tiny factory (4 machines x 30 days): the figures it reports, and
that the factory it trains is the one it says it cloned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analytics import bench
from analytics.models.failure import training
from analytics.store.hub import Hub


@pytest.mark.slow  # 30 s on 2 idle cores, minutes on busy ones: a template ingested file by file, then some 25 XGBoost fits
def test_bench_train_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bench's hub lives in a folder it removes on return: count the trained factory's
    # machines in the registry as training starts.
    machines_seen: list[int] = []
    real_train = training.train_factory

    def counting_train(hub: Hub, factory_id: str, **kwargs: Any) -> list[training.TrainResult]:
        machines_seen.append(len(hub.registry.machines(factory_id)))
        return real_train(hub, factory_id, **kwargs)

    monkeypatch.setattr(training, "train_factory", counting_train)
    figures = bench.bench_train(machines=4, days=30, workdir=tmp_path)
    assert machines_seen == [4]
    assert figures["machines"] == 4 and figures["days"] == 30
    assert figures["hourly_rows"] > 0 and figures["machine_types"] >= 1
    # The template's failure rate gives its CNCs enough failures for a model of their own to be
    # validated; whether it is promoted depends on beating the base rate, which a month may not.
    assert figures["failures"] >= 5 and figures["models_validated"] >= 1
    assert 0 <= figures["models_promoted"] <= figures["models_validated"]
    assert figures["seconds"] > 0 and figures["baseline_fit_s"] > 0 and figures["ratio"] > 0
    assert figures["target_s"] == 60
