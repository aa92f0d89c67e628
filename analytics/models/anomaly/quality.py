"""Sensor faults are not machine faults: data-quality events per sensor, and the windows they spoil.

A frozen transmitter, a dead cable, a gateway that lost its network or an electrical glitch makes
a sensor's readings wrong while the machine is fine. Scored as they are, such readings raise
machine alarms nobody can act on (a maintenance technician finds a healthy pump), and the alarms
teach people to ignore the system. So they are found first, reported as *data-quality events*
per sensor and period, and the feature windows they overlap are left out of the machine's anomaly
scoring while they last (:func:`fault_mask`).

Kinds of event, as an instrumentation engineer defines them (parameters in
:class:`SensorFaultDetector`):

- ``out_of_range``: a value outside the sensor's physical range (:class:`~analytics.schemas.SensorSpec`
  ``min``/``max``) or a known error code (-9999 is what gateways write when a transmitter reports
  a fault). The hub's ingest quarantines such rows, so they are never in the readings table: pass
  the factory's quarantine table and its "outside valid range" rows are reported here too;
- ``dropout``: no reading of a sensor for more than ``dropout_factor`` times its nominal interval
  while the machine's other sensors kept reporting. When *every* sensor of the machine is silent
  at once the cause is the gateway or its network, not the sensors: that period is reported once,
  as a ``dropout`` with sensor ``"*"`` (:data:`GATEWAY`), and not again per sensor;
- ``stuck``: the exact same value repeated for longer than the sensor's own behaviour allows,
  while the machine's other sensors vary. A real analog sensor shows noise at its resolution; one
  that repeats its last value has frozen (a hung transmitter, a gateway holding the last value).
  How often the sensor changes value is measured per operating state, and a run is stuck when
  repeating that long would be improbable (``frozen_alpha``) and it lasts ``frozen_min_s``;
- ``flatline``: the same, but the held value is a rail: exactly zero, or the sensor's physical
  min or max (a dead transmitter, a broken loop, a saturated input);
- ``spike``: one to ``spike_max_samples`` samples far outside the local robust range (a robust
  z-score against the median of the neighbouring samples and a rolling MAD above ``spike_z``) that return at once, while no
  other sensor of the machine moves at the same moment (a real process transient, such as a
  one-sample stop between two jobs, moves current, speed and load together).

A sensor that is constant while its machine is off is not flat-lined: a speed that reads 0
whenever the machine stands still changes on no sample in that state, so its constant stretches
there carry no evidence. The operating state comes from the feature layer's rules
(:mod:`analytics.features.state`), or is fitted on the given readings when none are passed; a
machine without a load sensor has one state throughout.

Not detected (documented limits): a whole machine whose every sensor freezes at once (each
sensor's frozen run fails the "other sensors vary" test: it looks like a plant at rest); a gateway
outage at the very start or end of the period when ``start``/``end`` are not given (there is no
earlier or later reading to see the gap against); a sensor frozen for most of the readings given
(its change rate is then learned from the fault itself: give the detector enough history, a week
or more); a spike or an error code inside a dropout (nothing was received).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator

from analytics.features.state import IDLE, OFF, RUNNING, StateRule, fit_state_rule, load_sensor
from analytics.features.store import FeatureStore
from analytics.models.anomaly.thresholds import MAD_TO_SIGMA
from analytics.schemas import TS_DTYPE, SensorSpec, validate_machine_id, validate_sensor_name
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

FAULT_KINDS: Final[tuple[str, ...]] = ("flatline", "stuck", "dropout", "out_of_range", "spike")
GATEWAY: Final[str] = "*"  # the sensor of a whole-machine (gateway) dropout
# What gateways write when a transmitter reports a fault (outside every valid range, so ingest
# quarantines it; listed so readings that bypassed ingest are recognised too).
ERROR_CODES: Final[tuple[float, ...]] = (-9999.0,)
OUT_OF_RANGE_REASON: Final[str] = "outside valid range"  # the ingest's quarantine reason

EVENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "machine_id": pl.String(),
    "sensor": pl.String(),
    "kind": pl.String(),
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "samples": pl.Int64(),
    "detail": pl.String(),
}
# How often each sensor's value changed from one sample to the next, per operating-state bucket
# (OFF/IDLE/RUNNING, -1 state unknown, -2 machine without a state rule): what the stuck test
# learns from. Kept per day with the day's events, so a day's detection can learn from the
# week before it without reading that week's readings again (:meth:`SensorFaultDetector.detect`).
CHANGE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "machine_id": pl.String(),
    "sensor": pl.String(),
    "state_bucket": pl.Int8(),
    "samples": pl.Int64(),
    "changes": pl.Int64(),
}

SensorSpecs = Sequence[SensorSpec] | Mapping[str, Sequence[SensorSpec]]
Frame = pl.LazyFrame | pl.DataFrame

_KEY = ["machine_id", "sensor"]
_US = 1_000_000
# A sensor that changed on every sample seen so far may still repeat itself now and then: one
# repeat never counts for more than a sensor changing on 99 % of its samples.
_MAX_CHANGE_RATE = 0.99


class SensorFaultDetector(BaseEstimator):
    """Finds sensor faults in long-form readings (scikit-learn style: parameters here, work in
    :meth:`detect`; nothing is learned, so there is no ``fit``).

    Parameters
    ----------
    dropout_factor:
        A dropout is a gap between two readings of a sensor longer than this many nominal
        intervals. 2 tolerates a single lost sample (common on wireless gateways) and reports
        two or more missed samples.
    frozen_alpha:
        How improbable a run of repeats must be, given how often the sensor changes value in
        each operating state, to be ``stuck``/``flatline``: 1e-9 is about 21 nats of evidence,
        nine repeats of a sensor that changes on 90 % of its samples, 20 of one that changes on
        64 %. Small because a factory tests millions of runs a month.
    frozen_min_s:
        And the run must last this long (samples × interval): a transmitter frozen for half an
        hour spoils a feature window; shorter freezes of a fast sensor are not worth a report.
    frozen_min_samples:
        And hold at least this many samples, so a slow sensor (one reading an hour) is not
        judged on a handful of readings.
    spike_z:
        Robust z-score (residual to the neighbours' median over the robust scale
        ``1.4826 × rolling MAD`` of the residuals) above which a sample is an excursion. 12: on a month of the
        simulator's 5-minute data, noise and load swings reached 10 and the injected spikes
        (30-60 % of the range) were all above 38.
    spike_max_samples:
        Longest excursion that counts as a spike; the local level is the median of this many
        plus one neighbours on either side, which such an excursion never moves. Longer excursions are
        level changes, which the machine models judge.
    spike_scale_window:
        Samples in the centred rolling window of the MAD (the local noise level).
    spike_floor_share:
        Floor of the robust scale as a share of the sensor's physical range (of its observed
        range when no physical range is known). Without it a sensor that sits exactly still
        (a speed at zero while the machine is off) has zero MAD, and its least-significant-digit
        flicker would be a spike.
    spike_corroborate_z:
        If another sensor of the same machine has an excursion of this robust z in the same
        sampling interval, the excursion is a process transient, not a sensor spike.
    error_codes:
        Values that mean "transmitter fault", reported as ``out_of_range`` wherever they occur.

    Attributes
    ----------
    changes_:
        After :meth:`detect`: how often each sensor changed value in each operating state over
        the readings examined (:data:`CHANGE_SCHEMA`), to pass as ``prior_changes`` to a later
        period's detection.
    """

    def __init__(
        self,
        *,
        dropout_factor: float = 2.0,
        frozen_alpha: float = 1e-9,
        frozen_min_s: float = 1800.0,
        frozen_min_samples: int = 6,
        spike_z: float = 15.0,
        spike_max_samples: int = 2,
        spike_scale_window: int = 25,
        spike_floor_share: float = 0.005,
        spike_corroborate_z: float = 4.0,
        error_codes: tuple[float, ...] = ERROR_CODES,
    ) -> None:
        self.dropout_factor = dropout_factor
        self.frozen_alpha = frozen_alpha
        self.frozen_min_s = frozen_min_s
        self.frozen_min_samples = frozen_min_samples
        self.spike_z = spike_z
        self.spike_max_samples = spike_max_samples
        self.spike_scale_window = spike_scale_window
        self.spike_floor_share = spike_floor_share
        self.spike_corroborate_z = spike_corroborate_z
        self.error_codes = error_codes

    def _check_params(self) -> None:
        if not self.dropout_factor > 1:
            raise ValueError(f"dropout_factor must be above 1 (a gap of one interval is no gap), got {self.dropout_factor}")
        if not 0 < self.frozen_alpha < 1:
            raise ValueError(f"frozen_alpha must be a probability in (0, 1), got {self.frozen_alpha}")
        if not self.frozen_min_s > 0 or self.frozen_min_samples < 2:
            raise ValueError("frozen_min_s must be positive and frozen_min_samples at least 2")
        if not 0 < self.spike_corroborate_z <= self.spike_z:
            raise ValueError("need 0 < spike_corroborate_z <= spike_z")
        if self.spike_max_samples < 1 or self.spike_scale_window < 2 * self.spike_max_samples + 1:
            raise ValueError("spike_max_samples must be at least 1 and spike_scale_window at least 2 * spike_max_samples + 1")
        if not self.spike_floor_share > 0:
            raise ValueError("spike_floor_share must be positive")

    # --- entry point ---------------------------------------------------------------------------
    def detect(
        self,
        readings: Frame,
        sensors: SensorSpecs,
        *,
        quarantine: Frame | None = None,
        rules: Mapping[str, StateRule] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        prior_changes: pl.DataFrame | None = None,
        counted_from: datetime | None = None,
    ) -> pl.DataFrame:
        """Data-quality events of the readings, one row per event (:data:`EVENT_SCHEMA`), sorted
        by machine, sensor and start; ``start`` inclusive and ``end`` exclusive, UTC.

        ``readings``: long form with ``machine_id, sensor, ts, value`` (other columns ignored).
        ``sensors``: the specs of one machine's sensors (applied to every machine in
        ``readings``), or a mapping machine id -> specs; readings of sensors without a spec are
        skipped (logged). ``quarantine``: the factory's quarantine table; its
        "outside valid range" rows become ``out_of_range`` samples (and count as received for
        dropouts). ``rules``: operating-state rules per machine (the feature store's, so the
        state here is the one the features use); fitted on ``readings`` when None.
        ``start``/``end``: the period examined (UTC, end exclusive), so silence at its edges is
        a dropout too; by default each machine's first and last reading bound it.
        ``prior_changes``: change counts of earlier readings (:data:`CHANGE_SCHEMA`, the
        ``changes_`` of earlier detections), added to those of ``readings`` when learning how
        often each sensor changes value: a day examined alone then judges its frozen runs by the
        sensor's behaviour over the week before it. ``counted_from``: count value changes
        (``changes_``) from this time on only; readings before it are context for the events
        (a run that began before the day), already counted with their own day.
        """
        self._check_params()
        self.changes_ = pl.DataFrame(schema=CHANGE_SCHEMA)
        data, spec = _prepare(readings, sensors, quarantine, self.error_codes, start, end)
        if data.height == 0:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        rules = dict(rules) if rules is not None else _fit_rules(data, spec)
        valid = data.filter(~pl.col("oor"))
        parts = [
            self._out_of_range(data),
            self._dropouts(data, spec, start, end),
            self._frozen(valid, rules, prior_changes, counted_from),
            self._spikes(valid),
        ]
        events = pl.concat([p.select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA) for p in parts]).sort("machine_id", "sensor", "start", "kind")
        if events.height:
            counts = dict(events.group_by("kind").len().iter_rows())
            log.info("sensor faults: %s", ", ".join(f"{counts.get(k, 0)} {k}" for k in FAULT_KINDS))
        return events

    # --- out of range --------------------------------------------------------------------------
    def _out_of_range(self, data: pl.DataFrame) -> pl.DataFrame:
        """Consecutive out-of-range samples of a sensor form one event."""
        runs = data.with_columns(_run_id(pl.col("oor")).alias("__run")).filter(pl.col("oor"))
        agg = runs.group_by("__run").agg(
            pl.col("machine_id", "sensor", "unit", "min", "max", "interval_s").first(),
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("last"),
            pl.len().cast(pl.Int64).alias("samples"),
            pl.col("value").min().alias("lo"),
            pl.col("value").max().alias("hi"),
            pl.col("value").filter(pl.col("value").is_in(list(self.error_codes))).first().alias("code"),
            pl.col("reason").drop_nulls().first().alias("reason"),
        )
        unit = _unit_suffix(pl.col("unit"))
        several = pl.col("samples") > 1
        detail = (
            pl.when(pl.col("code").is_not_null())
            .then(pl.format("error code {} (the transmitter reports a fault)", _num(pl.col("code"))))
            .when(pl.col("hi") > pl.col("max"))
            .then(pl.format("{} {}{} above the physical max {}{}", pl.when(several).then(pl.lit("values up to")).otherwise(pl.lit("value")), _num(pl.col("hi")), unit, _num(pl.col("max")), unit))
            .when(pl.col("lo") < pl.col("min"))
            .then(pl.format("{} {}{} below the physical min {}{}", pl.when(several).then(pl.lit("values down to")).otherwise(pl.lit("value")), _num(pl.col("lo")), unit, _num(pl.col("min")), unit))
            .otherwise(pl.format("quarantined at ingest: {}", pl.col("reason").fill_null("unreadable value")))
        )
        detail = pl.when(several).then(pl.format("{} ({} samples)", detail, pl.col("samples"))).otherwise(detail)
        return agg.select(
            "machine_id",
            "sensor",
            pl.lit("out_of_range").alias("kind"),
            "start",
            (pl.col("last") + _interval()).alias("end"),
            "samples",
            detail.alias("detail"),
        )

    # --- dropouts ------------------------------------------------------------------------------
    def _dropouts(self, data: pl.DataFrame, spec: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
        """Per-sensor silences longer than ``dropout_factor`` intervals, split into gateway
        outages (every sensor of the machine silent) and the sensor's own dropouts."""
        gaps = self._sensor_gaps(data, spec, start, end)
        outages = self._gateway_outages(gaps, spec)
        own = (
            _subtract(gaps, outages)
            .filter((pl.col("end") - pl.col("start")).dt.total_microseconds() > (self.dropout_factor - 1) * pl.col("interval_s") * _US)
            # polars 1.x can panic formatting strings over the filtered pieces of the sweep
            # ("assertion failed: i < self.len()" in binview); one contiguous chunk avoids it.
            .rechunk()
        )
        seconds = (pl.col("end") - pl.col("start")).dt.total_microseconds() / _US
        samples = (seconds / pl.col("interval_s")).round(0).cast(pl.Int64)
        own = own.select(
            "machine_id",
            "sensor",
            pl.lit("dropout").alias("kind"),
            "start",
            "end",
            samples.alias("samples"),
            pl.format(
                "no reading for {} ({} missed samples at {}) while the machine's other sensors reported",
                _duration_text(seconds), samples, _duration_text(pl.col("interval_s")),
            ).alias("detail"),
        )
        return pl.concat([outages.select(own.columns), own])

    def _sensor_gaps(self, data: pl.DataFrame, spec: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
        """Every silence of every specified sensor of a machine that sent anything: between
        readings, before the first and after the last (against the period's bounds), and the
        whole period for a sensor that sent nothing. Columns machine_id, sensor, interval_s,
        start, end (the first missed sample's due time, the next reading or the period's end)."""
        received = data.select("machine_id", "sensor", "ts", "interval_s")
        seen = received.group_by("machine_id").agg(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
        lo = pl.lit(_utc(start)).cast(TS_DTYPE) if start is not None else pl.col("lo")
        hi_excl = pl.lit(_utc(end)).cast(TS_DTYPE) if end is not None else pl.col("hi") + _interval()
        # With both bounds given, a specified machine that sent nothing is silent all period.
        per_sensor = (
            spec.join(seen, on="machine_id", how="left")
            .with_columns(lo.alias("lo"), hi_excl.alias("hi_excl"))
            .filter(pl.col("lo").is_not_null() & pl.col("hi_excl").is_not_null())
        )
        # The silences between readings, and before the first and after the last one against
        # the period's bounds (from the period's start, or over all of it for a sensor that sent
        # nothing). ``received`` is sorted by (machine, sensor, ts) and unique (:func:`_prepare`).
        limit = pl.duration(microseconds=(self.dropout_factor * pl.col("interval_s") * _US).cast(pl.Int64))
        columns = ["machine_id", "sensor", "interval_s", "__prev", "ts"]
        between = received.with_columns(pl.when(_same_series()).then(pl.col("ts").shift()).alias("__prev")).filter(pl.col("__prev").is_not_null())
        bounds = received.group_by(_KEY).agg(pl.col("ts").min().alias("__first"), pl.col("ts").max().alias("__last"))
        per_sensor = per_sensor.join(bounds, on=_KEY, how="left")
        leading = per_sensor.select(*_KEY, "interval_s", (pl.col("lo") - _interval()).alias("__prev"), pl.col("__first").fill_null(pl.col("hi_excl")).alias("ts"))
        trailing = per_sensor.filter(pl.col("__last").is_not_null()).select(*_KEY, "interval_s", pl.col("__last").alias("__prev"), pl.col("hi_excl").alias("ts"))
        return (
            pl.concat([between.select(columns), leading.select(columns), trailing.select(columns)])
            .filter(pl.col("ts") - pl.col("__prev") > limit)
            .select("machine_id", "sensor", "interval_s", (pl.col("__prev") + _interval()).alias("start"), pl.col("ts").alias("end"))
            .sort("machine_id", "sensor", "start")
        )

    def _gateway_outages(self, gaps: pl.DataFrame, spec: pl.DataFrame) -> pl.DataFrame:
        """Periods in which every specified sensor of a machine (two or more) is in a gap: a
        sweep over the gaps' starts (+1) and ends (-1), kept where the count equals the machine's
        number of sensors."""
        sizes = spec.group_by("machine_id").agg(pl.len().alias("n_sensors"), pl.col("interval_s").min().alias("interval_s"))
        sweep = (
            pl.concat(
                [
                    gaps.select("machine_id", pl.col("start").alias("t"), pl.lit(1).alias("d")),
                    gaps.select("machine_id", pl.col("end").alias("t"), pl.lit(-1).alias("d")),
                ]
            )
            .group_by("machine_id", "t")
            .agg(pl.col("d").sum())
            .sort("machine_id", "t")
            .with_columns(
                pl.col("d").cum_sum().over("machine_id").alias("level"),
                pl.col("t").shift(-1).over("machine_id").alias("t_next"),
            )
            .join(sizes, on="machine_id", how="left")
            .filter((pl.col("n_sensors") >= 2) & (pl.col("level") == pl.col("n_sensors")) & pl.col("t_next").is_not_null())
        )
        merged = (
            sweep.with_columns(
                ((pl.col("machine_id") != pl.col("machine_id").shift()) | (pl.col("t") != pl.col("t_next").shift())).fill_null(True).cum_sum().alias("__run")
            )
            .group_by("__run")
            .agg(pl.col("machine_id", "interval_s").first(), pl.col("t").min().alias("start"), pl.col("t_next").max().alias("end"))
        )
        seconds = (pl.col("end") - pl.col("start")).dt.total_microseconds() / _US
        samples = (seconds / pl.col("interval_s")).round(0).cast(pl.Int64)
        return merged.filter(seconds > (self.dropout_factor - 1) * pl.col("interval_s")).select(
            "machine_id",
            pl.lit(GATEWAY).alias("sensor"),
            pl.lit("dropout").alias("kind"),
            "start",
            "end",
            samples.alias("samples"),
            pl.format("no sensor of the machine reported for {} ({} samples): gateway or network outage", _duration_text(seconds), samples).alias("detail"),
        )

    # --- stuck and flat-lined ------------------------------------------------------------------
    def _frozen(
        self, valid: pl.DataFrame, rules: Mapping[str, StateRule], prior_changes: pl.DataFrame | None = None, counted_from: datetime | None = None
    ) -> pl.DataFrame:
        """Runs of one exactly repeated value that the sensor's own behaviour makes implausible,
        while the machine's other sensors vary.

        How often a sensor's value changes from one sample to the next is measured per
        operating state (off, idle, running, unknown) over the readings given and the
        ``prior_changes`` of earlier ones (set as ``changes_``). A repeat in a
        state where the sensor changes on a share ``p`` of its samples has probability
        ``1 - p``; a run is frozen when the product over its repeats falls below
        ``frozen_alpha``. A speed that reads exactly 0 whenever the machine is off, or sits at
        its set point while idle, has ``p`` near 0 in that state, so its constant stretches
        there carry no evidence; a transmitter that shows noise even while the machine is off
        (powered analog loops do) is caught freezing at any time.
        """
        data = _with_state(valid, rules)
        has_previous = _same_series()
        changed = (~has_previous | (pl.col("value") != pl.col("value").shift())).fill_null(True)
        bucket = pl.when(pl.col("ruled")).then(pl.col("state").cast(pl.Int8).fill_null(-1)).otherwise(pl.lit(-2, pl.Int8))
        data = data.with_columns(changed.alias("__changed"), has_previous.alias("__has_prev"), bucket.alias("__bucket"), _at_rail().alias("__rail"))
        data = data.with_columns(pl.col("__changed").cum_sum().alias("__run"))
        group = [*_KEY, "__bucket"]
        counted = pl.col("__has_prev") if counted_from is None else pl.col("__has_prev") & (pl.col("ts") >= _utc(counted_from))
        counts = (
            data.filter(counted)
            .group_by(group)
            .agg(pl.len().cast(pl.Int64).alias("samples"), pl.col("__changed").sum().cast(pl.Int64).alias("changes"))
            .rename({"__bucket": "state_bucket"})
            .select(list(CHANGE_SCHEMA))
            .cast(CHANGE_SCHEMA)
            .sort(*_KEY, "state_bucket")
        )
        self.changes_ = counts
        if prior_changes is not None and prior_changes.height:
            counts = pl.concat([counts, prior_changes.select(list(CHANGE_SCHEMA)).cast(CHANGE_SCHEMA)])
        rates = (
            counts.group_by(*_KEY, "state_bucket")
            .agg((pl.col("changes").sum() / pl.col("samples").sum()).alias("__p"))
            .rename({"state_bucket": "__bucket"})
        )
        data = data.join(rates, on=group, how="left", maintain_order="left").with_columns(pl.col("__p").fill_null(0.0))
        # Evidence of a repeat, in nats; one sample carries at most ln(1 / (1 - _MAX_CHANGE_RATE)).
        # A rail reading while the machine is not running is no evidence at all: clipped noise
        # with a slow drift rests on the rail for hours, and an unpowered loop reads its floor.
        resting_on_rail = pl.col("__rail") & pl.col("ruled") & (pl.col("state") != RUNNING).fill_null(True)
        evidence = (
            pl.when(~pl.col("__changed") & ~resting_on_rail)
            .then(-(1 - pl.col("__p").clip(upper_bound=_MAX_CHANGE_RATE)).log())
            .otherwise(0.0)
        )
        runs = (
            data.with_columns(evidence.alias("__evidence"))
            .group_by("__run")
            .agg(
                pl.col("machine_id", "sensor", "unit", "min", "max", "interval_s", "value").first(),
                pl.col("ts").min().alias("start"),
                pl.col("ts").max().alias("last"),
                pl.len().cast(pl.Int64).alias("samples"),
                pl.col("__evidence").sum().alias("evidence"),
                pl.col("__p").mean().alias("usual"),
            )
            .filter(
                (pl.col("samples") >= self.frozen_min_samples)
                & (pl.col("samples") * pl.col("interval_s") >= self.frozen_min_s)
                & (pl.col("evidence") >= -np.log(self.frozen_alpha))
            )
        )
        if runs.height == 0:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        # Value changes of every sensor of the machine, counted cumulatively in time: the changes
        # in (start, last] of a run are the other sensors' (its own sensor has none there).
        changes = (
            data.filter(pl.col("__changed") & _same_series())
            .group_by("machine_id", "ts")
            .agg(pl.len().alias("n"))
            .sort("machine_id", "ts")
            .with_columns(pl.col("n").cum_sum().over("machine_id").alias("c"))
            .select("machine_id", "ts", "c")
            .sort("ts")
        )
        n_sensors = data.group_by("machine_id").agg(pl.col("sensor").n_unique().alias("n_sensors"))

        def changes_until(column: str) -> pl.Expr:
            return pl.col(f"c_{column}").fill_null(0)

        runs = runs.sort("start").join_asof(changes.rename({"ts": "__t0", "c": "c_start"}), left_on="start", right_on="__t0", by="machine_id", check_sortedness=False)
        runs = runs.sort("last").join_asof(changes.rename({"ts": "__t1", "c": "c_last"}), left_on="last", right_on="__t1", by="machine_id", check_sortedness=False)
        runs = runs.join(n_sensors, on="machine_id", how="left").with_columns((changes_until("last") - changes_until("start")).alias("others"))
        runs = runs.filter((pl.col("others") > 0) | (pl.col("n_sensors") < 2))
        is_rail = _at_rail()
        unit = _unit_suffix(pl.col("unit"))
        seconds = (pl.col("last") + _interval() - pl.col("start")).dt.total_microseconds() / _US
        evidence = pl.format(
            "for {} ({} samples), where it usually changes on {} % of samples in the same operating state, while the machine's other sensors varied",
            _duration_text(seconds), pl.col("samples"), (100 * pl.col("usual")).round(0).cast(pl.Int64),
        )
        rail = pl.when(pl.col("value") == 0).then(pl.lit("zero")).when(pl.col("value") == pl.col("min")).then(pl.lit("the physical min")).otherwise(pl.lit("the physical max"))
        stuck = pl.format("value {}{} repeated exactly {}", _num(pl.col("value")), unit, evidence)
        flat = pl.format("flat at {}{} ({}) {}", _num(pl.col("value")), unit, rail, evidence)
        return runs.select(
            "machine_id",
            "sensor",
            pl.when(is_rail).then(pl.lit("flatline")).otherwise(pl.lit("stuck")).alias("kind"),
            "start",
            (pl.col("last") + _interval()).alias("end"),
            "samples",
            pl.when(is_rail).then(flat).otherwise(stuck).alias("detail"),
        )

    # --- spikes --------------------------------------------------------------------------------
    def _spikes(self, valid: pl.DataFrame) -> pl.DataFrame:
        """Brief excursions from the centred rolling median that return at once and that no
        other sensor of the machine shares."""
        h = self.spike_max_samples
        # The local level of a sample is the median of its h + 1 neighbours on either side (not
        # of a window holding the sample itself: that median follows the noise and shrinks the
        # residuals, so the noise scale would be underestimated). An excursion of up to h samples
        # is at most h of a sample's 2h + 2 neighbours, fewer than half: it never moves the level.
        data = valid.with_columns(pl.Series("__med", _neighbour_median(valid, h), nan_to_null=True))
        data = data.with_columns((pl.col("value") - pl.col("__med")).alias("__res"))
        mad = pl.col("__res").abs().rolling_median(self.spike_scale_window, center=True, min_samples=1).over(_KEY)
        span = (pl.col("max") - pl.col("min")).fill_null(pl.col("value").max().over(_KEY) - pl.col("value").min().over(_KEY))
        floor = (self.spike_floor_share * span).clip(lower_bound=1e-12)
        data = data.with_columns(pl.max_horizontal(MAD_TO_SIGMA * mad, floor).alias("__scale"))
        data = data.with_columns((pl.col("__res") / pl.col("__scale")).alias("__z"))
        data = data.with_columns(
            (pl.col("__z").abs() > self.spike_z).fill_null(False).alias("__cand"),
            pl.when(_same_series()).then(pl.col("value").shift()).alias("__prev"),
            pl.when(_same_series(-1)).then(pl.col("value").shift(-1)).alias("__next"),
        )
        # Excursions of any sensor per machine and sampling interval (the machine's shortest).
        bucket = pl.col("ts").dt.epoch("us") // (pl.col("interval_s").min().over("machine_id") * _US).cast(pl.Int64)
        data = data.with_columns(bucket.alias("__bucket"))
        shared = (
            data.filter(pl.col("__z").abs() > self.spike_corroborate_z)
            .group_by("machine_id", "__bucket")
            .agg(pl.col("sensor").n_unique().alias("__excursions"))
        )
        runs = (
            data.with_columns(_run_id(pl.col("__cand")).alias("__run"))
            .filter(pl.col("__cand"))
            .group_by("__run")
            .agg(
                pl.col("machine_id", "sensor", "unit", "interval_s").first(),
                pl.col("ts").min().alias("start"),
                pl.col("ts").max().alias("last"),
                pl.len().cast(pl.Int64).alias("samples"),
                pl.col("__prev").first().alias("before"),
                pl.col("__next").last().alias("after"),
                pl.col("value").get(pl.col("__z").abs().arg_max()).alias("peak"),
                pl.col("__med").get(pl.col("__z").abs().arg_max()).alias("median"),
                pl.col("__z").get(pl.col("__z").abs().arg_max()).alias("z"),
                pl.col("__bucket").get(pl.col("__z").abs().arg_max()).alias("__bucket"),
            )
        )
        returns = (pl.col("after") - pl.col("before")).abs() <= 0.5 * (pl.col("peak") - pl.col("before")).abs()
        runs = (
            runs.filter((pl.col("samples") <= h) & pl.col("before").is_not_null() & pl.col("after").is_not_null() & returns)
            .join(shared, on=["machine_id", "__bucket"], how="left")
            .filter(pl.col("__excursions").fill_null(1) <= 1)
        )
        unit = _unit_suffix(pl.col("unit"))
        detail = pl.format(
            "{}-sample spike to {}{} from a local median of {}{} (robust z {}), back to {}{} next",
            pl.col("samples"), _num(pl.col("peak")), unit, _num(pl.col("median")), unit,
            pl.col("z").round(1), _num(pl.col("after")), unit,
        )
        return runs.select(
            "machine_id",
            "sensor",
            pl.lit("spike").alias("kind"),
            "start",
            (pl.col("last") + _interval()).alias("end"),
            "samples",
            detail.alias("detail"),
        )


def detect_sensor_faults(
    readings: Frame,
    sensors: SensorSpecs,
    *,
    quarantine: Frame | None = None,
    rules: Mapping[str, StateRule] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    detector: SensorFaultDetector | None = None,
    prior_changes: pl.DataFrame | None = None,
    counted_from: datetime | None = None,
) -> pl.DataFrame:
    """Data-quality events of ``readings`` with ``detector``'s parameters (the defaults when
    None); see :meth:`SensorFaultDetector.detect`."""
    return (detector or SensorFaultDetector()).detect(
        readings, sensors, quarantine=quarantine, rules=rules, start=start, end=end, prior_changes=prior_changes, counted_from=counted_from
    )


def fault_mask(
    window_starts: pl.Series | Sequence[datetime],
    window_ends: pl.Series | Sequence[datetime],
    events: pl.DataFrame,
    *,
    machine_id: str | None = None,
    sensors: Sequence[str] | None = None,
    kinds: Sequence[str] = FAULT_KINDS,
) -> pl.DataFrame:
    """Which windows overlap a data-quality event, per sensor, so that machine anomaly scoring
    can leave them out while the fault lasts.

    One row per window, in the given order: ``window_start``, ``window_end``, one boolean
    column ``<sensor>__fault`` per sensor (``sensors``, by default those named in the events)
    and ``any_fault``. A window ``[start, end)`` overlaps an event ``[start, end)`` when they
    share any time; a gateway event (sensor ``"*"``) marks every sensor. ``events`` are of one
    machine, or pass ``machine_id`` to pick one; ``kinds`` selects the kinds that count.
    """
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)} (known: {', '.join(FAULT_KINDS)})")
    windows = pl.DataFrame(
        {"window_start": pl.Series(window_starts, dtype=None), "window_end": pl.Series(window_ends, dtype=None)}
    ).with_columns(pl.col("window_start", "window_end").cast(TS_DTYPE)).with_row_index("__w")
    own = events.filter(pl.col("kind").is_in(list(kinds)))
    if machine_id is not None:
        own = own.filter(pl.col("machine_id") == validate_machine_id(machine_id))
    elif own.get_column("machine_id").n_unique() > 1:
        raise ValueError("events of several machines: pass machine_id")
    names = list(sensors) if sensors is not None else sorted(set(own.get_column("sensor").to_list()) - {GATEWAY})
    for name in names:
        validate_sensor_name(name)
    hits = windows.join_where(
        own.select("sensor", pl.col("start").cast(TS_DTYPE), pl.col("end").cast(TS_DTYPE)),
        pl.col("window_start") < pl.col("end"),
        pl.col("window_end") > pl.col("start"),
    ).select("__w", "sensor").unique()
    gateway = hits.filter(pl.col("sensor") == GATEWAY).get_column("__w").implode()
    columns = [
        (pl.col("__w").is_in(hits.filter(pl.col("sensor") == name).get_column("__w").implode()) | pl.col("__w").is_in(gateway)).alias(f"{name}__fault")
        for name in names
    ]
    any_fault = pl.col("__w").is_in(hits.get_column("__w").implode()).alias("any_fault")
    return windows.select("window_start", "window_end", *columns, any_fault)


def sensor_specs(hub: Hub, factory_id: str) -> dict[str, list[SensorSpec]]:
    """The registered sensors of a factory as specs per machine (the ``sensors`` argument of
    :meth:`SensorFaultDetector.detect` for a whole factory)."""
    specs: dict[str, list[SensorSpec]] = {}
    for s in hub.registry.sensors(factory_id):
        specs.setdefault(s.machine_id, []).append(
            SensorSpec(name=s.sensor, unit=s.unit, min=s.min_value, max=s.max_value, interval_s=s.interval_s)
        )
    return specs


def detect_factory_faults(
    hub: Hub,
    factory_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    detector: SensorFaultDetector | None = None,
    prior_changes: pl.DataFrame | None = None,
    counted_from: datetime | None = None,
) -> pl.DataFrame:
    """Data-quality events of one factory over ``[start, end)``: its readings and quarantine
    from the lake, its registered sensor specs and, when features were built, their
    operating-state rules (``detector.changes_`` then holds the period's change counts)."""
    specs = sensor_specs(hub, factory_id)
    reader = FactoryReader(hub, factory_id)
    quarantine = reader.quarantine()
    if start is not None:
        quarantine = quarantine.filter(pl.col("ts") >= _utc(start))
    if end is not None:
        quarantine = quarantine.filter(pl.col("ts") < _utc(end))
    rules = FeatureStore(hub, factory_id).rules() or None
    return detect_sensor_faults(
        reader.readings(start, end), specs, quarantine=quarantine, rules=rules, start=start, end=end, detector=detector,
        prior_changes=prior_changes, counted_from=counted_from,
    )  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------------
def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _interval() -> pl.Expr:
    return pl.duration(microseconds=(pl.col("interval_s") * _US).cast(pl.Int64))


def _neighbour_median(data: pl.DataFrame, h: int) -> np.ndarray:
    """Per sample of ``data`` (sorted by machine, sensor, ts), the median of the ``h + 1``
    samples on either side of it, not itself; NaN where those neighbours are not all of its
    sensor (the series' first and last ``h + 1`` samples) or one is missing. A sliding window
    over the sorted values: per-row lists of shifted columns cost 50 times more."""
    values = data.get_column("value").cast(pl.Float64).fill_null(np.nan).to_numpy()
    width = 2 * h + 3
    out = np.full(len(values), np.nan)
    if len(values) < width:
        return out
    series = data.select((pl.col("machine_id") + "\x00" + pl.col("sensor")).rank("dense")).to_series().to_numpy()
    windows = np.lib.stride_tricks.sliding_window_view(values, width)
    medians = np.median(np.delete(windows, h + 1, axis=1), axis=1)  # NaN when a neighbour is NaN
    out[h + 1 : len(values) - h - 1] = np.where(series[: len(values) - width + 1] == series[width - 1 :], medians, np.nan)
    return out


def _same_series(offset: int = 1) -> pl.Expr:
    """True where the row ``offset`` rows back (forward, if negative) is of the same sensor
    (rows sorted by machine, sensor, ts)."""
    return ((pl.col("machine_id") == pl.col("machine_id").shift(offset)) & (pl.col("sensor") == pl.col("sensor").shift(offset))).fill_null(False)


def _at_rail() -> pl.Expr:
    """The value is exactly zero or the sensor's physical min or max."""
    return (pl.col("value") == 0) | (pl.col("value") == pl.col("min")).fill_null(False) | (pl.col("value") == pl.col("max")).fill_null(False)


def _run_id(flag: pl.Expr) -> pl.Expr:
    """Run number of consecutive rows of one sensor with the same ``flag``."""
    return (~_same_series() | (flag != flag.shift())).fill_null(True).cum_sum()


def _unit_suffix(unit: pl.Expr) -> pl.Expr:
    return pl.when(unit.fill_null("") != "").then(pl.lit(" ") + unit).otherwise(pl.lit(""))


def _num(value: pl.Expr) -> pl.Expr:
    """A number as text, rounded to 6 decimals (float noise such as 0.30000000000000004 hidden)."""
    return value.round(6).cast(pl.String)


def _duration_text(seconds: pl.Expr) -> pl.Expr:
    """"2 h 5 min", "3 min 20 s", "40 s": hours and minutes, seconds only under an hour."""
    s = seconds.round(0).cast(pl.Int64)
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    return pl.concat_str(
        [
            pl.when(h > 0).then(pl.format("{} h", h)),
            pl.when(m > 0).then(pl.format("{} min", m)),
            pl.when((h == 0) & ((sec > 0) | (s < 60))).then(pl.format("{} s", sec)),
        ],
        separator=" ",
        ignore_nulls=True,
    )


def _subtract(gaps: pl.DataFrame, outages: pl.DataFrame) -> pl.DataFrame:
    """The parts of each sensor's gaps outside its machine's gateway outages (a sweep per
    sensor over both kinds of boundary; adjacent pieces merged)."""
    columns = ["machine_id", "sensor", "interval_s", "start", "end"]
    if outages.height == 0 or gaps.height == 0:
        return gaps.select(columns)
    sensors = gaps.select("machine_id", "sensor", "interval_s").unique()
    covered = outages.select("machine_id", "start", "end").join(sensors.select(_KEY), on="machine_id", how="inner")
    zero, one = pl.lit(0, pl.Int32), pl.lit(1, pl.Int32)
    sweep = (
        pl.concat(
            [
                gaps.select(*_KEY, pl.col("start").alias("t"), one.alias("dg"), zero.alias("do")),
                gaps.select(*_KEY, pl.col("end").alias("t"), (-one).alias("dg"), zero.alias("do")),
                covered.select(*_KEY, pl.col("start").alias("t"), zero.alias("dg"), one.alias("do")),
                covered.select(*_KEY, pl.col("end").alias("t"), zero.alias("dg"), (-one).alias("do")),
            ]
        )
        .group_by(*_KEY, "t")
        .agg(pl.col("dg", "do").sum())
        .sort(*_KEY, "t")
        .with_columns(
            pl.col("dg").cum_sum().over(_KEY).alias("g"),
            pl.col("do").cum_sum().over(_KEY).alias("o"),
            pl.col("t").shift(-1).over(_KEY).alias("t_next"),
        )
        .filter((pl.col("g") > 0) & (pl.col("o") == 0) & pl.col("t_next").is_not_null())
    )
    new_piece = ~_same_series() | (pl.col("t") != pl.col("t_next").shift())
    return (
        sweep.with_columns(new_piece.fill_null(True).cum_sum().alias("__piece"))
        .group_by("__piece")
        .agg(pl.col(_KEY).first(), pl.col("t").min().alias("start"), pl.col("t_next").max().alias("end"))
        .join(sensors, on=_KEY, how="left")
        .select(columns)
    )


def _spec_table(sensors: SensorSpecs, machines: list[str]) -> pl.DataFrame:
    """machine_id, sensor, unit, min, max, interval_s of every specified sensor."""
    if isinstance(sensors, Mapping):
        per_machine = {validate_machine_id(m): list(s) for m, s in sensors.items()}
    else:
        shared = list(sensors)
        per_machine = {validate_machine_id(m): shared for m in machines}
    rows = []
    for machine, specs in per_machine.items():
        for s in specs:
            if not isinstance(s, SensorSpec):
                raise TypeError(f"sensor specs must be SensorSpec, got {type(s).__name__}")
            rows.append((machine, s.name, s.unit, s.min, s.max, float(s.interval_s)))
    schema = {"machine_id": pl.String, "sensor": pl.String, "unit": pl.String, "min": pl.Float64, "max": pl.Float64, "interval_s": pl.Float64}
    table = pl.DataFrame(rows, schema=schema, orient="row")
    if table.select(pl.struct(_KEY).is_duplicated().any()).item():
        raise ValueError("a sensor is specified twice for the same machine")
    return table


def _prepare(
    readings: Frame,
    sensors: SensorSpecs,
    quarantine: Frame | None,
    error_codes: tuple[float, ...],
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The readings and quarantined out-of-range values in ``[start, end)`` as one frame sorted
    by (machine, sensor, ts), with the sensors' specs and an ``oor`` flag; and the spec table."""
    frame = readings.lazy().select(
        pl.col("machine_id").cast(pl.String),
        pl.col("sensor").cast(pl.String),
        pl.col("ts").cast(TS_DTYPE),
        pl.col("value").cast(pl.Float64),
        pl.lit(None, pl.String).alias("reason"),
        pl.lit(False).alias("__quarantined"),
    )
    # Non-finite values are no readings: the sensor is silent there (ingest rejects them too).
    frame = frame.filter(pl.col("ts").is_not_null() & pl.col("value").is_finite())
    parts = [frame]
    if quarantine is not None:
        parts.append(
            quarantine.lazy()
            .filter(pl.col("reason").str.starts_with(OUT_OF_RANGE_REASON) & pl.col("ts").is_not_null())
            .select(
                pl.col("machine_id").cast(pl.String).str.strip_chars(),
                pl.col("sensor").cast(pl.String).str.strip_chars(),
                pl.col("ts").cast(TS_DTYPE),
                pl.col("raw").cast(pl.String).str.strip_chars().str.replace(",", ".", literal=True).cast(pl.Float64, strict=False).alias("value"),
                pl.col("reason").cast(pl.String),
                pl.lit(True).alias("__quarantined"),
            )
        )
    combined = pl.concat(parts, how="vertical")
    if start is not None:
        combined = combined.filter(pl.col("ts") >= _utc(start))
    if end is not None:
        combined = combined.filter(pl.col("ts") < _utc(end))
    machines = combined.select(pl.col("machine_id").unique()).collect().get_column("machine_id").drop_nulls().to_list()
    spec = _spec_table(sensors, machines)
    pairs, data = pl.collect_all(
        [
            combined.select(_KEY).unique().join(spec.lazy(), on=_KEY, how="anti"),
            combined.join(spec.lazy(), on=_KEY, how="inner", maintain_order="left")  # sorted input sorts fast
            # A stored reading wins over a quarantined one of the same key (a later corrected re-send).
            .sort([*_KEY, "ts", "__quarantined"])
            .filter(~(_same_series() & (pl.col("ts") == pl.col("ts").shift())).fill_null(False)),
        ]
    )
    if pairs.height:
        log.warning("%d (machine, sensor) pairs have no sensor spec and are skipped, e.g. %s", pairs.height, pairs.row(0))
    lo, hi = pl.col("min"), pl.col("max")
    oor = (
        pl.col("__quarantined")
        | pl.col("value").is_in(list(error_codes)).fill_null(False)
        | (pl.col("value") < lo).fill_null(False)
        | (pl.col("value") > hi).fill_null(False)
    )
    data = data.with_columns(oor.alias("oor")).drop("__quarantined")
    return data, spec


def _fit_rules(data: pl.DataFrame, spec: pl.DataFrame) -> dict[str, StateRule]:
    """Operating-state rules fitted on the given readings, one per machine with a load sensor
    (the feature layer's method, :func:`~analytics.features.state.fit_state_rule`)."""
    rules: dict[str, StateRule] = {}
    valid = data.filter(~pl.col("oor"))
    for machine in spec.get_column("machine_id").unique().sort().to_list():
        sensor = load_sensor(spec.filter(pl.col("machine_id") == machine).select("sensor", pl.col("unit").fill_null("")))
        if sensor is None:
            continue
        part = valid.filter((pl.col("machine_id") == machine) & (pl.col("sensor") == sensor))
        if part.height == 0:
            continue
        ts = part.get_column("ts")
        rules[machine] = fit_state_rule(machine, sensor, part.get_column("value").to_numpy(), str(ts.min()), str(ts.max()))
    return rules


def _with_state(valid: pl.DataFrame, rules: Mapping[str, StateRule]) -> pl.DataFrame:
    """Add ``state`` (OFF/IDLE/RUNNING, null when unknown) and ``ruled`` to every sample: the
    state of its machine's latest load reading no older than two of the load sensor's
    intervals (the feature layer's tolerance). The rows keep their order."""
    table = pl.DataFrame(
        [(r.machine_id, r.sensor, r.off_below, r.run_above) for r in rules.values()],
        schema={"machine_id": pl.String, "sensor": pl.String, "off_below": pl.Float64, "run_above": pl.Float64},
        orient="row",
    )
    load = valid.join(table, on=_KEY, how="inner").select(
        "machine_id",
        pl.col("ts").alias("__state_ts"),
        (2 * pl.col("interval_s") * _US).cast(pl.Int64).alias("__tolerance_us"),
        pl.when(pl.col("value") >= pl.col("run_above")).then(pl.lit(RUNNING, pl.Int8))
        .when(pl.col("value") >= pl.col("off_below")).then(pl.lit(IDLE, pl.Int8))
        .otherwise(pl.lit(OFF, pl.Int8))
        .alias("state"),
    ).sort("__state_ts")
    # The as-of join needs time order; the rows go back to their (machine, sensor, ts) order by
    # their row number, a far cheaper sort than on the three keys again.
    out = (
        valid.with_row_index("__row")
        .sort("ts")
        .join_asof(load, left_on="ts", right_on="__state_ts", by="machine_id", strategy="backward", check_sortedness=False)
        .sort("__row")
    )
    fresh = (pl.col("ts") - pl.col("__state_ts")).dt.total_microseconds() <= pl.col("__tolerance_us")
    return out.with_columns(
        pl.when(fresh).then(pl.col("state")).alias("state"),
        pl.col("machine_id").is_in(list(rules)).alias("ruled"),
    ).drop("__row", "__state_ts", "__tolerance_us")


__all__ = [
    "CHANGE_SCHEMA",
    "ERROR_CODES",
    "EVENT_SCHEMA",
    "FAULT_KINDS",
    "GATEWAY",
    "SensorFaultDetector",
    "detect_factory_faults",
    "detect_sensor_faults",
    "fault_mask",
    "sensor_specs",
]
