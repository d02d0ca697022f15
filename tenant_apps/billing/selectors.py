"""Reads of billing data shared by screens, the API and tasks."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from .models import Invoice, IssuerIdentity


def issuer_identity_get() -> IssuerIdentity | None:
    """The current instance's issuer identity (None before set-up)."""
    return IssuerIdentity.objects.first()


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
    raise PermissionDenied("Sign in to see invoices.")
