"""What every page shares: the hub, the signed-in user, the factory they may see, the language,
and the cached, factory-keyed data calls.

Tenancy is enforced here, once: every data call takes the :class:`Session` and checks that its
user may see the factory before the cached library function runs. Cache entries are keyed by
factory id (and day or range), so one factory's entry can only be reached by asking for that
factory, which the check refuses to anyone not of it. A factory a user may not see is answered
exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from analytics.i18n import LANGUAGES, column_labels, t
from analytics.store.hub import Hub
from analytics.store.users import User, UserBook, default_language

APP_DIR = Path(__file__).resolve().parent
SESSION_USER = "username"
SESSION_LANGUAGE = "language"
SESSION_FACTORY = "factory"


@st.cache_resource
def hub() -> Hub:
    return Hub.open()


@dataclass(frozen=True)
class Session:
    """The signed-in user, the factory shown and the language of this browser session."""

    user: User
    factory_id: str | None
    timezone: str
    language: str

    def t(self, key: str, **values: Any) -> str:
        return t(key, self.language, **values)


class AccessDenied(Exception):
    """A page asked for a factory the signed-in user may not see (shown like an unknown one)."""


def signed_in_user() -> User | None:
    """The user of this browser session, re-read from the registry on every run so a disabled or
    removed account loses access at once; None when nobody is signed in."""
    username = st.session_state.get(SESSION_USER)
    if not username:
        return None
    book = UserBook(hub())
    try:
        user = book.user(username)
    except LookupError:
        user = None
    if user is None or user.disabled:
        st.session_state.pop(SESSION_USER, None)
        return None
    return user


def sign_in(user: User) -> None:
    st.session_state.clear()
    st.session_state[SESSION_USER] = user.username


def sign_out() -> None:
    # Nothing per user is cached: the data caches are keyed by factory and guarded per call.
    st.session_state.clear()


def oidc_configured() -> bool:
    """Whether OpenID Connect sign-in (``st.login``) is set up in ``.streamlit/secrets.toml``."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False
    except Exception:  # noqa: BLE001 - a malformed secrets file means: not configured
        return False


def current_session(user: User) -> Session:
    """The factory this session shows (the user's own; an admin's choice) and its language."""
    registry = hub().registry
    visible = UserBook(hub()).visible_factories(user)
    wanted = st.session_state.get(SESSION_FACTORY)
    if user.is_admin:
        asked = st.query_params.get("factory")
        if asked in visible:
            wanted = asked
        if wanted not in visible:
            wanted = visible[0] if visible else None
    else:
        wanted = user.factory_id
    st.session_state[SESSION_FACTORY] = wanted
    timezone = registry.factory(wanted).timezone if wanted else hub().settings.default_timezone
    language = st.session_state.get(SESSION_LANGUAGE) or user.language or default_language(timezone)
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    st.session_state[SESSION_LANGUAGE] = language
    return Session(user, wanted, timezone, language)


def require_factory(session: Session) -> str:
    """The session's factory id, or stop the page with a notice when there is none."""
    if session.factory_id is None:
        st.info(session.t("common.no_factory"))
        st.stop()
    return session.factory_id


def guard(session: Session, factory_id: str) -> str:
    """Refuse a factory the session's user may not see."""
    if not session.user.can_see(factory_id):
        raise AccessDenied(factory_id)
    return factory_id


def session() -> Session:
    """The page's session, set by the router before the page runs."""
    value = st.session_state.get("_session")
    if not isinstance(value, Session):
        st.stop()
    return value


# --- cached, factory-keyed data calls (the library does the work) ------------------------------
@st.cache_data(ttl=60, show_spinner=False)
def _fleet(factory_id: str, day: date | None) -> Any:
    from analytics.views import fleet_overview

    return fleet_overview(hub(), factory_id, day=day)


def fleet(s: Session, day: date | None = None) -> Any:
    return _fleet(guard(s, require_factory(s)), day)


@st.cache_data(ttl=60, show_spinner=False)
def _machine(factory_id: str, machine_id: str, start: datetime, end: datetime, sensors: tuple[str, ...] | None, max_points: int) -> Any:
    from analytics.views import machine_detail

    return machine_detail(hub(), factory_id, machine_id, start, end, sensors=list(sensors) if sensors else None, max_points=max_points)


def machine(s: Session, machine_id: str, start: datetime, end: datetime, sensors: tuple[str, ...] | None = None, max_points: int = 1500) -> Any:
    return _machine(guard(s, require_factory(s)), machine_id, start, end, sensors, max_points)


@st.cache_data(ttl=60, show_spinner=False)
def _machines(factory_id: str) -> pl.DataFrame:
    rows = [(m.machine_id, m.machine_type, m.model) for m in hub().registry.machines(factory_id)]
    return pl.DataFrame(rows, schema={"machine_id": pl.String, "machine_type": pl.String, "model": pl.String}, orient="row")


def machines(s: Session) -> pl.DataFrame:
    return _machines(guard(s, require_factory(s)))


@st.cache_data(ttl=60, show_spinner=False)
def _solved_days(factory_id: str) -> list[date]:
    from analytics.solutions.solve import solution_store

    return solution_store(hub(), factory_id).dates()


def solved_days(s: Session) -> list[date]:
    return _solved_days(guard(s, require_factory(s)))


@st.cache_data(ttl=60, show_spinner=False)
def _priority(factory_id: str, day: date) -> pl.DataFrame:
    from analytics.solutions.solve import read_priority

    return read_priority(hub(), factory_id, day)


def priority(s: Session, day: date) -> pl.DataFrame:
    return _priority(guard(s, require_factory(s)), day)


@st.cache_data(ttl=60, show_spinner=False)
def _quality(factory_id: str) -> pl.DataFrame:
    from analytics.store.reader import FactoryReader

    return FactoryReader(hub(), factory_id).quality().collect()


def quality(s: Session) -> pl.DataFrame:
    return _quality(guard(s, require_factory(s)))


@st.cache_data(ttl=60, show_spinner=False)
def _quarantine(factory_id: str, limit: int) -> pl.DataFrame:
    from analytics.store.reader import FactoryReader

    return FactoryReader(hub(), factory_id).quarantine().sort("quarantined_at", descending=True).head(limit).collect()


def quarantine(s: Session, limit: int = 1000) -> pl.DataFrame:
    return _quarantine(guard(s, require_factory(s)), limit)


@st.cache_data(ttl=60, show_spinner=False)
def _history(factory_id: str) -> pl.DataFrame:
    from analytics.store.overview import ingest_history

    return ingest_history(hub(), factory_id)


def history(s: Session) -> pl.DataFrame:
    return _history(guard(s, require_factory(s)))


@st.cache_data(ttl=60, show_spinner=False)
def _sensor_faults(factory_id: str, start: date, end: date) -> pl.DataFrame:
    from analytics.models.anomaly.scoring import read_faults

    return read_faults(hub(), factory_id, start, end).collect()


def sensor_faults(s: Session, start: date, end: date) -> pl.DataFrame:
    return _sensor_faults(guard(s, require_factory(s)), start, end)


@st.cache_data(ttl=60, show_spinner=False)
def _model_cards(factory_id: str) -> pl.DataFrame:
    from analytics.views.models import model_cards

    return model_cards(hub(), factory_id)


def model_cards(s: Session) -> pl.DataFrame:
    return _model_cards(guard(s, require_factory(s)))


def clear_factory_caches() -> None:
    """After a write (alert acknowledged, file stored): the next read sees it at once."""
    for cached in (_fleet, _machine, _priority, _quality, _quarantine, _history, _sensor_faults, _solved_days, _model_cards):
        cached.clear()


def risk_label(s: Session, machine_type: str, horizon_hours: float | None) -> str:
    """ "Failure within 7 days": the horizon of the model that scored it, else the configured one
    (so the label says the same before the first model exists)."""
    from analytics.i18n import format_hours

    hours = horizon_hours or hub().settings.failure.horizon(machine_type)
    return s.t("overview.failure_probability", horizon=format_hours(hours, s.language))


def to_local(frame: pl.DataFrame, timezone: str, *columns: str) -> pl.DataFrame:
    """UTC timestamp columns as naive wall-clock times of the factory (what its people read; the
    browser then draws them as they are, whatever its own time zone)."""
    present = [c for c in columns if c in frame.columns]
    return frame.with_columns(pl.col(c).dt.convert_time_zone(timezone).dt.replace_time_zone(None) for c in present)


MISSING = "—"  # how a table shows a missing value (Streamlit's own is "None")


def show_table(
    frame: pl.DataFrame,
    s: Session,
    *,
    values: Mapping[str, Callable[[str, str], str | None]] | None = None,
    formats: Mapping[str, Callable[[str], Any]] | None = None,
    height: int | str = "auto",
) -> None:
    """A library table in the session's language: each column under its label
    (:func:`~analytics.i18n.column_labels`; a column without one fails here, not in front of a
    plant manager), missing values as a dash.

    ``values``: per text column, a function of (value, language) giving the words to show (a status
    label, :func:`~analytics.i18n.localize_text`); ``formats``: per column, a function of its label
    giving a Streamlit column config (number format, progress bar)."""
    labels = column_labels(frame.columns, s.language)
    for column, label in (values or {}).items():
        seen = frame.get_column(column).drop_nulls().unique().to_list()
        shown = [label(v, s.language) for v in seen]
        frame = frame.with_columns(pl.col(column).replace_strict(seen, shown, default=None, return_dtype=pl.String))
    config: dict[str, Any] = {c: (formats[c](labels[c]) if formats and c in formats else labels[c]) for c in frame.columns}
    st.dataframe(frame, hide_index=True, width="stretch", height=height, column_config=config, placeholder=MISSING)


def number_column(fmt: str) -> Callable[[str], Any]:
    """For :func:`show_table`'s ``formats``: numbers in ``fmt`` (printf style, or "percent")."""
    return lambda label: st.column_config.NumberColumn(label, format=fmt)


def share_column(label: str) -> Any:
    """For :func:`show_table`'s ``formats``: a share of 0-1 as a percentage bar."""
    return st.column_config.ProgressColumn(label, format="percent", min_value=0, max_value=1)


def alert_book(s: Session) -> Any:
    """The factory's alerts (read fresh on every run: they change from this page)."""
    from analytics.solutions.alerts import AlertBook

    return AlertBook(hub(), guard(s, require_factory(s)))
