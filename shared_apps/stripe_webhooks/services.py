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
from tenant_apps.instance import clock, deferred

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
    *, event: dict, body: bytes, endpoint: str, account_id: str
) -> tuple[bool, int | None]:
    """Route and store in ONE statement: (routed, id of the new row). routed is False for
    an account no instance owns (nothing stored); the id is None for a replay. One
    statement in autocommit is its own transaction: no BEGIN, no COMMIT, no ORM lookup of
    the route first. The payload stored is the verified body itself (valid JSON: it was
    just parsed)."""
    events = StripeEvent._meta.db_table
    if account_id:
        route = f"""SELECT reseller.schema_name FROM {StripeAccountRoute._meta.db_table} r
                    JOIN {Reseller._meta.db_table} reseller ON reseller.id = r.reseller_id
                    WHERE r.account_id = %(account_id)s"""
    else:
        # No account: the operator's own instance (the platform account is its account).
        route = "SELECT %(public)s::varchar AS schema_name"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH route AS ({route}),
                stored AS (
                    INSERT INTO {events}
                        (event_id, type, endpoint, account_id, schema_name, livemode, payload,
                         received_at, outcome)
                    SELECT %(event_id)s, %(type)s, %(endpoint)s, %(account_id)s,
                           route.schema_name, %(livemode)s, %(payload)s::jsonb,
                           %(received_at)s, ''
                    FROM route
                    ON CONFLICT (event_id) DO NOTHING RETURNING id)
                SELECT EXISTS (SELECT 1 FROM route), (SELECT id FROM stored)""",
            {
                "event_id": str(event["id"]),
                "type": str(event.get("type") or "")[:100],
                "endpoint": endpoint,
                "account_id": account_id,
                "public": get_public_schema_name(),
                "livemode": bool(event.get("livemode")),
                "payload": body.decode("utf-8"),
                "received_at": timezone.now(),
            },
        )
        routed, stored = cursor.fetchone()
    return routed, stored


def event_receive(*, payload: bytes, signature: str, endpoint: str) -> Receipt:
    """Verify, route and store one webhook delivery; enqueue its processing once stored."""
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
    routed, stored = _store_once(
        event=event, body=payload, endpoint=endpoint, account_id=account_id
    )
    if not routed:
        logger.warning(
            "Stripe event %s for unknown account %s: acknowledged, nothing recorded",
            event["id"],
            account_id,
        )
        return Receipt(200, "Unknown account: acknowledged, nothing recorded.")
    if stored is None:
        return Receipt(200, "Already received.")
    from .tasks import stripe_event_process

    # Outside a transaction (a request) the row is committed already and this runs at
    # once; inside one (a test, a caller's atomic block) it waits for the commit.
    transaction.on_commit(lambda: stripe_event_process.delay(stored))
    return Receipt(200, "Received.", stored=True)


def event_process(*, event_pk: int) -> str:
    """Apply a stored event in its instance's schema, once (the row lock and processed_at
    make a second run — a redelivered task, the sweep — do nothing).

    The instance's time zone is read once for the whole task (the payment, then the
    settlement's after-commit work, each ask for "today"), and the audit rows the event
    leaves go in one INSERT at the end of its transaction."""
    with (
        clock.time_zones_held(),
        schema_context(get_public_schema_name()),
        transaction.atomic(),
    ):
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
            with schema_context(row.schema_name), deferred.batched():
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
