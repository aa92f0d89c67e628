"""The knowledge base of recommended actions and its matcher (analytics.solutions.knowledge)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analytics.simulate.machines import MACHINE_TYPES
from analytics.solutions import (
    FAILURE_MODE_LABELS,
    URGENCY_LABELS,
    Evidence,
    KnowledgeBase,
    KnowledgeBaseError,
    Rule,
    match,
)

SIMULATED = [(t.name, mode) for t in MACHINE_TYPES.values() for mode in t.modes]
DIRECTION = {1: "up", -1: "down"}


def ev(sensor: str, direction: str, value: float | None = None, baseline: float | None = None, unit: str = "") -> Evidence:
    return Evidence(
        sensor=sensor, direction=direction, value=value, baseline=baseline, unit=unit, trend_per_day=None,
        text_en=f"{sensor} is {direction}", text_ko=f"{sensor} {'상승' if direction == 'up' else '하강'}",
    )


def moved_by_evidence(machine_type: str, mode: str) -> list[Evidence]:
    return [ev(s, DIRECTION[d]) for s, d in MACHINE_TYPES[machine_type].moved_by(mode).items()]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def _consistent(rule: Rule, machine_type: str, mode: str) -> bool:
    """Required symptoms exist on the machine type and move the way the simulator moves them."""
    moved = MACHINE_TYPES[machine_type].moved_by(mode)
    return all(s.sensor in moved and DIRECTION[moved[s.sensor]] == s.direction for s in rule.symptoms if s.required)


# --------------------------------------------------------------------------- (a) shipped file


def test_shipped_knowledge_base_loads_in_both_languages(kb: KnowledgeBase) -> None:
    assert kb.rules
    for rule in kb.rules:
        # Korean text must actually be Korean (Hangul), English text must not be.
        assert any("\uac00" <= ch <= "\ud7a3" for ch in rule.cause_ko + rule.action_ko), rule.id
        assert not any("\uac00" <= ch <= "\ud7a3" for ch in rule.cause_en + rule.action_en), rule.id
        assert rule.failure_mode in FAILURE_MODE_LABELS["ko"] and rule.failure_mode in FAILURE_MODE_LABELS["en"]


@pytest.mark.parametrize(("machine_type", "mode"), SIMULATED)
def test_every_simulated_mode_has_a_consistent_type_specific_rule(kb: KnowledgeBase, machine_type: str, mode: str) -> None:
    rules = [r for r in kb.rules if r.machine_type == machine_type and r.failure_mode == mode]
    assert rules, f"no rule for {machine_type} / {mode}"
    assert any(_consistent(r, machine_type, mode) for r in rules), f"{machine_type} / {mode}: symptoms differ from moved_by"


def test_type_specific_rules_name_only_sensors_of_their_type(kb: KnowledgeBase) -> None:
    for rule in kb.rules:
        if rule.machine_type in MACHINE_TYPES:
            sensors = {s.name for s in MACHINE_TYPES[rule.machine_type].sensors}
            assert {s.sensor for s in rule.symptoms} <= sensors, rule.id
        else:
            assert rule.machine_type == "any", f"{rule.id}: unknown machine type {rule.machine_type}"
    # The generic rules the brief asks for exist.
    generic = {(r.failure_mode, frozenset((s.sensor, s.direction) for s in r.symptoms if s.required)) for r in kb.rules if r.is_generic}
    assert ("mechanical_fault", frozenset({("vibration_rms", "up")})) in generic
    assert ("overload", frozenset({("motor_temp", "up"), ("motor_current", "up")})) in generic
    assert ("clogging", frozenset({("flow", "down"), ("motor_current", "down")})) in generic


def test_shipped_file_is_found_as_package_data() -> None:
    from importlib import resources

    assert (resources.files("analytics.solutions") / "knowledge_base.yaml").is_file()


# --------------------------------------------------------------------------- (b) matching


@pytest.mark.parametrize(("machine_type", "mode"), SIMULATED)
def test_simulated_symptoms_put_their_mode_on_top(kb: KnowledgeBase, machine_type: str, mode: str) -> None:
    evidence = moved_by_evidence(machine_type, mode)
    matches = match(kb, machine_type, evidence)
    assert matches, f"{machine_type} / {mode}: no match"
    top = matches[0]
    assert top.rule.failure_mode == mode
    assert top.rule.machine_type == machine_type
    assert top.score == pytest.approx(1.0)
    assert set(top.cites) <= set(evidence) and top.cites
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_type_specific_rule_beats_generic_at_equal_score(kb: KnowledgeBase) -> None:
    # Vibration alone on an injection moulding machine: its own bearing rule and the generic
    # mechanical rule both score 1.
    matches = match(kb, "injection_molding", [ev("vibration_rms", "up")])
    assert [m.rule.id for m in matches[:2]] == ["inj_pump_motor_bearing_wear", "any_vibration_mechanical"]
    assert matches[0].score == matches[1].score


def test_generic_rule_applies_to_a_machine_type_without_own_rules(kb: KnowledgeBase) -> None:
    matches = match(kb, "press_brake", [ev("motor_temp", "up"), ev("motor_current", "up")])
    assert [m.rule.id for m in matches] == ["any_motor_overload_or_cooling"]
    # Another type's rules never apply.
    assert all(m.rule.applies_to("press_brake") for m in matches)


def test_optional_symptom_in_opposite_direction_is_penalised(kb: KnowledgeBase) -> None:
    agree = match(kb, "centrifugal_pump", [ev("flow", "down"), ev("suction_pressure", "down"), ev("motor_current", "down")])
    against = match(kb, "centrifugal_pump", [ev("flow", "down"), ev("suction_pressure", "down"), ev("motor_current", "up")])
    best_agree = next(m for m in agree if m.rule.id == "pmp_suction_strainer_clogging")
    best_against = next(m for m in against if m.rule.id == "pmp_suction_strainer_clogging")
    assert best_agree.score == pytest.approx(1.0)
    assert best_against.score == pytest.approx(2 / 3 - 0.5 / 3)
    assert [e.sensor for e in best_against.contradicted] == ["motor_current"]
    # The generic suction rule requires current falling: contradicted, so it does not match.
    assert "any_pump_suction_blockage" not in {m.rule.id for m in against}


def test_partial_evidence_keeps_unobserved_symptoms_for_the_technician(kb: KnowledgeBase) -> None:
    matches = match(kb, "cnc_machining_center", [ev("spindle_load", "up"), ev("motor_current", "up")])
    top = matches[0]
    assert top.rule.id == "cnc_tool_wear"
    assert top.score == pytest.approx(0.5)
    assert {s.sensor for s in top.unobserved} == {"motor_temp", "vibration_rms"}


# --------------------------------------------------------------------------- (c) bad files


def _write(tmp_path: Path, kb: KnowledgeBase, mutate) -> Path:
    data = yaml.safe_load((Path(__file__).parents[1] / "analytics/solutions/knowledge_base.yaml").read_text(encoding="utf-8"))
    mutate(data["rules"])
    path = tmp_path / "kb.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_duplicate_id_is_rejected_naming_both_entries(tmp_path: Path, kb: KnowledgeBase) -> None:
    path = _write(tmp_path, kb, lambda rules: rules.append(dict(rules[1])))
    with pytest.raises(KnowledgeBaseError) as info:
        KnowledgeBase.load(path)
    msg = str(info.value)
    n = len(kb.rules)
    assert str(path) in msg and f"rules[{n}]" in msg and "rules[1]" in msg
    assert repr(kb.rules[1].id) in msg and "duplicate" in msg and "'id'" in msg


def test_bad_direction_is_rejected_naming_entry_and_field(tmp_path: Path, kb: KnowledgeBase) -> None:
    path = _write(tmp_path, kb, lambda rules: rules[2]["symptoms"][0].update(direction="rising"))
    with pytest.raises(KnowledgeBaseError) as info:
        KnowledgeBase.load(path)
    msg = str(info.value)
    assert str(path) in msg and "rules[2]" in msg and repr(kb.rules[2].id) in msg
    assert "symptoms[0].direction" in msg and "'up' or 'down'" in msg


def test_downtime_min_above_max_is_rejected(tmp_path: Path, kb: KnowledgeBase) -> None:
    path = _write(tmp_path, kb, lambda rules: rules[0].update(typical_downtime_hours=[12, 4]))
    with pytest.raises(KnowledgeBaseError) as info:
        KnowledgeBase.load(path)
    msg = str(info.value)
    assert str(path) in msg and "rules[0]" in msg and repr(kb.rules[0].id) in msg
    assert "typical_downtime_hours" in msg and "min 12" in msg and "max 4" in msg


def test_unknown_key_and_bad_urgency_are_rejected(tmp_path: Path, kb: KnowledgeBase) -> None:
    def mutate(rules: list[dict]) -> None:
        rules[3]["urgnecy"] = "immediate"
        rules[4]["urgency"] = "soon"

    path = _write(tmp_path, kb, mutate)
    with pytest.raises(KnowledgeBaseError) as info:
        KnowledgeBase.load(path)
    msg = str(info.value)
    assert f"rules[3] (id {kb.rules[3].id!r})" in msg and "unknown key 'urgnecy'" in msg
    assert f"rules[4] (id {kb.rules[4].id!r}), field 'urgency'" in msg


def test_unreadable_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="broken.yaml"):
        KnowledgeBase.load(path)


def test_bad_evidence_direction_fails_early() -> None:
    with pytest.raises(ValueError, match="direction"):
        ev("flow", "sideways")


# --------------------------------------------------------------------------- (d) no match


@pytest.mark.parametrize("machine_type", sorted(MACHINE_TYPES))
def test_contradicting_evidence_gives_no_match(kb: KnowledgeBase, machine_type: str) -> None:
    # Each sensor that rules of this type require observed against the direction they require.
    # A sensor required in both directions (motor current: up under overload, down when a pump's
    # suction is blocked) is left out; every rule must still be contradicted by another sensor.
    opposite = {"up": "down", "down": "up"}
    rules = kb.rules_for(machine_type)
    wanted: dict[str, set[str]] = {}
    for rule in rules:
        for s in rule.symptoms:
            if s.required:
                wanted.setdefault(s.sensor, set()).add(s.direction)
    evidence = [ev(sensor, opposite[d]) for sensor, dirs in sorted(wanted.items()) if len(dirs) == 1 for d in dirs]
    observed = {(e.sensor, e.direction) for e in evidence}
    for rule in rules:
        assert any((s.sensor, opposite[s.direction]) in observed for s in rule.symptoms if s.required), rule.id
    assert match(kb, machine_type, evidence) == []


def test_no_evidence_and_unrelated_evidence_give_no_match(kb: KnowledgeBase) -> None:
    assert match(kb, "centrifugal_pump", []) == []
    assert match(kb, "centrifugal_pump", [ev("speed", "up"), ev("discharge_pressure", "down")]) == []


# --------------------------------------------------------------------------- (e) descriptions


@pytest.mark.parametrize("language", ["ko", "en"])
def test_description_cites_sensors_and_urgency(kb: KnowledgeBase, language: str) -> None:
    evidence = [
        ev("vibration_rms", "up", value=7.4, baseline=2.1, unit="mm/s"),
        ev("bearing_temp", "up", value=61.0, baseline=44.0, unit="°C"),
    ]
    top = match(kb, "centrifugal_pump", evidence)[0]
    text = top.describe(language)
    assert top.rule.id == "pmp_bearing_wear"
    for e in top.cites:
        assert e.sensor in text
    assert {e.sensor for e in top.cites} == {"vibration_rms", "bearing_temp"}
    assert URGENCY_LABELS[language][top.rule.urgency] in text
    assert "7.4 mm/s" in text and "2.1 mm/s" in text
    assert (top.rule.action_ko if language == "ko" else top.rule.action_en) in text
    if language == "ko":
        assert "베어링 마모" in text and "상승" in text and "권장 조치" in text
    else:
        assert "bearing wear" in text and "rising" in text and "Recommended action" in text
