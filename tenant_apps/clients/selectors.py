"""Reads of customers shared by staff screens, the portal, the API and other apps."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, NullIf
from django.utils.translation import gettext as _

from tenant_apps.instance import audit
from tenant_apps.instance.audit import event_label
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.selectors import audit_event_list

from .models import Contact, Customer


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
    raise PermissionDenied(_("Sign in as staff or as this customer."))


def customer_for_user(user) -> Customer | None:
    """The customer record a portal user signs in for (None for staff or unlinked users)."""
    if not user.is_authenticated:
        return None
    return Customer.objects.filter(user=user).first()


def customer_language(customer: Customer) -> str:
    """The language the customer reads: what they chose in their portal (their login's),
    else what staff set on the customer (e-mails, invoices, the portal before sign-in)."""
    user = customer.user if customer.user_id else None
    chosen = user.language if user is not None else ""
    return chosen or customer.language or settings.LANGUAGE_CODE


def _event_summary(event: AuditEvent) -> str:
    """One readable line of what an event changed (fields, contact, status, document)."""
    detail, changes = event.detail or {}, event.changes or {}
    parts = []
    if detail.get("fields"):
        parts.append(", ".join(str(f).replace("_", " ") for f in detail["fields"]))
    for key in ("contact", "email", "number", "invoice", "document"):
        if detail.get(key):
            parts.append(str(detail[key]))
    status = detail.get("status") or detail.get("tax_id_status")
    if status and event.action.startswith(("customer.", "contact.")):
        parts.append(_("tax id %(status)s") % {"status": status})
    if isinstance(changes.get("status"), list) and event.object_type != "customer":
        old, new = (audit.value_label(event.object_type, "status", v) for v in changes["status"])
        parts.append(f"{old} → {new}" if old != "—" else new)
    if detail.get("reason"):
        parts.append(str(detail["reason"]))
    return " · ".join(parts)


def customer_activity(customer: Customer, *, limit: int = 20) -> list[dict]:
    """The customer's history from the instance's audit trail (their record, contacts,
    orders, services, invoices …), newest first, ready for the customer page."""
    return [
        {
            "created_at": event.created_at,
            "label": event_label(event.action),
            "summary": _event_summary(event),
            "actor": event.actor_label or "system",
        }
        for event in audit_event_list(customer_id=customer.pk)[:limit]
    ]
