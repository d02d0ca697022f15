"""Reads of reseller data shared by the console, the API, tasks and commands."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .models import Allocation, Domain, Reseller


def reseller_schema_names(*, active_only: bool = False) -> list[str]:
    qs = Reseller.objects.all()
    if active_only:
        qs = qs.filter(status=Reseller.Status.ACTIVE)
    return list(qs.order_by("schema_name").values_list("schema_name", flat=True))


def active_reseller_schema_names() -> list[str]:
    return reseller_schema_names(active_only=True)


def reseller_list() -> QuerySet[Reseller]:
    """Resellers with their primary domain and allocations, ready for a table."""
    return Reseller.objects.prefetch_related(
        Prefetch("domains", queryset=Domain.objects.order_by("-is_primary", "domain")),
        Prefetch("allocations", queryset=Allocation.objects.select_related("resource")),
    )


def reseller_get(*, slug: str) -> Reseller:
    """Raises Reseller.DoesNotExist for an unknown slug."""
    return reseller_list().get(slug=slug)


def reseller_archive_facts(reseller: Reseller) -> dict:
    """The platform's facts about a reseller that its instance archive carries (export and
    scheduled backups alike), so an import can recreate it."""
    return {
        "slug": reseller.slug,
        "name": reseller.name,
        "legal_name": reseller.legal_name,
        "contact_email": reseller.contact_email,
        "status": reseller.status,
        "custom_domains": [d.domain for d in reseller.domains.filter(is_primary=False)],
        "allocations": {
            a.resource_id: {"quantity": a.quantity, "used": a.used}
            for a in reseller.allocations.all()
        },
    }


def reseller_activity(*, reseller: Reseller | None = None, limit: int = 15) -> list:
    """What was done to one reseller (or to any, without `reseller`), newest first.

    Read from the operator's own instance trail (the public schema's AuditEvent rows with
    object type "reseller"), whatever schema the caller is in; a deleted reseller's rows
    stay, found by its former id.
    """
    from django_tenants.utils import get_public_schema_name, schema_context

    from tenant_apps.instance.selectors import audit_event_list

    with schema_context(get_public_schema_name()):
        events = audit_event_list(
            object_type="reseller", object_id=str(reseller.pk) if reseller is not None else ""
        )
        return list(events[:limit])


def allocations_for_schema(schema_name: str) -> list[Allocation]:
    """What the operator allocated to the instance in `schema_name` (empty for the operator)."""
    return list(
        Allocation.objects.select_related("resource")
        .filter(reseller__schema_name=schema_name)
        .order_by("resource__position")
    )


def resource_choices() -> list[tuple[str, str, str]]:
    """(code, name, unit) of every resource the operator sells; products refer to these codes."""
    from .models import Resource

    return list(Resource.objects.order_by("position").values_list("code", "name", "unit"))


def supplier_invoices_for(schema_name: str, invoice_id: int | None = None) -> list[dict]:
    """The operator's issued invoices to the reseller whose instance is `schema_name`.

    Read from the public schema (the operator's books) and returned as plain dicts, so no
    ORM object outlives the schema switch. Empty for unknown schemas and the operator.
    """
    from django_tenants.utils import get_public_schema_name, schema_context

    reseller = Reseller.objects.filter(schema_name=schema_name).first()
    if reseller is None:
        return []
    with schema_context(get_public_schema_name()):
        from tenant_apps.billing.models import Invoice
        from tenant_apps.cards.selectors import invoice_payable_by_card

        qs = (
            Invoice.objects.filter(customer__reseller_id=reseller.pk)
            .exclude(status=Invoice.Status.DRAFT)
            .order_by("-issue_date", "-id")
        )
        if invoice_id is not None:
            qs = qs.filter(pk=invoice_id)
        rows = []
        for invoice in qs:
            rows.append(
                {
                    "id": invoice.pk,
                    "number": invoice.number,
                    "kind": invoice.get_kind_display(),
                    "status": invoice.status,
                    "status_label": invoice.get_status_display(),
                    "issue_date": invoice.issue_date,
                    "due_date": invoice.due_date,
                    "currency": invoice.currency,
                    "total": invoice.total,
                    "amount_due": invoice.amount_due,
                    # Something is due on it now (the "Pay by card" button).
                    "payable": invoice_payable_by_card(invoice),
                    "pdf": invoice.pdf.name or "",
                    "issuer": invoice.issuer_snapshot.get("legal_name", ""),
                    "lines": [
                        {
                            "description": line.description,
                            "quantity": line.quantity,
                            "unit_price": line.unit_price,
                            "net_amount": line.net_amount,
                            "tax_rate": line.tax_rate,
                        }
                        for line in invoice.lines.all()
                    ]
                    if invoice_id is not None
                    else [],
                    "subtotal": invoice.subtotal,
                    "tax_total": invoice.tax_total,
                }
            )
        return rows


def instance_base_url(schema_name: str) -> str:
    """`https://<primary domain>` of the instance in `schema_name`, for links in e-mails."""
    from django.conf import settings
    from django_tenants.utils import get_public_schema_name

    scheme = "https" if settings.UPLINE_HTTPS else "http"
    # The configured public port (UPLINE_PUBLIC_PORT), unless it is the scheme's own.
    port = str(getattr(settings, "UPLINE_PUBLIC_PORT", "") or "").strip()
    port = f":{port}" if port and port != ("443" if scheme == "https" else "80") else ""
    if schema_name == get_public_schema_name():
        return f"{scheme}://{settings.UPLINE_BASE_DOMAIN}{port}"
    domain = (
        Domain.objects.filter(tenant__schema_name=schema_name, is_primary=True)
        .values_list("domain", flat=True)
        .first()
    )
    return f"{scheme}://{domain}{port}" if domain else ""


def reseller_pay_links(reseller_id: int, invoice_id: int) -> tuple[str, str] | None:
    """Where the reseller `reseller_id` pays the operator's invoice `invoice_id` and keeps its
    cards: its own instance's supplier bill pages (absolute), or None when unknown."""
    from django.urls import reverse

    schema_name = (
        Reseller.objects.filter(pk=reseller_id).values_list("schema_name", flat=True).first()
    )
    base = instance_base_url(schema_name) if schema_name else ""
    if not base:
        return None
    return (
        base + reverse("dashboard:supplier_bill_pay", args=[invoice_id]),
        base + reverse("dashboard:supplier_cards"),
    )


def suspension_policy_get():
    """The operator's suspension policy (an unsaved row with the defaults when never set)."""
    from .models import SuspensionPolicy

    return SuspensionPolicy.objects.filter(pk=SuspensionPolicy.SINGLETON_ID).first() or (
        SuspensionPolicy()
    )
