"""The hub's scheduled work: a factory's day through every analytics stage (:mod:`analytics.pipeline.daily`),
and the record of runs (:mod:`analytics.pipeline.runs`)."""

from analytics.pipeline.daily import STAGES, FactoryDay, process_day, training_due
from analytics.pipeline.runs import DayOutcome, RunLog, live_days

__all__ = ["STAGES", "DayOutcome", "FactoryDay", "RunLog", "live_days", "process_day", "training_due"]
