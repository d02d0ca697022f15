"""Template tags that put card payments on billing's invoice pages (portal and staff)
without billing importing this app, and the saved cards on the staff customer page (clients):
`{% load cards %}` in the template."""

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
