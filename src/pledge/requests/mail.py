"""Sending e-mail: through an SMTP server, or into an outbox folder of ``.eml`` files.

Stdlib only (``smtplib`` and ``email``). With no SMTP host configured every message is written to
``Settings.smtp.outbox`` instead, so a demo (or a developer) can open what would have been sent.
``EmailMessage`` with the default policy refuses CR/LF in headers, so a hostile name or subject
cannot inject headers.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import uuid
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from pledge.config import SmtpSettings
from pledge.errors import ConnectorError, InputError

__all__ = [
    "Mailer",
    "MemoryMailer",
    "OutboxMailer",
    "SmtpMailer",
    "build_message",
    "mailer_from_settings",
    "valid_address",
]

_TIMEOUT = 20.0


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise ``ConnectorError``; never silently drop it."""
        ...


def valid_address(text: str) -> str:
    """A single plain address (``local@domain``), or ``InputError``. Returns it stripped."""
    value = text.strip() if isinstance(text, str) else ""
    if not value or len(value) > 320 or any(c in value for c in '\r\n\t <>,;"()[]\\'):
        raise InputError("not a usable e-mail address", hint="give one address like name@example.org")
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or domain.startswith("."):
        raise InputError("not a usable e-mail address", hint="give one address like name@example.org")
    try:
        Address(addr_spec=value)
    except (ValueError, IndexError):
        raise InputError(
            "not a usable e-mail address", hint="give one address like name@example.org"
        ) from None
    return value


def build_message(
    sender: str, to: str, subject: str, body: str, *, headers: dict[str, str] | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


class SmtpMailer:
    """One connection per message: simple, and nothing to go stale between rare sends."""

    def __init__(self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if not settings.host:
            raise ValueError("SmtpMailer needs a host; use OutboxMailer without one")
        self.settings = settings
        self._context = ssl_context

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.host is not None
        try:
            with smtplib.SMTP(s.host, s.port, timeout=_TIMEOUT) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=self._context or ssl.create_default_context())
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            # The reason is the server's, never the message: it may hold personal data.
            raise ConnectorError(
                f"could not send mail through {s.host}:{s.port}: {type(exc).__name__}: {exc}",
                hint="check PLEDGE_SMTP_HOST, PLEDGE_SMTP_PORT, STARTTLS and credentials",
            ) from None


class OutboxMailer:
    """Writes each message as ``<UTC time>-<id>.eml``; a file appears whole or not at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            name = f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
            tmp = self.folder / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            tmp.replace(self.folder / name)
        except OSError as exc:
            raise ConnectorError(
                f"could not write mail to the outbox {self.folder}: {exc.strerror}"
            ) from None

    def messages(self) -> list[Path]:
        """The outbox's messages, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == ".eml" and not p.name.startswith("."))


class MemoryMailer:
    """Keeps messages in a list: for tests and for callers that deliver mail themselves."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            self.sent.append(message)


def mailer_from_settings(settings: SmtpSettings) -> Mailer:
    return SmtpMailer(settings) if settings.host else OutboxMailer(settings.outbox)
