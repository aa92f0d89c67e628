"""Solutions: turn anomaly scores and failure-risk outputs into actions for plant managers.

:mod:`analytics.solutions.knowledge` holds the maintained knowledge base of recommended actions
(``knowledge_base.yaml``) and the matcher that picks its rules from observed sensor deviations.
"""

from analytics.solutions.knowledge import (
    ANY_MACHINE,
    CONTRADICTION_PENALTY,
    FAILURE_MODE_LABELS,
    URGENCIES,
    URGENCY_LABELS,
    Evidence,
    KnowledgeBase,
    KnowledgeBaseError,
    Match,
    Rule,
    Symptom,
    match,
)

__all__ = [
    "ANY_MACHINE",
    "CONTRADICTION_PENALTY",
    "FAILURE_MODE_LABELS",
    "URGENCIES",
    "URGENCY_LABELS",
    "Evidence",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Match",
    "Rule",
    "Symptom",
    "match",
]
