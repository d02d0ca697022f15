"""Reads of billing data shared by screens, the API and tasks."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from tenant_apps.instance import clock
from tenant_apps.instance.money import ZERO

from .models import CreditEntry, Invoice, InvoiceLine, Payment, TaxRate


def invoice_list(
    *, customer_id: int | None = None, status: str | None = None, kind: str | None = None
) -> QuerySet[Invoice]:
    qs = Invoice.objects.select_related("customer")
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def get_invoice_for(user, pk) -> Invoice:
    """Staff see any invoice of this instance; a customer only their own issued documents."""
    qs = Invoice.objects.select_related("customer", "credited_invoice").prefetch_related("lines")
    if user.is_authenticated and user.is_instance_staff:
        return qs.get(pk=pk)
    if user.is_authenticated and user.is_customer:
        return qs.exclude(status=Invoice.Status.DRAFT).get(pk=pk, customer__user=user)
    raise PermissionDenied(_("Sign in to see invoices."))


# --------------------------------------------------------------------------------------
# Screens and API of billing (read-only helpers)


def can_bill(user) -> bool:
    """May issue, void, credit and record payments: owner, administrators and billing staff."""
    return bool(user is not None and user.is_authenticated and user.can_bill)


OPEN_STATUSES = (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID)


def open_invoice_q() -> Q:
    """Invoices the customer still owes something on."""
    return Q(kind=Invoice.Kind.INVOICE, status__in=OPEN_STATUSES)


def overdue_invoice_q(today: datetime.date | None = None) -> Q:
    return open_invoice_q() & Q(due_date__lt=today or clock.today())


def with_balance(qs: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Annotate `balance` (what is still owed, as `Invoice.amount_due`) so lists can sort on it."""
    owed = ExpressionWrapper(
        F("total") - F("amount_paid") - F("amount_credited"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    return qs.annotate(
        balance=Case(
            When(open_invoice_q(), then=Greatest(owed, Value(ZERO))),
            default=Value(ZERO),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        )
    )


def invoice_summary(today: datetime.date | None = None) -> dict:
    """Figures for the invoice list header: drafts, and what is owed / overdue per currency."""
    today = today or clock.today()
    owed = F("total") - F("amount_paid") - F("amount_credited")

    def by_currency(q: Q) -> list[dict]:
        return list(
            Invoice.objects.filter(q)
            .values("currency")
            .annotate(count=Count("id"), amount=Sum(owed))
            .order_by("currency")
        )

    return {
        "drafts": Invoice.objects.filter(status=Invoice.Status.DRAFT).count(),
        "outstanding": by_currency(open_invoice_q()),
        "overdue": by_currency(overdue_invoice_q(today)),
    }


def portal_invoice_list(user) -> QuerySet[Invoice]:
    """A portal user's own issued invoices and credit notes (never drafts, never others')."""
    if not (user.is_authenticated and user.is_customer):
        return Invoice.objects.none()
    return with_balance(
        Invoice.objects.filter(customer__user=user)
        .exclude(status=Invoice.Status.DRAFT)
        .select_related("customer")
    ).order_by("-issue_date", "-id")


def invoice_credit_remaining(invoice: Invoice) -> Decimal:
    """How much of an issued invoice can still be credited (credit notes never exceed it)."""
    credited = invoice.credit_notes.exclude(status=Invoice.Status.VOID).aggregate(
        total=Sum("total")
    )["total"]
    return max(invoice.total - (credited or ZERO), ZERO)


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.select_related("customer", "invoice", "created_by").prefetch_related(
        "allocations__invoice", "refunds__credit_notes"
    )


def tax_rate_list() -> QuerySet[TaxRate]:
    return TaxRate.objects.select_related("tax_class")


def get_tax_rate_for(user, pk) -> TaxRate:
    if not (user.is_authenticated and user.is_instance_staff):
        raise PermissionDenied(_("Tax rates are for staff."))
    return TaxRate.objects.select_related("tax_class").get(pk=pk)


def customer_credit_balances(customer_id: int) -> dict[str, Decimal]:
    """The customer's account credit per currency (credit is never added across currencies)."""
    return dict(
        CreditEntry.objects.filter(customer_id=customer_id)
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
        .values_list("currency", "total")
    )


def customer_credit_entries(customer_id: int, *, limit: int = 50) -> list[CreditEntry]:
    return list(
        CreditEntry.objects.filter(customer_id=customer_id).select_related("invoice", "payment")[
            :limit
        ]
    )


def credited_per_line(invoice: Invoice, *, basis: str) -> dict[int, Decimal]:
    """What issued credit notes already took from each line of `invoice`, summed in one
    price basis ("net_amount" or "gross_amount"), by the credited line's id."""
    return dict(
        InvoiceLine.objects.filter(
            credited_line__invoice=invoice, invoice__kind=Invoice.Kind.CREDIT_NOTE
        )
        .exclude(invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
        .values("credited_line")
        .annotate(taken=Sum(basis))
        .values_list("credited_line", "taken")
    )


def line_credit_left(line: InvoiceLine) -> Decimal:
    """What of an issued invoice line can still be credited, in its price basis (net, or
    gross when the invoice's prices include tax): what it charged minus what credit notes
    already took from it."""
    basis = "gross_amount" if line.invoice.prices_include_tax else "net_amount"
    taken = (
        InvoiceLine.objects.filter(credited_line=line, invoice__kind=Invoice.Kind.CREDIT_NOTE)
        .exclude(invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
        .aggregate(total=Sum(basis))["total"]
    )
    return getattr(line, basis) - (taken or ZERO)
