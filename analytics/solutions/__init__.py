"""Solutions: turn anomaly scores and failure-risk outputs into actions for plant managers.

:mod:`analytics.solutions.knowledge` holds the maintained knowledge base of recommended actions
(``knowledge_base.yaml``) and the matcher that picks its rules from observed sensor deviations.
:mod:`analytics.solutions.calendar` holds each factory's working calendar and the production stops
it leaves for maintenance; :mod:`analytics.solutions.priority` ranks the machines that need work by
expected loss and plans each into a stop before its deadline. :mod:`analytics.solutions.alerts`
keeps the alerts and the feedback on them; :mod:`analytics.solutions.health` turns a day's scores
into each machine's status, evidence and action, and :mod:`analytics.solutions.solve` runs it all
for a factory's day.
"""

from analytics.solutions.alerts import (
    SEVERITIES,
    SYSTEM_CLEARED,
    VERDICTS,
    Alert,
    AlertBook,
    AlertCandidate,
    AlertSettings,
    AlertStateError,
    DayOutcome,
)
from analytics.solutions.calendar import (
    DEFAULT_CALENDAR,
    WorkingCalendar,
    calendar_from_pattern,
    describe_window,
    free_windows,
    get_calendar,
    production_intervals,
    public_holidays,
    set_calendar,
)
from analytics.solutions.knowledge import (
    ANY_MACHINE,
    CONTRADICTION_PENALTY,
    FAILURE_MODE_LABELS,
    UNKNOWN_MODE,
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
from analytics.solutions.priority import (
    DEFAULT_DOWNTIME_H,
    RISK_FLOOR,
    URGENCY_DEADLINE_HOURS,
    Consequence,
    get_consequences,
    priority_list,
    set_consequence,
)

__all__ = [
    "ANY_MACHINE",
    "CONTRADICTION_PENALTY",
    "DEFAULT_CALENDAR",
    "DEFAULT_DOWNTIME_H",
    "FAILURE_MODE_LABELS",
    "RISK_FLOOR",
    "SEVERITIES",
    "SYSTEM_CLEARED",
    "UNKNOWN_MODE",
    "URGENCIES",
    "URGENCY_DEADLINE_HOURS",
    "URGENCY_LABELS",
    "VERDICTS",
    "Alert",
    "AlertBook",
    "AlertCandidate",
    "AlertSettings",
    "AlertStateError",
    "Consequence",
    "DayOutcome",
    "Evidence",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Match",
    "Rule",
    "Symptom",
    "WorkingCalendar",
    "calendar_from_pattern",
    "describe_window",
    "free_windows",
    "get_calendar",
    "get_consequences",
    "match",
    "priority_list",
    "production_intervals",
    "public_holidays",
    "set_calendar",
    "set_consequence",
]
