"""The hub's scheduled work: a factory's day through every analytics stage (:mod:`analytics.pipeline.daily`)."""

from analytics.pipeline.daily import STAGES, FactoryDay, process_day, training_due

__all__ = ["STAGES", "FactoryDay", "process_day", "training_due"]
