"""``factoryhub score``: a day of anomaly scoring per factory, stored, idempotent, leak-free and
tenant-scoped, on the committed simulated sample (2 factories x 4 machines x 7 days)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.config import AnomalySettings
from analytics.demo import build_factory
from analytics.features import build_features
from analytics.models.anomaly.monitor import SCORE_SCHEMA
from analytics.models.anomaly.scoring import KIND, TABLES, day_bounds, read_faults, read_scores, score_day, score_store
from analytics.store.hub import Hub
from analytics.store.models import ModelStore

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "simulated"
FACTORY, OTHER = "hanbit-01", "daeyang-02"
# Seven days of data: a smaller reference than the production default, so models exist by day 3.
SETTINGS = AnomalySettings(min_rows=20, lookback_days=7, refit_days=3)
DAYS = [date(2026, 9, 1) + timedelta(days=i) for i in range(7)]


@pytest.fixture(scope="module")
def sample_hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample ingested with 1-hour features (built once; tests copy it)."""
    root = tmp_path_factory.mktemp("scoring") / "hub"
    hub = Hub.open(data_dir=root)
    for fid in (FACTORY, OTHER):
        build_factory(hub, SAMPLE / fid, now=datetime(2100, 1, 1, tzinfo=UTC))
        build_features(hub, fid, window="1h")
    return root


@pytest.fixture
def scored(sample_hub: Path, tmp_path: Path) -> Hub:
    """A copy of the sample hub with every day of FACTORY scored in order."""
    shutil.copytree(sample_hub, tmp_path / "hub")
    hub = Hub.open(data_dir=tmp_path / "hub")
    for day in DAYS:
        score_day(hub, FACTORY, day, SETTINGS)
    return hub


def test_days_are_scored_stored_and_explained(scored: Hub) -> None:
    scores = read_scores(scored, FACTORY, settings=SETTINGS).collect()
    assert dict(scores.schema) == SCORE_SCHEMA
    registered = {m.machine_id for m in scored.registry.machines(FACTORY)}
    assert len(set(scores.get_column("machine_id"))) >= 3 and set(scores.get_column("machine_id")) <= registered
    assert scores.height > 100
    for day in DAYS:
        start, end = day_bounds(day, "Asia/Seoul")
        part = read_scores(scored, FACTORY, day, day, settings=SETTINGS).collect()
        assert part.is_empty() or part.select((pl.col("window_start") >= start).all() & (pl.col("window_start") < end).all()).item()
    # Exceedances and alarms agree with the scores; an excluded window never alarms.
    assert (scores.get_column("above") == ((scores.get_column("score") > 1.0) & ~scores.get_column("excluded"))).all()
    assert not (scores.get_column("alarm") & ~scores.get_column("above")).any()
    # Every window above its threshold names the sensors behind it, their shares summing to at most 1.
    above = scores.filter(pl.col("above"))
    assert above.height > 0
    shares = above.select(pl.col("drivers").list.eval(pl.element().struct.field("share")).list.sum()).to_series()
    assert (shares > 0).all() and (shares <= 1.0 + 1e-9).all()
    # The sensor faults of each day are stored as data-quality events and their windows excluded.
    faults = read_faults(scored, FACTORY, settings=SETTINGS).collect()
    assert faults.height > 0 and scores.get_column("excluded").sum() > 0


def test_models_are_saved_with_cards(scored: Hub) -> None:
    cards = ModelStore(scored, FACTORY).cards(KIND)
    assert cards
    for card in cards:
        assert card["feature_set"] == "machine_health" and card["feature_version"] >= 1 and card["window"] == "1h"
        assert card["training_rows"] >= SETTINGS.min_rows
        assert datetime.fromisoformat(card["training_end"]) <= datetime.fromisoformat(card["fitted_until"])
        assert card["reason"] in {"first", "schedule", "drift", "features", "feedback"}
    # Each scored window names a model that exists and was fitted on data before the window.
    scores = read_scores(scored, FACTORY, settings=SETTINGS).collect()
    by_id = {c["model_id"]: c for c in cards}
    for model_id, first in scores.group_by("model_id").agg(pl.col("window_start").min()).iter_rows():
        assert datetime.fromisoformat(by_id[model_id]["fitted_until"]) <= first


def test_rerunning_a_day_is_idempotent_and_never_uses_later_models(scored: Hub) -> None:
    store = score_store(scored, FACTORY, SETTINGS.window)
    day = DAYS[4]
    before = store.read("scores", day, day).collect()
    cards_before = ModelStore(scored, FACTORY).cards(KIND)
    score_day(scored, FACTORY, day, SETTINGS)  # after later days were scored (and models refitted)
    after = store.read("scores", day, day).collect()
    assert_frame_equal(before.sort("machine_id", "window_start"), after.sort("machine_id", "window_start"))
    assert ModelStore(scored, FACTORY).cards(KIND) == cards_before  # nothing new fitted or saved
    current = store.current(day) or {}
    # The day's tables (scores, faults, change counts) and the switch file, nothing left over.
    assert sorted(p.name for p in store.folder(day).iterdir()) == sorted([*(current[t] for t in TABLES), "_current.json"])


def test_scores_are_tenant_scoped(scored: Hub) -> None:
    assert read_scores(scored, OTHER, settings=SETTINGS).collect().is_empty()
    assert not ModelStore(scored, OTHER).cards(KIND)
    store = score_store(scored, FACTORY, SETTINGS.window)
    assert store.base.is_relative_to(scored.lake.factory_root(FACTORY))
    with pytest.raises(ValueError):
        score_store(scored, "../" + FACTORY, SETTINGS.window)
    with pytest.raises(ValueError):
        ModelStore(scored, FACTORY).load(KIND, "CMP-01", "../../x")


def test_cli_score(sample_hub: Path, tmp_path: Path) -> None:
    shutil.copytree(sample_hub, tmp_path / "hub")
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT),
           "FACTORYHUB_ANOMALY__MIN_ROWS": "20", "FACTORYHUB_ANOMALY__LOOKBACK_DAYS": "7"}  # fmt: skip

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, cwd=tmp_path)

    proc = cli("score", "--factory", FACTORY, "--start", "2026-09-01", "--end", "2026-09-05")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["dates"][0] == "2026-09-01" and len(summary["dates"]) == 5 and summary["windows"] > 0
    assert "refits" in summary and "alarms" in summary
    stored = read_scores(Hub.open(data_dir=tmp_path / "hub"), FACTORY, settings=AnomalySettings(min_rows=20, lookback_days=7)).collect()
    assert stored.height == summary["windows"]
    bad = cli("score", "--factory", FACTORY, "--date", "2026-13-01")
    assert bad.returncode == 1 and "YYYY-MM-DD" in bad.stderr
    unknown = cli("score", "--factory", "nobody", "--date", "2026-09-01")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
