"""Dashboard users: argon2id hashes, sign-in that reveals nothing, throttling, roles and tenancy."""

from __future__ import annotations

import logging
import os
import sqlite3
import string
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from hypothesis import given
from hypothesis import strategies as st

from analytics.errors import AlreadyExistsError, AuthError, HubError, InvalidIdentifierError, NotFoundError
from analytics.schemas import FactorySpec, validate_username
from analytics.store.hub import Hub
from analytics.store.sovereignty import delete_factory
from analytics.store.users import FAILURE_WINDOW, MAX_FAILURES, UserBook, default_language
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"
WRONG = "incorrect horse battery"


class CountingHasher(PasswordHasher):
    """Cheap argon2id parameters (the defaults take a fifth of a second per hash) that count
    verifications, so tests can see what a sign-in attempt costs."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 (argon2's name)
        self.verified += 1
        return super().verify(hash, password)


def _book(hub: Hub) -> UserBook:
    book = UserBook(hub)
    book.hasher = CountingHasher()
    return book


@pytest.fixture
def book(acme: Hub) -> UserBook:
    """Accounts of a hub with factories ``acme`` (Asia/Seoul) and ``zeta`` (Europe/Berlin)."""
    acme.registry.add_factory(FactorySpec(id="zeta", name_en="Zeta Works", timezone="Europe/Berlin"))
    return _book(acme)


def _stored_hash(hub: Hub, username: str) -> str:
    con = sqlite3.connect(hub.registry.path)
    try:
        return con.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()[0]
    finally:
        con.close()


def _failures(hub: Hub) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(hub.registry.path)
    try:
        return con.execute("SELECT user_key, factory_id FROM login_failures").fetchall()
    finally:
        con.close()


# --- hashing and sign-in ---------------------------------------------------------------------------
def test_password_is_kept_only_as_an_argon2id_hash(book: UserBook, caplog: pytest.LogCaptureFixture) -> None:
    assert UserBook.hasher.type is Type.ID  # the production hasher, not only the tests' cheap one
    caplog.set_level(logging.DEBUG)
    book.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    book.authenticate("kim", PASSWORD, now=NOW)
    book.authenticate("kim", WRONG, now=NOW)
    book.set_password("kim", PASSWORD + "!")
    stored = _stored_hash(book.hub, "kim")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PASSWORD.encode() not in book.hub.registry.path.read_bytes()
    assert PASSWORD not in caplog.text and WRONG not in caplog.text
    assert "kim" in caplog.text  # the log does say who signed in
    assert not hasattr(book.user("kim"), "password_hash")


def test_sign_in_answers_the_user_or_none(book: UserBook) -> None:
    created = book.add("kim", PASSWORD, role="plant_manager", factory_id="acme", display_name="김민수", email="Kim@Example.COM")
    assert created.last_login_at is None and created.display_name == "김민수" and created.email == "kim@example.com"
    user = book.authenticate("kim", PASSWORD, now=NOW)
    assert user is not None and user.username == "kim" and user.factory_id == "acme"
    assert user.last_login_at == NOW.isoformat(timespec="seconds")
    assert book.authenticate("  Kim ", PASSWORD, now=NOW) is not None  # as typed on a form
    assert book.authenticate("kim", WRONG, now=NOW) is None
    assert book.authenticate("kim", PASSWORD.upper(), now=NOW) is None
    assert book.authenticate("kim", "", now=NOW) is None
    assert book.authenticate("nobody", PASSWORD, now=NOW) is None
    assert book.authenticate("../etc/passwd", PASSWORD, now=NOW) is None
    assert book.authenticate("kim", "x" * 5000, now=NOW) is None
    book.disable("kim")
    assert book.authenticate("kim", PASSWORD, now=NOW) is None
    assert book.user("kim").disabled
    book.disable("kim", False)
    # Five failures above: the account is throttled until they leave the window.
    assert book.authenticate("kim", PASSWORD, now=NOW) is None
    assert book.authenticate("kim", PASSWORD, now=NOW + FAILURE_WINDOW + timedelta(seconds=1)) is not None


def test_an_unknown_name_costs_one_verification_like_a_known_one(book: UserBook) -> None:
    book.add("kim", PASSWORD, role="engineer", factory_id="acme")
    counter = book.hasher
    assert isinstance(counter, CountingHasher)
    for name in ("kim", "nobody", "NOT A NAME"):
        before = counter.verified
        assert book.authenticate(name, WRONG, now=NOW) is None
        assert counter.verified == before + 1, name


def test_throttling_after_five_failures_until_the_window_passes(book: UserBook) -> None:
    book.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    for i in range(MAX_FAILURES):
        assert book.authenticate("kim", WRONG, now=NOW + timedelta(seconds=i)) is None
    counter = book.hasher
    assert isinstance(counter, CountingHasher)
    before = counter.verified
    # Even the right password fails, in this process and in any other one on the same hub.
    assert book.authenticate("kim", PASSWORD, now=NOW + timedelta(minutes=1)) is None
    assert _book(Hub.open(data_dir=book.hub.settings.data_dir)).authenticate("KIM", PASSWORD, now=NOW + timedelta(minutes=2)) is None
    assert counter.verified == before  # a throttled attempt spends no hash
    # The first failure leaves the window: one attempt is allowed again, and the right one works.
    later = NOW + FAILURE_WINDOW + timedelta(seconds=1)
    signed_in = book.authenticate("kim", PASSWORD, now=later)
    assert signed_in is not None and signed_in.last_login_at == later.isoformat(timespec="seconds")
    assert _failures(book.hub) == []  # success forgives the failures


def test_unknown_names_are_throttled_alike_and_failures_are_not_kept_in_clear(book: UserBook) -> None:
    for i in range(MAX_FAILURES + 2):
        book.authenticate("ghost", WRONG, now=NOW + timedelta(seconds=i))
    failures = _failures(book.hub)
    assert len(failures) == MAX_FAILURES  # throttled attempts are not counted again
    assert all("ghost" not in key and len(key) == 64 for key, _ in failures)


def test_success_resets_the_count_and_a_new_password_lifts_a_lock_out(book: UserBook) -> None:
    book.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    for _ in range(MAX_FAILURES - 1):
        book.authenticate("kim", WRONG, now=NOW)
    assert book.authenticate("kim", PASSWORD, now=NOW) is not None
    for _ in range(MAX_FAILURES - 1):
        book.authenticate("kim", WRONG, now=NOW)
    assert book.authenticate("kim", PASSWORD, now=NOW) is not None  # 4 + 4 failures, never 5 in a row
    for _ in range(MAX_FAILURES):
        book.authenticate("kim", WRONG, now=NOW)
    assert book.authenticate("kim", PASSWORD, now=NOW) is None
    book.set_password("kim", "a new long passphrase")
    assert book.authenticate("kim", PASSWORD, now=NOW) is None
    assert book.authenticate("kim", "a new long passphrase", now=NOW) is not None


def test_an_outdated_hash_is_upgraded_at_sign_in(acme: Hub) -> None:
    weak = UserBook(acme)
    weak.hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    weak.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    old = _stored_hash(acme, "kim")
    assert "m=8192,t=1,p=1" in old

    current = UserBook(acme)  # the production parameters
    assert current.authenticate("kim", WRONG, now=NOW) is None
    assert _stored_hash(acme, "kim") == old  # only the right password may replace the hash
    assert current.authenticate("kim", PASSWORD, now=NOW) is not None
    new = _stored_hash(acme, "kim")
    assert new != old and new.startswith("$argon2id$") and not current.hasher.check_needs_rehash(new)
    assert current.authenticate("kim", PASSWORD, now=NOW) is not None


# --- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "password", "details", "error"),
    [
        ("Kim", PASSWORD, {"role": "engineer", "factory_id": "acme"}, InvalidIdentifierError),
        ("k", PASSWORD, {"role": "engineer", "factory_id": "acme"}, InvalidIdentifierError),
        ("kim@acme", PASSWORD, {"role": "engineer", "factory_id": "acme"}, InvalidIdentifierError),
        ("../kim", PASSWORD, {"role": "engineer", "factory_id": "acme"}, InvalidIdentifierError),
        ("kim", PASSWORD, {"role": "boss", "factory_id": "acme"}, AuthError),
        ("kim", PASSWORD, {"role": "plant_manager"}, AuthError),
        ("kim", PASSWORD, {"role": "engineer", "factory_id": "nowhere"}, NotFoundError),
        ("kim", PASSWORD, {"role": "engineer", "factory_id": "../acme"}, InvalidIdentifierError),
        ("kim", PASSWORD, {"role": "admin", "factory_id": "acme"}, AuthError),
        ("kim", PASSWORD, {"role": "engineer", "factory_id": "acme", "language": "fr"}, AuthError),
        ("kim", PASSWORD, {"role": "engineer", "factory_id": "acme", "email": "not-an-address"}, AuthError),
        ("kim", PASSWORD, {"role": "engineer", "factory_id": "acme", "display_name": "bell\x07"}, AuthError),
        ("kim", "short-pw1", {"role": "engineer", "factory_id": "acme"}, AuthError),
        ("kim", "x" * 2000, {"role": "engineer", "factory_id": "acme"}, AuthError),
    ],
)
def test_bad_accounts_are_refused_with_a_clear_error(book: UserBook, username: str, password: str, details: dict, error: type) -> None:
    with pytest.raises(error) as caught:
        book.add(username, password, **details)
    assert isinstance(caught.value, HubError)
    assert password not in str(caught.value)
    assert book.users() == []


def test_duplicates_are_refused(book: UserBook) -> None:
    book.add("kim", PASSWORD, role="engineer", factory_id="acme", email="kim@acme.example")
    with pytest.raises(AlreadyExistsError, match="'kim' already exists"):
        book.add("kim", PASSWORD, role="engineer", factory_id="zeta")
    with pytest.raises(AlreadyExistsError, match="e-mail"):
        book.add("lee", PASSWORD, role="engineer", factory_id="acme", email="KIM@acme.example")
    with pytest.raises(AlreadyExistsError):
        book.check_new("kim", role="admin")
    with pytest.raises(AuthError):
        book.set_password("kim", "too short")
    with pytest.raises(AuthError):
        book.set_language("kim", "de")
    for change in (lambda: book.set_language("nobody", "ko"), lambda: book.disable("nobody"), lambda: book.remove("nobody"), lambda: book.user("nobody")):
        with pytest.raises(NotFoundError):
            change()


USERNAME_ALPHABET = string.ascii_lowercase + string.digits + "._-"


@given(st.text(alphabet=USERNAME_ALPHABET + "AZ @:/\\\n\t'\"é한", max_size=70))
def test_username_validator_accepts_exactly_its_pattern(value: str) -> None:
    expected = 2 <= len(value) <= 64 and all(c in USERNAME_ALPHABET for c in value) and value[0] not in "._-"
    try:
        validate_username(value)
        accepted = True
    except InvalidIdentifierError:
        accepted = False
    assert accepted == expected


# --- roles and tenancy -----------------------------------------------------------------------------
def test_roles_decide_which_factories_a_user_sees(book: UserBook) -> None:
    admin = book.add("root", PASSWORD, role="admin")
    manager = book.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    engineer = book.add("lee", PASSWORD, role="engineer", factory_id="zeta", language="ko")
    assert admin.is_admin and admin.factory_id is None and not manager.is_admin
    assert book.visible_factories(admin) == ["acme", "zeta"]
    assert book.visible_factories(manager) == ["acme"] and book.visible_factories(engineer) == ["zeta"]
    assert admin.can_see("acme") and admin.can_see("zeta")
    assert manager.can_see("acme") and not manager.can_see("zeta")
    assert not manager.can_see("../acme") and not admin.can_see("../acme") and not manager.can_see("ACME")
    assert [u.username for u in book.users()] == ["kim", "lee", "root"]
    assert [u.username for u in book.users("acme")] == ["kim"]
    with pytest.raises(NotFoundError):
        book.users("nowhere")

    book.disable("kim")  # a session still holding the old User object loses its factory at once
    assert book.visible_factories(manager) == []
    assert not book.user("kim").can_see("acme")
    book.remove("lee")
    assert book.visible_factories(engineer) == []


def test_languages_follow_the_user_then_the_factory(book: UserBook) -> None:
    assert default_language("Asia/Seoul") == "ko" and default_language("Europe/Berlin") == "en" and default_language("UTC") == "en"
    seoul = book.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    berlin = book.add("max", PASSWORD, role="engineer", factory_id="zeta")
    assert seoul.language is None and book.language_for(seoul) == "ko" and book.language_for(berlin) == "en"
    book.set_language("kim", "en")
    assert book.language_for(book.user("kim")) == "en"
    book.set_language("kim", None)
    assert book.user("kim").language is None


def test_email_maps_an_identity_provider_sign_in_to_an_enabled_account(book: UserBook) -> None:
    book.add("kim", PASSWORD, role="plant_manager", factory_id="acme", email="kim.minsu@acme.example")
    found = book.by_email("  Kim.Minsu@ACME.example ")
    assert found is not None and found.username == "kim"
    assert book.by_email("lee@acme.example") is None and book.by_email("") is None
    book.disable("kim")
    assert book.by_email("kim.minsu@acme.example") is None


def test_deleting_a_factory_deletes_its_users(book: UserBook) -> None:
    book.add("root", PASSWORD, role="admin")
    book.add("kim", PASSWORD, role="plant_manager", factory_id="acme")
    book.add("max", PASSWORD, role="engineer", factory_id="zeta")
    book.authenticate("kim", WRONG, now=NOW)
    delete_factory(book.hub, "acme")
    assert [u.username for u in book.users()] == ["max", "root"]
    with pytest.raises(NotFoundError):
        book.user("kim")
    assert _failures(book.hub) == []
    assert book.visible_factories(book.user("root")) == ["zeta"]


# --- the command line ------------------------------------------------------------------------------
def test_cli_adds_lists_and_refuses(acme: Hub, tmp_path: Path) -> None:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(acme.settings.data_dir), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analytics.cli", "user", *args], env=env, input=stdin, capture_output=True, text=True, cwd=tmp_path)

    added = run("add", "kim", "--role", "plant_manager", "--factory", "acme", "--name", "김민수", "--password-stdin", stdin=PASSWORD + "\nignored\n")
    assert added.returncode == 0, added.stderr
    assert "kim" in added.stdout and PASSWORD not in added.stdout + added.stderr
    assert UserBook(acme).authenticate("kim", PASSWORD, now=NOW) is not None  # the first line, without its newline

    listing = run("list")
    assert listing.returncode == 0, listing.stderr
    assert "kim" in listing.stdout and "김민수" in listing.stdout and "plant_manager" in listing.stdout
    assert "$argon2" not in listing.stdout

    bad = run("add", "lee", "--role", "boss", "--factory", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["error: role must be one of plant_manager, engineer, admin, got 'boss'"]
    assert [u.username for u in UserBook(acme).users()] == ["kim"]
