"""Reports for people: the daily report of a factory (:mod:`analytics.reports.daily`), its charts
(:mod:`analytics.reports.charts`) and its delivery by e-mail (:mod:`analytics.reports.mail`)."""

from analytics.reports.daily import DailyReport, build_daily_report

__all__ = ["DailyReport", "build_daily_report"]
