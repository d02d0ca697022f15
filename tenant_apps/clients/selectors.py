"""Reads of customers shared by staff screens, the portal, the API and other apps."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, NullIf

from .models import Contact, Customer, CustomerEvent


def customer_list(
    *,
    search: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    country: str | None = None,
) -> QuerySet[Customer]:
    """Customers of this instance, filtered; `search` matches names, e-mails, tax id, contacts.

    Annotated with `sort_name`, the name shown in lists (company name, else the person's).
    """
    qs = Customer.objects.annotate(
        sort_name=Lower(Coalesce(NullIf("company_name", Value("")), "name"))
    ).order_by("sort_name", "pk")
    if search and search.strip():
        text = search.strip()
        # Exists() instead of a join on contacts: no duplicate rows, no DISTINCT needed.
        contact_match = Contact.objects.filter(customer=OuterRef("pk")).filter(
            Q(name__icontains=text) | Q(email__icontains=text)
        )
        qs = qs.filter(
            Q(name__icontains=text)
            | Q(company_name__icontains=text)
            | Q(email__icontains=text)
            | Q(tax_id__icontains=text.replace(" ", ""))
            | Q(city__icontains=text)
            | Exists(contact_match)
        )
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if country:
        qs = qs.filter(country=country.upper())
    return qs


def customer_countries() -> list[str]:
    """Country codes that at least one customer of this instance is in."""
    return list(Customer.objects.order_by("country").values_list("country", flat=True).distinct())


def get_customer_for(user, pk) -> Customer:
    """Staff of this instance see any of its customers; a customer user only their own.

    Raises Customer.DoesNotExist (also for another customer's id: existence is not revealed)
    or PermissionDenied for anyone else.
    """
    qs = Customer.objects.select_related("user").prefetch_related("contacts")
    if user.is_authenticated and user.is_instance_staff:
        return qs.get(pk=pk)
    if user.is_authenticated and user.is_customer:
        return qs.get(pk=pk, user=user)
    raise PermissionDenied("Sign in as staff or as this customer.")


def customer_for_user(user) -> Customer | None:
    """The customer record a portal user signs in for (None for staff or unlinked users)."""
    if not user.is_authenticated:
        return None
    return Customer.objects.filter(user=user).first()


def customer_events(customer: Customer, *, limit: int = 20) -> list[CustomerEvent]:
    return list(customer.events.all()[:limit])
