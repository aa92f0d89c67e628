"""Sending the daily report by e-mail: recipients per factory, the MIME message, SMTP with retries,
and the record that keeps a report from going out twice.

- :class:`ReportRecipients` — a factory's recipient list (registry table ``report_recipients``).
  Each recipient gets a message of their own, addressed to them alone: no one sees who else
  receives it, and no message ever carries another factory's report.
- :func:`compose` — ``multipart/alternative`` (plain text, then ``multipart/related`` HTML with
  its charts as inline PNG parts whose Content-IDs the HTML's ``cid:`` references name).
- :class:`SmtpMailer` — SMTP (STARTTLS, SSL or plain) from :class:`~analytics.config.MailSettings`;
  temporary failures (connection lost, 4xx replies) are retried with exponential back-off, a
  permanent refusal (5xx) is not. The password comes from the environment and is never logged.
- :func:`send_daily_report` — a factory-day to every recipient not yet sent to, recording each
  delivery (registry table ``reports_sent``) right after the server accepted it; ``force`` sends
  again. A crash between the server's acceptance and the record can repeat one message (SMTP has
  no two-phase commit); the stable Message-ID lets mail systems drop such a repeat.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Final

from analytics.config import MailSettings
from analytics.errors import HubError
from analytics.i18n import LANGUAGES
from analytics.reports.daily import DailyReport, build_daily_report
from analytics.schemas import validate_factory_id
from analytics.store.hub import Hub

log = logging.getLogger(__name__)

_EMAIL: Final = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


class MailError(HubError):
    """A report could not be delivered (the server refused it, or every try failed)."""


class MailNotConfiguredError(MailError):
    """Sending was asked for but no SMTP host is set (``FACTORYHUB_MAIL__HOST``)."""


def validate_email(value: object) -> str:
    """``value`` as a plain address (``name@example.com``); ValueError for anything else."""
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()) or len(value) > 254:
        raise ValueError(f"not an e-mail address: {value!r}")
    return value.strip()


@dataclass(frozen=True)
class Recipient:
    factory_id: str
    email: str
    name: str
    language: str | None  # None: the factory's language


class ReportRecipients:
    """The recipient list of one factory's daily report."""

    def __init__(self, hub: Hub, factory_id: str) -> None:
        self.hub = hub
        self.factory_id = hub.registry.factory(validate_factory_id(factory_id)).factory_id  # NotFoundError if unregistered

    def add(self, email: str, *, name: str = "", language: str | None = None) -> Recipient:
        """Add (or update) a recipient."""
        email = validate_email(email)
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
        with self.hub.registry.transaction() as con:
            con.execute(
                "INSERT INTO report_recipients (factory_id, email, name, language, added_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (factory_id, email) DO UPDATE SET name = excluded.name, language = excluded.language",
                (self.factory_id, email, name, language, datetime.now(UTC).isoformat(timespec="seconds")),
            )
        return Recipient(self.factory_id, email, name, language)

    def remove(self, email: str) -> bool:
        """Remove a recipient; False when they were not on the list."""
        with self.hub.registry.transaction() as con:
            return con.execute("DELETE FROM report_recipients WHERE factory_id = ? AND email = ?", (self.factory_id, validate_email(email))).rowcount > 0

    def list(self) -> list[Recipient]:
        with self.hub.registry.transaction() as con:
            rows = con.execute("SELECT email, name, language FROM report_recipients WHERE factory_id = ? ORDER BY email", (self.factory_id,)).fetchall()
        return [Recipient(self.factory_id, email, name, language) for email, name, language in rows]


def message_id(factory_id: str, day: date, recipient: str, attempt: int = 0) -> str:
    """A stable Message-ID for a factory-day-recipient (``attempt`` > 0 for a forced resend), so
    a repeated delivery of the same report can be recognised; the address is hashed, not shown."""
    digest = hashlib.sha256(recipient.lower().encode()).hexdigest()[:12]
    suffix = f".{attempt}" if attempt else ""
    return f"<report.{factory_id}.{day.isoformat()}.{digest}{suffix}@factoryhub>"


def compose(report: DailyReport, sender: str, recipient: Recipient, *, msg_id: str | None = None) -> EmailMessage:
    """The report as one message to ``recipient``: text, HTML and the HTML's inline charts."""
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = sender
    display, address = parseaddr(recipient.email)
    message["To"] = Address(recipient.name or display, addr_spec=address)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = msg_id or message_id(report.factory_id, report.day, recipient.email)
    message["Content-Language"] = report.language
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: vacation responders stay quiet
    message.set_content(report.text, subtype="plain", charset="utf-8")
    message.add_alternative(report.html, subtype="html", charset="utf-8")
    html_part = message.get_payload()[1]
    for cid, png in report.images.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid.split('@')[0]}.png", disposition="inline")
    return message


class SmtpMailer:
    """Sends messages through the SMTP server of ``settings``, retrying temporary failures."""

    def __init__(self, settings: MailSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.host:
            raise MailNotConfiguredError("no SMTP server: set FACTORYHUB_MAIL__HOST (and PORT, SECURITY, USERNAME, PASSWORD)")
        self.settings = settings
        self._sleep = sleep

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.host is not None
        if s.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            if s.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if s.username:
                server.login(s.username, s.password.get_secret_value() if s.password else "")
        except BaseException:
            server.close()
            raise
        return server

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; :class:`MailError` when the server refuses it or every try failed."""
        s = self.settings
        wait = s.backoff_s
        for attempt in range(1, s.attempts + 1):
            try:
                server = self._connect()
                try:
                    server.send_message(message)
                finally:
                    _close(server)
                return
            except smtplib.SMTPAuthenticationError as exc:  # wrong credentials: retrying will not help
                raise MailError(f"SMTP login to {s.host}:{s.port} as {s.username!r} refused ({exc.smtp_code})") from None
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code < 500 and attempt < s.attempts:
                    log.warning("SMTP %s:%s answered %s (try %d of %d); again in %.1f s", s.host, s.port, exc.smtp_code, attempt, s.attempts, wait)
                else:
                    raise MailError(f"SMTP {s.host}:{s.port} refused the message ({exc.smtp_code}: {exc.smtp_error!r})") from None
            except smtplib.SMTPRecipientsRefused as exc:
                raise MailError(f"SMTP {s.host}:{s.port} refused the recipient(s) {sorted(exc.recipients)}") from None
            except smtplib.SMTPServerDisconnected as exc:
                if attempt == s.attempts:
                    raise MailError(f"SMTP {s.host}:{s.port} closed the connection on each of {s.attempts} tries: {exc}") from None
                log.warning("SMTP %s:%s closed the connection (try %d of %d); again in %.1f s", s.host, s.port, attempt, s.attempts, wait)
            except smtplib.SMTPException as exc:  # e.g. STARTTLS not offered: a configuration error
                raise MailError(f"SMTP {s.host}:{s.port}: {type(exc).__name__}: {exc}") from None
            except OSError as exc:
                if attempt == s.attempts:
                    raise MailError(f"SMTP {s.host}:{s.port} unreachable after {s.attempts} tries: {type(exc).__name__}: {exc}") from None
                log.warning("SMTP %s:%s: %s (try %d of %d); again in %.1f s", s.host, s.port, type(exc).__name__, attempt, s.attempts, wait)
            self._sleep(wait)
            wait *= 2


def _close(server: smtplib.SMTP) -> None:
    """End the session; once the server accepted the message, a failed goodbye changes nothing."""
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


class SentLog:
    """The record of daily reports sent, per factory, day and recipient."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def sent_to(self, factory_id: str, day: date) -> set[str]:
        with self.hub.registry.transaction() as con:
            rows = con.execute("SELECT recipient FROM reports_sent WHERE factory_id = ? AND day = ?", (validate_factory_id(factory_id), day.isoformat())).fetchall()
        return {r[0] for r in rows}

    def sends(self, factory_id: str, day: date, recipient: str) -> int:
        """How many times a forced resend already replaced this record (0 after the first send)."""
        with self.hub.registry.transaction() as con:
            row = con.execute(
                "SELECT message_id FROM reports_sent WHERE factory_id = ? AND day = ? AND recipient = ?", (factory_id, day.isoformat(), recipient)
            ).fetchone()
        if row is None:
            return -1
        match = re.search(r"\.(\d+)@factoryhub>$", row[0])
        return int(match.group(1)) if match else 0

    def record(self, factory_id: str, day: date, recipient: str, language: str, subject: str, msg_id: str) -> None:
        with self.hub.registry.transaction() as con:
            con.execute(
                "INSERT INTO reports_sent (factory_id, day, recipient, language, subject, message_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (factory_id, day, recipient) DO UPDATE SET language = excluded.language, subject = excluded.subject, "
                "message_id = excluded.message_id, sent_at = excluded.sent_at",
                (factory_id, day.isoformat(), recipient, language, subject, msg_id, datetime.now(UTC).isoformat(timespec="seconds")),
            )


@dataclass
class SendOutcome:
    """What :func:`send_daily_report` did for one factory-day: addresses sent to, skipped (sent
    before) and failed (with why); ``subject`` of the factory's own language."""

    factory_id: str
    day: date
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    subject: str = ""


def send_daily_report(
    hub: Hub,
    factory_id: str,
    day: date,
    *,
    mailer: SmtpMailer | None = None,
    force: bool = False,
    reports: dict[str, DailyReport] | None = None,
) -> SendOutcome:
    """Send ``factory_id``'s report of ``day`` to each of its recipients not yet sent to (all of
    them with ``force``), in each recipient's language. ``reports``: reports already built, by
    language (built here when missing, and added). A recipient the server refuses is recorded in
    the outcome's ``failed`` and the others still get theirs."""
    from analytics.store.users import default_language

    settings = hub.settings
    mailer = mailer or SmtpMailer(settings.mail)
    recipients = ReportRecipients(hub, factory_id).list()
    factory_language = default_language(hub.registry.factory(factory_id).timezone)
    reports = reports if reports is not None else {}
    log_ = SentLog(hub)
    done = log_.sent_to(factory_id, day)
    outcome = SendOutcome(factory_id, day)
    for recipient in recipients:
        if recipient.email in done and not force:
            outcome.skipped.append(recipient.email)
            continue
        language = recipient.language or factory_language
        if language not in reports:
            reports[language] = build_daily_report(hub, factory_id, day, language=language, dashboard_url=settings.dashboard_url)
        report = reports[language]
        msg_id = message_id(factory_id, day, recipient.email, log_.sends(factory_id, day, recipient.email) + 1)
        try:
            mailer.send(compose(report, settings.mail.sender, recipient, msg_id=msg_id))
        except MailError as exc:
            log.error("%s %s: report to %s not sent: %s", factory_id, day, recipient.email, exc)
            outcome.failed[recipient.email] = str(exc)
            continue
        log_.record(factory_id, day, recipient.email, report.language, report.subject, msg_id)
        outcome.sent.append(recipient.email)
        outcome.subject = outcome.subject or report.subject
    log.info("%s %s: report sent to %d, skipped %d, failed %d", factory_id, day, len(outcome.sent), len(outcome.skipped), len(outcome.failed))
    return outcome
