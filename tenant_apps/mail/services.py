"""Every write of outgoing e-mail: recording a message, sending it, retrying it, purging old
bodies, and the instance's sending settings (with a test e-mail).

How a message travels:
1. `email_record` writes an `OutgoingEmail` row in the caller's transaction, with both parts
   (the plain-text wording and its HTML frame) and the customer it concerns. A change
   that rolls back leaves no mail; one that commits always has its mail recorded.
2. It is sent by `email_deliver`, which locks the row (`skip_locked`: two workers never
   send the same row), sends it on the instance's road (`transport.route_for_instance`)
   and marks it sent, or counts a failed attempt with its reason in plain words and the
   time of the next try (backoff doubling from a minute to six hours, MAX_ATTEMPTS in all).
   `email_queue` asks a worker to do that once the caller commits (request paths);
   `email_send` does it at once (work already running in a worker).
3. `outbox_sweep` (beat, every minute, every instance) sends what is due: retries, and
   rows whose worker request was lost with the broker. Nothing is lost; at worst a message
   whose worker died between the server's acceptance and the commit is sent twice.
"""

from __future__ import annotations

import datetime
import logging
import smtplib
import socket
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import make_msgid, parseaddr

from anymail.exceptions import AnymailError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext, gettext_noop

from tenant_apps.instance import audit, dispatch
from tenant_apps.instance.emails import email_render
from tenant_apps.instance.errors import DomainError

from .credentials import SecretUnreadable, secret_seal
from .models import MailSettings, OutgoingEmail
from .rendering import branding_get, html_part, with_text_footer
from .transport import PROVIDERS, RefusedMailServer, Route, route_for_instance

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 60
LAST_RETRY_SECONDS = 6 * 60 * 60
# A queued row waits this long for its worker before the sweep sends it itself.
SWEEP_GRACE = datetime.timedelta(minutes=2)
TEST_KEY = "test"

EMAIL_RETRIED = audit.event_type("email.retried", gettext_noop("E-mail queued again by staff"))
MAIL_SETTINGS_CHANGED = audit.event_type(
    "mail_settings.changed", gettext_noop("E-mail sending changed")
)


class EmailNotRetryable(DomainError):
    code = "email_not_retryable"
    status_code = 409


@dataclass(frozen=True)
class Attachment:
    """A file to attach: one already in storage (`storage_name`), or `content` that the
    outbox stores under the instance's folder so a retry attaches exactly the same bytes."""

    filename: str
    storage_name: str = ""
    mimetype: str = "application/pdf"
    content: bytes | None = None


def _stored(attachment: Attachment) -> dict:
    if attachment.content is None:
        return {
            "filename": attachment.filename,
            "storage_name": attachment.storage_name,
            "mimetype": attachment.mimetype,
        }
    name = default_storage.save(
        f"{connection.schema_name}/mail/{uuid.uuid4().hex}/"
        f"{get_valid_filename(attachment.filename) or 'attachment'}",
        ContentFile(attachment.content),
    )
    # "owned": the outbox made this copy and deletes it with the message's body.
    return {
        "filename": attachment.filename,
        "storage_name": name,
        "mimetype": attachment.mimetype,
        "owned": True,
    }


# --------------------------------------------------------------------------------------
# Recording and sending


def _addresses(values: Sequence[str]) -> list[str]:
    """Non-empty addresses, each once (case-insensitive), in order."""
    seen: set[str] = set()
    unique = []
    for value in values:
        if value and value.lower() not in seen:
            seen.add(value.lower())
            unique.append(value)
    return unique


def email_record(
    *,
    to: Sequence[str],
    key: str = "",
    context: dict | None = None,
    subject: str = "",
    body: str = "",
    cc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    customer_id: int | None = None,
    attachments: Sequence[Attachment] = (),
    language: str | None = None,
) -> OutgoingEmail:
    """Record one message of the current instance, in the caller's transaction.

    With `context`, the wording is e-mail `key` rendered by `instance.emails` (the
    instance's own text when staff wrote one); otherwise `subject` and `body` are used.
    `language` (the reader's) is what the rendering, the footer and the HTML part are
    written in; without it, the active language.
    """
    if language is not None:
        with translation.override(language):
            return email_record(
                to=to,
                key=key,
                context=context,
                subject=subject,
                body=body,
                cc=cc,
                reply_to=reply_to,
                customer_id=customer_id,
                attachments=attachments,
            )
    recipients = _addresses(to)
    if not recipients:
        raise ValueError("An e-mail needs at least one recipient.")
    if context is not None:
        rendered = email_render(key=key, context=context)
        subject, body = rendered.subject, rendered.body
    subject = " ".join(subject.split())  # one line: a newline in a subject is an injection
    branding = branding_get()
    return OutgoingEmail.objects.create(
        template_key=key,
        to=recipients,
        cc=[a for a in _addresses([*recipients, *cc]) if a not in recipients],
        reply_to=_addresses(reply_to),
        subject=subject,
        body_text=with_text_footer(body, branding),
        body_html=html_part(subject=subject, body_text=body, branding=branding),
        customer_id=customer_id,
        attachments=[_stored(attachment) for attachment in attachments],
        next_attempt_at=timezone.now() + SWEEP_GRACE,
    )


def _deliver_soon(email_id: int, schema_name: str) -> None:
    from .tasks import email_deliver_task

    # Off the caller's path; a request lost with the broker down waits for the sweep.
    dispatch.enqueue_soon(email_deliver_task, email_id=email_id, schema_name=schema_name)


def email_queue(**message) -> OutgoingEmail:
    """Record a message (see `email_record`); a worker sends it once the caller commits."""
    row = email_record(**message)
    schema = connection.schema_name
    transaction.on_commit(lambda: _deliver_soon(row.pk, schema))
    return row


def email_send(**message) -> OutgoingEmail:
    """Record a message and send it now, in this process (for work already in a worker).

    A failed send does not raise: the row keeps the reason and the sweep retries it."""
    row = email_record(**message)
    return email_deliver(email_id=row.pk) or row


def _message(row: OutgoingEmail, route: Route) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=route.from_email,
        to=row.to,
        cc=row.cc,
        reply_to=row.reply_to or route.reply_to or None,
    )
    domain = parseaddr(route.from_email)[1].rpartition("@")[2] or None
    message.extra_headers["Message-ID"] = make_msgid(domain=domain)
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    for attachment in row.attachments:
        with default_storage.open(attachment["storage_name"], "rb") as handle:
            message.attach(attachment["filename"], handle.read(), attachment["mimetype"])
    return message


def _provider_message_id(message: EmailMultiAlternatives) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return message.extra_headers.get("Message-ID", "")


def _retry_delay(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(
        seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LAST_RETRY_SECONDS)
    )


def email_deliver(*, email_id: int) -> OutgoingEmail | None:
    """Send one recorded message unless it was sent already or another worker holds it;
    returns the row as it ends (None when there was nothing to do)."""
    with transaction.atomic():
        row = (
            OutgoingEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id)
            .exclude(status=OutgoingEmail.Status.SENT)
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        route = None
        try:
            route = route_for_instance()
            row.transport, row.from_email = route.kind, route.from_email
            message = _message(row, route)
            message.connection = route.connection()
            message.send()
        except Exception as exc:  # any failure is recorded and retried, never raised
            row.status = OutgoingEmail.Status.FAILED
            row.last_error = failure_sentence(exc, route)
            row.next_attempt_at = (
                timezone.now() + _retry_delay(row.attempts) if row.attempts < MAX_ATTEMPTS else None
            )
            log.warning("E-mail %s not sent (attempt %s): %s", row.pk, row.attempts, exc)
        else:
            row.status = OutgoingEmail.Status.SENT
            row.sent_at = timezone.now()
            row.last_error = ""
            row.next_attempt_at = None
            row.provider_message_id = _provider_message_id(message)[:255]
        row.save()
        return row


def outbox_sweep(*, limit: int = 200) -> int:
    """Send the messages that are due (retries and lost requests); returns how many went."""
    due = list(
        OutgoingEmail.objects.filter(
            status__in=[OutgoingEmail.Status.QUEUED, OutgoingEmail.Status.FAILED],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for email_id in due:
        row = email_deliver(email_id=email_id)
        sent += bool(row is not None and row.status == OutgoingEmail.Status.SENT)
    return sent


@transaction.atomic
def email_retry(*, email: OutgoingEmail, actor=None) -> OutgoingEmail:
    """Staff: send a failed (or still queued) message again, now."""
    row = OutgoingEmail.objects.select_for_update().get(pk=email.pk)
    if row.status == OutgoingEmail.Status.SENT:
        raise EmailNotRetryable(gettext("This e-mail was sent already; it is not sent twice."))
    if row.body_purged_at is not None:
        raise EmailNotRetryable(
            gettext("This e-mail's text was deleted with old e-mails; it cannot be sent again.")
        )
    row.status = OutgoingEmail.Status.QUEUED
    row.next_attempt_at = timezone.now() + SWEEP_GRACE
    row.save(update_fields=["status", "next_attempt_at"])
    audit.audit_record(EMAIL_RETRIED, actor=actor, obj=row, object_label=row.subject[:200])
    schema = connection.schema_name
    transaction.on_commit(lambda: _deliver_soon(row.pk, schema))
    return row


def email_bodies_purge(*, days: int | None = None) -> int:
    """Blank the text, HTML and attachments of messages older than `days` (the setting
    UPLINE_EMAIL_BODY_RETENTION_DAYS by default) that are done with: sent, or given up.
    The log row (to, subject, status, times) stays."""
    days = settings.UPLINE_EMAIL_BODY_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - datetime.timedelta(days=days)
    done = OutgoingEmail.objects.filter(created_at__lt=cutoff, body_purged_at__isnull=True).filter(
        Q(status=OutgoingEmail.Status.SENT) | Q(next_attempt_at__isnull=True)
    )
    purged = 0
    for row in done.only("pk", "attachments").iterator():
        for attachment in row.attachments:
            if attachment.get("owned"):
                default_storage.delete(attachment["storage_name"])
        purged += OutgoingEmail.objects.filter(pk=row.pk).update(
            body_text="", body_html="", attachments=[], body_purged_at=timezone.now()
        )
    return purged


# --------------------------------------------------------------------------------------
# What went wrong, in words an owner can act on


def failure_sentence(exc: BaseException, route: Route | None) -> str:
    """Why a send failed, as one sentence an owner can act on."""
    sentence = _failure(exc, route)
    return sentence[:1].upper() + sentence[1:]


def _failure(exc: BaseException, route: Route | None) -> str:
    server = route.server if route is not None and route.server else gettext("the mail server")
    if isinstance(exc, SecretUnreadable | RefusedMailServer):
        return f"{exc}."
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return gettext("%(server)s refused the user name or password (%(reply)s).") % {
            "server": server,
            "reply": _smtp_reply(exc),
        }
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return gettext(
            "%(server)s does not offer STARTTLS; choose “TLS from the first byte” "
            "(usually port 465) or ask your provider which port to use."
        ) % {"server": server}
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return gettext(
            "%(server)s refused to send as %(sender)s (%(reply)s); check that "
            "this server may send for the sender address."
        ) % {"server": server, "sender": exc.sender, "reply": _smtp_reply(exc)}
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(exc.recipients)
        return gettext("%(server)s refused the recipient address %(recipients)s.") % {
            "server": server,
            "recipients": refused,
        }
    if isinstance(exc, smtplib.SMTPResponseException):
        return gettext("%(server)s answered with an error: %(reply)s.") % {
            "server": server,
            "reply": _smtp_reply(exc),
        }
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return gettext(
            "%(server)s closed the connection. Check the port and the encryption setting "
            "(465 is TLS from the first byte, 587 and 25 use STARTTLS)."
        ) % {"server": server}
    if isinstance(exc, ConnectionRefusedError):
        return gettext("%(server)s refused the connection: check the host name and the port.") % {
            "server": server
        }
    if isinstance(exc, socket.gaierror):
        return gettext("The mail server's name could not be found (%(error)s): check the host.") % {
            "error": exc.strerror
        }
    if isinstance(exc, TimeoutError | socket.timeout):
        return gettext(
            "%(server)s did not answer in time: check the host, the port and any firewall."
        ) % {"server": server}
    if isinstance(exc, ssl.SSLError):
        return gettext(
            "The secure connection to %(server)s failed (%(error)s). Check the "
            "encryption setting: 465 is TLS from the first byte, 587 uses STARTTLS."
        ) % {"server": server, "error": exc.reason or exc}
    if isinstance(exc, AnymailError):
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            return gettext(
                "The e-mail provider refused the API key: check it in the e-mail settings."
            )
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return gettext("The e-mail provider did not accept the message: %(error)s") % {
            "error": first_line
        }
    if isinstance(exc, FileNotFoundError):
        return gettext("An attachment is missing from storage (%(file)s).") % {
            "file": exc.filename or exc
        }
    if isinstance(exc, OSError):
        return gettext("Could not reach %(server)s: %(error)s.") % {
            "server": server,
            "error": exc.strerror or exc,
        }
    return gettext("Sending failed: %(error)s") % {"error": exc}


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()


# --------------------------------------------------------------------------------------
# The instance's sending settings


def _require_owner(actor) -> None:
    """Only the owner changes how the instance's mail leaves (the system acts as owner)."""
    user = getattr(actor, "user", actor)
    role = getattr(user, "role", None)
    if role is not None and role != "owner":
        raise DomainError(gettext("Only the owner can change how this instance sends e-mail."))


_SETTINGS_FIELDS = [
    "transport",
    "from_email",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "provider",
]


@transaction.atomic
def mail_settings_set(
    *,
    transport: str,
    from_email: str = "",
    smtp_host: str = "",
    smtp_port: int | None = None,
    smtp_security: str = MailSettings.Security.STARTTLS,
    smtp_username: str = "",
    smtp_password: str | None = None,
    provider: str = "",
    provider_api_key: str | None = None,
    actor=None,
) -> MailSettings:
    """Save how the current instance sends mail. A secret left as None keeps the saved one;
    secrets are stored encrypted and appear in the audit trail only as "changed"."""
    _require_owner(actor)
    row = MailSettings.objects.select_for_update().first()
    created = row is None
    row = row or MailSettings()
    before = audit.snapshot(row, _SETTINGS_FIELDS)
    errors: dict[str, list[str]] = {}
    if transport not in MailSettings.Transport.values:
        errors["transport"] = [gettext("Choose how e-mail is sent.")]
    if from_email:
        try:
            validate_email(from_email)
        except ValidationError:
            errors["from_email"] = [gettext("Enter an e-mail address like billing@example.com.")]
    smtp_host = smtp_host.strip()
    if transport == MailSettings.Transport.SMTP:
        if not smtp_host:
            errors["smtp_host"] = [
                gettext("Enter the SMTP server's host name, e.g. smtp.example.com.")
            ]
        elif any(c.isspace() or c in "/:@" for c in smtp_host):
            errors["smtp_host"] = [gettext("Enter a host name only, without port or scheme.")]
        if smtp_port is None or not 1 <= int(smtp_port) <= 65535:
            errors["smtp_port"] = [gettext("Enter the port, usually 587 (STARTTLS) or 465 (TLS).")]
        if smtp_security not in MailSettings.Security.values:
            errors["smtp_security"] = [gettext("Choose the encryption.")]
        if smtp_username and not (smtp_password or row.smtp_password_encrypted):
            errors["smtp_password"] = [gettext("Enter the password that goes with this user name.")]
    if transport == MailSettings.Transport.PROVIDER:
        if provider not in PROVIDERS:
            errors["provider"] = [gettext("Choose a provider.")]
        elif not (provider_api_key or row.provider_api_key_encrypted):
            errors["provider_api_key"] = [gettext("Enter the provider's API key.")]
    if errors:
        raise ValidationError(errors)
    row.transport = transport
    row.from_email = from_email
    row.smtp_host, row.smtp_port = smtp_host, smtp_port
    row.smtp_security, row.smtp_username = smtp_security, smtp_username
    row.provider = provider
    secrets_changed = []
    if smtp_password:
        row.smtp_password_encrypted = secret_seal(smtp_password)
        secrets_changed.append("smtp_password")
    if provider_api_key:
        row.provider_api_key_encrypted = secret_seal(provider_api_key)
        secrets_changed.append("provider_api_key")
    row.save()
    changes = audit.diff(before, audit.snapshot(row, _SETTINGS_FIELDS), created=created)
    audit.audit_record(
        MAIL_SETTINGS_CHANGED,
        actor=actor,
        obj=row,
        changes=changes,
        detail={"secrets_changed": secrets_changed} if secrets_changed else {},
    )
    return row


def mail_test_send(*, to: str, actor=None) -> OutgoingEmail:
    """Send a test e-mail on the instance's current road, now; the returned row says
    whether it went (status) and, if not, why (last_error). It is not retried."""
    _require_owner(actor)
    try:
        validate_email(to)
    except ValidationError as exc:
        raise ValidationError({"to": [gettext("Enter the address to send the test to.")]}) from exc
    route = route_for_instance()
    road = {
        MailSettings.Transport.RELAY: gettext("the platform's mail relay"),
        MailSettings.Transport.SMTP: gettext("your SMTP server %(server)s")
        % {"server": route.server},
    }.get(route.kind, gettext("your e-mail provider"))
    row = email_send(
        to=[to],
        key=TEST_KEY,
        subject=gettext("Test e-mail from %(name)s")
        % {"name": branding_get().name or gettext("your instance")},
        body=gettext(
            "This is a test e-mail.\n\n"
            "It was sent through %(road)s, from %(sender)s.\n"
            "If you can read it, e-mail from your instance reaches your customers."
        )
        % {"road": road, "sender": route.from_email},
    )
    if row.status != OutgoingEmail.Status.SENT and row.next_attempt_at is not None:
        # A test is a question asked now; retrying it later would only surprise someone.
        row.next_attempt_at = None
        row.save(update_fields=["next_attempt_at"])
    return row
