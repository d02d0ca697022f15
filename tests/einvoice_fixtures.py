"""Builders for e-invoicing tests: an issuer ready for every format, customers of each tax
treatment, and issued documents made through billing's own services."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, InvoiceLine, TaxRate
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.einvoice.formats import Format
from tenant_apps.einvoice.services import customer_einvoicing_update, issuer_einvoicing_update
from tenant_apps.instance.services import issuer_identity_set

ISSUE_DATE = datetime.date(2026, 3, 2)
PERIOD = {"period_start": datetime.date(2026, 3, 1), "period_end": datetime.date(2026, 3, 31)}
LINES = [
    {"description": "Managed VPS L (4 vCPU, 8 GB)", "unit_price": "39.00", **PERIOD},
    {"description": "Additional storage 100 GB", "unit_price": "4.50", "quantity": "3"},
    {"description": "Support hours", "unit_price": "65.00", "quantity": "1.5"},
]


def setup_einvoicing_issuer() -> None:
    """A French issuer with everything every format asks for."""
    issuer_identity_set(
        legal_name="Acme Hosting SARL",
        trading_name="Acme Cloud",
        address_line1="12 rue de la Paix",
        postal_code="75002",
        city="Paris",
        country="FR",
        tax_id="FR40303265045",
        registration_number="303265045",
        email="billing@acme.test",
        phone="+33 1 23 45 67 89",
        bank_details="IBAN FR76 3000 6000 0112 3456 7890 189\nBIC AGRIFRPP",
    )
    issuer_einvoicing_update(
        endpoint_scheme="0009", endpoint_id="30326504500011", contact_name="Accounts team"
    )
    standard = TaxClass.objects.get(code="standard")
    reduced, _ = TaxClass.objects.get_or_create(code="reduced", defaults={"name": "Reduced"})
    zero, _ = TaxClass.objects.get_or_create(code="zero", defaults={"name": "Zero rate"})
    for tax_class, rate in ((standard, "20"), (reduced, "5.5"), (zero, "0")):
        TaxRate.objects.update_or_create(
            country="FR", tax_class=tax_class, defaults={"rate": Decimal(rate)}
        )
    TaxRate.objects.update_or_create(
        country="DE", tax_class=standard, defaults={"rate": Decimal("19")}
    )


def make_business(
    name: str = "Boulangerie Martin SARL",
    country: str = "FR",
    *,
    tax_id: str = "FR64443061841",
    currency: str = "EUR",
    einvoicing: dict | None = None,
    **extra,
) -> Customer:
    fields = {
        "kind": Customer.Kind.COMPANY,
        "name": "Jeanne Martin",
        "company_name": name,
        "email": f"accounts@{name.split()[0].lower()}.test",
        "address_line1": "3 place du Marché",
        "postal_code": "69001",
        "city": "Lyon",
        "country": country,
        "currency": currency,
        "tax_id": tax_id,
    }
    fields.update(extra)
    customer = Customer.objects.create(**fields)
    customer_einvoicing_update(
        customer=customer,
        **(
            einvoicing
            if einvoicing is not None
            else {
                "format": Format.PEPPOL,
                "buyer_reference": "04011000-12345-34",
                "order_reference": "PO-2026-118",
                "endpoint_scheme": "0204",
                "endpoint_id": "04011000-12345-34",
            }
        ),
    )
    return customer


def make_eu_business_with_valid_vat_id() -> Customer:
    """A German company whose VAT id VIES confirmed yesterday (reverse charge)."""
    return make_business(
        "Bäckerei Schmidt GmbH",
        "DE",
        tax_id="DE136695976",
        postal_code="10115",
        city="Berlin",
        address_line1="Invalidenstraße 1",
        tax_id_status=Customer.TaxIdStatus.VALID,
        tax_id_checked_at=timezone.now() - datetime.timedelta(days=1),
    )


def issue(customer: Customer, lines=LINES, *, currency: str | None = None) -> Invoice:
    draft = billing.invoice_create_draft(customer=customer, lines=lines, currency=currency)
    return billing.invoice_issue(invoice=draft, issue_date=ISSUE_DATE)


def late_fee_invoice(customer: Customer) -> Invoice:
    return issue(
        customer,
        [
            {
                "description": "Late payment fee for invoice 2026-000001",
                "unit_price": "40.00",
                "kind": InvoiceLine.Kind.LATE_FEE,
            }
        ],
    )


def credit_note_for(invoice: Invoice) -> Invoice:
    return billing.credit_note_create(
        invoice=invoice, reason="Service cancelled", issue_date=ISSUE_DATE
    )
