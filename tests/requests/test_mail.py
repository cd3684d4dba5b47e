"""Mail through a real SMTP server (aiosmtpd on a free port), STARTTLS and AUTH, and the outbox;
then the whole verification loop: the mail arrives, the link in it is clicked, the request is verified."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pledge.config import SmtpSettings
from pledge.errors import ConnectorError, InputError
from pledge.requests.mail import OutboxMailer, SmtpMailer, build_message, mailer_from_settings, valid_address
from tests.requests.support import EMAIL, Env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Inbox, int]:
        inbox = Inbox()
        port = _free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_plain_smtp_delivers_the_message(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port))
    mailer.send(build_message("privacy@acme.test", "ada@example.org", "Hello Zoë ✓", "Body with ünïcode\n"))
    (received,) = inbox.messages
    assert received["Subject"] == "Hello Zoë ✓"
    assert received.get_content().rstrip() == "Body with ünïcode"
    assert inbox.envelopes == [("privacy@acme.test", ["ada@example.org"])]


def test_starttls_and_auth(smtp_server: Callable[..., tuple[Inbox, int]], tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"pledge", b"s3cret")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    inbox, port = smtp_server(
        tls_context=server_tls, require_starttls=True, authenticator=authenticate, auth_require_tls=True
    )
    client_tls = ssl.create_default_context(cafile=str(cert))
    settings = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="pledge", password="s3cret")
    SmtpMailer(settings, ssl_context=client_tls).send(build_message("a@acme.test", "b@example.org", "s", "b"))
    assert len(inbox.messages) == 1
    wrong = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="pledge", password="nope")
    with pytest.raises(ConnectorError, match="could not send mail"):
        SmtpMailer(wrong, ssl_context=client_tls).send(
            build_message("a@acme.test", "b@example.org", "s", "b")
        )
    # Without STARTTLS the server refuses; with an untrusted certificate the client refuses.
    with pytest.raises(ConnectorError):
        SmtpMailer(SmtpSettings(host="127.0.0.1", port=port)).send(
            build_message("a@acme.test", "b@x.org", "s", "b")
        )
    with pytest.raises(ConnectorError):
        SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, starttls=True)).send(
            build_message("a@acme.test", "b@example.org", "s", "b")
        )
    assert len(inbox.messages) == 1


def test_an_unreachable_server_is_a_connector_error_that_names_no_recipient() -> None:
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=_free_port()))
    with pytest.raises(ConnectorError) as caught:
        mailer.send(build_message("a@acme.test", "secret.person@example.org", "s", "b"))
    assert "secret.person" not in caught.value.message


def test_outbox_writes_whole_eml_files(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    mailer = mailer_from_settings(SmtpSettings(outbox=outbox))
    assert isinstance(mailer, OutboxMailer)
    for i in range(3):
        mailer.send(build_message("a@acme.test", "b@example.org", f"message {i}", "body\n"))
    files = mailer.messages()
    assert len(files) == 3 and all(p.suffix == ".eml" for p in files)
    assert [p.name for p in outbox.iterdir() if p.name.startswith(".")] == []
    parsed = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"] for p in files]
    assert sorted(parsed) == ["message 0", "message 1", "message 2"]


def test_outbox_that_cannot_be_written_is_a_connector_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConnectorError):
        OutboxMailer(blocker / "outbox").send(build_message("a@acme.test", "b@example.org", "s", "b"))


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "a@b",
        "a@.org",
        "@b.org",
        "a b@c.org",
        "a@b.org\r\nBcc: x@y.org",
        "<a@b.org>",
        "a@b.org, c@d.org",
        "x" * 400 + "@b.org",
    ],
)
def test_unusable_addresses_are_input_errors(address: str) -> None:
    with pytest.raises(InputError):
        valid_address(address)


def test_headers_cannot_be_injected() -> None:
    with pytest.raises(ValueError):
        build_message("a@acme.test", "b@example.org", "hi\r\nBcc: victim@example.org", "b")
    assert valid_address("  Ada.Lovelace+privacy@Example.org ") == "Ada.Lovelace+privacy@Example.org"


def _link_token(message: EmailMessage) -> str:
    body = message.get_content()
    (link,) = re.findall(r"https://\S+/privacy/requests/verify\?\S+", body)
    return parse_qs(urlparse(link).query)["token"][0]


def test_the_verification_mail_arrives_and_its_link_verifies_the_request(
    db_url: str, make_env: Callable[..., Env], smtp_server: Callable[..., tuple[Inbox, int]]
) -> None:
    inbox, port = smtp_server()
    env = make_env(db_url, mailer=SmtpMailer(SmtpSettings(host="127.0.0.1", port=port)))
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr", source="privacy_center")
    (mail,) = inbox.messages
    assert mail["To"] == "ada@example.org" and mail["From"] == "privacy@acme.test"
    assert record.id in mail.get_content()
    verified = env.workflow.verify_request(_link_token(mail))  # what the web route does on a click
    assert verified.id == record.id and verified.state == "verified"
    env.runner.run_request(record.id)
    completion = inbox.messages[-1]
    assert "/privacy/requests/result?token=" in completion.get_content()
    assert env.workflow.get_request(record.id).state == "completed"


def test_a_mail_server_that_is_down_delays_the_mail_but_loses_nothing(
    sqlite_url: str, make_env: Callable[..., Env], smtp_server: Callable[..., tuple[Inbox, int]]
) -> None:
    port = _free_port()
    env = make_env(sqlite_url, mailer=SmtpMailer(SmtpSettings(host="127.0.0.1", port=port)))
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    assert record.state == "received" and record.acknowledged_at is None  # created all the same
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert env.workflow.deliver_pending_mail(older_than_seconds=0) == 1
        assert env.workflow.deliver_pending_mail(older_than_seconds=0) == 0
    finally:
        controller.stop()
    assert env.workflow.get_request(record.id).acknowledged_at is not None
    env.workflow.verify_request(_link_token(inbox.messages[0]))
    assert env.workflow.get_request(record.id).state == "verified"
