"""Receiving Stripe webhooks: verify the signature on the raw body, check the mode, route by
`event.account` to its instance, store the event once, and let Celery do the work.

A webhook is answered fast: the view verifies and stores; `event_process` (a task) applies
the event inside the instance's schema through card payments' own service, which is itself
idempotent. The event id is unique, so a replay stores nothing and enqueues nothing.

Routing: no `account` → the operator's own instance (public schema; the platform account is
its account); an account we route → that reseller's schema; an account we do not know →
acknowledged (so Stripe stops retrying), logged, and nothing written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from config.tenant_tasks import InstanceGone, require_instance_schema
from shared_apps.tenancy.models import Reseller
from tenant_apps.cards import gateway
from tenant_apps.cards import services as card_services

from .models import StripeAccountRoute, StripeEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """The answer to Stripe: its HTTP status and a sentence for the delivery log."""

    status: int
    detail: str
    stored: bool = False


def _secret(endpoint: str) -> str:
    if endpoint == StripeEvent.Endpoint.CONNECT:
        return settings.UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET
    return settings.UPLINE_STRIPE_WEBHOOK_SECRET


def _store_once(
    *, event: dict, body: bytes, endpoint: str, account_id: str, schema_name: str
) -> int | None:
    """INSERT the event unless its id is known; the new row's id, or None for a replay.
    The payload stored is the verified body itself (valid JSON: it was just parsed)."""
    table = StripeEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table}
                (event_id, type, endpoint, account_id, schema_name, livemode, payload,
                 received_at, outcome)
                VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, '')
                ON CONFLICT (event_id) DO NOTHING RETURNING id""",
            [
                str(event["id"]),
                str(event.get("type") or "")[:100],
                endpoint,
                account_id,
                schema_name,
                bool(event.get("livemode")),
                body.decode("utf-8"),
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def event_receive(*, payload: bytes, signature: str, endpoint: str) -> Receipt:
    """Verify, route and store one webhook delivery; enqueue its processing on commit."""
    try:
        event = gateway.verify_webhook(payload, signature, _secret(endpoint))
    except ValueError as exc:
        logger.warning("Stripe webhook (%s) refused: %s", endpoint, exc)
        return Receipt(400, str(exc))
    if not event.get("id") or not event.get("type"):
        return Receipt(400, "The body is not a Stripe event.")
    if bool(event.get("livemode")) != gateway.live_mode():
        logger.warning("Stripe event %s: livemode differs from the key's mode", event["id"])
        return Receipt(400, "The event's mode (live or test) is not the mode of our keys.")
    account_id = str(event.get("account") or "")
    if account_id:
        route = (
            StripeAccountRoute.objects.select_related("reseller")
            .filter(account_id=account_id)
            .first()
        )
        if route is None:
            logger.warning(
                "Stripe event %s for unknown account %s: acknowledged, nothing recorded",
                event["id"],
                account_id,
            )
            return Receipt(200, "Unknown account: acknowledged, nothing recorded.")
        schema_name = route.reseller.schema_name
    else:
        schema_name = get_public_schema_name()
    with transaction.atomic():
        stored = _store_once(
            event=event,
            body=payload,
            endpoint=endpoint,
            account_id=account_id,
            schema_name=schema_name,
        )
        if stored is not None:
            from .tasks import stripe_event_process

            transaction.on_commit(lambda: stripe_event_process.delay(stored))
    if stored is None:
        return Receipt(200, "Already received.")
    return Receipt(200, "Received.", stored=True)


def event_process(*, event_pk: int) -> str:
    """Apply a stored event in its instance's schema, once (the row lock and processed_at
    make a second run — a redelivered task, the sweep — do nothing)."""
    with schema_context(get_public_schema_name()), transaction.atomic():
        row = StripeEvent.objects.select_for_update().get(pk=event_pk)
        if row.processed_at is not None:
            return row.outcome
        try:
            require_instance_schema(row.schema_name)
        except InstanceGone:
            # The instance was deleted after the event arrived: nothing to apply, and the
            # sweep must not offer it again and again.
            logger.warning("Stripe event %s: instance %s is gone", row.event_id, row.schema_name)
            outcome = "instance gone"
        else:
            with schema_context(row.schema_name):
                outcome = card_services.stripe_event_apply(event=row.payload)
        row.processed_at = timezone.now()
        row.outcome = outcome
        row.save(update_fields=["processed_at", "outcome"])
    return outcome


def events_unprocessed(*, older_than_seconds: int = 60, limit: int = 500) -> list[int]:
    """Events a lost task left behind (a broker outage): the sweep enqueues them again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        StripeEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )


def on_account_connected(sender, *, schema_name: str, account_id: str, **kwargs) -> None:
    """An instance got its Stripe account: its events route there from now on."""
    with schema_context(get_public_schema_name()):
        reseller = Reseller.objects.filter(schema_name=schema_name).first()
        if reseller is None:
            raise ValueError(f"No reseller uses schema {schema_name!r}.")
        route, _ = StripeAccountRoute.objects.get_or_create(
            account_id=account_id, defaults={"reseller": reseller}
        )
        if route.reseller_id != reseller.pk:
            raise ValueError(f"Stripe account {account_id} already belongs to another instance.")
