"""Card payment writes: start paying an invoice, confirm a card, apply what Stripe reports,
refund, record disputes, connect the instance's Stripe account.

Whichever way the news arrives — the browser coming back (the intent retrieved here), or a
webhook event — it goes through `card_intent_apply`, which locks the CardPayment row and
records at most ONE billing payment for it (`billing.services.payment_record`, method card,
reference the intent id): a second delivery finds the payment and does nothing.

Lock order (tenant_apps/instance/locking.py): the CardPayment row first, then billing's own
order (Customer → Payment → Invoice → NumberSequence) inside payment_record and
payment_refund_book. Calls to Stripe are made outside any row lock where we can, and each one
that moves money carries an idempotency key named after our row (see gateway.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from tenant_apps.billing import services as billing
from tenant_apps.billing import settlement
from tenant_apps.billing.models import Invoice, Payment
from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import ZERO, round_money, to_decimal
from tenant_apps.instance.pipelines import transition
from tenant_apps.instance.selectors import issuer_identity_get

from . import gateway, platform_fee, selectors
from .gateway import CardDeclined, Gateway, from_minor_units
from .models import (
    CardConnection,
    CardDispute,
    CardError,
    CardPayment,
    CardRefund,
    CardSettings,
    CardsNotSetUp,
    InvalidCardPaymentState,
    SavedCard,
    StripeCustomer,
)
from .ports import account_connected

logger = logging.getLogger(__name__)

CARD_PAYMENT_STARTED = audit.event_type("cardpayment.started", gettext_noop("Card payment started"))
CARD_PAYMENT_SUCCEEDED = audit.event_type(
    "cardpayment.succeeded", gettext_noop("Card payment received")
)
CARD_PAYMENT_FAILED = audit.event_type("cardpayment.failed", gettext_noop("Card payment declined"))
CARD_PAYMENT_CANCELED = audit.event_type(
    "cardpayment.canceled", gettext_noop("Card payment cancelled")
)
CARD_PAYMENT_REFUNDED = audit.event_type(
    "cardpayment.refunded", gettext_noop("Card payment refunded")
)
CARD_REFUND_REFUSED = audit.event_type(
    "cardpayment.refund_refused", gettext_noop("Card refund refused")
)
INVOICE_CARD_DISPUTED = audit.event_type(
    "invoice.card_disputed", gettext_noop("Card payment disputed")
)
CONNECTION_CONNECTED = audit.event_type(
    "cardconnection.connected", gettext_noop("Stripe account connected")
)
CONNECTION_UPDATED = audit.event_type(
    "cardconnection.updated", gettext_noop("Stripe account status updated")
)
SAVED_CARD_DEFAULT = audit.event_type("savedcard.default_set", gettext_noop("Default card changed"))
SAVED_CARD_REMOVED = audit.event_type("savedcard.removed", gettext_noop("Saved card removed"))
CARD_SETTINGS_UPDATED = audit.event_type(
    "cardsettings.updated", gettext_noop("Automatic card payment changed")
)

# Who acts when Stripe's webhook tells us something.
STRIPE = "Stripe"
PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,200}$")
# Cards tried on one invoice before the portal stops offering more: a signed-in account
# must not become a way to test stolen card numbers.
MAX_CARD_ATTEMPTS_PER_INVOICE = 10


class TooManyCardAttempts(CardError):
    status_code = 429
    code = "card_attempts"


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _instance_gateway() -> Gateway:
    """The gateway of this instance even when charges are paused (to read and refund what
    was already paid); CardsNotSetUp without keys or a connected account."""
    if not gateway.keys_configured():
        raise CardsNotSetUp(gateway.NOT_SET_UP)
    if gateway.is_platform_instance():
        return gateway.instance_gateway(None)
    connection_row = selectors.connection_get()
    if connection_row is None or not connection_row.account_id:
        raise CardsNotSetUp(gateway.NOT_SET_UP)
    return gateway.instance_gateway(connection_row.account_id)


def _paying_gateway() -> Gateway:
    setup = selectors.card_setup()
    if not setup.ready:
        raise CardsNotSetUp(gateway.NOT_SET_UP)
    return gateway.instance_gateway(setup.account_id)


# --------------------------------------------------------------------------------------
# Customers and saved cards


def stripe_customer_ensure(*, customer: Customer, gw: Gateway) -> str:
    """The customer's Stripe id on this instance's account, created once (the call's key
    is the customer's id, so two racing requests get the same Stripe customer)."""
    existing = StripeCustomer.objects.filter(customer=customer).first()
    if existing is not None:
        return existing.stripe_id
    created = gw.customer_create(customer_pk=customer.pk, name=customer.name, email=customer.email)
    row, _ = StripeCustomer.objects.get_or_create(
        customer=customer, defaults={"stripe_id": created["id"]}
    )
    return row.stripe_id


def saved_card_record(*, customer: Customer, payment_method: Mapping[str, Any]) -> SavedCard:
    """Keep a card the customer asked us to remember (its first one becomes the default)."""
    card = payment_method.get("card") or {}
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        has_default = SavedCard.objects.filter(customer=customer, is_default=True).exists()
        saved, _ = SavedCard.objects.update_or_create(
            payment_method_id=payment_method["id"],
            defaults={
                "customer": customer,
                "brand": str(card.get("brand") or "")[:32],
                "last4": str(card.get("last4") or "")[:4],
                "exp_month": card.get("exp_month") or None,
                "exp_year": card.get("exp_year") or None,
            },
        )
        if not has_default:
            saved.is_default = True
            saved.save(update_fields=["is_default"])
    return saved


def saved_card_set_default(*, card: SavedCard, actor=None) -> SavedCard:
    """Make `card` the one its customer's automatic and one-click payments use."""
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=card.customer_id)
        card = SavedCard.objects.get(pk=card.pk)
        previous = SavedCard.objects.filter(customer_id=card.customer_id, is_default=True).first()
        if previous is not None and previous.pk == card.pk:
            return card
        # The partial unique index allows one default: clear the old one first.
        SavedCard.objects.filter(customer_id=card.customer_id, is_default=True).update(
            is_default=False
        )
        card.is_default = True
        card.save(update_fields=["is_default"])
        audit.audit_record(
            SAVED_CARD_DEFAULT,
            actor=actor,
            obj=card,
            detail={"card": str(card), "previous": str(previous) if previous else ""},
        )
    return card


def saved_card_remove(*, card: SavedCard, actor=None) -> bool:
    """Forget a saved card: Stripe detaches it from the customer first (keyed by our row,
    so a retry is harmless), then our row goes. When Stripe refuses, the card is kept
    and the error says so. A removed default passes to the newest card left; removing the
    last card turns automatic payment of renewals off (True is returned then)."""
    gw = _instance_gateway()
    gw.payment_method_detach(saved_card_pk=card.pk, payment_method_id=card.payment_method_id)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=card.customer_id)
        locked = SavedCard.objects.filter(pk=card.pk).first()
        if locked is None:
            return False  # removed by another request meanwhile
        label, was_default = str(locked), locked.is_default
        audit.audit_record(
            SAVED_CARD_REMOVED,
            actor=actor,
            obj=locked,
            detail={
                "card": label,
                "payment_method": locked.payment_method_id,
                "was_default": was_default,
            },
        )
        locked.delete()
        if was_default:
            newest = (
                SavedCard.objects.filter(customer_id=card.customer_id)
                .order_by("-created_at", "-id")
                .first()
            )
            if newest is not None:
                newest.is_default = True
                newest.save(update_fields=["is_default"])
        return _auto_charge_stop_when_no_card(customer_id=card.customer_id, actor=actor)


def _auto_charge_stop_when_no_card(*, customer_id: int, actor) -> bool:
    """Automatic payment without a card to charge would promise what cannot happen."""
    if SavedCard.objects.filter(customer_id=customer_id).exists():
        return False
    row = CardSettings.objects.filter(customer_id=customer_id, auto_charge_renewals=True).first()
    if row is None:
        return False
    row.auto_charge_renewals = False
    row.save(update_fields=["auto_charge_renewals", "updated_at"])
    audit.audit_record(
        CARD_SETTINGS_UPDATED,
        actor=actor,
        obj=row,
        changes={"auto_charge_renewals": [True, False]},
        detail={"reason": "The last saved card was removed."},
    )
    return True


NO_DEFAULT_CARD = gettext_lazy(
    "Save a card first: automatic payment charges your default card, and you have none."
)


def card_settings_update(
    *, customer: Customer, auto_charge_renewals: bool, actor=None
) -> CardSettings:
    """Store whether the customer's default card pays their renewal invoices by itself.
    Turning it on needs a default card (CardError otherwise: nothing could be charged)."""
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        row, _ = CardSettings.objects.get_or_create(customer=customer)
        before = row.auto_charge_renewals
        if (
            auto_charge_renewals
            and not before
            and not SavedCard.objects.filter(customer=customer, is_default=True).exists()
        ):
            raise CardError(NO_DEFAULT_CARD)
        if before != auto_charge_renewals:
            row.auto_charge_renewals = auto_charge_renewals
            row.save(update_fields=["auto_charge_renewals", "updated_at"])
            audit.audit_record(
                CARD_SETTINGS_UPDATED,
                actor=actor,
                obj=row,
                changes={"auto_charge_renewals": [before, auto_charge_renewals]},
            )
    return row


# --------------------------------------------------------------------------------------
# Paying an invoice


@dataclass(frozen=True)
class Checkout:
    """What the browser needs to take a card for one card payment."""

    card_payment: CardPayment
    client_secret: str
    setup_client_secret: str
    publishable_key: str
    account_id: str | None


@dataclass(frozen=True)
class PayResult:
    card_payment: CardPayment
    status: str
    message: str = ""
    client_secret: str = ""


def card_payment_new(
    *, invoice: Invoice, amount: Decimal, gw: Gateway, actor, attempts: int = 0, detail=None
) -> CardPayment:
    """A new card payment of `amount` on `invoice`, with the platform fee of the gateway's
    account frozen on it, and its audit row (in the caller's transaction; the unique open
    payment per invoice raises IntegrityError when another one was opened meanwhile)."""
    created = CardPayment.objects.create(
        invoice=invoice,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        application_fee=platform_fee.application_fee_for(
            amount=amount, currency=invoice.currency, account_id=gw.account_id
        ),
        attempts=attempts,
        created_by=_user(actor),
    )
    audit.audit_record(
        CARD_PAYMENT_STARTED,
        actor=actor,
        obj=created,
        detail={
            "invoice": invoice.number,
            "amount": amount,
            "currency": created.currency,
            "platform_fee": created.application_fee,
            **(detail or {}),
        },
    )
    return created


def _open_card_payment(*, invoice: Invoice, due: Decimal, gw: Gateway, actor) -> CardPayment:
    """The invoice's open card payment for exactly `due`, made if there is none (a stale
    one for another amount is cancelled first)."""
    for _ in range(3):
        existing = CardPayment.objects.filter(invoice=invoice, status__in=CardPayment.OPEN).first()
        if existing is None:
            try:
                with transaction.atomic():
                    return card_payment_new(invoice=invoice, amount=due, gw=gw, actor=actor)
            except IntegrityError:
                continue  # another tab opened one a moment ago: use it
        if existing.amount == due and existing.currency == invoice.currency:
            return existing
        card_payment_abandon(card_payment=existing, gw=gw, actor=actor)
    raise CardError(
        gettext("Another payment of this invoice is being started; try again in a moment.")
    )


def card_payment_start(*, invoice: Invoice, actor=None) -> Checkout:
    """Start (or resume) paying what is due on `invoice` by card: one PaymentIntent for the
    amount due, reused while the amount stays the same."""
    gw = _paying_gateway()
    invoice = Invoice.objects.select_related("customer").get(pk=invoice.pk)
    if not selectors.invoice_payable_by_card(invoice):
        raise CardError(gettext("Nothing is due on invoice %(invoice)s.") % {"invoice": invoice})
    stripe_customer = stripe_customer_ensure(customer=invoice.customer, gw=gw)
    card_payment = _open_card_payment(invoice=invoice, due=invoice.amount_due, gw=gw, actor=actor)
    intent = _intent_of(card_payment, gw=gw, stripe_customer=stripe_customer)
    if intent.get("status") in ("succeeded", "processing", "canceled"):
        # Paid (or settling) while nobody was looking — a lost webhook, a closed tab: the
        # page shows that outcome instead of asking for a card again.
        card_payment = card_intent_apply(intent=intent, actor=actor) or card_payment
    setup_intent = gw.setup_intent_create(stripe_customer=stripe_customer)
    return Checkout(
        card_payment=card_payment,
        client_secret=intent.get("client_secret") or "",
        setup_client_secret=setup_intent.get("client_secret") or "",
        publishable_key=selectors.card_setup().publishable_key,
        account_id=gw.account_id,
    )


def _intent_of(card_payment: CardPayment, *, gw: Gateway, stripe_customer: str) -> dict:
    if card_payment.intent_id:
        return gw.payment_intent_retrieve(card_payment.intent_id)
    # A retry after a lost answer sends the same key and gets the same intent back.
    intent = gw.payment_intent_create(
        card_payment_pk=card_payment.pk,
        amount=card_payment.amount,
        currency=card_payment.currency,
        stripe_customer=stripe_customer,
        metadata={
            "upline_schema": connection.schema_name,
            "upline_card_payment": str(card_payment.pk),
            "upline_invoice": card_payment.invoice.number or "",
        },
        application_fee=card_payment.application_fee,
    )
    CardPayment.objects.filter(pk=card_payment.pk, intent_id__isnull=True).update(
        intent_id=intent["id"]
    )
    card_payment.refresh_from_db()
    return intent


def card_payment_pay(
    *, card_payment: CardPayment, payment_method_id: str, save_card: bool = False, actor=None
) -> PayResult:
    """Charge the card the browser collected (a PaymentMethod id) on the card payment's
    intent. After a decline, the next card gets a fresh intent (one attempt per intent)."""
    if not PAYMENT_METHOD_ID.match(payment_method_id or ""):
        raise CardError(gettext("The card could not be read; enter it again."))
    gw = _paying_gateway()
    card_payment = CardPayment.objects.select_related("invoice", "customer").get(pk=card_payment.pk)
    tried = CardPayment.objects.filter(invoice_id=card_payment.invoice_id).aggregate(
        total=Sum("attempts")
    )["total"]
    if (tried or 0) >= MAX_CARD_ATTEMPTS_PER_INVOICE:
        raise TooManyCardAttempts(
            gettext("Too many cards were tried on this invoice; please contact us to pay it.")
        )
    if card_payment.status in (CardPayment.Status.FAILED, CardPayment.Status.REQUIRES_ACTION):
        # Another card after a decline or an abandoned 3-D Secure step: a fresh intent.
        card_payment_abandon(card_payment=card_payment, gw=gw, actor=actor)
        card_payment.refresh_from_db()
        if card_payment.is_open:
            raise CardError(
                gettext("The previous attempt is still being processed; wait a moment and reload.")
            )
        if card_payment.status != CardPayment.Status.SUCCEEDED:
            checkout = card_payment_start(invoice=card_payment.invoice, actor=actor)
            card_payment = checkout.card_payment
    if not card_payment.is_open or not card_payment.intent_id:
        raise InvalidCardPaymentState(
            gettext("This card payment is %(status)s; start again from the invoice.")
            % {"status": card_payment.get_status_display().lower()}
        )
    stripe_customer = stripe_customer_ensure(customer=card_payment.customer, gw=gw)
    method = gw.payment_method_retrieve(payment_method_id)
    if method.get("customer") and method["customer"] != stripe_customer:
        raise CardError(gettext("That card belongs to another customer."))
    with transaction.atomic():
        locked = CardPayment.objects.select_for_update().get(pk=card_payment.pk)
        locked.attempts += 1
        locked.save(update_fields=["attempts", "updated_at"])
    try:
        intent = gw.payment_intent_confirm(
            card_payment_pk=locked.pk,
            attempt=locked.attempts,
            intent_id=locked.intent_id,
            payment_method=payment_method_id,
        )
    except CardDeclined as exc:
        intent = gw.payment_intent_retrieve(locked.intent_id)
        if intent.get("status") == "requires_payment_method" and not intent.get(
            "last_payment_error"
        ):
            intent["last_payment_error"] = {"message": str(exc)}
        applied = card_intent_apply(intent=intent, actor=actor) or locked
        return PayResult(applied, applied.status, applied.failure_message or str(exc))
    if save_card:
        saved_card_record(customer=card_payment.customer, payment_method=method)
    applied = card_intent_apply(intent=intent, actor=actor) or locked
    return PayResult(
        applied,
        applied.status,
        applied.failure_message,
        client_secret=(intent.get("client_secret") or "")
        if applied.status == CardPayment.Status.REQUIRES_ACTION
        else "",
    )


def card_payment_refresh(*, card_payment: CardPayment, actor=None) -> CardPayment:
    """Ask Stripe how the intent stands (the browser came back) and apply it."""
    if not card_payment.intent_id or card_payment.payment_id is not None:
        return card_payment
    if card_payment.status == CardPayment.Status.CANCELED:
        return card_payment
    intent = _instance_gateway().payment_intent_retrieve(card_payment.intent_id)
    return card_intent_apply(intent=intent, actor=actor) or card_payment


def card_payment_abandon(*, card_payment: CardPayment, gw: Gateway | None = None, actor=None):
    """Cancel an open card payment (its amount is stale, or a declined intent is replaced).
    When Stripe refuses (the intent is processing, or was paid after all), the intent is
    applied as Stripe reports it instead: paid is recorded, processing stays open."""
    gw = gw or _instance_gateway()
    if card_payment.intent_id:
        try:
            intent = gw.payment_intent_cancel(
                card_payment_pk=card_payment.pk, intent_id=card_payment.intent_id
            )
        except DomainError:
            intent = gw.payment_intent_retrieve(card_payment.intent_id)
        return card_intent_apply(intent=intent, actor=actor)
    with transaction.atomic():
        locked = CardPayment.objects.select_for_update().get(pk=card_payment.pk)
        _move(locked, CardPayment.Status.CANCELED, actor=actor)
    return locked


# --------------------------------------------------------------------------------------
# Applying what Stripe reports (browser return and webhooks alike)


def _move(card_payment: CardPayment, target: str, *, actor, message: str = "") -> None:
    """Follow Stripe's status, ignoring stale news (a late "failed" after "paid")."""
    if card_payment.payment_id is not None or (card_payment.status == target and not message):
        return
    if card_payment.status != target:
        if not CardPayment.pipeline.allows(card_payment.status, target):
            logger.info("Card payment %s: stale %s ignored", card_payment.pk, target)
            return
        transition(card_payment, target, noun=gettext("The card payment"))
    card_payment.failure_message = message[:500]
    card_payment.save(update_fields=["status", "failure_message", "updated_at"])
    if target == CardPayment.Status.FAILED:
        audit.audit_record(
            CARD_PAYMENT_FAILED, actor=actor, obj=card_payment, detail={"message": message}
        )
    elif target == CardPayment.Status.CANCELED:
        audit.audit_record(CARD_PAYMENT_CANCELED, actor=actor, obj=card_payment)


def _charge_id(intent: Mapping[str, Any]) -> str:
    charge = intent.get("latest_charge")
    if isinstance(charge, Mapping):
        return str(charge.get("id") or "")
    return str(charge or "")


def _record_success(
    card_payment: CardPayment, *, amount_minor: int, charge_id: str, actor
) -> CardPayment:
    """The ONE billing payment of a card payment (the caller holds its row lock)."""
    if card_payment.payment_id is not None:
        return card_payment
    amount = from_minor_units(amount_minor, card_payment.currency)
    invoice = Invoice.objects.get(pk=card_payment.invoice_id)
    # Money Stripe took is recorded whatever happened to the invoice meanwhile: on it while
    # something is due (any excess becomes credit), else all as the customer's credit.
    payable = (
        selectors.invoice_payable_by_card(invoice) and invoice.currency == card_payment.currency
    )
    payment = billing.payment_record(
        customer=card_payment.customer,
        amount=amount,
        method=Payment.Method.CARD,
        invoice=invoice if payable else None,
        reference=card_payment.intent_id or "",
        notes=f"Card payment (Stripe charge {charge_id})" if charge_id else "Card payment",
        actor=actor,
    )
    before = card_payment.status
    if before != CardPayment.Status.SUCCEEDED:
        transition(card_payment, CardPayment.Status.SUCCEEDED, noun=gettext("The card payment"))
    card_payment.payment = payment
    card_payment.charge_id = charge_id or card_payment.charge_id
    card_payment.failure_message = ""
    card_payment.succeeded_at = timezone.now()
    card_payment.save(
        update_fields=[
            "status",
            "payment",
            "charge_id",
            "failure_message",
            "succeeded_at",
            "updated_at",
        ]
    )
    audit.audit_record(
        CARD_PAYMENT_SUCCEEDED,
        actor=actor,
        obj=card_payment,
        changes={"status": [before, card_payment.status]},
        detail={
            "payment": payment.pk,
            "amount": amount,
            "currency": card_payment.currency,
            "intent": card_payment.intent_id,
            "invoice": invoice.number,
        },
    )
    return card_payment


def _lock_card_payment(*, intent_id: str = "", charge_id: str = "") -> CardPayment | None:
    qs = CardPayment.objects.select_for_update().select_related("customer")
    if intent_id:
        found = qs.filter(intent_id=intent_id).first()
        if found is not None:
            return found
    if charge_id:
        return qs.filter(charge_id=charge_id).first()
    return None


@transaction.atomic
def card_intent_apply(*, intent: Mapping[str, Any], actor=STRIPE) -> CardPayment | None:
    """Bring our card payment in line with a PaymentIntent as Stripe reports it. Idempotent:
    a payment already recorded stays the one payment. None: not one of ours (logged)."""
    return _intent_apply(intent, actor=actor)


def _intent_apply(intent: Mapping[str, Any], *, actor) -> CardPayment | None:
    """card_intent_apply's work, inside the caller's transaction."""
    card_payment = _lock_card_payment(intent_id=str(intent.get("id") or ""))
    if card_payment is None:
        logger.info("PaymentIntent %s is not a card payment of this instance", intent.get("id"))
        return None
    status = intent.get("status")
    Status = CardPayment.Status
    if status == "succeeded":
        received = intent.get("amount_received") or intent.get("amount") or 0
        return _record_success(
            card_payment, amount_minor=int(received), charge_id=_charge_id(intent), actor=actor
        )
    if status == "requires_action":
        _move(card_payment, Status.REQUIRES_ACTION, actor=actor)
    elif status == "processing":
        _move(card_payment, Status.PROCESSING, actor=actor)
    elif status == "canceled":
        _move(card_payment, Status.CANCELED, actor=actor)
    elif status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        if error:
            message = str(error.get("message") or "The card was declined.")
            _move(card_payment, Status.FAILED, actor=actor, message=message)
        else:
            _move(card_payment, Status.PENDING, actor=actor)
    return card_payment


@transaction.atomic
def card_charge_refunded(*, charge: Mapping[str, Any], actor=STRIPE) -> CardPayment | None:
    """Stripe reports money refunded on a charge. Whatever our books lack is recorded (a
    refund made in Stripe's dashboard, or one of ours whose books failed). Arriving before
    the payment's own success, it records that success first from the charge, so the end
    state is the one in-order delivery gives."""
    card_payment = _lock_card_payment(
        intent_id=str(charge.get("payment_intent") or ""), charge_id=str(charge.get("id") or "")
    )
    if card_payment is None:
        logger.info("Charge %s is not a card payment of this instance", charge.get("id"))
        return None
    if card_payment.payment_id is None:
        if not (charge.get("paid") or charge.get("status") == "succeeded"):
            return card_payment
        captured = charge.get("amount_captured") or charge.get("amount") or 0
        _record_success(
            card_payment, amount_minor=int(captured), charge_id=str(charge["id"]), actor=actor
        )
    for waiting in card_payment.refunds.filter(status=CardRefund.Status.SENT).order_by("pk"):
        _refund_book_safely(waiting, actor=actor)
    refunded = from_minor_units(int(charge.get("amount_refunded") or 0), card_payment.currency)
    counted = sum(
        (r.amount for r in card_payment.refunds.filter(status__in=CardRefund.COUNTED)), ZERO
    )
    missing = refunded - counted
    if missing > 0:
        refund = CardRefund.objects.create(
            card_payment=card_payment,
            amount=missing,
            currency=card_payment.currency,
            status=CardRefund.Status.SENT,
            origin=CardRefund.Origin.STRIPE,
            reason="Refunded in Stripe",
        )
        _refund_book_safely(refund, actor=actor)
    return card_payment


@transaction.atomic
def card_dispute_record(*, dispute: Mapping[str, Any], actor=STRIPE) -> CardDispute | None:
    """A chargeback opened: recorded once per dispute and flagged on the invoice."""
    card_payment = _lock_card_payment(
        intent_id=str(dispute.get("payment_intent") or ""),
        charge_id=str(dispute.get("charge") or ""),
    )
    if card_payment is None:
        logger.info("Dispute %s concerns no card payment of this instance", dispute.get("id"))
        return None
    currency = str(dispute.get("currency") or card_payment.currency).upper()
    row, created = CardDispute.objects.get_or_create(
        dispute_id=str(dispute["id"]),
        defaults={
            "card_payment": card_payment,
            "amount": from_minor_units(int(dispute.get("amount") or 0), currency),
            "currency": currency,
            "reason": str(dispute.get("reason") or "")[:64],
            "status": str(dispute.get("status") or "")[:64],
        },
    )
    if not created:
        return row
    if not card_payment.disputed:
        card_payment.disputed = True
        card_payment.save(update_fields=["disputed", "updated_at"])
    audit.audit_record(
        INVOICE_CARD_DISPUTED,
        actor=actor,
        obj=card_payment.invoice,
        detail={
            "dispute": row.dispute_id,
            "amount": row.amount,
            "currency": row.currency,
            "reason": row.reason,
            "card_payment": card_payment.pk,
        },
    )
    return row


# --------------------------------------------------------------------------------------
# Refunds from staff


def _refund_book(refund: CardRefund, *, actor) -> CardRefund:
    """The money side of a refund Stripe made: billing's refund with its credit notes."""
    card_payment = refund.card_payment
    booked = settlement.payment_refund_book(
        payment=card_payment.payment,
        amount=refund.amount,
        reason=refund.reason,
        method=Payment.Method.CARD,
        reference=refund.stripe_refund_id or card_payment.intent_id or "",
        waive_periods=refund.waive_periods,
        actor=actor,
    )
    refund.refund = booked
    refund.status = CardRefund.Status.SUCCEEDED
    refund.failure_message = ""
    refund.save(update_fields=["refund", "status", "failure_message"])
    audit.audit_record(
        CARD_PAYMENT_REFUNDED,
        actor=actor,
        obj=card_payment,
        detail={
            "amount": refund.amount,
            "currency": refund.currency,
            "origin": refund.origin,
            "stripe_refund": refund.stripe_refund_id or "",
            "credit_notes": [note.number for note in booked.credit_notes.all()],
            "reason": refund.reason,
        },
    )
    return refund


def _refund_book_safely(refund: CardRefund, *, actor) -> bool:
    try:
        with transaction.atomic():
            _refund_book(refund, actor=actor)
        return True
    except (ValidationError, DomainError) as exc:
        message = "; ".join(getattr(exc, "messages", None) or [str(exc)])
        logger.warning("Card refund %s is at Stripe but not in the books: %s", refund.pk, message)
        CardRefund.objects.filter(pk=refund.pk).update(failure_message=message[:500])
        return False


def card_payment_refund(
    *, card_payment: CardPayment, amount, reason: str, waive_periods: bool = False, actor=None
) -> CardRefund:
    """Pay back all or part of a card payment: Stripe refunds the card (the key is our
    CardRefund row's), then billing issues the refund and its credit note. Every refund of
    a card payment comes here, billing's own screens and API included (billing_ports.py)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [gettext("Give the reason for the refund.")]})
    amount = to_decimal(amount, field="amount")
    gw = _instance_gateway()
    with transaction.atomic():
        locked = CardPayment.objects.select_for_update().get(pk=card_payment.pk)
        if locked.payment_id is None:
            raise InvalidCardPaymentState(gettext("Only a paid card payment can be refunded."))
        amount = round_money(amount, locked.currency)
        refundable = locked.refundable
        if amount <= 0 or amount > refundable:
            raise ValidationError(
                {
                    "amount": [
                        gettext("Refund more than 0 and at most %(refundable)s %(currency)s.")
                        % {"refundable": refundable, "currency": locked.currency}
                    ]
                }
            )
        refund = CardRefund.objects.create(
            card_payment=locked,
            amount=amount,
            currency=locked.currency,
            reason=reason.strip()[:300],
            waive_periods=waive_periods,
            created_by=_user(actor),
        )
    try:
        answer = gw.refund_create(
            card_refund_pk=refund.pk,
            intent_id=locked.intent_id,
            amount=amount,
            currency=locked.currency,
        )
    except CardError as exc:
        with transaction.atomic():
            CardRefund.objects.filter(pk=refund.pk).update(
                status=CardRefund.Status.FAILED, failure_message=str(exc)[:500]
            )
            audit.audit_record(
                CARD_REFUND_REFUSED,
                actor=actor,
                obj=locked,
                detail={"amount": amount, "message": str(exc)},
            )
        raise
    with transaction.atomic():
        CardPayment.objects.select_for_update().get(pk=locked.pk)
        refund = CardRefund.objects.select_for_update().get(pk=refund.pk)
        refund.stripe_refund_id = answer.get("id") or None
        refund.status = CardRefund.Status.SENT
        refund.save(update_fields=["stripe_refund_id", "status"])
    if not _refund_book_safely(refund, actor=actor):
        refund.refresh_from_db()
        raise CardError(
            gettext(
                "Stripe refunded %(amount)s %(currency)s, but the books could not record "
                "it yet: %(failure_message)s"
            )
            % {
                "amount": amount,
                "currency": refund.currency,
                "failure_message": refund.failure_message,
            }
        )
    refund.refresh_from_db()
    return refund


# --------------------------------------------------------------------------------------
# The instance's Stripe account (Connect onboarding)


def _account_fields(row: CardConnection, account: Mapping[str, Any]) -> None:
    requirements = account.get("requirements") or {}
    due = {*(requirements.get("currently_due") or []), *(requirements.get("past_due") or [])}
    row.charges_enabled = bool(account.get("charges_enabled"))
    row.payouts_enabled = bool(account.get("payouts_enabled"))
    row.details_submitted = bool(account.get("details_submitted"))
    row.requirements_due = sorted(str(item) for item in due)
    row.disabled_reason = str(requirements.get("disabled_reason") or "")[:255]


CONNECTION_FIELDS = (
    "account_id",
    "charges_enabled",
    "payouts_enabled",
    "details_submitted",
    "requirements_due",
    "disabled_reason",
)


def card_connection_connect(*, return_url: str, refresh_url: str, actor=None) -> str:
    """Give this reseller instance its connected Stripe account (once) and return the
    Stripe onboarding link to send its staff to."""
    if gateway.is_platform_instance():
        raise CardError(
            gettext(
                "The operator's instance takes cards on the platform's own Stripe account: "
                "there is nothing to connect."
            )
        )
    if not gateway.keys_configured():
        raise CardsNotSetUp(gateway.NOT_SET_UP)
    accounts = gateway.connect_accounts.implementation
    with transaction.atomic():
        row = CardConnection.objects.select_for_update().order_by("pk").first()
        if row is None:
            row = CardConnection.objects.create()
    if not row.account_id:
        issuer = issuer_identity_get()
        account = accounts.create(
            key=f"{connection.schema_name}:cardconnection:{row.pk}:account",
            country=(issuer.country if issuer else "") or "",
            email=(issuer.email if issuer else "") or "",
            metadata={"upline_schema": connection.schema_name},
        )
        with transaction.atomic():
            row = CardConnection.objects.select_for_update().get(pk=row.pk)
            before = audit.snapshot(row, CONNECTION_FIELDS)
            row.account_id = account["id"]
            _account_fields(row, account)
            row.save()
            account_connected.send(
                sender=CardConnection,
                schema_name=connection.schema_name,
                account_id=row.account_id,
            )
            audit.audit_record(
                CONNECTION_CONNECTED,
                actor=actor,
                obj=row,
                changes=audit.diff(before, audit.snapshot(row, CONNECTION_FIELDS)),
            )
    link = accounts.link(account_id=row.account_id, refresh_url=refresh_url, return_url=return_url)
    return str(link["url"])


@transaction.atomic
def card_connection_update(*, account: Mapping[str, Any], actor=STRIPE) -> CardConnection | None:
    """Keep the connection's status as Stripe reports it (account.updated, or a refresh)."""
    row = CardConnection.objects.select_for_update().filter(account_id=account.get("id")).first()
    if row is None or not row.account_id:
        logger.info("Account %s is not connected to this instance", account.get("id"))
        return None
    before = audit.snapshot(row, CONNECTION_FIELDS)
    _account_fields(row, account)
    row.save()
    changes = audit.diff(before, audit.snapshot(row, CONNECTION_FIELDS))
    if changes:
        audit.audit_record(CONNECTION_UPDATED, actor=actor, obj=row, changes=changes)
    return row


def card_connection_refresh(*, actor=None) -> CardConnection | None:
    """Ask Stripe how the connected account stands now (staff came back from onboarding)."""
    row = selectors.connection_get()
    if row is None or not row.account_id or not gateway.keys_configured():
        return row
    account = gateway.connect_accounts.implementation.retrieve(account_id=row.account_id)
    return card_connection_update(account=account, actor=actor)


# --------------------------------------------------------------------------------------
# Webhook events (the platform's webhook app calls this inside the instance's schema)


def stripe_event_apply(*, event: Mapping[str, Any]) -> str:
    """Apply one verified Stripe event to this instance; returns what came of it."""
    kind = str(event.get("type") or "")
    obj = (event.get("data") or {}).get("object") or {}
    if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        # In the worker's own transaction, which marks the event processed: no savepoint
        # (an error rolls the whole event back, and the event waits to be run again).
        with transaction.atomic(savepoint=False):
            result: Any = _intent_apply(obj, actor=STRIPE)
    elif kind == "charge.refunded":
        result = card_charge_refunded(charge=obj)
    elif kind == "charge.dispute.created":
        result = card_dispute_record(dispute=obj)
    elif kind == "account.updated":
        result = card_connection_update(account=obj)
    else:
        return "ignored"
    return "applied" if result is not None else "not ours"
