"""Card payments' answers to billing's ports (tenant_apps/billing/ports.py), plugged in
`CardsConfig.ready()`: billing sits below cards and never imports it.

- A payment a card payment produced is refunded through Stripe (`card_payment_refund`),
  whichever screen or API asked billing for the refund: one path, one CardRefund row, one
  idempotency key, the credit notes booked once Stripe has refunded the card.
- An invoice is payable online on the portal's card page while this instance takes cards
  and something is due on it.
"""

from __future__ import annotations

from django.urls import reverse

from tenant_apps.billing.models import Invoice, Payment, Refund

from . import selectors, services
from .models import CardPayment


def refund_through_stripe(
    *, payment: Payment, amount, reason: str, waive_periods: bool = False, actor=None
) -> Refund | None:
    """Refund `payment` on the card it came from; None when no card payment produced it (a
    bank transfer, or a card payment staff recorded by hand)."""
    card_payment = CardPayment.objects.filter(payment_id=payment.pk).first()
    if card_payment is None:
        return None
    card_refund = services.card_payment_refund(
        card_payment=card_payment,
        amount=amount,
        reason=reason,
        waive_periods=waive_periods,
        actor=actor,
    )
    return card_refund.refund


def card_pay_url(invoice: Invoice) -> str:
    """The portal's card page of `invoice`, or "" when it cannot be paid by card now."""
    if not selectors.invoice_payable_by_card(invoice) or not selectors.card_setup().ready:
        return ""
    return reverse("portal_cards:pay", args=[invoice.pk])
