"""NAB scorer (``analytics.evaluation.nab``): hand-computed cases and NAB's published results.

The dataset tests read ``shared/datasets/nab`` (NAB v1.1 ``realKnownCause`` subset, see its
``SOURCE.md``) beside the repository and are skipped when it is absent. They check that

* every per-file raw ``Score`` and ``TP/TN/FP/FN/Total_Count`` that NAB published for the five
  detectors whose per-row outputs are in ``results/`` (numenta, ARTime, knncad,
  windowedGaussian, null) is reproduced from ``anomaly_score`` and the published threshold, for
  all three profiles and all 7 files (NAB prints older scores with 12 significant digits, so
  the raw scores agree to ~5e-12, exactly where the table has full precision);
* the per-row ``S(t)_<profile>`` columns NAB wrote are reproduced as well;
* the normalised scores of ``SOURCE.md``'s "derived reference for this subset" follow from the
  published per-file raw scores, and NAB's ``final_results.json`` from the published totals.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics.evaluation import nab
from analytics.evaluation.nab import CostMatrix, ScorerVersion

NAB_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nab"

STANDARD = CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LEGACY, SWEEPER = ScorerVersion.LEGACY, ScorerVersion.SWEEPER
T0 = datetime(2014, 7, 1)


def _ts(n: int, step_min: int = 5) -> list[datetime]:
    return [T0 + timedelta(minutes=step_min * i) for i in range(n)]


def _window(ts: list[datetime], first: int, last: int) -> tuple[datetime, datetime]:
    return (ts[first], ts[last])


def _detections(n: int, rows: list[int]) -> np.ndarray:
    det = np.zeros(n, dtype=bool)
    det[rows] = True
    return det


# --------------------------------------------------------------------------------------------
# Hand-computed cases (no data needed). sigma(x) = 2/(1+exp(5x)) - 1 = -tanh(2.5 x).


def test_scaled_sigmoid_values() -> None:
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.9866142981514303, abs=1e-15)  # tanh(2.5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.8482836399575129, abs=1e-15)  # tanh(1.25)
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.9866142981514303, abs=1e-15)
    # Clamped to -1 only strictly beyond 3 (NAB: `if relativePositionInWindow > 3.0`).
    assert nab.scaled_sigmoid(3.0) == pytest.approx(-math.tanh(7.5), abs=1e-15)
    assert nab.scaled_sigmoid(3.0) != -1.0
    assert nab.scaled_sigmoid(3.0 + 1e-9) == -1.0
    assert nab.scaled_sigmoid(40.0) == -1.0
    xs = np.array([-1.0, -0.5, 0.0, 0.25, 1.0, 3.0, 3.5])
    expected = np.array([nab.scaled_sigmoid(float(x)) for x in xs])
    np.testing.assert_allclose(nab.scaled_sigmoid_array(xs), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("n", "rows"),
    [(0, 0), (6, 0), (10, 1), (100, 15), (1882, 282), (4032, 604), (4999, 749), (5000, 750), (5001, 750), (22695, 750)],
)
def test_probationary_rows(n: int, rows: int) -> None:
    """min(floor(0.15 n), 0.15 * 5000): 0.15 * 1882 = 282.3 -> 282; capped at 750."""
    assert nab.probationary_rows(n) == rows


def test_probationary_rows_are_not_scored() -> None:
    ts = _ts(100)  # 15 probationary rows (0..14)
    windows = [_window(ts, 60, 69)]
    inside_probation = nab.score_file(ts, _detections(100, [14]), windows, STANDARD)
    assert (inside_probation.raw, inside_probation.fp, inside_probation.tn, inside_probation.fn) == (-1.0, 0, 75, 10)
    first_scored = nab.score_file(ts, _detections(100, [15]), windows, STANDARD)
    assert first_scored.fp == 1 and first_scored.raw == pytest.approx(-1.0 - 0.11, abs=1e-15)
    # A detection in a window straddling the probation only counts from row 15 on.
    straddling = [_window(ts, 10, 19)]
    early = nab.score_file(ts, _detections(100, [12]), straddling, STANDARD)
    assert (early.raw, early.tp, early.fn) == (-1.0, 0, 5)
    late = nab.score_file(ts, _detections(100, [12, 16]), straddling, STANDARD)
    # position -(19 - 16 + 1) / 10 = -0.4 (L = 10 rows, probationary rows included)
    assert late.raw == pytest.approx(math.tanh(1.0) / math.tanh(2.5), abs=1e-15)
    assert (late.tp, late.fn) == (1, 4)


def test_first_detection_only_and_its_position() -> None:
    n, ts = 100, _ts(100)
    windows = [_window(ts, 40, 49)]  # L = 10

    def raw(rows: list[int]) -> float:
        return nab.score_file(ts, _detections(n, rows), windows, STANDARD, probation_percent=0.0).raw

    # first detection at row 42: position -(49 - 42 + 1) / 10 = -0.8 -> tanh(2.0) / tanh(2.5)
    expected = math.tanh(2.0) / math.tanh(2.5)
    assert raw([42]) == pytest.approx(expected, abs=1e-15)
    assert raw([42, 45, 47]) == pytest.approx(expected, abs=1e-15)  # later detections add nothing
    assert raw([40]) == pytest.approx(1.0, abs=1e-15)  # window start: exactly A_TP
    assert raw([49]) == pytest.approx(math.tanh(0.25) / math.tanh(2.5), abs=1e-15)  # position -0.1
    fs = nab.score_file(ts, _detections(n, [42, 45, 47]), windows, STANDARD, probation_percent=0.0)
    assert (fs.tp, fs.fn, fs.fp, fs.tn, fs.detected_windows) == (3, 7, 0, 90, 1)
    # NAB v1.0's S(t) puts the window's credit on the window's first row, not the detection's.
    assert fs.row_scores[40] == pytest.approx(expected, abs=1e-15)
    assert np.count_nonzero(fs.row_scores) == 1


@pytest.mark.parametrize(
    ("row", "penalty"),
    [
        (10, -0.11),  # before any window: -A_FP
        (52, -0.11 * math.tanh(2.5 / 3)),  # 3 rows past the end: position 3 / (L - 1) = 1/3
        (58, -0.11 * math.tanh(2.5)),  # 9 rows past: position 1
        (76, -0.11 * math.tanh(7.5)),  # 27 rows past: position exactly 3, not clamped
        (77, -0.11),  # beyond 3: -A_FP
    ],
)
def test_false_positive_weighting(row: int, penalty: float) -> None:
    n, ts = 100, _ts(100)
    windows = [_window(ts, 40, 49)]  # L - 1 = 9
    for version in ScorerVersion:
        fs = nab.score_file(ts, _detections(n, [row]), windows, STANDARD, probation_percent=0.0, version=version)
        assert fs.fp == 1
        assert fs.fp_score == pytest.approx(penalty, abs=1e-15)
        assert fs.raw == pytest.approx(penalty - 1.0, abs=1e-15)  # plus the missed window (-A_FN)
        assert fs.row_scores[row] == pytest.approx(penalty, abs=1e-15)


def test_false_positive_uses_closest_preceding_window_and_missed_windows_cost_fn() -> None:
    n, ts = 200, _ts(200)
    windows = [_window(ts, 40, 49), _window(ts, 100, 104)]  # L - 1 = 9 and 4
    profile = CostMatrix(tp_weight=1.0, fp_weight=0.5, fn_weight=2.0)
    fs = nab.score_file(ts, _detections(n, [60, 106]), windows, profile, probation_percent=0.0)
    fp60 = -0.5 * math.tanh(2.5 * 11 / 9)  # 11 rows past window 1
    fp106 = -0.5 * math.tanh(2.5 * 2 / 4)  # 2 rows past window 2
    assert fs.raw == pytest.approx(fp60 + fp106 - 2 * 2.0, abs=1e-14)
    assert (fs.windows, fs.detected_windows, fs.fn_score) == (2, 0, -4.0)


def test_threshold_is_inclusive_and_binary_detections() -> None:
    n, ts = 100, _ts(100)
    windows = [_window(ts, 40, 49)]
    scores = np.zeros(n)
    scores[40] = 0.7
    assert nab.score_file(ts, scores, windows, STANDARD, threshold=0.7, probation_percent=0.0).raw == pytest.approx(1.0)
    assert nab.score_file(ts, scores, windows, STANDARD, threshold=0.7000001, probation_percent=0.0).raw == -1.0
    binary = (scores > 0).astype(int)
    assert nab.score_file(ts, binary, windows, STANDARD, probation_percent=0.0).raw == pytest.approx(1.0)
    with pytest.raises(ValueError, match="binary"):
        nab.score_file(ts, scores, windows, STANDARD)
    nan_scores = np.full(n, np.nan)
    assert nab.score_file(ts, nan_scores, windows, STANDARD, threshold=0.0, probation_percent=0.0).fp == 0


def test_versions_differ_on_probationary_windows_and_total_count() -> None:
    n, ts = 100, _ts(100)  # 15 probationary rows
    windows = [_window(ts, 2, 5), _window(ts, 60, 69)]
    det = _detections(n, [60])
    legacy = nab.score_file(ts, det, windows, STANDARD, version=LEGACY)
    sweeper = nab.score_file(ts, det, windows, STANDARD, version=SWEEPER)
    assert (legacy.raw, legacy.windows, legacy.total_count) == (pytest.approx(0.0, abs=1e-15), 2, 100)
    assert (sweeper.raw, sweeper.windows, sweeper.total_count) == (pytest.approx(1.0, abs=1e-15), 1, 85)
    assert nab.null_score(ts, windows, STANDARD, version=LEGACY) == -2.0
    assert nab.null_score(ts, windows, STANDARD, version=SWEEPER) == -1.0


def test_window_membership_is_by_timestamp() -> None:
    n, ts = 100, _ts(100)
    off_grid = [(ts[40] - timedelta(minutes=2), ts[49] + timedelta(minutes=2))]
    fs = nab.score_file(ts, _detections(n, [39, 40]), off_grid, STANDARD, probation_percent=0.0, version=LEGACY)
    assert (fs.tp, fs.fp) == (1, 1) and fs.tp_score == pytest.approx(1.0)
    with pytest.raises(ValueError, match="limits"):  # NAB's sweeper needs limits on existing rows
        nab.score_file(ts, _detections(n, [40]), off_grid, STANDARD, version=SWEEPER)
    with pytest.raises(ValueError, match="at least 2"):
        nab.score_file(ts, _detections(n, [40]), [_window(ts, 40, 40)], STANDARD)
    with pytest.raises(ValueError, match="overlap"):
        nab.score_file(ts, _detections(n, [40]), [_window(ts, 40, 49), _window(ts, 45, 60)], STANDARD)


def test_normalise() -> None:
    assert nab.normalise(-2.0, -2.0, 2.0) == 0.0
    assert nab.normalise(0.0, -2.0, 2.0) == 50.0
    assert nab.normalise(2.0, -2.0, 2.0) == 100.0
    # SOURCE.md's check: numenta standard, 58 files, 116 windows.
    assert nab.normalise(46.6344501971, -116.0, 116.0) == pytest.approx(70.10105611943965, abs=1e-8)


def _synthetic_corpus(seed: int) -> tuple[dict[str, pl.DataFrame], dict[str, list[tuple[datetime, datetime]]]]:
    rng = np.random.default_rng(seed)
    results, windows = {}, {}
    for k, (n, wins) in enumerate([(300, [(100, 119), (200, 229)]), (250, [(150, 169)])]):
        ts = _ts(n)
        scores = np.round(rng.random(n) ** 3, 2)  # many ties
        for a, b in wins:
            scores[a + rng.integers(0, b - a)] = 0.99
        results[f"f{k}.csv"] = pl.DataFrame({"timestamp": ts, "anomaly_score": scores})
        windows[f"f{k}.csv"] = [_window(ts, a, b) for a, b in wins]
    return results, windows


@pytest.mark.parametrize("version", list(ScorerVersion))
def test_threshold_curve_matches_direct_scoring(version: ScorerVersion) -> None:
    results, windows = _synthetic_corpus(0)
    curve = nab.threshold_curve(results, windows, STANDARD, version=version)
    assert curve["threshold"][0] == nab.NO_DETECTION_THRESHOLD
    assert curve["score"][0] == -3.0
    assert curve["threshold"].is_sorted(descending=True)
    for row in curve.iter_rows(named=True):
        direct = nab.score_corpus(results, windows, STANDARD, row["threshold"], version=version)
        assert row["score"] == pytest.approx(direct.raw, abs=1e-12)
        assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (direct.tp, direct.fp, direct.fn, direct.tn)
    best = nab.optimise_threshold(results, windows, STANDARD, version=version)
    assert best.score == pytest.approx(curve["score"].max(), abs=0)
    chosen = nab.score_corpus(results, windows, STANDARD, version=version)  # threshold optimised
    assert chosen.threshold == best.threshold and chosen.raw == pytest.approx(best.score, abs=1e-12)


def test_optimiser_ties_go_to_highest_threshold() -> None:
    ts = _ts(100)
    scores = np.zeros(100)
    scores[[40, 45]] = [0.9, 0.8]  # the 0.8 detection comes later in the same window: no gain
    results = {"f.csv": pl.DataFrame({"timestamp": ts, "anomaly_score": scores})}
    windows = {"f.csv": [_window(ts, 40, 49)]}
    best = nab.optimise_threshold(results, windows, STANDARD, probation_percent=0.0)
    assert (best.threshold, best.score, best.tp) == (0.9, pytest.approx(1.0, abs=1e-15), 1)


# --------------------------------------------------------------------------------------------
# NAB's published results (shared/datasets/nab)

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
DETECTOR_VERSIONS = {  # detectors with per-row outputs in results/<detector>/realKnownCause/
    "numenta": LEGACY,
    "ARTime": SWEEPER,
    "knncad": LEGACY,
    "windowedGaussian": LEGACY,
    "null": LEGACY,
}
# SOURCE.md, "Derived reference for this subset only": standard, reward_low_FP, reward_low_FN.
SUBSET_REFERENCE = {
    "ARTime": (63.9, 52.2, 70.7),
    "numenta": (55.5, 49.3, 61.5),
    "htmjava": (52.2, 40.1, 59.4),
    "relativeEntropy": (49.9, 39.3, 56.1),
    "numentaTM": (49.0, 32.6, 55.5),
    "knncad": (45.2, 27.9, 54.7),
    "randomCutForest": (43.1, 16.0, 47.8),
    "contextOSE": (41.8, 38.0, 49.4),
    "earthgeckoSkyline": (32.9, 27.7, 36.0),
    "twitterADVec": (26.7, 21.5, 30.1),
    "expose": (13.5, 5.1, 21.8),
    "windowedGaussian": (13.4, 9.9, 15.9),
    "skyline": (10.1, 6.8, 12.0),
    "bayesChangePt": (-1.2, -38.7, 22.9),
    "null": (0.0, 0.0, 0.0),
}


@pytest.fixture(scope="module")
def nab_dir() -> Path:
    if not (NAB_DIR / "SOURCE.md").is_file():
        pytest.skip(f"NAB dataset not found at {NAB_DIR} (CI clones shared/ beside the repo)")
    return NAB_DIR


@cache
def _windows(root: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    return nab.load_windows(root / "labels" / "combined_windows.json")


@cache
def _profiles(root: Path) -> dict[str, CostMatrix]:
    return nab.load_profiles(root / "config" / "profiles.json")


@cache
def _outputs(root: Path, detector: str) -> dict[str, pl.DataFrame]:
    folder = root / "results" / detector / "realKnownCause"
    prefix = f"{detector}_"
    return {f"realKnownCause/{p.name[len(prefix):]}": nab.load_detector_output(p) for p in sorted(folder.glob(f"{prefix}*.csv"))}


@cache
def _table(root: Path, detector: str, profile: str) -> pl.DataFrame:
    return pl.read_csv(root / "results" / detector / f"{detector}_{profile}_scores.csv", infer_schema_length=None)


def _subset_rows(table: pl.DataFrame) -> pl.DataFrame:
    return table.filter(pl.col("File").str.starts_with("realKnownCause/"))


def test_dataset_layout(nab_dir: Path) -> None:
    windows = _windows(nab_dir)
    subset = {k: v for k, v in windows.items() if k.startswith("realKnownCause/")}
    assert len(subset) == 7 and sum(len(v) for v in subset.values()) == 19
    assert _profiles(nab_dir) == nab.NAB_PROFILES
    for detector in DETECTOR_VERSIONS:
        assert sorted(_outputs(nab_dir, detector)) == sorted(subset)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("detector", list(DETECTOR_VERSIONS))
def test_published_per_file_scores_and_counts(nab_dir: Path, detector: str, profile: str) -> None:
    """Score, TP, TN, FP, FN and Total_Count of every realKnownCause file, as NAB published."""
    version = DETECTOR_VERSIONS[detector]
    other = SWEEPER if version is LEGACY else LEGACY
    windows, cost = _windows(nab_dir), _profiles(nab_dir)[profile]
    thresholds = nab.load_thresholds(nab_dir / "config" / "thresholds.json")
    rows = _subset_rows(_table(nab_dir, detector, profile))
    assert rows.height == 7
    for row in rows.iter_rows(named=True):
        out = _outputs(nab_dir, detector)[row["File"]]
        fs = nab.score_file(out["timestamp"], out["anomaly_score"], windows[row["File"]], cost, row["Threshold"], version=version)
        assert fs.raw == pytest.approx(row["Score"], abs=1e-9), row["File"]  # tables print 12 digits
        assert (fs.tp, fs.tn, fs.fp, fs.fn, fs.total_count) == (row["TP"], row["TN"], row["FP"], row["FN"], row["Total_Count"])
        # thresholds.json's unrounded threshold (null: 0.625 vs 0.6) gives the same result.
        same = nab.score_file(out["timestamp"], out["anomaly_score"], windows[row["File"]], cost, thresholds[detector][profile], version=version)
        assert same.raw == fs.raw and same.tp == fs.tp and same.fp == fs.fp
        # On these files the two NAB versions differ only in Total_Count (no window lies in a
        # probationary period and no window's rows are out of order).
        alt = nab.score_file(out["timestamp"], out["anomaly_score"], windows[row["File"]], cost, row["Threshold"], version=other)
        assert alt.raw == pytest.approx(fs.raw, abs=1e-12)
        assert (alt.tp, alt.tn, alt.fp, alt.fn) == (fs.tp, fs.tn, fs.fp, fs.fn)


@pytest.mark.parametrize("detector", list(DETECTOR_VERSIONS))
def test_published_row_scores(nab_dir: Path, detector: str) -> None:
    """NAB's S(t)_<profile> columns: per-row contributions (v1.0) or per-row sweep scores (ARTime)."""
    windows, profiles = _windows(nab_dir), _profiles(nab_dir)
    for profile in PROFILES:
        threshold = _table(nab_dir, detector, profile)["Threshold"][0]
        for name, out in _outputs(nab_dir, detector).items():
            published = out[f"S(t)_{profile}"].to_numpy()
            if DETECTOR_VERSIONS[detector] is LEGACY:
                ours = nab.score_file(out["timestamp"], out["anomaly_score"], windows[name], profiles[profile], threshold, version=LEGACY).row_scores
            else:
                ours = nab.sweep_scores(out["timestamp"], windows[name], profiles[profile], version=SWEEPER)
            np.testing.assert_allclose(ours, published, rtol=0, atol=1e-9, err_msg=f"{detector} {profile} {name}")


@pytest.mark.parametrize("detector", list(SUBSET_REFERENCE))
def test_subset_reference_from_published_raw_scores(nab_dir: Path, detector: str) -> None:
    """SOURCE.md's derived realKnownCause normalised scores, from NAB's per-file raw scores."""
    windows, profiles = _windows(nab_dir), _profiles(nab_dir)
    n_windows = sum(len(v) for k, v in windows.items() if k.startswith("realKnownCause/"))
    for profile, expected in zip(PROFILES, SUBSET_REFERENCE[detector], strict=True):
        raw = _subset_rows(_table(nab_dir, detector, profile))["Score"].sum()
        null = _subset_rows(_table(nab_dir, "null", profile))["Score"].sum()
        assert null == -n_windows * profiles[profile].fn_weight
        score = nab.normalise(raw, null, n_windows * profiles[profile].tp_weight)
        assert round(score, 1) == expected, (detector, profile, score)


@pytest.mark.parametrize("detector", [d for d in DETECTOR_VERSIONS if d != "null"])
def test_subset_reference_from_our_scores(nab_dir: Path, detector: str) -> None:
    """The same reference numbers, from this scorer run on the per-row outputs."""
    windows, profiles = _windows(nab_dir), _profiles(nab_dir)
    for profile, expected in zip(PROFILES, SUBSET_REFERENCE[detector], strict=True):
        threshold = _table(nab_dir, detector, profile)["Threshold"][0]
        corpus = nab.score_corpus(_outputs(nab_dir, detector), windows, profiles[profile], threshold, version=DETECTOR_VERSIONS[detector])
        assert corpus.perfect == 19.0 and corpus.null == -19.0 * profiles[profile].fn_weight
        assert round(corpus.normalised, 1) == expected
        published_raw = _subset_rows(_table(nab_dir, detector, profile))["Score"].sum()
        assert corpus.raw == pytest.approx(published_raw, abs=1e-9)


def test_full_corpus_normalisation_reproduces_final_results(nab_dir: Path) -> None:
    """NAB's final_results.json from the published Totals (58 files, 116 windows).

    ``random`` is left out: its score tables hold only 32 of the 58 files, while
    final_results.json reports a full-corpus run.
    """
    final = json.loads((nab_dir / "results" / "final_results.json").read_text())
    n_windows = sum(len(v) for v in _windows(nab_dir).values())
    assert n_windows == 116
    profiles = _profiles(nab_dir)
    checked = 0
    for detector, by_profile in final.items():
        if detector == "random":
            assert _table(nab_dir, detector, "standard").height - 1 == 32
            continue
        for profile, expected in by_profile.items():
            totals = _table(nab_dir, detector, profile).filter(pl.col("Detector") == "Totals")
            null = _table(nab_dir, "null", profile).filter(pl.col("Detector") == "Totals")["Score"][0]
            score = nab.normalise(totals["Score"][0], null, n_windows * profiles[profile].tp_weight)
            assert score == pytest.approx(expected, abs=1e-7), (detector, profile)
            checked += 1
    assert checked == 3 * (len(final) - 1)


@pytest.mark.parametrize("detector", ["ARTime", "numenta"])
def test_optimiser_on_subset(nab_dir: Path, detector: str) -> None:
    """The sweep finds the best threshold for these 7 files: at least as good as NAB's
    full-corpus threshold, and its curve agrees with direct scoring at that threshold."""
    windows, profiles = _windows(nab_dir), _profiles(nab_dir)
    version = DETECTOR_VERSIONS[detector]
    outputs = _outputs(nab_dir, detector)
    for profile in PROFILES:
        threshold = _table(nab_dir, detector, profile)["Threshold"][0]
        published = nab.score_corpus(outputs, windows, profiles[profile], threshold, version=version)
        curve = nab.threshold_curve(outputs, windows, profiles[profile], version=version)
        at = curve.filter(pl.col("threshold") >= threshold).row(-1, named=True)
        assert at["score"] == pytest.approx(published.raw, abs=1e-9)
        assert (at["tp"], at["fp"], at["fn"], at["tn"]) == (published.tp, published.fp, published.fn, published.tn)
        best = nab.optimise_threshold(outputs, windows, profiles[profile], version=version)
        assert best.score >= published.raw - 1e-12
        tuned = nab.score_corpus(outputs, windows, profiles[profile], best.threshold, version=version)
        assert tuned.raw == pytest.approx(best.score, abs=1e-9)
