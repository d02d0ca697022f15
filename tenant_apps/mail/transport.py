"""Which road an instance's mail takes and what its From says, decided per message.

`route_for_instance()` reads the current instance's settings every time it is called (no
cache, no module state): a worker that sends for instance A and then for instance B builds
two routes, so A's server, user name and password can never carry B's mail.

- Own SMTP server: Django's SMTP backend with the instance's host, port, encryption and
  credentials. The server was chosen by a reseller, so it is untrusted: its name is
  resolved once, every address must be public (no loopback, private, link-local …: the
  operator's own database or a metadata service is not an SMTP server), and the
  connection goes to the checked address (TLS still checks the name).
  `UPLINE_MAIL_ALLOW_PRIVATE_SMTP` lifts this for development and tests.
- Provider: the django-anymail backend of the chosen provider with the instance's key.
- Otherwise the operator's relay (`EMAIL_BACKEND`, configured from the environment): From
  is the instance's name with the operator's sending address (`UPLINE_EMAIL_RELAY_FROM`),
  Reply-To the instance's own address, so replies reach the reseller, not the operator.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.utils.translation import gettext

from tenant_apps.instance.emails import sender_name
from tenant_apps.instance.selectors import issuer_identity_get

from .credentials import secret_reveal
from .models import MailSettings

#: provider → (anymail backend, the keyword its API key goes in)
PROVIDERS: dict[str, tuple[str, str]] = {
    MailSettings.Provider.POSTMARK: ("anymail.backends.postmark.EmailBackend", "server_token"),
    MailSettings.Provider.MAILGUN: ("anymail.backends.mailgun.EmailBackend", "api_key"),
    MailSettings.Provider.SENDGRID: ("anymail.backends.sendgrid.EmailBackend", "api_key"),
    MailSettings.Provider.BREVO: ("anymail.backends.brevo.EmailBackend", "api_key"),
}


class RefusedMailServer(OSError):
    """The SMTP server an instance named resolves to an address we must not connect to."""


@dataclass(frozen=True)
class Route:
    """How one message leaves: the connection, its From and default Reply-To."""

    kind: str  # "relay", "smtp", "provider:postmark" …
    from_email: str
    reply_to: list[str] = field(default_factory=list)
    settings_row: MailSettings | None = None
    server: str = ""  # "host:port" of an own SMTP server, for error sentences

    def connection(self) -> BaseEmailBackend:
        row = self.settings_row
        if self.kind == MailSettings.Transport.SMTP and row is not None:
            return PinnedSMTPBackend(
                host=row.smtp_host,
                port=row.smtp_port,
                username=row.smtp_username or None,
                password=secret_reveal(row.smtp_password_encrypted) or None,
                use_tls=row.smtp_security == MailSettings.Security.STARTTLS,
                use_ssl=row.smtp_security == MailSettings.Security.TLS,
                timeout=settings.UPLINE_MAIL_SMTP_TIMEOUT,
                fail_silently=False,
            )
        if self.kind.startswith("provider:") and row is not None:
            backend, key_name = PROVIDERS[row.provider]
            return get_connection(
                backend,
                fail_silently=False,
                **{key_name: secret_reveal(row.provider_api_key_encrypted)},
            )
        return get_connection(fail_silently=False)


def relay_address() -> str:
    """The operator's sending address the relay puts in From (its own domain)."""
    configured = getattr(settings, "UPLINE_EMAIL_RELAY_FROM", "") or settings.DEFAULT_FROM_EMAIL
    return parseaddr(configured)[1]


def mail_settings_current() -> MailSettings | None:
    return MailSettings.objects.first()


def instance_address(row: MailSettings | None = None, identity=None) -> str:
    """The instance's own e-mail address: its mail settings', else its issuer identity's."""
    if row is not None and row.from_email:
        return row.from_email
    identity = identity if identity is not None else issuer_identity_get()
    return identity.email if identity is not None and identity.email else ""


def route_for_instance() -> Route:
    """The road the current instance's next message takes (read fresh, see module doc)."""
    row = mail_settings_current()
    identity = issuer_identity_get()
    name = sender_name(identity) or settings.UPLINE_OPERATOR_NAME
    own = instance_address(row, identity)
    if row is not None and row.transport == MailSettings.Transport.SMTP and row.smtp_host:
        return Route(
            kind=MailSettings.Transport.SMTP,
            from_email=formataddr((name, own or relay_address())),
            settings_row=row,
            server=f"{row.smtp_host}:{row.smtp_port}",
        )
    if row is not None and row.transport == MailSettings.Transport.PROVIDER and row.provider:
        return Route(
            kind=f"provider:{row.provider}",
            from_email=formataddr((name, own or relay_address())),
            settings_row=row,
        )
    return Route(
        kind=MailSettings.Transport.RELAY,
        from_email=formataddr((name, relay_address())),
        reply_to=[own] if own else [],
    )


# --------------------------------------------------------------------------------------
# An SMTP server chosen by a reseller: public addresses only, connected to as checked.


def _allow_private() -> bool:
    return bool(getattr(settings, "UPLINE_MAIL_ALLOW_PRIVATE_SMTP", False))


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def checked_address(host: str, port: int) -> str:
    """The first address `host` resolves to, once every address it resolves to is public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise socket.gaierror(
            exc.errno, gettext("the name %(host)s could not be resolved") % {"host": host}
        ) from exc
    addresses = [info[4][0] for info in infos]
    if not _allow_private():
        refused = [address for address in addresses if _address_refused(address)]
        if refused:
            raise RefusedMailServer(
                gettext(
                    "%(host)s resolves to %(address)s, an address on a private or local "
                    "network; use your mail server's public name"
                )
                % {"host": host, "address": refused[0]}
            )
    return addresses[0]


class _PinnedSMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        address = checked_address(host, port)
        return socket.create_connection((address, port), timeout, self.source_address)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        address = checked_address(host, port)
        raw = socket.create_connection((address, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=self._host)


class PinnedSMTPBackend(SMTPBackend):
    """Django's SMTP backend connecting only to the public address it checked."""

    @property
    def connection_class(self):
        return _PinnedSMTPSSL if self.use_ssl else _PinnedSMTP
