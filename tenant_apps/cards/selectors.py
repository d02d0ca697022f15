"""Reads of card payments: is this instance set up to take cards, and the card payments a
user may see (staff: any of this instance; a customer: their own)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from tenant_apps.billing.models import Invoice

from . import gateway
from .models import AutoChargeAttempt, CardConnection, CardPayment, CardSettings, SavedCard


@dataclass(frozen=True)
class CardSetup:
    """Whether this instance takes cards now, and why not when it does not."""

    ready: bool
    reason: str = ""
    account_id: str | None = None
    publishable_key: str = ""
    platform: bool = False
    connection: CardConnection | None = field(default=None, compare=False)


def connection_get() -> CardConnection | None:
    return CardConnection.objects.order_by("pk").first()


def card_setup() -> CardSetup:
    """Keys on the platform, and for a reseller a connected account that may charge."""
    platform = gateway.is_platform_instance()
    connection = connection_get()
    if not gateway.keys_configured():
        return CardSetup(
            False,
            _("The platform has no Stripe keys configured."),
            platform=platform,
            connection=connection,
        )
    key = settings.UPLINE_STRIPE_PUBLISHABLE_KEY
    if platform:
        return CardSetup(True, account_id=None, publishable_key=key, platform=True)
    if connection is None or not connection.account_id:
        return CardSetup(False, _("No Stripe account is connected yet."), connection=connection)
    if not connection.charges_enabled:
        return CardSetup(
            False,
            _("Stripe has not enabled charges on the connected account yet."),
            account_id=connection.account_id,
            connection=connection,
        )
    return CardSetup(
        True, account_id=connection.account_id, publishable_key=key, connection=connection
    )


def card_payments_visible_to(user) -> QuerySet[CardPayment]:
    qs = CardPayment.objects.select_related("invoice", "customer", "payment")
    if user.is_authenticated and user.is_instance_staff:
        return qs
    if user.is_authenticated and user.is_customer:
        return qs.filter(customer__user=user)
    raise PermissionDenied(_("Sign in to see card payments."))


def get_card_payment_for(user, pk) -> CardPayment:
    """The card payment if this user may see it; CardPayment.DoesNotExist otherwise."""
    return card_payments_visible_to(user).get(pk=pk)


def invoice_card_payments(invoice: Invoice) -> list[CardPayment]:
    """The invoice's card payments with their refunds and disputes (staff panel)."""
    return list(
        CardPayment.objects.filter(invoice=invoice)
        .select_related("payment")
        .prefetch_related("refunds", "disputes")
        .order_by("-created_at", "-id")
    )


def saved_cards_for(customer) -> list[SavedCard]:
    return list(SavedCard.objects.filter(customer=customer))


def saved_cards_visible_to(user) -> QuerySet[SavedCard]:
    """Staff: every saved card of this instance; a customer: their own."""
    qs = SavedCard.objects.select_related("customer")
    if user.is_authenticated and user.is_instance_staff:
        return qs
    if user.is_authenticated and user.is_customer:
        return qs.filter(customer__user=user)
    raise PermissionDenied(_("Sign in to see saved cards."))


def get_saved_card_for(user, pk, *, customer_id: int | None = None) -> SavedCard:
    """The saved card if this user may see it (and it is `customer_id`'s when given);
    SavedCard.DoesNotExist otherwise, so another customer's card is not revealed."""
    qs = saved_cards_visible_to(user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    return qs.get(pk=pk)


def card_settings_for(customer) -> CardSettings:
    """The customer's card settings (an unsaved row with the defaults when never changed)."""
    return CardSettings.objects.filter(customer=customer).first() or CardSettings(customer=customer)


def card_payment_list(
    *,
    invoice_id: int | None = None,
    customer_id: int | None = None,
    status: str | None = None,
    disputed: bool | None = None,
    created_after=None,
    created_before=None,
) -> QuerySet[CardPayment]:
    """Card payments of this instance, newest first, with their refunds and disputes."""
    qs = CardPayment.objects.select_related("invoice", "payment").prefetch_related(
        "refunds", "disputes"
    )
    if invoice_id is not None:
        qs = qs.filter(invoice_id=invoice_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    if disputed is not None:
        qs = qs.filter(disputed=disputed)
    if created_after is not None:
        qs = qs.filter(created_at__date__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__date__lte=created_before)
    return qs.order_by("-created_at", "-id")


def invoice_payable_by_card(invoice: Invoice) -> bool:
    return (
        invoice.kind == Invoice.Kind.INVOICE
        and invoice.status in (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID)
        and invoice.amount_due > 0
    )


# --------------------------------------------------------------------------------------
# Automatic charges of renewal invoices


def auto_charge_cards_for(customer_ids: Iterable[int]) -> dict[int, SavedCard]:
    """{customer id: default card} of those customers who opted in to automatic payment of
    renewal invoices and have a default card (one query)."""
    ids = list(customer_ids)
    if not ids:
        return {}
    cards = SavedCard.objects.filter(
        customer_id__in=ids,
        is_default=True,
        customer__card_settings__auto_charge_renewals=True,
    )
    return {card.customer_id: card for card in cards}


def auto_charge_attempts_of(invoice: Invoice) -> list[AutoChargeAttempt]:
    """The automatic charges of an invoice, first first (staff and portal invoice pages)."""
    return list(
        AutoChargeAttempt.objects.filter(invoice=invoice)
        .select_related("invoice", "card_payment")
        .order_by("number")
    )


def auto_charge_attempt_list(
    *, invoice_id: int | None = None, customer_id: int | None = None, status: str | None = None
) -> QuerySet[AutoChargeAttempt]:
    """Automatic charges of this instance, newest first (the API)."""
    qs = AutoChargeAttempt.objects.select_related("invoice", "card_payment")
    if invoice_id is not None:
        qs = qs.filter(invoice_id=invoice_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def get_auto_charge_attempt_for(user, pk) -> AutoChargeAttempt:
    """An automatic charge for instance staff; AutoChargeAttempt.DoesNotExist otherwise."""
    if not (user.is_authenticated and user.is_instance_staff):
        raise PermissionDenied(_("Only staff see automatic charges through the API."))
    return auto_charge_attempt_list().get(pk=pk)
