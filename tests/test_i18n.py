"""The words the hub shows (analytics.i18n): column labels, and the English texts the library
writes into its records rendered in Korean.

1. hand-written Korean of a few texts (nesting, durations, the "(N samples)" wrapper);
2. every quarantine reason a real ingest writes, and every reason template of the validator,
   reads in Korean with no template word left in English;
3. the catalogue itself: the same placeholders in both languages, labels in both languages.
"""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl
import pytest

from analytics.i18n import COLUMN_LABELS, LANGUAGES, LIBRARY_TEXTS, column_labels, localize_text
from analytics.ingest import ImportMapping, ingest_file
from analytics.ingest.pipeline import reason_kind
from analytics.ingest.validate import REASONS
from analytics.store.reader import FactoryReader
from tests.conftest import NOW, untranslated_words


# --- 1. hand-written Korean ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("english", "korean"),
    [
        ("unknown sensor 'temp' of machine 'M-1'", "설비 'M-1'에 등록되지 않은 센서 'temp'"),
        ("outside valid range [-20.0, 200.0]", "유효 범위 [-20.0, 200.0] 밖"),
        (
            "values up to 215.5 °C above the physical max 150.0 °C (2 samples)",
            "물리적 최대값 150.0 °C를 넘는 값 (최고 215.5 °C) (샘플 2개)",
        ),
        ("quarantined at ingest: outside valid range [0.0, 10.0]", "수집 때 격리됨: 유효 범위 [0.0, 10.0] 밖"),
        (
            "no reading for 2 h 20 min (7 missed samples at 20 min) while the machine's other sensors reported",
            "2시간 20분 동안 측정값 없음 (20분 간격 샘플 7개 누락), 같은 설비의 다른 센서는 보고함",
        ),
        ("xgboost, pooled recipe", "XGBoost, 여러 공장 공동 모델"),
        ("xgboost, tuned recipe", "XGBoost, 공장 맞춤 공동 모델"),
        ("first model: tuned recipe, Brier 0.0071", "첫 모델: 공장 맞춤 공동 모델, Brier 0.0071"),
        ("pooled model fine-tuned on this factory's own rows", "여러 공장 공동 모델을 이 공장의 데이터로 추가 학습함"),
        ("first", "최초 학습"),
    ],
)
def test_known_texts_in_korean(english: str, korean: str) -> None:
    assert localize_text(english, "ko") == korean
    assert localize_text(english, "en") == english


def test_unknown_texts_and_missing_values_pass_through() -> None:
    assert localize_text("베어링 소음 후 정지", "ko") == "베어링 소음 후 정지"  # a factory's own words
    assert localize_text("file a.csv row 3: bad", "ko") == "file a.csv row 3: bad"
    assert localize_text(None, "ko") is None
    with pytest.raises(ValueError, match="language"):
        localize_text("first", "de")


# --- 2. what the library writes --------------------------------------------------------------------
READINGS = """machine_id,sensor,ts,value
CNC-01,spindle_temp,2026-01-01 09:00:00,20.5
CNC-01,spindle_temp,2026-01-01 09:00:01,21
CNC-01,spindle_temp,2026-01-01 09:00:01,22
CNC-99,spindle_temp,2026-01-01 09:00:01,1
,spindle_temp,2026-01-01 09:00:02,1
CNC-01,,2026-01-01 09:00:02,1
CNC-01,oil_level,2026-01-01 09:00:02,1
CNC-01,spindle_temp,xx,1
CNC-01,spindle_temp,,1
CNC-01,spindle_temp,2099-01-01 00:00:00,1
CNC-01,spindle_temp,2026-01-01 09:00:05,999
CNC-01,vibration_rms,2026-01-01 09:00:05,nan
CNC-01,vibration_rms,2026-01-01 09:00:06,abc
CNC-01,vibration_rms,2026-01-01 09:00:07,
"""
EVENTS = """machine_id,ts,kind,component,text
CNC-01,2026-01-03 14:00:00,failure,spindle bearing,noise
CNC-01,2026-01-03 14:00:00,failure,spindle bearing,a different text
CNC-01,2026-01-04 10:00:00,explosion,,
CNC-77,2026-01-04 10:00:00,alarm,,
"""


def test_every_quarantine_reason_of_an_ingest_reads_in_korean(acme, write_file) -> None:
    ingest_file(acme, "acme", write_file("readings.csv", READINGS), now=NOW)
    ingest_file(acme, "acme", write_file("events.csv", EVENTS), ImportMapping(table="events"), now=NOW)
    # the same event key again with another text: a conflict with what is stored
    ingest_file(acme, "acme", write_file("events2.csv", "machine_id,ts,kind,component,text\nCNC-01,2026-01-03 14:00:00,failure,spindle bearing,third\n"), ImportMapping(table="events"), now=NOW + timedelta(seconds=1))
    reasons = FactoryReader(acme, "acme").quarantine().collect().get_column("reason").unique().to_list()
    kinds = {re.sub(r"'[^']*'|\[.*\]|\d+", "", r) for r in reasons}
    assert len(kinds) >= 14, sorted(reasons)  # the file above trips that many different checks
    for reason in reasons:
        assert untranslated_words(reason, localize_text(reason, "ko")) == [], (reason, localize_text(reason, "ko"))
    # the same reasons counted by kind, as the daily report shows them
    by_kind = FactoryReader(acme, "acme").quarantine().select(reason_kind(pl.col("reason")).unique()).collect().to_series()
    assert by_kind.len() == len(kinds)
    for kind in by_kind:
        assert untranslated_words(kind, localize_text(kind, "ko")) == [], (kind, localize_text(kind, "ko"))


def test_every_reason_template_of_the_validator_reads_in_korean() -> None:
    sample = {"machine": "M-1", "sensor": "temp", "ts": "yesterday", "value": "abc", "min": "0.0", "max": "10.0"}
    for template, _ in REASONS.values():
        text = template.format(**sample)
        assert untranslated_words(text, localize_text(text, "ko")) == [], text


# --- 3. the catalogue ------------------------------------------------------------------------------
def test_library_texts_keep_every_placeholder() -> None:
    for english, korean in LIBRARY_TEXTS.items():
        assert sorted(re.findall(r"{(\w+)}", english)) == sorted(re.findall(r"{(\w+)}", korean)), english
        assert re.search("[가-힣0-9]", korean), english


def test_every_column_has_a_label_in_both_languages() -> None:
    for column, labels in COLUMN_LABELS.items():
        assert set(labels) == set(LANGUAGES) and all(labels[lang].strip() for lang in LANGUAGES), column
    assert column_labels(["machine_id", "reason"], "ko") == {"machine_id": "설비", "reason": "사유"}
    with pytest.raises(KeyError):
        column_labels(["no_such_column"], "en")
