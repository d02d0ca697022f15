"""Signed callbacks to resellers on other software: what the operator did on their external
escalations, queued in the same transaction as the change and POSTed by a Celery task.

Queueing: the bridge's relay (`services.relay_to_reseller`) decides what is news to the
reseller and calls `callback_queue` inside the transaction of the change; it writes a
CallbackDelivery row, so a reply that rolls back leaves no callback and a committed one
always has its row. This module only shapes, signs and sends.

Sending: `callback_deliveries_send` claims one due row at a time with
`SELECT … FOR UPDATE SKIP LOCKED` and keeps the lock while it POSTs, so two workers never
send the same row. A worker that dies after the POST but before its commit makes the row
due again: receivers drop repeats by the `X-Upline-Delivery` id.

Where: `callback_transport` resolves the host at send time, refuses addresses that are not
public and connects to the checked address (no SSRF). A refused address is recorded on the
row and the delivery is given up at once: retrying would only be refused again.

Signing: `X-Upline-Timestamp` (Unix seconds) and `X-Upline-Signature: sha256=<HMAC-SHA256
of "<timestamp>.<body>">`, so a captured request cannot be replayed later: receivers refuse
a timestamp more than `REPLAY_WINDOW` away from their clock (README, "Signed callbacks").

Lock order (the relay and `inbox.external_escalation_reply`): the operator ticket, then
the ExternalEscalation row.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import time
from http.client import HTTPException

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from tenant_apps.helpdesk.models import Message, Ticket
from tenant_apps.helpdesk.rich_text import html_to_text

from . import callback_transport
from .models import CallbackDelivery, CallbackEndpoint, ExternalEscalation

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
TIMEOUT_SECONDS = 10
FIRST_RETRY = datetime.timedelta(seconds=30)
LONGEST_WAIT = datetime.timedelta(hours=6)
# How far a receiver should let X-Upline-Timestamp be from its own clock (documented).
REPLAY_WINDOW = datetime.timedelta(minutes=5)


def staff_label(message: Message) -> str:
    """How an operator staff member is named to resellers (first name, as in the relay)."""
    operator = settings.UPLINE_OPERATOR_NAME
    name = message.author.get_short_name() if message.author is not None else ""
    return f"{operator} — {name}" if name else operator


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Upline-Signature value: HMAC-SHA256 of "<timestamp>.<raw body>", hex."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------
# Queueing (inside the helpdesk's transaction)


def callback_queue(
    *,
    escalation: ExternalEscalation,
    ticket: Ticket,
    news: str,
    message: Message | None = None,
) -> CallbackDelivery | None:
    """Queue the callback `escalation.<news>` ("replied", "status_changed", "closed",
    "reopened") to the reseller's endpoint; None when it has none (it polls the API)."""
    endpoint = CallbackEndpoint.objects.filter(
        reseller_id=escalation.reseller_id, is_active=True
    ).first()
    if endpoint is None:
        return None
    event = f"escalation.{news}"
    payload: dict = {
        "event": event,
        "occurred_at": timezone.now().isoformat(),
        "escalation": {
            "id": escalation.pk,
            "external_ref": escalation.external_ref,
            "operator_ticket": ticket.pk,
            "status": escalation.status,
            "ticket_status": ticket.status,
        },
    }
    if message is not None and news == "replied":
        payload["reply"] = {
            "id": message.pk,
            "created_at": message.created_at.isoformat(),
            "author": staff_label(message),
            "body_html": message.body,
            "body_text": html_to_text(message.body),
        }
    delivery = CallbackDelivery.objects.create(endpoint=endpoint, event=event, payload=payload)
    transaction.on_commit(_deliver_later)
    return delivery


def _deliver_later() -> None:
    from .tasks import callbacks_deliver

    try:
        callbacks_deliver.apply_async()
    except Exception:  # broker down: the beat entry sends the row on its next run
        log.warning("Could not enqueue a bridge callback delivery run")


# --------------------------------------------------------------------------------------
# Sending


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the HTTP status; network failures raise OSError/HTTPException, an
    address that may not be reached raises callback_transport.RefusedDestination."""
    return callback_transport.post(url, body, headers, timeout=TIMEOUT_SECONDS)


def backoff(attempts: int) -> datetime.timedelta:
    """Wait before the next try: 30 s, 1 min, 2 min … capped at 6 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def body_of(delivery: CallbackDelivery) -> bytes:
    """The exact bytes POSTed (and signed) for a delivery."""
    document = {"delivery": delivery.pk, **delivery.payload}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _attempt(delivery: CallbackDelivery) -> bool:
    endpoint = delivery.endpoint
    body = body_of(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Upline-Callbacks/1",
        "X-Upline-Event": delivery.event,
        "X-Upline-Delivery": str(delivery.pk),
        "X-Upline-Timestamp": timestamp,
        "X-Upline-Signature": sign(endpoint.secret, timestamp, body),
    }
    error, refused = "", False
    try:
        status = _post(endpoint.url, body, headers)
        if not 200 <= status < 300:
            error = f"The endpoint answered HTTP {status}."
    except callback_transport.RefusedDestination as exc:
        error, refused = f"Refused to send: {exc}", True
    except (OSError, HTTPException, ValueError) as exc:
        error = f"Could not reach the endpoint: {exc}"
    now = timezone.now()
    delivery.attempts += 1
    if not error:
        delivery.delivered_at, delivery.next_attempt_at, delivery.last_error = now, None, ""
    elif refused:
        delivery.next_attempt_at = None
        delivery.last_error = f"{error} Not retried: set a public https address for the reseller."
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.next_attempt_at = None
        delivery.last_error = f"{error} Gave up after {MAX_ATTEMPTS} attempts."
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.last_error = error
    delivery.save(update_fields=["attempts", "delivered_at", "next_attempt_at", "last_error"])
    if error:
        log.info(
            "Callback delivery %s failed (attempt %s): %s", delivery.pk, delivery.attempts, error
        )
    return not error


def callback_deliveries_send(*, limit: int = 100) -> int:
    """Send due deliveries, one row per transaction; returns how many were delivered."""
    delivered = 0
    with schema_context(get_public_schema_name()):
        for _ in range(limit):
            with transaction.atomic():
                delivery = (
                    CallbackDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("endpoint")
                    .filter(
                        delivered_at__isnull=True,
                        next_attempt_at__lte=timezone.now(),
                        endpoint__is_active=True,
                    )
                    .order_by("next_attempt_at", "id")
                    .first()
                )
                if delivery is None:
                    break
                delivered += _attempt(delivery)
    return delivered
