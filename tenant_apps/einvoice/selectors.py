"""Reads of e-invoicing data shared by the screens, the API, the e-mail hook and the export."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from tenant_apps.billing.models import Invoice
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.selectors import audit_event_list

from .formats import Format
from .models import CustomerEInvoicing, IssuerEInvoicing

WITHHELD_EVENT = "einvoice.withheld"


def issuer_settings_get() -> IssuerEInvoicing | None:
    return IssuerEInvoicing.objects.first()


def customer_profile_get(customer_id: int) -> CustomerEInvoicing | None:
    return CustomerEInvoicing.objects.filter(customer_id=customer_id).first()


def customer_format(customer_id: int) -> str:
    """How the customer receives documents (PDF only unless they chose an e-invoice)."""
    profile = customer_profile_get(customer_id)
    return profile.format if profile else Format.PDF


def documents_in_period(start: datetime.date, end: datetime.date) -> QuerySet[Invoice]:
    """Issued invoices and credit notes dated from `start` to `end` (void ones included: an
    accountant keeps every number), in date and number order, with what writing needs."""
    return (
        Invoice.objects.filter(issue_date__gte=start, issue_date__lte=end)
        .exclude(status=Invoice.Status.DRAFT)
        .exclude(number__isnull=True)
        .select_related("customer", "credited_invoice")
        .prefetch_related("lines")
        .order_by("issue_date", "id")
    )


def last_withheld(invoice: Invoice) -> AuditEvent | None:
    """The latest time an e-mail went without the customer's e-invoice, if any."""
    return audit_event_list(
        action=WITHHELD_EVENT, object_type="invoice", object_id=str(invoice.pk)
    ).first()
