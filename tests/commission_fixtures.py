"""Builders for commission tests: a partner, a rule, an order through to a paid invoice."""

from __future__ import annotations

import datetime
from decimal import Decimal

from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice
from tenant_apps.commissions import services as commissions
from tenant_apps.commissions.models import CommissionEntry
from tenant_apps.orders import services as orders
from tenant_apps.referrals import services as referrals


def partner(code: str = "partner", **extra):
    return referrals.referer_create(code=code, name=code.title(), **extra)


def percent_rule(rate: str = "10", **extra):
    values = {"name": f"{rate} %", "kind": "percent", "rate": rate, "duration": "recurring"}
    values.update(extra)
    return commissions.commission_rule_create(**values)


def ordered(customer, product, referer, *, today: datetime.date | None = None) -> Invoice:
    """Place and accept an order credited to `referer`; returns its first (issued) invoice."""
    order = orders.order_place(
        customer=customer,
        items=[{"product": product, "cycle": "monthly"}],
        referer=referer,
        referer_source="link" if referer else "",
    )
    return orders.order_accept(order=order, today=today)


def pay(invoice: Invoice, capture, amount=None):
    invoice.refresh_from_db()
    with capture(execute=True):
        return billing.payment_record(
            customer=invoice.customer,
            invoice=invoice,
            amount=amount if amount is not None else invoice.amount_due,
            method="bank_transfer",
        )


def earned(referer, level: int | None = None) -> Decimal:
    entries = CommissionEntry.objects.filter(referer=referer)
    if level is not None:
        entries = entries.filter(level=level)
    return sum((entry.amount for entry in entries), Decimal(0))
