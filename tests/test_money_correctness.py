"""Money that is right (issue 9): each test is named for a defect's correct behaviour and
failed on the code before its fix."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.models import Invoice, InvoiceLine
from tests.billing_fixtures import make_customer, setup_issuer

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


def _german_business(name: str, vat_id: str):
    return make_customer(
        name,
        country="DE",
        kind="company",
        company_name=f"{name} GmbH",
        tax_id=vat_id,
        tax_id_status="valid",
    )


def test_bulk_renewals_print_each_customers_own_vat_id_in_the_reverse_charge_mention(acme):
    first = _german_business("Erste Kunde", "DE111111111")
    second = _german_business("Zweite Kunde", "DE222222222")
    specs = [
        services.InvoiceSpec(
            customer=customer,
            currency="EUR",
            lines=[services.LineSpec(description="Hosting", unit_price=Decimal("10"))],
        )
        for customer in (first, second)
    ]
    one, two = services.invoices_issue_bulk(specs=specs, run_id=None, on_date=TODAY)
    assert one.tax_treatment == two.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    assert "DE111111111" in one.legal_notes and "DE222222222" not in one.legal_notes
    assert "DE222222222" in two.legal_notes and "DE111111111" not in two.legal_notes
    stored = Invoice.objects.get(pk=two.pk)
    assert "DE222222222" in stored.legal_notes
    assert InvoiceLine.objects.filter(invoice=stored).get().tax_amount == 0
