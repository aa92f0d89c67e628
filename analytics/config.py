"""Typed hub configuration, read once from the environment (prefix ``FACTORYHUB_``)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.schemas import validate_timezone


class AnomalySettings(BaseModel):
    """How machines are monitored for anomalies (:mod:`analytics.models.anomaly.monitor`).

    Environment: ``FACTORYHUB_ANOMALY__<FIELD>``, e.g. ``FACTORYHUB_ANOMALY__REFIT_DAYS=14``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: str = Field("1h", description="Feature window the detectors score.")
    stats: tuple[str, ...] = Field(
        ("mean", "q90"),
        description="Per-sensor window statistics the detectors see (level and upper tail: what degradations move; "
        "the within-window spread and slope mostly measure warm-ups and job changes).",
    )
    detector: str = Field("pca", description="Base detector: pca or any PyOD name (ecod, iforest, ...).")
    modes: bool = Field(True, description="Fit a detector per operating mode of the load sensor.")
    quantile: float = Field(
        0.999,
        gt=0,
        lt=1,
        description="Out-of-fold quantile of healthy scores taken as the threshold. A machine runs about 400 hour "
        "windows a month; at most one false alarm a month needs a per-window exceedance rate well under 1/400.",
    )
    lookback_days: int = Field(28, ge=1, description="Days of history a model learns from (the most recent healthy ones).")
    refit_days: int = Field(
        3,
        ge=1,
        description="Refit a machine's model when it is this many days old (the shop air moves about 1 °C a week in "
        "spring and autumn; a 3-day-old model lags it less: 0.56 against 0.75 false alarms per machine-month on the simulator).",
    )
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Refit early when this share of a day's windows ran outside the operating range trained on."
    )
    min_rows: int = Field(40, ge=4, description="Fewest healthy windows a model is fitted on.")
    persistence: tuple[int, int] = Field((3, 4), description="Alarm when k of the last n windows are above the threshold.")

    @field_validator("persistence")
    @classmethod
    def _k_of_n(cls, value: tuple[int, int]) -> tuple[int, int]:
        k, n = value
        if not 1 <= k <= n:
            raise ValueError(f"persistence needs 1 <= k <= n, got {k} of {n}")
        return value


class FailureSettings(BaseModel):
    """How failure-risk and time-to-failure models are trained (:mod:`analytics.models.failure`).

    Environment: ``FACTORYHUB_FAILURE__<FIELD>``, e.g. ``FACTORYHUB_FAILURE__HORIZON_HOURS='{"cnc_machining_center": 72}'``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_horizon_hours: float = Field(168.0, gt=0, description="Risk horizon: probability of a failure within this many hours.")
    horizon_hours: dict[str, float] = Field(default_factory=dict, description="Risk horizon per machine type, where it differs from the default.")
    hazard_hours: float = Field(
        12.0,
        gt=0,
        description="What the classifier learns: a failure within this many hours (the near-term hazard). The risk over "
        "the horizon compounds it, 1 - (1 - p)^(horizon / hazard), as if the hazard held. A 7-day label marks every hour of "
        "the week before a failure, most of them before any sensor could show it. On the development fleet (simulator seed "
        "11) a 7-day label warned 9 % of failures; learning the 24 h / 12 h / 6 h hazard warned 79 / 80 / 83 % at alarm "
        "precision 0.57 / 0.70 / 0.72, with the Brier score at the base rate for 24 h and 12 h and above it for 6 h. With "
        "the models' features since (no sensor levels, models.failure.dataset.MODEL_SENSOR_FEATURES) 12 h / 24 h warned "
        "82 / 85 % at precision 0.60 / 0.53, Brier 0.168 for both against the base rate's 0.170.",
    )
    min_failures: int = Field(
        5, ge=1, description="Failures of its own a factory needs (per machine type) before a model of its own data competes with the pooled one: its own recipe, and the pooled model fine-tuned on its rows."
    )
    validation_blocks: int = Field(2, ge=1, description="Consecutive test blocks in the last half of the history (time-ordered validation).")
    validation_groups: int = Field(2, ge=2, description="Machine groups per block (no machine on both sides of a split).")
    fleet_validation_groups: int = Field(
        5,
        ge=2,
        description="Machine groups per block in the fleet evaluation (eval failure --benchmark simulator). A fleet has machines "
        "to spare, and a deployed pooled model learns from all of them: with five groups each test group is scored by models "
        "trained on four fifths of the other machines, as in 5-fold grouped cross-validation, where two groups left half. "
        "On simulator seed 23 (held out) five groups raised recall at daily-alarm precision 0.8 from 0.31 to 0.37 and ROC "
        "from 0.63 to 0.68; on seed 11 from 0.45 to 0.56.",
    )
    train_stride_hours: int = Field(
        2, ge=1, description="Train on every n-th hourly window: neighbouring hours say nearly the same, and half the rows train twice as fast."
    )
    retrain_days: int = Field(7, ge=1, description="Retrain a factory's failure models when the champion is this many days old.")

    def horizon(self, machine_type: str) -> float:
        return self.horizon_hours.get(machine_type, self.default_horizon_hours)


class SolutionSettings(BaseModel):
    """How scores become a machine's status, alerts and actions (:mod:`analytics.solutions`).

    Environment: ``FACTORYHUB_SOLUTIONS__<FIELD>``, e.g. ``FACTORYHUB_SOLUTIONS__WARNING_ALARM_HOURS=3``.

    A status is the worst of what the anomaly monitor and the failure model say. The anomaly side
    counts the day's *alarmed* hourly windows (windows that passed the monitor's persistence rule)
    and the consecutive days with alarms; the failure side reads the calibrated probability of a
    failure within the horizon and the time by which a failure has a 10 % chance.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    watch_alarm_hours: float = Field(1.0, ge=0, description="Alarmed hours in a day that make a machine worth watching.")
    warning_alarm_hours: float = Field(
        2.0,
        ge=0,
        description="Alarmed hours in a day that make a warning: a single alarmed hour is most often a passing disturbance. "
        "On the development fleet (simulator seed 8, 4 factories x 90 days) 1 / 2 / 3 h warned 96 / 92 / 90 % of failures "
        "with 0.56 / 0.26 / 0.17 false alerts per machine-month.",
    )
    rising_above_hours: float = Field(
        3.0,
        ge=0,
        description="A day with an alarm (watch_alarm_hours) and at least this many hours above the monitor's threshold is a "
        "warning even short of warning_alarm_hours: the persistence rule alarms from an exceedance's third hour, so a "
        "rise that begins late in the day ends it with one alarmed hour, and it often ends in a failure the next day. "
        "0 turns it off; not applied to a machine with recent false-alarm verdicts. On the development fleets (seeds 8 "
        "and 9) 3 h warned 0.96 and 0.82 of failures (0.92 and 0.75 without) at 0.43 and 0.27 false alerts per machine-month; "
        "4 h warned fewer on seed 9.",
    )
    corroborated_above_hours: float = Field(
        2.0,
        ge=0,
        description="Hours above the monitor's threshold that make a warning, without an alarm, when a sensor of the "
        "evidence stands corroborated_sd above its own normal and still rises: the exceedances are the start of a "
        "rise a technician can see on the machine. 0 turns it off; not applied to a machine with recent false-alarm verdicts. "
        "On the development fleets (seeds 8 and 9, with the late-rise rule) 2 h and 3 sd warned one more failure each "
        "for 2 and 10 more warning days on healthy machines; 1 h made 15 and 39.",
    )
    corroborated_sd: float = Field(3.0, gt=0, description="Offset from its 28-day normal, in robust sd, of a rising evidence sensor (see corroborated_above_hours).")
    critical_alarm_days: int = Field(
        3, ge=1, description="Consecutive days with a warning-level alarm that make it critical: a fault that persists is growing."
    )
    watch_probability: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Failure probability within the horizon worth watching. Well above the base rate: on the development "
        "fleet the typical machine-week carries 0.2-0.3, and 0.3 left healthy machines normal on only 93 % of days (0.5: 96 %).",
    )
    warning_probability: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Failure probability within the horizon that alone makes a warning. High because the simulator fleet's "
        "failure model alarms at precision about 0.5 at 0.5; with an anomaly alarm the watch level suffices.",
    )
    critical_ttf_hours: float = Field(
        24.0, gt=0, description="A warning whose 10 % time to failure is within this many hours is critical."
    )
    false_alarm_hours: float = Field(
        2.0,
        ge=0,
        description="Extra alarmed hours a warning needs per false alarm a person reported on the machine within "
        "feedback_days: a machine whose alarms were often false has to alarm longer before it warns again (a real "
        "degradation alarms for most of its running day).",
    )
    max_alarm_hours: float = Field(12.0, gt=0, description="Most alarmed hours a warning can be made to need, however many false alarms.")
    feedback_days: int = Field(90, ge=1, description="How long a false-alarm verdict keeps weighing on its machine.")
    evidence_z: float = Field(2.0, gt=0, description="Offset from the machine's own baseline, in robust sd, that counts as evidence.")
    driver_z: float = Field(
        0.5,
        gt=0,
        description="Offset, in robust sd, that makes a sensor the anomaly detector named as a driver count as evidence. "
        "Lower than evidence_z because the detector sees a sensor against its partners (a clogged intake draws less air "
        "at more speed and current: each alone moves less than the hour-to-hour swing of demand).",
    )
    baseline_days: int = Field(28, ge=3, description="Days of history the evidence baseline is taken from.")
    trend_days: int = Field(5, ge=2, description="Days the evidence trend (units per day) is fitted over.")
    max_evidence: int = Field(4, ge=1, description="Most sensors cited as evidence for one machine.")


class MailSettings(BaseModel):
    """SMTP delivery of the daily report (:mod:`analytics.reports.mail`).

    Environment: ``FACTORYHUB_MAIL__<FIELD>``, e.g. ``FACTORYHUB_MAIL__HOST=smtp.example.com``,
    ``FACTORYHUB_MAIL__PASSWORD=...``. The password is a secret: it is never printed or logged,
    and it has no default (it belongs in the environment or a secrets manager, not in a file).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None = Field(None, description="SMTP server; none: reports are only written to files.")
    port: int = Field(587, gt=0, lt=65536, description="587 for STARTTLS, 465 for SSL, 25 for plain relays.")
    security: Literal["starttls", "ssl", "none"] = Field("starttls", description="How the connection is encrypted.")
    username: str | None = Field(None, description="SMTP login; none: send without logging in (a local relay).")
    password: SecretStr | None = Field(None, description="SMTP password.")
    sender: str = Field("Factory Data Hub <reports@localhost>", description="From: address of the reports.")
    timeout_s: float = Field(30.0, gt=0, description="Seconds to wait for the server on each step.")
    attempts: int = Field(4, ge=1, description="Tries per message before giving up on a temporary failure.")
    backoff_s: float = Field(2.0, ge=0, description="Wait before the second try; doubled before each next one.")


class HubSettings(BaseSettings):
    """Settings of one hub installation.

    Every field can be set by an environment variable ``FACTORYHUB_<FIELD>``, e.g.
    ``FACTORYHUB_DATA_DIR=/srv/hub``.
    """

    model_config = SettingsConfigDict(env_prefix="FACTORYHUB_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("./hub_data"), description="The hub's control folder (registry, locks); its factories' data too unless storage is set.")
    storage: str | None = Field(
        None,
        description="Where factories' data live (lake, features, scores, models, inboxes, reports): a local folder or an fsspec URI "
        "such as s3://bucket/prefix, credentials from the store's standard environment (AWS_*); none: the data_dir.",
    )
    default_timezone: str = Field("Asia/Seoul", description="Time zone of new factories.")
    ingest_chunk_rows: int = Field(
        1_000_000, gt=0, description="Rows validated per chunk; bounds ingest memory."
    )
    future_tolerance: timedelta = Field(
        timedelta(minutes=10), description="How far past 'now' a timestamp may lie (clock skew)."
    )
    compact_min_files: int = Field(
        8, ge=2, description="Compact a date partition once it holds this many files."
    )
    min_training_days: int = Field(
        14, ge=1, description="Days of history a sensor needs before models train on it."
    )
    flatline_min_samples: int = Field(
        30, ge=3, description="Identical consecutive samples that count as a flat-lined stretch."
    )

    scheduler: str | None = Field(
        None,
        description="Dask scheduler the daily run fans factories out to (tcp://HOST:PORT); none: this machine alone.",
    )
    dashboard_url: str | None = Field(
        "http://localhost:8501", description="Address of the dashboard, for the links in reports; empty: no links."
    )

    anomaly: AnomalySettings = Field(default_factory=AnomalySettings, description="Anomaly monitoring.")
    failure: FailureSettings = Field(default_factory=FailureSettings, description="Failure risk and time-to-failure models.")
    solutions: SolutionSettings = Field(default_factory=SolutionSettings, description="Machine status, alerts and actions.")
    mail: MailSettings = Field(default_factory=MailSettings, description="E-mail delivery of the daily report.")

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return validate_timezone(value)


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process-wide settings, read from the environment on first use."""
    return HubSettings()
