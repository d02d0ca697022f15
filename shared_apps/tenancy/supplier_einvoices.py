"""The operator's bills to a reseller as e-invoices (`einvoice.ports.supplier_bill_einvoice`).

Produced in the operator's books (the public schema): the operator's identity as frozen on
the bill, its e-invoicing settings, and the reseller's details as the operator's customer.
Only a bill of the reseller running `schema_name` is reachable; what comes back is plain
bytes (no ORM object outlives the schema switch).
"""

from __future__ import annotations

from django_tenants.utils import get_public_schema_name, schema_context

from .models import Reseller


def supplier_bill_einvoice_for(schema_name: str, invoice_id: int, fmt: str):
    from tenant_apps.billing.models import Invoice
    from tenant_apps.einvoice.documents import einvoice_produce

    reseller = Reseller.objects.filter(schema_name=schema_name).first()
    if reseller is None:
        return None
    with schema_context(get_public_schema_name()):
        invoice = (
            Invoice.objects.filter(pk=invoice_id, customer__reseller_id=reseller.pk)
            .exclude(status=Invoice.Status.DRAFT)
            .select_related("customer", "credited_invoice")
            .first()
        )
        if invoice is None:
            return None
        return einvoice_produce(invoice=invoice, fmt=fmt)
