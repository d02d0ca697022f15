"""The inbox for resellers on other billing software: API keys, escalations opened from the
reseller's own helpdesk, replies, updates, and the callback endpoint the answers go to.

These resellers have no Upline instance to escalate from; they are still `Reseller` rows and
are the operator's customers. Everything here runs in the public schema (the operator's
instance): the operator's ticket, the ExternalEscalation row and the audit events (in the
operator's trail, about the Reseller) commit together or not at all. Escalations open
through `services.escalation_open`, like those from an Upline instance: the same
active-reseller check and the same escalation price.

`actor` is a label or a user of the operator's instance: the inbox API passes its key's
label ("inbox key 1a2b3c4d… (Acme)"), the commands "manage.py", the admin its user.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tenants.utils import get_public_schema_name, schema_context
from rest_framework import status

from shared_apps.tenancy.models import Reseller
from tenant_apps.accounts.models import STAFF_ROLES
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Message, Ticket
from tenant_apps.helpdesk.ports import Origin
from tenant_apps.instance.audit import audit_record, event_type
from tenant_apps.instance.errors import DomainError

from .callbacks import staff_label
from .models import CallbackEndpoint, ExternalEscalation, InboxToken
from .services import Price, escalation_open, reseller_require_active

KEY_PREFIX_LENGTH = 8
# Writing last_used_at on every request would turn each read into a write; a minute's
# precision is enough to tell a live key from a forgotten one.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)


INBOX_KEY_CREATED = event_type("reseller.inbox_key_created", gettext_noop("Inbox API key created"))
INBOX_KEY_REVOKED = event_type("reseller.inbox_key_revoked", gettext_noop("Inbox API key revoked"))
CALLBACK_ENDPOINT_SET = event_type(
    "reseller.callback_endpoint_set", gettext_noop("Callback address set")
)


class DuplicateExternalRef(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "duplicate_external_ref"


class EscalationClosed(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "escalation_closed"


def _public():
    return schema_context(get_public_schema_name())


def _audit(reseller: Reseller, event, actor, **detail) -> None:
    """Record an inbox event in the operator's audit trail (public schema), about the
    reseller — and in its history as the operator's customer, once it is one."""
    customer_id = (
        Customer.objects.filter(reseller_id=reseller.pk).values_list("pk", flat=True).first()
    )
    audit_record(event, actor=actor or None, obj=reseller, customer_id=customer_id, detail=detail)


def inbox_actor(reseller: Reseller, key_prefix: str = "") -> str:
    """The audit label of a call made with one of the reseller's inbox keys."""
    key = f"inbox key {key_prefix}…" if key_prefix else "inbox API"
    return f"{key} ({reseller.name})"


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


# --------------------------------------------------------------------------------------
# Keys


def inbox_token_create(*, reseller: Reseller, actor=None) -> tuple[InboxToken, str]:
    """A new key for `reseller`. The key is returned here and never again (only its hash
    is stored)."""
    # Hex, not url-safe base64: a key (or its prefix) starting with "-" reads as an option
    # on the command line (`bridge_token SLUG --revoke PREFIX`).
    raw_key = secrets.token_hex(32)
    with _public(), transaction.atomic():
        token = InboxToken.objects.create(
            reseller=reseller, key_prefix=raw_key[:KEY_PREFIX_LENGTH], key_hash=_hash(raw_key)
        )
        _audit(reseller, INBOX_KEY_CREATED, actor, key_prefix=token.key_prefix)
    return token, raw_key


def inbox_token_revoke(*, reseller: Reseller, key_prefix: str, actor=None) -> int:
    """Revoke the reseller's live keys starting with `key_prefix`; returns how many."""
    key_prefix = key_prefix.strip()
    if len(key_prefix) < 4:
        raise ValidationError({"key_prefix": _("Give at least the first 4 characters of the key.")})
    with _public(), transaction.atomic():
        revoked = InboxToken.objects.filter(
            reseller=reseller,
            key_prefix__startswith=key_prefix[:KEY_PREFIX_LENGTH],
            revoked_at__isnull=True,
        ).update(revoked_at=timezone.now())
        if not revoked:
            raise ValidationError(
                {
                    "key_prefix": _("%(name)s has no live key starting with “%(key_prefix)s”.")
                    % {"name": reseller.name, "key_prefix": key_prefix}
                }
            )
        _audit(reseller, INBOX_KEY_REVOKED, actor, key_prefix=key_prefix, count=revoked)
    return revoked


def inbox_authenticate(raw_key: str) -> Reseller | None:
    """The reseller owning this live key, or None for an unknown or revoked key.

    A key of a suspended or terminated reseller raises services.ResellerInactive (the same
    refusal, in the same words, as an escalation from an Upline instance): the caller should
    learn why, rather than be told the key is wrong.
    """
    if not raw_key or len(raw_key) < KEY_PREFIX_LENGTH:
        return None
    digest = _hash(raw_key)
    with _public():
        candidates = InboxToken.objects.select_related("reseller").filter(
            key_prefix=raw_key[:KEY_PREFIX_LENGTH], revoked_at__isnull=True
        )
        # Compare in constant time, so response times tell nothing about stored hashes.
        token = next((t for t in candidates if hmac.compare_digest(t.key_hash, digest)), None)
        if token is None:
            return None
        reseller_require_active(token.reseller)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            InboxToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.reseller


# --------------------------------------------------------------------------------------
# Escalations


def _clean_ref(external_ref: str) -> str:
    ref = (external_ref or "").strip()
    if not ref:
        raise ValidationError({"external_ref": _("Give your ticket's reference.")})
    if len(ref) > 100:
        raise ValidationError({"external_ref": _("Keep the reference under 100 characters.")})
    return ref


def external_escalation_open(
    *,
    reseller: Reseller,
    external_ref: str,
    subject: str,
    body: str,
    customer_label: str = "",
    actor=None,
) -> ExternalEscalation:
    """Open a ticket in the operator's “Reseller escalations” department for a ticket of the
    reseller's own software (see `services.escalation_open`: refused unless the reseller is
    active; charged the escalation price). A reference already escalated is refused (409)."""
    ref = _clean_ref(external_ref)
    customer_label = " ".join((customer_label or "").split())[:200]
    subject = " ".join((subject or "").split())
    duplicate = DuplicateExternalRef(
        _("Your ticket “%(ref)s” is already escalated; reply to that escalation instead.")
        % {"ref": ref}
    )

    def link(ticket: Ticket, price: Price | None) -> ExternalEscalation:
        try:
            # Savepoint: a concurrent open of the same reference loses here, and the whole
            # call (operator ticket included) rolls back with a readable error.
            with transaction.atomic():
                return ExternalEscalation.objects.create(
                    reseller=reseller,
                    external_ref=ref,
                    operator_ticket_id=ticket.pk,
                    subject=subject[:200],
                    customer_label=customer_label,
                )
        except IntegrityError as exc:
            raise duplicate from exc

    with _public(), transaction.atomic():
        if ExternalEscalation.objects.filter(reseller=reseller, external_ref=ref).exists():
            raise duplicate
        header = f"Reseller's reference: {ref}"
        if customer_label:
            header += f"\nCustomer: {customer_label}"
        return escalation_open(
            reseller=reseller,
            subject=subject,
            body=f"{header}\n\n{body}" if (body or "").strip() else "",
            reference=ref,
            actor=actor or inbox_actor(reseller),
            link=link,
        )


def external_escalation_reply(
    *, reseller: Reseller, escalation: ExternalEscalation, body: str, actor=None
) -> Message:
    """The reseller answers the operator: a customer-side reply on the operator's ticket.

    Locks the operator ticket first, then the escalation row (the relay's order), so a reply
    racing the operator's close sees the close and is refused.
    """
    with _public(), transaction.atomic():
        reseller = Reseller.objects.get(pk=reseller.pk)
        reseller_require_active(reseller)
        ticket = Ticket.objects.select_for_update().get(pk=escalation.operator_ticket_id)
        escalation = ExternalEscalation.objects.select_for_update().get(
            pk=escalation.pk, reseller=reseller
        )
        if escalation.status == ExternalEscalation.Status.CLOSED or ticket.is_closed:
            raise EscalationClosed(
                _(
                    "%(UPLINE_OPERATOR_NAME)s closed this escalation; open a new one with "
                    "another reference."
                )
                % {"UPLINE_OPERATOR_NAME": settings.UPLINE_OPERATOR_NAME}
            )
        # The reseller's side of the operator's ticket: origin downstream, never relayed back.
        message = helpdesk.ticket_reply(
            ticket=ticket,
            author=None,
            body=body,
            actor=actor or inbox_actor(reseller),
            origin=Origin.DOWNSTREAM,
        )
        escalation.last_reseller_reply_at = message.created_at
        escalation.save(update_fields=["last_reseller_reply_at"])
    return message


# --------------------------------------------------------------------------------------
# Reads (the API's fetchers: a reseller only ever reaches its own escalations)


def external_escalation_list(*, reseller: Reseller) -> QuerySet[ExternalEscalation]:
    return ExternalEscalation.objects.filter(reseller=reseller).order_by("-created_at", "-id")


def get_external_escalation_for(reseller: Reseller, escalation_id) -> ExternalEscalation:
    """The reseller's own escalation; raises ExternalEscalation.DoesNotExist otherwise."""
    try:
        escalation_id = int(escalation_id)
    except (TypeError, ValueError) as exc:
        raise ExternalEscalation.DoesNotExist from exc
    return ExternalEscalation.objects.get(pk=escalation_id, reseller=reseller)


@dataclass(frozen=True)
class OperatorReply:
    """One answer of the operator's staff on an external escalation."""

    id: int
    created_at: datetime.datetime
    author: str
    body: str  # sanitised HTML


def external_escalation_updates(
    *, reseller: Reseller, escalation: ExternalEscalation, since: datetime.datetime | None = None
) -> tuple[str, list[OperatorReply]]:
    """The operator ticket's status and what the operator's staff answered after `since`.

    Staff replies only: internal notes never leave the operator, the reseller's own replies
    are not news to it, and system lines name the operator's staff by e-mail.
    """
    if escalation.reseller_id != reseller.pk:
        raise ExternalEscalation.DoesNotExist
    with _public():
        ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
        messages = (
            Message.objects.filter(
                ticket=ticket, kind=Message.Kind.REPLY, author__role__in=STAFF_ROLES
            )
            .select_related("author")
            .order_by("created_at", "id")
        )
        if since is not None:
            messages = messages.filter(created_at__gt=since)
        replies = [
            OperatorReply(id=m.pk, created_at=m.created_at, author=staff_label(m), body=m.body)
            for m in messages
        ]
    return ticket.status, replies


# --------------------------------------------------------------------------------------
# Callback endpoint


def callback_endpoint_set(
    *, reseller: Reseller, url: str, new_secret: bool = False, actor=None
) -> CallbackEndpoint:
    """Create or change where the reseller's callbacks go. The secret is made once and kept
    across URL changes unless `new_secret` (the reseller's software must then be updated)."""
    endpoint = CallbackEndpoint(url=(url or "").strip())
    try:
        endpoint.clean_fields(exclude=["reseller", "secret"])
    except ValidationError as exc:
        raise ValidationError({"url": exc.message_dict.get("url", exc.messages)}) from exc
    with _public(), transaction.atomic():
        existing = CallbackEndpoint.objects.select_for_update().filter(reseller=reseller).first()
        if existing is None:
            endpoint.reseller, endpoint.secret = reseller, secrets.token_hex(32)
            endpoint.save()
        else:
            existing.url, existing.is_active, existing.updated_at = (
                endpoint.url,
                True,
                timezone.now(),
            )
            if new_secret:
                existing.secret = secrets.token_hex(32)
            existing.save()
            endpoint = existing
        _audit(reseller, CALLBACK_ENDPOINT_SET, actor, url=endpoint.url, new_secret=new_secret)
    return endpoint
