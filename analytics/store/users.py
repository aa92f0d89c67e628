"""Dashboard users: who may sign in, with which role, and which factories they may see.

A plant manager or an engineer belongs to exactly one factory and sees only its dashboards; a hub
admin belongs to none and sees every factory. Accounts live in the hub's registry (the ``users``
table), so deleting a factory deletes its people with its data.

Passwords are kept only as argon2id hashes (``argon2-cffi``), never logged. Sign-in is built so
that it tells an attacker as little as possible:

* :meth:`UserBook.authenticate` answers None for every failure (unknown name, wrong password,
  disabled account, too many attempts) and never says which;
* an unknown name still costs one hash verification, against a dummy hash with the current
  parameters, so the time taken does not reveal which names exist;
* after :data:`MAX_FAILURES` failed attempts for a name within :data:`FAILURE_WINDOW`, further
  attempts for it fail without a verification until the oldest failure leaves the window. The
  failures are rows in the registry, so every dashboard process and the CLI share the count; an
  attempt is counted *before* its verification (and the count is cleared on success), so parallel
  guesses cannot slip past the limit. Failures are keyed by a digest of the name typed, known or
  not (people type passwords into the name field; the registry never holds that text);
* a hash made with weaker parameters than the current ones is replaced at the next successful
  sign-in, the only moment the password is at hand.

Sign-in through an identity provider (OpenID Connect, Streamlit's ``st.login``) maps the provider's
verified e-mail address to an account with :meth:`UserBook.by_email`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from analytics.errors import AlreadyExistsError, AuthError, NotFoundError
from analytics.schemas import FACTORY_ID_PATTERN, USERNAME_PATTERN, validate_username
from analytics.store.hub import Hub

__all__ = [
    "FAILURE_WINDOW",
    "LANGUAGES",
    "MAX_FAILURES",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "AuthError",
    "User",
    "UserBook",
    "default_language",
]

log = logging.getLogger(__name__)

ROLES: Final[tuple[str, ...]] = ("plant_manager", "engineer", "admin")
LANGUAGES: Final[tuple[str, ...]] = ("ko", "en")
ADMIN: Final = "admin"

# Length is what makes a password hard to guess (NIST SP 800-63B); no composition rules. The upper
# bound keeps a single request from making the server hash megabytes.
MIN_PASSWORD_LENGTH: Final = 10
MAX_PASSWORD_LENGTH: Final = 1024
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = timedelta(minutes=15)

_MAX_DISPLAY_NAME = 200
_MAX_EMAIL = 254  # RFC 5321's limit on a forward path
# Zones whose people read Korean: the South's (and its legacy alias) and the North's.
_KOREAN_ZONES: Final = frozenset({"Asia/Seoul", "ROK", "Asia/Pyongyang"})
# Separates the throttling digests from any other SHA-256 of a user name.
_KEY_CONTEXT = b"factoryhub-login-failure:"

_USER_COLUMNS = "username, display_name, role, factory_id, language, email, created_at, last_login_at, disabled"


@dataclass(frozen=True)
class User:
    """A dashboard account as the app sees it: everything but the password hash."""

    username: str
    display_name: str
    role: str
    factory_id: str | None  # None only for an admin
    language: str | None  # None: the factory's default (see default_language)
    email: str | None
    created_at: str  # ISO UTC
    last_login_at: str | None
    disabled: bool

    @property
    def is_admin(self) -> bool:
        """A hub admin: belongs to no factory and may see every one."""
        return self.role == ADMIN

    def can_see(self, factory_id: str) -> bool:
        """Whether this user may open ``factory_id``'s dashboards: an admin any factory, everyone
        else only their own, a disabled account none.

        A malformed id answers False rather than raising, since it may come from a URL. Whether
        the factory is registered is the registry's question, not this object's: offer the list
        from :meth:`UserBook.visible_factories`, which also re-reads the account.
        """
        if self.disabled or not isinstance(factory_id, str) or not FACTORY_ID_PATTERN.fullmatch(factory_id):
            return False
        return self.is_admin or factory_id == self.factory_id


def default_language(timezone: str) -> str:
    """The dashboard language for a user who has not chosen one: Korean ("ko") for a factory in a
    Korean time zone, English ("en") elsewhere."""
    return "ko" if timezone in _KOREAN_ZONES else "en"


# --- checks ------------------------------------------------------------------------------------
def _check_role(role: object) -> str:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return str(role)


def _check_language(language: object) -> str | None:
    if language is not None and language not in LANGUAGES:
        raise AuthError(f"language must be one of {', '.join(LANGUAGES)} (or none: the factory's default), got {language!r}")
    return None if language is None else str(language)


def _check_password(password: object) -> str:
    # The message never repeats the password: it ends up in terminals and logs.
    if not isinstance(password, str):
        raise AuthError(f"the password must be text, got {type(password).__name__}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters (it has {len(password)})")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def _normal_email(email: str) -> str:
    # Addresses are compared case-insensitively: identity providers do not agree on the case.
    return email.strip().lower()


def _check_email(email: object) -> str | None:
    if email is None:
        return None
    if not isinstance(email, str):
        raise AuthError(f"the e-mail address must be text, got {type(email).__name__}")
    value = _normal_email(email)
    if not value:
        return None
    # Deliberately loose (one '@', a dotted domain, no blanks): the identity provider is the one
    # that knows whether an address is real; this only catches what cannot be one.
    local, _, domain = value.partition("@")
    well_formed = local and "." in domain.strip(".") and "@" not in domain and value.isprintable() and " " not in value
    if not well_formed or len(value) > _MAX_EMAIL:
        raise AuthError(f"invalid e-mail address {email!r}")
    return value


def _check_display_name(display_name: object, username: str) -> str:
    if not isinstance(display_name, str):
        raise AuthError(f"the display name must be text, got {type(display_name).__name__}")
    value = display_name.strip()
    if len(value) > _MAX_DISPLAY_NAME or not value.isprintable():
        raise AuthError(f"the display name must be at most {_MAX_DISPLAY_NAME} printable characters")
    return value or username  # a dashboard always has something to greet


def _instant(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _failure_stamp(moment: datetime) -> str:
    # One fixed format (UTC, microseconds), so the window is a plain text comparison in SQL.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _user_key(name: str) -> str:
    return hashlib.sha256(_KEY_CONTEXT + name.encode("utf-8")).hexdigest()


def _user(row: tuple[Any, ...]) -> User:
    *fields, disabled = row
    return User(*fields, disabled=bool(disabled))


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int, kind: Type) -> str:
    """A hash of a random secret with the given parameters, made once per process and parameter
    set: verifying against it costs what verifying a real user's hash costs."""
    hasher = PasswordHasher(time_cost, memory_cost, parallelism, hash_len, salt_len, type=kind)
    return hasher.hash(secrets.token_urlsafe(32))


class UserBook:
    """The hub's dashboard accounts: create, sign in, list, change and remove them.

    ``hasher`` is argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile). Give an
    instance another :class:`argon2.PasswordHasher` to change the cost; hashes made with other
    parameters are upgraded at their next sign-in.
    """

    hasher: PasswordHasher = PasswordHasher(type=Type.ID)

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    # --- accounts -------------------------------------------------------------------------------
    def check_new(
        self,
        username: str,
        *,
        role: str,
        factory_id: str | None = None,
        display_name: str = "",
        language: str | None = None,
        email: str | None = None,
    ) -> None:
        """Raise what :meth:`add` would raise for these details, without needing the password:
        lets the CLI (or a form) refuse a bad account before asking for one."""
        fields = self._new_fields(username, role=role, factory_id=factory_id, display_name=display_name, language=language, email=email)
        with self.hub.registry.transaction() as con:
            self._check_free(con, fields[0], fields[5])

    def _new_fields(
        self, username: str, *, role: str, factory_id: str | None, display_name: str, language: str | None, email: str | None
    ) -> tuple[str, str, str, str | None, str | None, str | None]:
        username = validate_username(username)
        role = _check_role(role)
        if role == ADMIN:
            if factory_id is not None:
                raise AuthError(f"an admin belongs to no factory (sees them all): leave out the factory (got {factory_id!r})")
        else:
            if factory_id is None:
                raise AuthError(f"a {role} belongs to exactly one factory: give their factory")
            self.hub.registry.factory(factory_id)  # InvalidIdentifierError or NotFoundError
        return (
            username,
            _check_display_name(display_name, username),
            role,
            factory_id,
            _check_language(language),
            _check_email(email),
        )

    @staticmethod
    def _check_free(con: sqlite3.Connection, username: str, email: str | None) -> None:
        if con.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise AlreadyExistsError(f"user {username!r} already exists")
        if email is not None:
            taken = con.execute("SELECT username FROM users WHERE email = ?", (email,)).fetchone()
            if taken:
                raise AlreadyExistsError(f"e-mail address {email!r} already belongs to user {taken[0]!r}")

    def add(
        self,
        username: str,
        password: str,
        *,
        role: str,
        factory_id: str | None = None,
        display_name: str = "",
        language: str | None = None,
        email: str | None = None,
    ) -> User:
        """Create an account. ``factory_id`` is required (and must be registered) for a plant
        manager or engineer and forbidden for an admin; ``language`` None follows the factory's
        default; an empty ``display_name`` becomes the user name."""
        fields = self._new_fields(username, role=role, factory_id=factory_id, display_name=display_name, language=language, email=email)
        username, display_name, role, factory_id, language, email = fields
        _check_password(password)
        with self.hub.registry.transaction() as con:  # fail before spending a hash on a taken name
            self._check_free(con, username, email)
        password_hash = self.hasher.hash(password)  # outside the transaction: it takes a while
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self.hub.registry.transaction() as con:
            self._check_free(con, username, email)  # again: another process may have been quicker
            try:
                con.execute(
                    "INSERT INTO users (username, display_name, role, factory_id, language, email, password_hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (username, display_name, role, factory_id, language, email, password_hash, created),
                )
            except sqlite3.IntegrityError as exc:  # the factory was deleted since it was checked
                raise NotFoundError(f"factory {factory_id!r} is not registered") from exc
        log.info("added user %s (%s%s)", username, role, f" of {factory_id}" if factory_id else "")
        return self.user(username)

    def _find(self, con: sqlite3.Connection, username: str) -> User | None:
        row = con.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)).fetchone()  # noqa: S608
        return _user(row) if row else None

    def user(self, username: str) -> User:
        """One account; NotFoundError if there is none of that name."""
        validate_username(username)
        with self.hub.registry.transaction() as con:
            found = self._find(con, username)
        if found is None:
            raise NotFoundError(f"user {username!r} is not registered")
        return found

    def by_email(self, email: str) -> User | None:
        """The enabled account with this e-mail address (compared case-insensitively), if any.

        For sign-in through an identity provider: the caller must pass only an address the
        provider says is verified. A disabled account answers None, as it cannot sign in.
        """
        if not isinstance(email, str) or not (value := _normal_email(email)):
            return None
        with self.hub.registry.transaction() as con:
            row = con.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ? AND disabled = 0", (value,)).fetchone()  # noqa: S608
        return _user(row) if row else None

    def users(self, factory_id: str | None = None) -> list[User]:
        """Every account by user name, or only those of one (registered) factory; admins belong to
        no factory, so they are listed only without ``factory_id``."""
        sql = f"SELECT {_USER_COLUMNS} FROM users"  # noqa: S608
        params: tuple[Any, ...] = ()
        if factory_id is not None:
            self.hub.registry.factory(factory_id)
            sql += " WHERE factory_id = ?"
            params = (factory_id,)
        with self.hub.registry.transaction() as con:
            return [_user(r) for r in con.execute(sql + " ORDER BY username", params)]

    def _update(self, username: str, sql: str, params: tuple[Any, ...], *, clear_failures: bool = False) -> None:
        """Run one ``UPDATE users SET ... WHERE username = ?`` (the name is appended to params)."""
        validate_username(username)
        with self.hub.registry.transaction() as con:
            if con.execute(sql, (*params, username)).rowcount == 0:
                raise NotFoundError(f"user {username!r} is not registered")
            if clear_failures:
                con.execute("DELETE FROM login_failures WHERE user_key = ?", (_user_key(username),))

    def set_password(self, username: str, password: str) -> None:
        """Replace the password. Also clears the account's failed attempts: a reset is how an
        admin lets a locked-out person back in at once."""
        self.user(username)  # fail before spending a hash on an unknown name
        password_hash = self.hasher.hash(_check_password(password))
        self._update(username, "UPDATE users SET password_hash = ? WHERE username = ?", (password_hash,), clear_failures=True)
        log.info("password of user %s changed", username)

    def set_language(self, username: str, language: str | None) -> None:
        """Set the dashboard language, or None to follow the factory's default."""
        self._update(username, "UPDATE users SET language = ? WHERE username = ?", (_check_language(language),))

    def disable(self, username: str, disabled: bool = True) -> None:
        """Stop (or with ``disabled=False`` allow again) an account's sign-ins, keeping the
        account and its history."""
        self._update(username, "UPDATE users SET disabled = ? WHERE username = ?", (int(bool(disabled)),))
        log.info("user %s %s", username, "disabled" if disabled else "enabled")

    def remove(self, username: str) -> None:
        """Delete an account and its failed attempts."""
        validate_username(username)
        with self.hub.registry.transaction() as con:
            if con.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount == 0:
                raise NotFoundError(f"user {username!r} is not registered")
            con.execute("DELETE FROM login_failures WHERE user_key = ?", (_user_key(username),))
        log.info("removed user %s", username)

    # --- what a user sees -----------------------------------------------------------------------
    def visible_factories(self, user: User) -> list[str]:
        """The factory ids ``user`` may open, in id order: every registered one for an admin, their
        own for anyone else. The account is re-read, so a session's stale :class:`User` loses its
        access as soon as the account is disabled, removed or given another role; a missing or
        disabled account sees nothing."""
        with self.hub.registry.transaction() as con:
            current = self._find(con, user.username) if USERNAME_PATTERN.fullmatch(user.username) else None
        if current is None or current.disabled:
            return []
        if current.is_admin:
            return [f.factory_id for f in self.hub.registry.factories()]
        return [current.factory_id] if current.factory_id else []

    def language_for(self, user: User) -> str:
        """The dashboard language to show ``user``: their own choice, else the default of their
        factory's time zone (an admin's: the hub's default time zone)."""
        if user.language is not None:
            return user.language
        timezone = self.hub.registry.factory(user.factory_id).timezone if user.factory_id else self.hub.settings.default_timezone
        return default_language(timezone)

    # --- sign-in --------------------------------------------------------------------------------
    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except VerificationError:  # the wrong password (VerifyMismatchError) or a broken hash
            return False
        except InvalidHashError:
            log.error("a stored password hash cannot be read; the account cannot sign in until its password is set again")
            return False

    def _dummy(self) -> str:
        h = self.hasher
        return _dummy_hash(h.time_cost, h.memory_cost, h.parallelism, h.hash_len, h.salt_len, h.type)

    def authenticate(self, username: str, password: str, *, now: datetime | None = None) -> User | None:
        """The account if ``password`` is right for ``username`` and it may sign in now, else None.

        The name is taken as typed on a sign-in form (surrounding blanks and upper case ignored).
        Every failure answers None, whatever its cause; see the module's notes on throttling and
        timing. Success records ``last_login_at`` (``now``, default the current time) and upgrades
        an outdated hash.
        """
        moment = _instant(now)
        name = username.strip().lower() if isinstance(username, str) else ""
        usable = isinstance(password, str) and len(password) <= MAX_PASSWORD_LENGTH
        candidate = password if usable else ""
        if not USERNAME_PATTERN.fullmatch(name):
            self._verify(self._dummy(), candidate)  # as long as a real attempt
            log.info("sign-in refused: not a valid user name")
            return None

        key = _user_key(name)
        cutoff = _failure_stamp(moment - FAILURE_WINDOW)
        with self.hub.registry.transaction() as con:
            row = con.execute("SELECT password_hash, factory_id, disabled FROM users WHERE username = ?", (name,)).fetchone()
            con.execute("DELETE FROM login_failures WHERE failed_at <= ?", (cutoff,))
            (recent,) = con.execute(
                "SELECT count(*) FROM login_failures WHERE user_key = ? AND failed_at > ?", (key, cutoff)
            ).fetchone()
            throttled = recent >= MAX_FAILURES
            if not throttled:
                # Counted now, forgiven on success: parallel guesses all count.
                con.execute(
                    "INSERT INTO login_failures (user_key, factory_id, failed_at) VALUES (?, ?, ?)",
                    (key, row[1] if row else None, _failure_stamp(moment)),
                )
        if throttled:
            log.warning("sign-in refused: %d failed attempts for %s within %s", recent, f"user {name}" if row else "an unknown user name", FAILURE_WINDOW)
            return None

        stored = row[0] if row else self._dummy()
        right = self._verify(stored, candidate)
        if row is None or not right or not usable or row[2]:
            # Known names only: an unknown "name" may be a password typed into the wrong field.
            if row is None:
                log.info("sign-in refused: unknown user name")
            else:
                log.info("sign-in refused for user %s (%s)", name, "account disabled" if row[2] and right else "wrong password")
            return None

        new_hash = self.hasher.hash(password) if self.hasher.check_needs_rehash(stored) else None
        with self.hub.registry.transaction() as con:
            con.execute("DELETE FROM login_failures WHERE user_key = ?", (key,))
            con.execute(
                "UPDATE users SET last_login_at = ? WHERE username = ? AND disabled = 0",
                (moment.isoformat(timespec="seconds"), name),
            )
            if new_hash is not None:
                # Only if the password was not changed meanwhile.
                con.execute(
                    "UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?",
                    (new_hash, name, stored),
                )
            signed_in = self._find(con, name)
        if signed_in is None or signed_in.disabled:  # removed or disabled while verifying
            return None
        if new_hash is not None:
            log.info("password hash of user %s upgraded to the current parameters", name)
        log.info("user %s signed in", name)
        return signed_in
