"""The daily run and its report by e-mail, end to end: ``factoryhub run daily`` as cron would start
it, a real SMTP server (aiosmtpd) on 127.0.0.1, and the messages parsed as a mail client would.

The hub is the lived hub of two simulated factories (24 days, see conftest) with the simulator's
next day waiting in each factory's inbox, as a gateway would leave it overnight.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from analytics.config import MailSettings
from analytics.pipeline.runs import RunLog
from analytics.reports.mail import MailError, ReportRecipients, SentLog, SmtpMailer
from analytics.store.hub import Hub
from tests.conftest import LIVED_FACTORIES, NEXT_DAY, fill_inbox

ROOT = Path(__file__).resolve().parents[1]
HANBIT, DAEYANG = LIVED_FACTORIES
RECIPIENTS = {"kim@hanbit.example": (HANBIT, None), "lee@hanbit.example": (HANBIT, "en"), "park@daeyang.example": (DAEYANG, None)}
ARTEFACTS = ROOT / "test-artefacts" / "report"


# --- an SMTP server ----------------------------------------------------------------------------
class Inbox:
    """aiosmtpd handler keeping every message it accepts; ``refuse`` answers the next DATA
    commands with these replies first (to test retries)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# --- a hub with tomorrow's files in the inboxes ---------------------------------------------------
@pytest.fixture
def hub_with_inboxes(lived_copy: Hub, next_day_files: Path) -> Hub:
    for address, (factory_id, language) in RECIPIENTS.items():
        ReportRecipients(lived_copy, factory_id).add(address, name=address.split("@")[0].title(), language=language)
    for factory_id in LIVED_FACTORIES:
        fill_inbox(lived_copy, next_day_files, factory_id)
    return lived_copy


def _run_daily(hub: Hub, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FACTORYHUB_DATA_DIR": str(hub.settings.data_dir),
        "FACTORYHUB_MAIL__HOST": "127.0.0.1",
        "FACTORYHUB_MAIL__PORT": str(port),
        "FACTORYHUB_MAIL__SECURITY": "none",
        "FACTORYHUB_MAIL__BACKOFF_S": "0.1",
        "FACTORYHUB_DASHBOARD_URL": "http://hub.example:8501",
    }
    return subprocess.run(
        # The factory-days and reports only: the pooled models' refresh has its own tests (test_failure_pooled).
        [sys.executable, "-m", "analytics.cli", "run", "daily", "--date", NEXT_DAY.isoformat(), "--no-pooled", *args],
        check=False, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
    )  # fmt: skip


def _check_message(message: EmailMessage, factory_name: str, other_names: list[str]) -> str:
    """The parts a mail client shows, all resolving; returns the HTML."""
    assert message["Subject"] and factory_name in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text is not None and html_part is not None
    html = html_part.get_content()
    images = {part["Content-ID"].strip("<>"): part.get_content() for part in message.walk() if part.get_content_type() == "image/png"}
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    assert referenced == set(images), (referenced, set(images))
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000 for png in images.values())
    for name in other_names:  # nothing of another factory
        assert name not in html and name not in text.get_content() and name not in message["Subject"]
    return html


# --- the tests ----------------------------------------------------------------------------------
def test_run_daily_sends_every_recipient_their_own_factorys_report_once(hub_with_inboxes: Hub, smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    hub, (inbox, port) = hub_with_inboxes, smtp
    done = _run_daily(hub, port, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(inbox.messages) == len(RECIPIENTS)
    names = {f.factory_id: [f.name_ko, f.name_en, f.factory_id] for f in hub.registry.factories()}
    for rcpt_tos, message in inbox.messages:
        assert len(rcpt_tos) == 1 and rcpt_tos[0] in message["To"]  # one person per message
        factory_id, language = RECIPIENTS[rcpt_tos[0]]
        other = DAEYANG if factory_id == HANBIT else HANBIT
        own_name = names[factory_id][1 if language == "en" else 0]
        html = _check_message(message, own_name, names[other])
        assert f'lang="{language or "ko"}"' in html
        assert f"factory={factory_id}" in html or "machine=" not in html  # links to its own pages only
    # the inboxes were ingested and the run record says what each stage did
    run = RunLog(hub).runs(limit=1).row(0, named=True)
    assert (run["kind"], run["status"], run["factories"], run["failed"]) == ("daily", "ok", 2, 0)
    results = RunLog(hub).results(run["run_id"])
    for details in results.get_column("details_json"):
        counts = __import__("json").loads(details)["counts"]
        assert counts["ingest"]["files"] >= 4 and counts["ingest"]["accepted"] > 0 and counts["ingest"]["failed_files"] == 0
        assert counts["features"]["readings"] > 0 and counts["report"]["sent"] >= 1
    assert SentLog(hub).sent_to(HANBIT, NEXT_DAY) == {"kim@hanbit.example", "lee@hanbit.example"}
    assert (tmp_path / "out" / HANBIT / NEXT_DAY.isoformat() / "report.ko.html").is_file()

    again = _run_daily(hub, port, "--out", str(tmp_path / "out"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(inbox.messages) == len(RECIPIENTS)  # nothing sent twice
    rerun = RunLog(hub).runs(limit=1).row(0, named=True)
    for details in RunLog(hub).results(rerun["run_id"]).get_column("details_json"):
        counts = __import__("json").loads(details)["counts"]
        assert counts["ingest"]["files"] == 0 and counts["report"]["sent"] == 0 and counts["report"]["already_sent"] >= 1


def test_a_corrupt_inbox_file_fails_its_factory_only(hub_with_inboxes: Hub, smtp: tuple[Inbox, int]) -> None:
    from analytics.ingest.inbox import inbox_dir

    hub, (inbox, port) = hub_with_inboxes, smtp
    corrupt = inbox_dir(hub, DAEYANG) / "PMP-01_20260925-resent.csv"
    corrupt.write_bytes(b"\x00\x01PK\x03\x04 not a csv \xff\xfe" * 50)
    os.utime(corrupt, (0, 0))
    done = _run_daily(hub, port)
    assert done.returncode == 1, done.stdout[-2000:]
    assert corrupt.name in done.stderr
    sent_to = {rcpt for rcpts, _ in inbox.messages for rcpt in rcpts}
    assert sent_to == set(RECIPIENTS)  # both factories' reports still went out
    run = RunLog(hub).runs(limit=1).row(0, named=True)
    assert (run["status"], run["failed"]) == ("failed", 1)
    results = {r["factory_id"]: r for r in RunLog(hub).results(run["run_id"]).iter_rows(named=True)}
    assert results[HANBIT]["status"] == "ok"
    assert (results[DAEYANG]["status"], results[DAEYANG]["stage"]) == ("failed", "ingest")
    assert corrupt.name in results[DAEYANG]["error"]
    assert (inbox_dir(hub, DAEYANG) / "failed" / corrupt.name).is_file()


def test_the_report_renders_in_chromium_with_its_images_and_no_overflow(hub_with_inboxes: Hub, tmp_path: Path) -> None:
    """The written HTML report (charts as files beside it) in headless Chromium at a phone's and
    a laptop's width: every image loads, no text runs out of its box."""
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from analytics.reports.daily import build_daily_report

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Debian's chromium is not installed: run `make browser` (make test does)")
    hub = hub_with_inboxes
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    day = NEXT_DAY - timedelta(days=2)  # a lived day with machines at risk in both factories' history
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for factory_id in LIVED_FACTORIES:
                for language in ("ko", "en"):
                    report = build_daily_report(hub, factory_id, day, language=language, dashboard_url="http://hub.example:8501")
                    path = report.write(tmp_path / factory_id / language)
                    for width in (390, 800):
                        page = browser.new_page(viewport={"width": width, "height": 900})
                        page.goto(path.as_uri())
                        page.wait_for_load_state("load")
                        broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
                        assert broken == [], (factory_id, language, broken)
                        assert page.evaluate("document.images.length") == len(report.images)
                        overflowing = page.evaluate(
                            """() => [...document.querySelectorAll('td, div, a, span')]
                                .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline')
                                .map(e => e.textContent.slice(0, 60))"""
                        )
                        assert overflowing == [], (factory_id, language, width, overflowing)
                        assert page.evaluate("document.documentElement.scrollWidth") <= width, (factory_id, language, width)
                        page.screenshot(path=str(ARTEFACTS / f"{factory_id}-{language}-{width}.png"), full_page=True)
                        page.close()
        finally:
            browser.close()


def test_temporary_refusals_are_retried_and_permanent_ones_are_not(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    waits: list[float] = []
    settings = MailSettings(host="127.0.0.1", port=port, security="none", attempts=3, backoff_s=1.5)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "test", "hub@example.com", "kim@hanbit.example"
    message.set_content("hello")
    inbox.refuse = ["451 try again later", "421 busy"]
    SmtpMailer(settings, sleep=waits.append).send(message)
    assert waits == [1.5, 3.0] and len(inbox.messages) == 1  # exponential back-off, then delivered
    inbox.refuse = ["550 no such user"]
    with pytest.raises(MailError, match="550"):
        SmtpMailer(settings, sleep=waits.append).send(message)
    assert waits == [1.5, 3.0] and len(inbox.messages) == 1  # no retry of a permanent refusal
    inbox.refuse = ["451 a", "451 b", "451 c"]
    with pytest.raises(MailError, match="451"):
        SmtpMailer(settings, sleep=waits.append).send(message)
    assert waits == [1.5, 3.0, 1.5, 3.0]


def test_an_unreachable_server_fails_after_its_tries_without_showing_the_password(caplog: pytest.LogCaptureFixture) -> None:
    settings = MailSettings(host="127.0.0.1", port=_free_port(), security="none", username="hub", password="s3cret-value", attempts=2, backoff_s=0)
    message = EmailMessage()
    message.set_content("hello")
    with pytest.raises(MailError, match="unreachable after 2 tries") as failure:
        SmtpMailer(settings, sleep=lambda _: None).send(message)
    assert "s3cret-value" not in str(failure.value) and "s3cret-value" not in caplog.text
    assert "s3cret-value" not in repr(settings)


def test_recipients_are_validated_and_scoped_to_their_factory(lived_copy: Hub) -> None:
    hanbit = ReportRecipients(lived_copy, HANBIT)
    hanbit.add("kim@hanbit.example")
    with pytest.raises(ValueError, match="not an e-mail address"):
        hanbit.add("kim@hanbit.example, evil@elsewhere.example")
    with pytest.raises(ValueError, match="not an e-mail address"):
        hanbit.add("kim@hanbit.example\r\nBcc: evil@elsewhere.example")
    assert [r.email for r in hanbit.list()] == ["kim@hanbit.example"]
    assert ReportRecipients(lived_copy, DAEYANG).list() == []


def test_the_report_says_what_the_hub_knows_about_the_day(lived_copy: Hub) -> None:
    """Headline counts, machines, alerts and data figures against the library's own views of
    the same day, in both languages; a day never analysed says so."""
    import polars as pl

    from analytics.reports.daily import build_daily_report
    from analytics.solutions.alerts import AlertBook
    from analytics.views.fleet import fleet_overview

    hub, day = lived_copy, date(2026, 9, 23)
    tiles = fleet_overview(hub, HANBIT, day=day).tiles
    at_risk = tiles.filter(pl.col("status").is_in(["critical", "warning", "watch"])).get_column("machine_id").to_list()
    attention = tiles.filter(pl.col("status").is_in(["critical", "warning"])).height
    assert attention >= 1  # the lived hub has machines in trouble on that day
    unresolved = AlertBook(hub, HANBIT).alerts(status=("open", "acknowledged"))
    for language, needs in (("ko", f"설비 {attention}대 점검 필요"), ("en", f"{attention} machine(s) need attention")):
        report = build_daily_report(hub, HANBIT, day, language=language, dashboard_url="http://hub.example")
        assert needs in report.subject and report.attention == attention
        assert [m for m in at_risk if m not in report.text] == []
        assert [m for m in at_risk if f"machine={m}&amp;factory={HANBIT}" not in report.html] == []
        for alert in unresolved:
            assert alert.machine_id in report.text
        assert len(report.images) == 2 * min(len(at_risk), 5)  # risk trend and top sensor per machine
    quiet = build_daily_report(hub, HANBIT, date(2026, 10, 15), language="en")
    assert not quiet.analysed and "not analysed" in quiet.subject and quiet.images == {}
