"""Writes of e-invoicing: the issuer's settings, a customer's choice and references, and the
record of an e-mail that went without its e-invoice because it did not validate."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from tenant_apps.billing.models import Invoice
from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit

from .formats import SHORT_NAMES, Format
from .models import ADDRESS_SCHEME_CODES, CustomerEInvoicing, IssuerEInvoicing
from .selectors import WITHHELD_EVENT
from .validation import Problem

SETTINGS_CHANGED = audit.event_type(
    "einvoice.settings_changed", gettext_noop("E-invoicing settings changed")
)
PROFILE_CHANGED = audit.event_type(
    "einvoice.customer_changed", gettext_noop("Customer e-invoicing details changed")
)
WITHHELD = audit.event_type(WITHHELD_EVENT, gettext_noop("E-invoice not sent: it did not validate"))

ISSUER_FIELDS = ("endpoint_scheme", "endpoint_id", "contact_name", "facturx_default_pdf")
PROFILE_FIELDS = ("format", "buyer_reference", "order_reference", "endpoint_scheme", "endpoint_id")


def _clean(value) -> str:
    return " ".join(str(value or "").split())


def _address_errors(row) -> dict[str, list[str]]:
    """An electronic address is a scheme and an identifier: both, or neither."""
    errors: dict[str, list[str]] = {}
    if row.endpoint_scheme and row.endpoint_scheme not in ADDRESS_SCHEME_CODES:
        errors["endpoint_scheme"] = [gettext("Choose a scheme from the list.")]
    if row.endpoint_id and not row.endpoint_scheme:
        errors["endpoint_scheme"] = [gettext("Choose the scheme of the electronic address.")]
    if row.endpoint_scheme and not row.endpoint_id:
        errors["endpoint_id"] = [gettext("Enter the electronic address for the scheme chosen.")]
    return errors


@transaction.atomic
def issuer_einvoicing_update(*, actor=None, **fields) -> IssuerEInvoicing:
    """Change how this instance appears on e-invoice networks (one settings row)."""
    unknown = set(fields) - set(ISSUER_FIELDS)
    if unknown:
        raise ValidationError({name: [gettext("Not an e-invoicing setting.")] for name in unknown})
    row = (
        IssuerEInvoicing.objects.select_for_update().filter(singleton=True).first()
        or IssuerEInvoicing()
    )
    before = audit.snapshot(row, ISSUER_FIELDS)
    for name, value in fields.items():
        setattr(row, name, value if name == "facturx_default_pdf" else _clean(value))
    errors = _address_errors(row)
    if errors:
        raise ValidationError(errors)
    row.full_clean()
    created = row.pk is None
    row.save()
    audit.audit_record(
        SETTINGS_CHANGED,
        actor=actor,
        obj=row,
        changes=audit.diff(before, audit.snapshot(row, ISSUER_FIELDS), created=created),
    )
    return row


def format_requirements(row: CustomerEInvoicing) -> dict[str, list[str]]:
    """What the chosen format needs of the customer's details and is not there."""
    name = SHORT_NAMES.get(row.format, row.format)
    errors: dict[str, list[str]] = {}
    if row.format in (Format.PEPPOL, Format.XRECHNUNG) and not row.endpoint_id:
        errors["endpoint_id"] = [
            gettext("%(format)s needs the electronic address where e-invoices go.")
            % {"format": name}
        ]
    if row.format == Format.XRECHNUNG and not row.buyer_reference:
        errors["buyer_reference"] = [
            gettext("%(format)s needs the buyer reference (Leitweg-ID).") % {"format": name}
        ]
    if row.format == Format.PEPPOL and not (row.buyer_reference or row.order_reference):
        errors["buyer_reference"] = [
            gettext("%(format)s needs a buyer reference or a purchase order number.")
            % {"format": name}
        ]
    return errors


@transaction.atomic
def customer_einvoicing_update(*, customer: Customer, actor=None, **fields) -> CustomerEInvoicing:
    """Set a customer's format and references (staff, the API, or the customer in the portal).

    Refused, field by field, when the chosen format needs what is left empty."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({name: [gettext("Not an e-invoicing detail.")] for name in unknown})
    row = CustomerEInvoicing.objects.select_for_update().filter(
        customer=customer
    ).first() or CustomerEInvoicing(customer=customer)
    before = audit.snapshot(row, PROFILE_FIELDS)
    for name, value in fields.items():
        setattr(row, name, _clean(value))
    if row.format not in Format.values:
        raise ValidationError({"format": [gettext("Choose one of the formats offered.")]})
    errors = {**_address_errors(row), **format_requirements(row)}
    if errors:
        raise ValidationError(errors)
    row.full_clean(exclude=["customer"])
    created = row.pk is None
    row.save()
    audit.audit_record(
        PROFILE_CHANGED,
        actor=actor,
        obj=customer,
        customer_id=customer.pk,
        changes=audit.diff(before, audit.snapshot(row, PROFILE_FIELDS), created=created),
    )
    return row


def einvoice_withheld_record(
    *, invoice: Invoice, fmt: str, problems: Iterable[Problem], actor="system"
) -> None:
    """Note on the invoice's history that an e-mail went without its e-invoice, and why."""
    audit.audit_record(
        WITHHELD,
        actor=actor,
        obj=invoice,
        customer_id=invoice.customer_id,
        detail={"format": fmt, "problems": [problem.message for problem in problems][:20]},
    )
