"""A maintained knowledge base of recommended actions, and the matcher that picks its rules.

The knowledge base (``knowledge_base.yaml`` beside this module) holds one rule per machine type x
failure mode x symptom pattern: the sensors that move and in which direction, the likely cause,
what a technician should check or replace, how urgent it is and how long the repair usually takes,
in Korean and English. It is data, not code, so maintenance engineers can extend it; loading it
validates every entry strictly, because a typo in a sensor direction or an urgency would silently
change the advice given to a plant manager.

:func:`match` compares the sensor deviations the anomaly detector or the failure-risk model
observed (:class:`Evidence`) with the rules for a machine type. It only ever returns rules whose
required symptoms were all observed; when nothing matches it returns an empty list and the caller
must say so and show the evidence instead of inventing a cause.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, field_validator, model_validator

from analytics.errors import InputFileError
from analytics.schemas import SENSOR_NAME_PATTERN

log = logging.getLogger(__name__)

Direction = Literal["up", "down"]
Urgency = Literal["immediate", "within_24h", "within_week", "next_planned_stop"]
Language = Literal["ko", "en"]

ANY_MACHINE = "any"
UNKNOWN_MODE = "unknown"  # the failure mode of a finding no rule explains
DEFAULT_PATH_NAME = "knowledge_base.yaml"

# Urgencies from most to least pressing, so callers can sort or escalate.
URGENCIES: tuple[Urgency, ...] = ("immediate", "within_24h", "within_week", "next_planned_stop")
URGENCY_LABELS: dict[Language, dict[Urgency, str]] = {
    "ko": {
        "immediate": "즉시 조치",
        "within_24h": "24시간 이내 조치",
        "within_week": "1주일 이내 조치",
        "next_planned_stop": "다음 계획 정지 시 조치",
    },
    "en": {
        "immediate": "act immediately",
        "within_24h": "act within 24 hours",
        "within_week": "act within a week",
        "next_planned_stop": "act at the next planned stop",
    },
}
# Names of the failure modes the shipped rules use (the simulator's four and the generic ones);
# a mode a maintainer adds without a label is shown by its identifier.
FAILURE_MODE_LABELS: dict[Language, dict[str, str]] = {
    "ko": {
        "bearing_wear": "베어링 마모",
        "overheating": "과열 (냉각 불량)",
        "clogging": "막힘",
        "tool_wear": "공구 마모",
        "mechanical_fault": "기계적 이상 (불평형·정렬 불량·풀림)",
        "lubrication": "윤활 불량",
        "overload": "과부하",
    },
    "en": {
        "bearing_wear": "bearing wear",
        "overheating": "overheating (loss of cooling)",
        "clogging": "clogging",
        "tool_wear": "tool wear",
        "mechanical_fault": "mechanical fault (imbalance, misalignment, looseness)",
        "lubrication": "lubrication problem",
        "overload": "overload",
    },
}
DIRECTION_LABELS: dict[Language, dict[Direction, str]] = {
    "ko": {"up": "상승", "down": "하강"},
    "en": {"up": "rising", "down": "falling"},
}

# Each symptom observed in the opposite direction costs this share of a symptom: a rule whose
# optional symptoms are contradicted is less likely than one whose optional symptoms are merely
# unobserved (a sensor may be missing or slow), but one contradiction should not outweigh
# two agreeing symptoms.
CONTRADICTION_PENALTY = 0.5

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class KnowledgeBaseError(InputFileError):
    """A knowledge-base file that cannot be read or does not validate; names file, entry, field."""


class Symptom(BaseModel):
    """One sensor of a rule and the direction it moves in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: str
    direction: Direction
    # Required symptoms must all be observed for the rule to match; optional ones raise its score.
    required: bool = True

    @field_validator("sensor")
    @classmethod
    def _sensor_name(cls, value: str) -> str:
        if not SENSOR_NAME_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a valid sensor name")
        return value


class Rule(BaseModel):
    """One entry of the knowledge base: a symptom pattern and what to do about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    machine_type: str
    failure_mode: str
    symptoms: tuple[Symptom, ...] = Field(min_length=1)
    cause_ko: Text
    cause_en: Text
    action_ko: Text
    action_en: Text
    urgency: Urgency
    typical_downtime_hours: tuple[float, float]
    references: Text

    @field_validator("id", "machine_type", "failure_mode")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} must be lower case letters, digits and _ (starting with a letter)")
        return value

    @field_validator("symptoms")
    @classmethod
    def _symptoms(cls, value: tuple[Symptom, ...]) -> tuple[Symptom, ...]:
        sensors = [s.sensor for s in value]
        if dupes := sorted({s for s in sensors if sensors.count(s) > 1}):
            raise ValueError(f"sensor listed more than once: {', '.join(dupes)}")
        # A rule without a required symptom would match any evidence at all.
        if not any(s.required for s in value):
            raise ValueError("at least one symptom must be required")
        return value

    @field_validator("typical_downtime_hours")
    @classmethod
    def _downtime(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0:
            raise ValueError(f"downtime hours must be finite and non-negative, got [{lo}, {hi}]")
        if lo > hi:
            raise ValueError(f"min {lo:g} is greater than max {hi:g}")
        return value

    @property
    def is_generic(self) -> bool:
        return self.machine_type == ANY_MACHINE

    def applies_to(self, machine_type: str) -> bool:
        return self.is_generic or self.machine_type == machine_type

    def cause(self, language: Language) -> str:
        return self.cause_ko if language == "ko" else self.cause_en

    def action(self, language: Language) -> str:
        return self.action_ko if language == "ko" else self.action_en


class KnowledgeBase(BaseModel):
    """All rules, validated; load the shipped file with :meth:`load`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    rules: tuple[Rule, ...] = Field(min_length=1)
    # Where the rules came from, for messages and logs; private so that a `source:` key in the
    # file is still rejected as unknown.
    _source: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        return self._source

    @model_validator(mode="after")
    def _unique_ids(self) -> KnowledgeBase:
        first: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.id in first:
                # Ids are how reports and technicians' feedback refer to a rule: two rules with one
                # id would make that ambiguous.
                raise ValueError(f"rules[{i}] (id {rule.id!r}), field 'id': duplicate of rules[{first[rule.id]}]")
            first[rule.id] = i
        return self

    @classmethod
    def load(cls, path: str | Path | None = None) -> KnowledgeBase:
        """Read and validate a knowledge-base YAML file (default: the one shipped with the hub).

        Raises :class:`KnowledgeBaseError` naming the file, the entry (index and id) and the field.
        """
        if path is None:
            resource = resources.files("analytics.solutions") / DEFAULT_PATH_NAME
            where = str(resource)
            try:
                text = resource.read_text(encoding="utf-8")
            except OSError as exc:
                raise KnowledgeBaseError(where, f"cannot read knowledge base: {exc}") from exc
        else:
            where = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise KnowledgeBaseError(where, f"cannot read knowledge base: {exc}") from exc
        kb = cls.from_text(text, source=where)
        log.debug("loaded %d knowledge-base rules from %s", len(kb.rules), where)
        return kb

    @classmethod
    @functools.cache
    def shipped(cls) -> KnowledgeBase:
        """The knowledge base shipped with the hub, read and validated once per process (the
        daily run solves every factory with it)."""
        return cls.load()

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>") -> KnowledgeBase:
        """Validate YAML text; errors name ``source`` as the file."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(source, f"not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise KnowledgeBaseError(source, "expected a mapping with 'version' and 'rules'")
        try:
            kb = cls.model_validate(data)
        except ValidationError as exc:
            raise KnowledgeBaseError(source, _describe_errors(exc, data)) from exc
        kb._source = source
        return kb

    def rules_for(self, machine_type: str) -> tuple[Rule, ...]:
        """The rules that apply to a machine type: its own and the generic (``any``) ones."""
        return tuple(r for r in self.rules if r.applies_to(machine_type))

    def rule(self, rule_id: str) -> Rule:
        try:
            return next(r for r in self.rules if r.id == rule_id)
        except StopIteration:
            raise KeyError(rule_id) from None


def _describe_errors(exc: ValidationError, data: dict[str, Any]) -> str:
    """Pydantic's errors rewritten to name the entry (index and id) and the field of each."""
    raw_rules = data.get("rules")
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            entry = f"rules[{index}]"
            if isinstance(raw_rules, list) and index < len(raw_rules) and isinstance(raw_rules[index], dict):
                if (rule_id := raw_rules[index].get("id")) is not None:
                    entry += f" (id {rule_id!r})"
            field = _field_path(loc[2:])
            lines.append(f"{entry}, field {field!r}: {msg}" if field else f"{entry}: {msg}")
        elif loc:
            lines.append(f"field {_field_path(loc)!r}: {msg}")
        else:
            lines.append(msg)  # whole-file checks (duplicate ids) already name the entry
    return "invalid knowledge base: " + "; ".join(lines)


def _field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Evidence:
    """One observed sensor deviation (from the anomaly detector's driving sensors or the failure
    model's reasons), with the figures and words a technician can check on the machine."""

    sensor: str
    direction: Direction
    value: float | None
    baseline: float | None
    unit: str
    trend_per_day: float | None
    text_en: str
    text_ko: str

    def __post_init__(self) -> None:
        # A typo'd direction would silently match nothing; fail where the evidence is built.
        if self.direction not in ("up", "down"):
            raise ValueError(f"evidence direction must be 'up' or 'down', got {self.direction!r}")

    def describe(self, language: Language) -> str:
        arrow = "↑" if self.direction == "up" else "↓"
        head = f"{self.sensor} {arrow} {DIRECTION_LABELS[language][self.direction]}"
        figures = []
        unit = f" {self.unit}" if self.unit else ""
        if self.value is not None:
            figures.append(("현재 " if language == "ko" else "now ") + f"{self.value:.4g}{unit}")
        if self.baseline is not None:
            figures.append(("기준 " if language == "ko" else "baseline ") + f"{self.baseline:.4g}{unit}")
        if self.trend_per_day is not None:
            per_day = "/일" if language == "ko" else "/day"
            figures.append(("추세 " if language == "ko" else "trend ") + f"{self.trend_per_day:+.3g}{unit}{per_day}")
        text = self.text_ko if language == "ko" else self.text_en
        out = head
        if figures:
            out += f" ({', '.join(figures)})"
        if text:
            out += f": {text}"
        return out


# Match.describe's labels, one table per language so both say the same things in the same order.
_MATCH_TEXT: dict[str, dict[str, str]] = {
    "ko": {
        "title": "[{urgency}] {mode} (규칙 {id}, 일치도 {score:.0%})",
        "cause": "추정 원인: ",
        "action": "권장 조치: ",
        "urgency": "긴급도: ",
        "downtime": "예상 정지 시간: {lo:g}~{hi:g}시간",
        "evidence": "근거 (관측된 센서 변화):",
        "contradicted": "규칙과 반대 방향 관측:",
        "unobserved": "현장 확인 권장 (관측되지 않은 증상): ",
        "references": "참고: ",
    },
    "en": {
        "title": "[{urgency}] {mode} (rule {id}, match {score:.0%})",
        "cause": "Likely cause: ",
        "action": "Recommended action: ",
        "urgency": "Urgency: ",
        "downtime": "Typical downtime: {lo:g}-{hi:g} h",
        "evidence": "Evidence (observed sensor changes):",
        "contradicted": "Observed in the opposite direction:",
        "unobserved": "Worth checking on site (not observed): ",
        "references": "References: ",
    },
}


@dataclass(frozen=True)
class Match:
    """A rule whose required symptoms were all observed, with the evidence behind it."""

    rule: Rule
    score: float
    cites: tuple[Evidence, ...]  # evidence in the rule's direction: what the technician should check
    contradicted: tuple[Evidence, ...] = ()  # evidence on the rule's sensors in the other direction
    unobserved: tuple[Symptom, ...] = ()  # optional symptoms nobody saw: worth a look on site

    def describe(self, language: Language) -> str:
        """Cause, action, urgency and the cited evidence as plain text in one language."""
        r = self.rule
        lo, hi = r.typical_downtime_hours
        urgency = URGENCY_LABELS[language][r.urgency]
        mode = FAILURE_MODE_LABELS[language].get(r.failure_mode, r.failure_mode)
        t = _MATCH_TEXT[language]
        lines = [
            t["title"].format(urgency=urgency, mode=mode, id=r.id, score=self.score),
            t["cause"] + (r.cause_ko if language == "ko" else r.cause_en),
            t["action"] + (r.action_ko if language == "ko" else r.action_en),
            t["urgency"] + urgency,
            t["downtime"].format(lo=lo, hi=hi),
            t["evidence"],
        ]
        lines += [f"  - {e.describe(language)}" for e in self.cites]
        if self.contradicted:
            lines.append(t["contradicted"])
            lines += [f"  - {e.describe(language)}" for e in self.contradicted]
        if self.unobserved:
            lines.append(t["unobserved"] + ", ".join(f"{s.sensor} {DIRECTION_LABELS[language][s.direction]}" for s in self.unobserved))
        lines.append(t["references"] + r.references)
        return "\n".join(lines)


def match(kb: KnowledgeBase, machine_type: str, evidence: Iterable[Evidence]) -> list[Match]:
    """The rules of ``machine_type`` (and the generic ones) that the evidence supports, best first.

    A rule matches when every required symptom is observed in its direction. Its score is the
    share of its symptoms observed in their direction minus :data:`CONTRADICTION_PENALTY` times
    the share observed in the opposite direction; a rule the evidence contradicts more than it
    supports (score <= 0) is dropped. At equal score a machine-type rule ranks above a generic one
    (it knows the machine), then the rule that explains more of the evidence, then by id so the
    order is stable. No rule matches -> an empty list: the caller must say so, never guess.
    """
    evidence = tuple(evidence)
    by_sensor: dict[str, list[Evidence]] = {}
    for e in evidence:
        by_sensor.setdefault(e.sensor, []).append(e)

    matches: list[Match] = []
    for rule in kb.rules_for(machine_type):
        cites: list[Evidence] = []
        contradicted: list[Evidence] = []
        unobserved: list[Symptom] = []
        agreeing = opposing = 0
        ok = True
        for symptom in rule.symptoms:
            seen = by_sensor.get(symptom.sensor, [])
            same = [e for e in seen if e.direction == symptom.direction]
            other = [e for e in seen if e.direction != symptom.direction]
            if symptom.required and not same:
                ok = False
                break
            if same:
                agreeing += 1
                cites.extend(same)
            if other:
                opposing += 1
                contradicted.extend(other)
            if not seen:
                unobserved.append(symptom)
        if not ok:
            continue
        n = len(rule.symptoms)
        score = agreeing / n - CONTRADICTION_PENALTY * opposing / n
        if score <= 0:
            log.debug("rule %s dropped: contradicted more than supported (score %.2f)", rule.id, score)
            continue
        matches.append(Match(rule, score, tuple(cites), tuple(contradicted), tuple(unobserved)))

    # Round so that float noise (1/3 + 1/3 ...) does not decide between equal scores.
    matches.sort(key=lambda m: (-round(m.score, 9), m.rule.is_generic, -len(m.cites), m.rule.id))
    log.debug(
        "%s: %d evidence items matched %d rules%s", machine_type, len(evidence), len(matches),
        f", best {matches[0].rule.id} ({matches[0].score:.2f})" if matches else "",
    )
    return matches
