"""Arrangements of the mail tests (no tests here): a real SMTP server on 127.0.0.1 that
records what it receives and who signed in, and helpers to read e-mail parts."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    login: str


@dataclass
class SMTPSink:
    """What one local SMTP server received, and the user names that signed in to it."""

    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        login = session.auth_data.login.decode() if session.auth_data else ""
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.original_content),
                login,
            )
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        ok = auth_data.password.decode() == "right-password"
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """Start SMTP servers on 127.0.0.1 (allowed for instances in tests only); each call of
    the returned function starts one more and gives its sink."""
    settings.UPLINE_MAIL_ALLOW_PRIVATE_SMTP = True
    controllers = []

    def start() -> SMTPSink:
        sink = SMTPSink("127.0.0.1", _free_port())
        controller = Controller(
            sink,
            hostname=sink.host,
            port=sink.port,
            authenticator=sink.authenticate,
            auth_require_tls=False,
        )
        controller.start()
        controllers.append(controller)
        return sink

    yield start
    for controller in controllers:
        controller.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connecting is refused)."""
    return _free_port()


def html_of(message) -> str:
    """The text/html alternative of a sent EmailMultiAlternatives."""
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html
