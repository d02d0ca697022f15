"""Template tags that put card payments and automatic card charges on billing's invoice pages
(portal and staff) without billing importing this app, and the saved cards on the staff
customer page (clients): `{% load cards %}` in the template."""

from __future__ import annotations

from django import template

from tenant_apps.instance.money import format_money

from .. import gateway, selectors

register = template.Library()


@register.inclusion_tag("cards/_pay_button.html")
def card_pay_button(invoice):
    """Portal: "Pay by card" on an unpaid invoice, or that cards are not set up."""
    return {
        "invoice": invoice,
        "payable": selectors.invoice_payable_by_card(invoice),
        "ready": selectors.card_setup().ready,
        "not_set_up": gateway.NOT_SET_UP,
    }


@register.inclusion_tag("cards/_invoice_panel.html", takes_context=True)
def card_invoice_panel(context, invoice):
    """Staff: the invoice's card payments, refunds and disputes, with the refund form."""
    user = context["request"].user
    rows = []
    for card_payment in selectors.invoice_card_payments(invoice):
        refundable = card_payment.refundable
        rows.append(
            {
                "card_payment": card_payment,
                "amount": format_money(card_payment.amount, card_payment.currency),
                "platform_fee": format_money(card_payment.application_fee, card_payment.currency)
                if card_payment.application_fee
                else "",
                "refunds": list(card_payment.refunds.all()),
                "disputes": list(card_payment.disputes.all()),
                "refundable": format_money(refundable, card_payment.currency) if refundable else "",
                "refundable_value": refundable,
            }
        )
    return {
        "rows": rows,
        "setup": selectors.card_setup(),
        "not_set_up": gateway.NOT_SET_UP,
        "can_bill": bool(user.is_authenticated and user.can_bill),
        "can_manage": bool(user.is_authenticated and user.can_manage_instance),
        "csrf_token": context.get("csrf_token"),
        "request": context["request"],
    }


@register.inclusion_tag("cards/_customer_cards.html")
def card_customer_panel(customer):
    """Staff customer page: the customer's saved cards and automatic-renewal choice
    (read-only: only the customer changes them, in the portal)."""
    return {
        "cards": selectors.saved_cards_for(customer),
        "card_settings": selectors.card_settings_for(customer),
    }


@register.inclusion_tag("cards/_auto_charge_panel.html")
def card_auto_charge_panel(invoice):
    """Staff invoice page: the automatic charges of a renewal invoice and their outcome, and
    whether the customer's card is charged for it at all."""
    attempts = selectors.auto_charge_attempts_of(invoice) if invoice.pk else []
    renewal = invoice.kind == invoice.Kind.INVOICE and invoice.billing_run_id is not None
    card = selectors.auto_charge_cards_for([invoice.customer_id]).get(invoice.customer_id)
    return {
        "show": bool(attempts) or renewal,
        "attempts": [_attempt_row(attempt) for attempt in attempts],
        "auto_charge_on": selectors.card_settings_for(invoice.customer).auto_charge_renewals,
        "card": card,
        "setup": selectors.card_setup(),
    }


@register.inclusion_tag("cards/_auto_charge_portal.html")
def card_auto_charge_attempts(invoice):
    """Portal invoice page: the automatic charges of the customer's invoice, if any (those
    not made at all, for a reason staff read, are left out)."""
    attempts = [
        attempt
        for attempt in (selectors.auto_charge_attempts_of(invoice) if invoice.pk else [])
        if attempt.status != attempt.Status.SKIPPED
    ]
    last = attempts[-1] if attempts else None
    return {
        "invoice": invoice,
        "attempts": [_attempt_row(attempt) for attempt in attempts],
        "ask_to_pay": bool(
            last is not None
            and last.outcome in last.UNSUCCESSFUL
            and selectors.invoice_payable_by_card(invoice)
            and selectors.card_setup().ready
        ),
    }


def _attempt_row(attempt) -> dict:
    amount = attempt.card_payment.amount if attempt.card_payment_id else None
    currency = attempt.card_payment.currency if attempt.card_payment_id else ""
    return {
        "attempt": attempt,
        "outcome": attempt.outcome,
        "outcome_label": attempt.outcome_label,
        "amount": format_money(amount, currency) if amount is not None else "",
    }
