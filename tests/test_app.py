"""The dashboard, headless (Streamlit's AppTest) on the lived hub of two factories: every page for
every role in both languages, sign-in, and the tenant walls a user cannot climb over by editing the
URL. Expected words come from the i18n catalogue, expected machines from the registry."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics.i18n import LANGUAGES, MESSAGES, t
from analytics.solutions.alerts import AlertBook
from analytics.store.hub import Hub
from analytics.store.users import UserBook
from tests.conftest import LIVED_FACTORIES, untranslated_words

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "main.py"
HANBIT, DAEYANG = LIVED_FACTORIES
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account
USERS = {
    "admin": ("admin", None),
    "kim": ("plant_manager", HANBIT),
    "lee": ("engineer", HANBIT),
    "park": ("plant_manager", DAEYANG),
}
PAGES = {
    "screens/overview.py": "overview.title",
    "screens/machine.py": "nav.machine",
    "screens/alerts.py": "alerts.title",
    "screens/plan.py": "plan.title",
    "screens/data.py": "data.title",
    "screens/models.py": "models.title",
}


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """AppTest runs the app as ``__main__`` and leaves it there; a process pool started later in
    the session (spawn re-imports the parent's ``__main__`` in every worker) would then run the
    dashboard in each worker. Put pytest's own ``__main__`` back after every test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def _serve(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    from analytics.config import get_settings

    monkeypatch.setenv("FACTORYHUB_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    st.cache_resource.clear()  # the app's hub() is a cached resource: open this test's hub
    st.cache_data.clear()
    return Hub.open(data_dir=data_dir)


@pytest.fixture(scope="module")
def app_dir(lived_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the lived hub with one account per role (the pages only read it)."""
    target = tmp_path_factory.mktemp("app") / "hub"
    shutil.copytree(lived_dir, target)
    book = UserBook(Hub.open(data_dir=target))
    for username, (role, factory_id) in USERS.items():
        book.add(username, PASSWORD, role=role, factory_id=factory_id)
    return target


@pytest.fixture
def served(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    hub = _serve(app_dir, monkeypatch)
    yield hub
    from analytics.config import get_settings

    get_settings.cache_clear()
    st.cache_resource.clear()


@pytest.fixture
def served_copy(app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """A private copy, for tests that change the hub (alerts, accounts)."""
    shutil.copytree(app_dir, tmp_path / "hub")
    hub = _serve(tmp_path / "hub", monkeypatch)
    yield hub
    st.cache_resource.clear()


def _app(username: str | None = None, language: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    if username:
        at.session_state["username"] = username
    if language:
        at.session_state["language"] = language
    for key, value in query.items():
        at.query_params[key] = value
    return at


def _texts(at: AppTest) -> str:
    """Every word the page shows, as one string."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    for frame in at.dataframe:
        parts += [" ".join(map(str, frame.value.columns)), frame.value.to_string()]
    return "\n".join(parts)


def _machines(hub: Hub, factory_id: str) -> set[str]:
    return {m.machine_id for m in hub.registry.machines(factory_id)}


# --- signing in ---------------------------------------------------------------------------------
def test_nobody_sees_a_page_before_signing_in(served: Hub) -> None:
    for page in PAGES:
        at = _app()
        at.switch_page(page).run() if page != "screens/overview.py" else at.run()
        assert not at.exception
        assert [e.value for e in at.title] == [t("sign_in.title", "ko")]
        assert not at.metric and not at.dataframe


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    at.text_input(key="username_input").input(username)
    at.text_input(key="password_input").input(password)
    next(b for b in at.button if b.label == t("sign_in.submit", "ko")).click()
    return at.run()


def test_sign_in_with_password_then_out(served: Hub) -> None:
    at = _sign_in(_app(), "kim", PASSWORD)
    assert not at.exception
    assert at.session_state["username"] == "kim"
    assert at.title[0].value == t("overview.title", "ko")
    next(b for b in at.button if b.key == "sign_out").click().run()
    assert [e.value for e in at.title] == [t("sign_in.title", "ko")]
    assert "username" not in at.session_state


def test_every_sign_in_failure_reads_the_same(served: Hub) -> None:
    wrong_password = _sign_in(_app(), "kim", "not the password")
    unknown_user = _sign_in(_app(), "nobody-here", PASSWORD)
    expected = [t("sign_in.failed", "ko")]
    assert [e.value for e in wrong_password.error] == expected == [e.value for e in unknown_user.error]
    assert "username" not in wrong_password.session_state and "username" not in unknown_user.session_state


def test_a_disabled_account_loses_access_on_its_next_click(served_copy: Hub) -> None:
    at = _app("kim")
    at.run()
    assert at.title[0].value == t("overview.title", "ko")
    UserBook(served_copy).disable("kim")
    at.run()
    assert [e.value for e in at.title] == [t("sign_in.title", "ko")]
    assert not at.metric


# --- every page, every role, both languages -----------------------------------------------------
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("username", ["kim", "lee", "admin"])
def test_every_page_renders_for_every_role(served: Hub, username: str, language: str) -> None:
    role, own = USERS[username]
    for page, title_key in PAGES.items():
        at = _app(username, language)
        at.switch_page(page).run()
        assert not at.exception, (page, [e.message for e in at.exception])
        factory = at.session_state["factory"]  # an admin starts on the first factory they may see
        assert factory == own or (own is None and factory in LIVED_FACTORIES)
        others = _machines(served, DAEYANG if factory == HANBIT else HANBIT) - _machines(served, factory)
        assert at.title[0].value == t(title_key, language), page
        shown = _texts(at)
        assert not [m for m in others if re.search(rf"\b{re.escape(m)}\b", shown)], f"{page} shows another factory's machine"
        other_language = [lang for lang in LANGUAGES if lang != language][0]
        assert t("nav.sign_out", language) in [b.label for b in at.button]
        assert t("nav.sign_out", other_language) not in [b.label for b in at.button]
        sidebar = " ".join(str(e.value) for e in at.sidebar.markdown)
        assert t(f"role.{role}", language) in sidebar
        for table in at.dataframe:  # every column under a label, never the library's own name
            config = json.loads(table.proto.columns or "{}")
            headers = [(config.get(str(c)) or {}).get("label", str(c)) for c in table.value.columns]
            assert not [h for h in headers if re.fullmatch(r"[a-z0-9_]+", h)], (page, headers)
            assert table.proto.placeholder == "—", page


def test_overview_tiles_are_the_factorys_machines_most_urgent_first(served: Hub) -> None:
    from analytics.views import fleet_overview

    at = _app("kim", "en")
    at.run()
    expected = fleet_overview(served, HANBIT).tiles.get_column("machine_id").to_list()
    tiles = [m.value.split("**")[1] for m in at.main.markdown if m.value.startswith("**") and " · " in m.value]
    assert tiles == expected and set(tiles) == _machines(served, HANBIT)


def test_data_page_shows_quarantined_rows_with_their_reason(served: Hub) -> None:
    from analytics.store.reader import FactoryReader

    quarantined = FactoryReader(served, HANBIT).quarantine().collect()
    at = _app("lee", "en")
    at.switch_page("screens/data.py").run()
    assert not at.exception
    frames = [d.value for d in at.dataframe if "reason" in d.value.columns]
    assert frames, "no quarantine table"
    assert set(frames[-1]["reason"]) <= set(quarantined.get_column("reason").to_list())
    assert len(frames[-1]) == min(quarantined.height, 1000)


def test_model_cards_and_fault_details_read_in_korean(served: Hub) -> None:
    """The texts the library writes in English on the Models and Data pages (why a model was
    trained, which recipe, sensor-fault details) all have Korean."""
    from analytics.i18n import localize_text
    from analytics.models.anomaly.scoring import read_faults
    from analytics.views.models import model_cards

    texts: set[str] = set()
    for factory_id in LIVED_FACTORIES:
        cards = model_cards(served, factory_id)
        assert "anomaly" in set(cards.get_column("kind")), factory_id
        texts |= {v for c in ("method", "reason", "note") for v in cards.get_column(c).drop_nulls() if c != "method" or v.startswith("xgboost")}
        texts |= set(read_faults(served, factory_id).collect().get_column("detail"))
    assert len(texts) > 5
    for text in texts - {""}:
        assert untranslated_words(text, localize_text(text, "ko")) == [], (text, localize_text(text, "ko"))


def test_only_an_engineer_or_admin_may_upload(served: Hub) -> None:
    manager = _app("kim", "en")
    manager.switch_page("screens/data.py").run()
    assert t("data.not_allowed", "en") in [c.value for c in manager.caption]
    engineer = _app("lee", "en")
    engineer.switch_page("screens/data.py").run()
    assert t("data.not_allowed", "en") not in [c.value for c in engineer.caption]


# --- tenant walls ---------------------------------------------------------------------------------
def test_a_factory_in_the_url_does_not_move_a_plant_manager(served: Hub) -> None:
    at = _app("kim", "en", factory=DAEYANG)
    at.run()
    assert not at.exception
    shown = _texts(at)
    assert not [m for m in _machines(served, DAEYANG) - _machines(served, HANBIT) if m in shown]
    assert at.session_state["factory"] == HANBIT
    assert not [s for s in at.sidebar.selectbox if s.key == "factory_choice"]  # no factory picker


def test_an_admin_may_pick_the_factory(served: Hub) -> None:
    at = _app("admin", "en", factory=DAEYANG)
    at.run()
    assert at.session_state["factory"] == DAEYANG
    tiles = {m.value.split("**")[1] for m in at.main.markdown if m.value.startswith("**") and " · " in m.value}
    assert tiles == _machines(served, DAEYANG)
    at.selectbox(key="factory_choice").select(HANBIT).run()
    tiles = {m.value.split("**")[1] for m in at.main.markdown if m.value.startswith("**") and " · " in m.value}
    assert tiles == _machines(served, HANBIT)


def test_another_factorys_machine_reads_like_a_machine_that_does_not_exist(served: Hub) -> None:
    foreign = sorted(_machines(served, DAEYANG) - _machines(served, HANBIT))[0]
    answers = []
    for asked in (foreign, "NO-SUCH-MACHINE"):
        at = _app("kim", "en", machine=asked)
        at.switch_page("screens/machine.py").run()
        assert not at.exception
        answers.append(([e.value for e in at.error], at.selectbox(key="machine_choice").value))
        assert foreign not in _texts(at).replace(f"machine={foreign}", "")
    assert answers[0] == answers[1] == ([t("machine.unknown", "en")], answers[0][1])
    assert answers[0][1] in _machines(served, HANBIT)


def test_the_admin_page_exists_only_for_admins(served: Hub) -> None:
    for username in ("kim", "lee"):
        at = _app(username, "en")
        at.switch_page("screens/admin.py").run()
        assert not at.exception
        assert t("admin.title", "en") not in [e.value for e in at.title]
        assert "admin" not in {u for frame in at.dataframe for u in frame.value.to_string().split()}
    at = _app("admin", "en")
    at.switch_page("screens/admin.py").run()
    assert not at.exception and at.title[0].value == t("admin.title", "en")
    users = next(d.value for d in at.dataframe if "username" in d.value.columns)
    assert set(users["username"]) == set(USERS)


def test_the_admin_sees_what_a_run_did_to_the_pooled_models_in_korean(served_copy: Hub) -> None:
    from datetime import date

    from analytics.models.failure.pooled import PooledResult
    from analytics.pipeline.runs import RunLog

    promoted = "first pooled model: Brier 0.12 against 0.15 for the base rate"
    retired = "1 sharing factories have machines of this type: a pooled model needs two; the previous pooled model is retired"
    log = RunLog(served_copy)
    run_id = log.start("daily", date(2026, 10, 1))  # the newest run: the page shows it first
    log.record_pooled(
        run_id,
        [
            PooledResult("centrifugal_pump", "promoted", model_id="m-pump", reason=promoted, factories=3),
            PooledResult("air_compressor", "no_model", reason=retired, factories=1),
        ],
    )
    log.finish(run_id)
    at = _app("admin", "ko")
    at.switch_page("screens/admin.py").run()
    assert not at.exception
    assert t("admin.run_pooled", "ko") in _texts(at)
    pooled = next(d.value for d in at.dataframe if "machine_type" in d.value.columns)
    rows = {r["machine_type"]: r for r in pooled.to_dict("records")}
    assert set(rows) == {"원심펌프", "공기압축기"}
    pump, compressor = rows["원심펌프"], rows["공기압축기"]
    assert (pump["status"], pump["model_id"]) == (t("pooled_status.promoted", "ko"), "m-pump")
    assert compressor["status"] == t("pooled_status.no_model", "ko")
    assert untranslated_words(promoted, pump["reason"]) == [], pump["reason"]
    assert untranslated_words(retired, compressor["reason"]) == [], compressor["reason"]


def test_pages_are_not_reachable_without_the_router() -> None:
    # Streamlit serves every script in a `pages/` folder beside the main script by its own URL,
    # bypassing the router's sign-in; the app keeps its pages elsewhere.
    assert not (APP.parent / "pages").exists()
    assert (APP.parent / "screens" / "overview.py").exists()


# --- acting on an alert -----------------------------------------------------------------------------
def test_an_engineer_acknowledges_an_alert(served_copy: Hub) -> None:
    book = AlertBook(served_copy, HANBIT)
    opened = [a for a in book.open_alerts() if a.status == "open"]
    assert opened, "the lived hub should have open alerts"
    alert = opened[0]
    at = _app("lee", "en")
    at.switch_page("screens/alerts.py").run()
    at.button(key=f"ack-{alert.alert_id}").click().run()
    assert not at.exception
    acknowledged = {a.alert_id: a for a in AlertBook(served_copy, HANBIT).open_alerts()}[alert.alert_id]
    assert acknowledged.status == "acknowledged" and acknowledged.acknowledged_by == "lee"
    assert not [b for b in at.button if b.key == f"ack-{alert.alert_id}"]  # shown at once


# --- words ------------------------------------------------------------------------------------------
def _used_keys() -> set[str]:
    """Every literal catalogue key the app and the library ask for."""
    pattern = re.compile(r"""\bt\(\s*f?["']([a-z_]+\.[a-z0-9_.]+)["']""")
    sources = [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("analytics").rglob("*.py")]
    return {m for path in sources for m in pattern.findall(path.read_text(encoding="utf-8")) if "{" not in m}


def test_every_key_the_app_uses_exists_in_both_languages() -> None:
    used = _used_keys()
    assert len(used) > 50  # the pattern finds the app's keys at all
    missing = sorted(k for k in used if k not in MESSAGES)
    assert not missing
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
        # the same placeholders in every language, so no translation loses a number
        fields = {lang: set(re.findall(r"{(\w+)", texts[lang])) for lang in LANGUAGES}
        assert len({frozenset(f) for f in fields.values()}) == 1, key


def test_dynamic_key_families_are_complete() -> None:
    from analytics.store.users import ROLES

    for role in ROLES:
        assert f"role.{role}" in MESSAGES
    machine_page = (ROOT / "app" / "screens" / "machine.py").read_text(encoding="utf-8")
    spans = re.search(r"spans = \{([^}]*)\}", machine_page)
    assert spans is not None
    for span in re.findall(r'"(\w+)":', spans.group(1)):
        assert f"machine.range_{span}" in MESSAGES
    for table in ("readings", "events"):  # the upload page's table choice
        assert f"data.table_{table}" in MESSAGES
