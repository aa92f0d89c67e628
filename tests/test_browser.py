"""The dashboard in a real browser: the suite serves the app with ``streamlit run`` on a free
localhost port, drives Debian's headless Chromium through Playwright (its client library only; no
browser download), signs in as a plant manager and a hub admin, visits every page of their
navigation in both languages and saves a screenshot of each under ``test-artefacts/browser``
(``FACTORYHUB_TEST_ARTEFACTS`` moves it). A page fails on a Streamlit exception box, on a blank
page, or when its title or its key element (the widget the page exists for) is missing.

``make test`` installs Chromium and the Nanum fonts (Hangul glyphs) when they are missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.i18n import LANGUAGE_NAMES, LANGUAGES, t
from analytics.store.hub import Hub
from analytics.store.users import UserBook
from tests.conftest import LIVED_FACTORIES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("FACTORYHUB_CHROMIUM", "/usr/bin/chromium"))
ARTEFACTS = Path(os.environ.get("FACTORYHUB_TEST_ARTEFACTS", ROOT / "test-artefacts")) / "browser"
PASSWORD = "tablet on the shop floor"
HANBIT = LIVED_FACTORIES[0]

# url_path -> (title key, the element the page exists for, at least how many of it)
PAGES: dict[str, tuple[str, str, int]] = {
    "overview": ("overview.title", '[data-testid="stMetric"]', 4 + 2),  # 4 headline figures, 2 per machine tile
    "machine": ("nav.machine", '[data-testid="stVegaLiteChart"]', 2),
    "alerts": ("alerts.title", '[data-testid="stExpander"], [data-testid="stDataFrame"]', 1),
    "plan": ("plan.title", '[data-testid="stSelectbox"]', 1),  # the day; its plan may be empty
    "data": ("data.title", '[data-testid="stDataFrame"]', 3),  # history, quality, faults (a plant manager may not upload)
    "models": ("models.title", '[data-testid="stDataFrame"]', 1),
    "admin": ("admin.title", '[data-testid="stDataFrame"]', 2),  # factories, users (this hub has no pipeline runs)
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def browser_hub(lived_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("browser") / "hub"
    shutil.copytree(lived_dir, target)
    book = UserBook(Hub.open(data_dir=target))
    book.add("kim", PASSWORD, role="plant_manager", factory_id=HANBIT, display_name="김현우")
    book.add("root", PASSWORD, role="admin")
    return target


@pytest.fixture(scope="module")
def app_url(browser_hub: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app/main.py`` on a free port, up until the module's tests are done."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("streamlit") / "server.log").open("w")
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(browser_hub)}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (or set FACTORYHUB_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _settled(page: object) -> None:
    """Wait until the script run is over (the title alone can show before the rest has drawn)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
    page.wait_for_timeout(300)  # charts draw after the run's last message


def _check_page(page: object, url_path: str, language: str, username: str) -> None:
    title_key, key_element, at_least = PAGES[url_path]
    title = t(title_key, language)
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=60_000)
    _settled(page)
    if url_path in ("overview", "machine", "admin", "data"):
        page.locator(key_element).nth(at_least - 1).wait_for(timeout=30_000)
    shot = ARTEFACTS / f"{username}-{url_path}-{language}.png"
    page.screenshot(path=str(shot))
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{url_path} ({language}): {errors.first.inner_text()[:1500]}"
    main_text = page.locator('[data-testid="stMain"]').inner_text()
    # Tables draw on a canvas (no text in the DOM): a page is blank when it has no more than its title.
    elements = page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count()
    assert elements >= 3 and len(main_text.strip()) > len(title), f"{url_path} ({language}) is blank: {main_text!r} — see {shot}"
    found = page.locator(key_element).count()
    assert found >= at_least, f"{url_path} ({language}): {found} of {key_element}, expected at least {at_least} — see {shot}"


def _sign_in(page: object, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=t("sign_in.title", LANGUAGES[0])).wait_for(timeout=60_000)
    page.get_by_label(t("sign_in.username", LANGUAGES[0])).fill(username)
    page.get_by_label(t("sign_in.password", LANGUAGES[0])).fill(PASSWORD)
    page.get_by_role("button", name=t("sign_in.submit", LANGUAGES[0])).click()


def _choose_language(page: object, language: str) -> None:
    page.locator('[data-testid="stSidebar"] button', has_text=LANGUAGE_NAMES[language]).click()


def _go(page: object, url_path: str, language: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=t(f"nav.{url_path}", language), exact=True).click()


@pytest.mark.parametrize(("username", "url_paths"), [
    ("kim", [p for p in PAGES if p != "admin"]),
    ("root", ["admin", "overview"]),
])  # fmt: skip
def test_every_page_in_both_languages(browser: object, app_url: str, username: str, url_paths: list[str]) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 2400}, locale="ko-KR")
    page = context.new_page()
    try:
        _sign_in(page, app_url, username)
        for number, language in enumerate(LANGUAGES):
            if number:
                _choose_language(page, language)
            for url_path in url_paths:
                if url_path != "overview" or number or username != "kim":
                    _go(page, url_path, language)
                _check_page(page, url_path, language, username)
        # The admin page is in no one else's navigation.
        if username != "root":
            assert page.locator('[data-testid="stSidebarNav"] a[href$="/admin"]').count() == 0
    finally:
        context.close()


def test_overview_shows_only_the_users_factory(browser: object, app_url: str, browser_hub: Path) -> None:
    """The plant manager's tiles are their factory's machines, and another factory's name or
    machines appear nowhere on the page, even when the URL asks for that factory."""
    hub = Hub.open(data_dir=browser_hub)
    own = {m.machine_id for m in hub.registry.machines(HANBIT)}
    other = LIVED_FACTORIES[1]
    foreign = {m.machine_id for m in hub.registry.machines(other)} - own
    context = browser.new_context(viewport={"width": 1366, "height": 2400})
    page = context.new_page()
    try:
        _sign_in(page, f"{app_url}/?factory={other}", "kim")
        _check_page(page, "overview", LANGUAGES[0], "kim-tenancy")
        text = page.locator('[data-testid="stApp"]').inner_text()
        for machine in own:  # one tile per machine
            assert page.locator(f".st-key-tile-{machine}").count() == 1, machine
        names = [n for f in hub.registry.factories() if f.factory_id == other for n in (f.factory_id, f.name_ko, f.name_en) if n]
        leaked = [name for name in (*names, *foreign) if name in text]
        assert not leaked, f"the page shows {leaked} of another factory"
    finally:
        context.close()
