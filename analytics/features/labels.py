"""Labels for supervised models, from the events table: what happened *after* each window.

Features only ever use data from before a window's end; labels are the opposite by design, and
are kept apart (computed on demand, never stored with the features) so that no label can leak
into a feature. A label is only given where the future it speaks about has been observed:
"no failure within 48 h" needs 48 h of observation after the window.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

FAILURE = "failure"
REPAIR = "repair"


def failure_labels(windows: pl.DataFrame, events: pl.DataFrame, horizon_hours: float, observed_until: datetime) -> pl.DataFrame:
    """Labels of each (machine, window) of ``windows`` (columns ``machine_id``, ``window_end``).

    Added columns:

    - ``hours_to_failure``: hours from the window's end to the machine's next failure event at
      or after it; null when no failure was observed before ``observed_until`` (censored);
    - ``rul_hours``: remaining useful life, the same as ``hours_to_failure`` (the hub's
      failures are the end of a component's life), null when censored;
    - ``censored``: no failure observed after the window;
    - ``failure_within``: a failure within ``horizon_hours`` of the window's end; null when no
      failure came and less than ``horizon_hours`` were observed after the window;
    - ``in_repair``: the machine was down between a failure and its repair at the window's end
      (such windows say nothing about a coming failure and are usually left out of training).
    """
    ev = events.select("machine_id", "ts", "kind").sort("ts")
    failures = ev.filter(pl.col("kind") == FAILURE).select("machine_id", pl.col("ts").alias("__next_failure"))
    out = windows.sort("window_end").join_asof(
        failures, left_on="window_end", right_on="__next_failure", by="machine_id", strategy="forward", check_sortedness=False
    )
    # The machine is in repair if its last failure-or-repair event before the window end is a failure.
    last = ev.filter(pl.col("kind").is_in([FAILURE, REPAIR])).select("machine_id", pl.col("ts").alias("__last_ts"), pl.col("kind").alias("__last_kind"))
    out = out.join_asof(last, left_on="window_end", right_on="__last_ts", by="machine_id", strategy="backward", allow_exact_matches=False, check_sortedness=False)
    until = pl.lit(observed_until).cast(out.schema["window_end"])
    hours = (pl.col("__next_failure") - pl.col("window_end")).dt.total_seconds() / 3600
    observed_h = (until - pl.col("window_end")).dt.total_seconds() / 3600
    return (
        out.with_columns(
            hours.alias("hours_to_failure"),
            hours.alias("rul_hours"),
            pl.col("__next_failure").is_null().alias("censored"),
            pl.when(pl.col("__next_failure").is_not_null() & (hours <= horizon_hours))
            .then(True)
            .when(observed_h >= horizon_hours)
            .then(False)
            .otherwise(None)
            .alias("failure_within"),
            (pl.col("__last_kind") == FAILURE).fill_null(False).alias("in_repair"),
        )
        .drop("__next_failure", "__last_ts", "__last_kind")
        .sort("machine_id", "window_end")
    )
