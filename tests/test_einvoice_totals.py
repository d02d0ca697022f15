"""Property: on generated invoices, the e-invoice XML's totals and VAT breakdown equal the
database's amounts and what the PDF prints (billing's presenter), to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lxml import etree

from tenant_apps.billing.models import Invoice
from tenant_apps.billing.presenters import document_presentation
from tenant_apps.billing.services import billing_settings_update
from tenant_apps.einvoice.documents import _write
from tenant_apps.einvoice.formats import Format
from tenant_apps.instance.money import format_money
from tests.einvoice_fixtures import issue, make_business, setup_einvoicing_issuer

UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
RAM = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
TAX_CLASSES = {"standard": Decimal("20"), "reduced": Decimal("5.5"), "zero": Decimal("0")}


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_einvoicing_issuer()
        yield instance_a


lines_strategy = st.lists(
    st.tuples(
        st.decimals(min_value="0.01", max_value="40", places=2),  # quantity
        st.decimals(min_value="0.01", max_value="2500", places=2),  # unit price
        st.sampled_from(sorted(TAX_CLASSES)),
    ),
    min_size=1,
    max_size=8,
)


def _ubl_figures(xml: bytes) -> dict:
    root = etree.fromstring(xml)

    def one(path: str) -> Decimal:
        return Decimal(root.findtext(path, namespaces=UBL))

    return {
        "subtotal": one("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
        "lines": one("cac:LegalMonetaryTotal/cbc:LineExtensionAmount"),
        "tax_total": one("cac:TaxTotal/cbc:TaxAmount"),
        "total": one("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
        "payable": one("cac:LegalMonetaryTotal/cbc:PayableAmount"),
        "by_rate": {
            Decimal(sub.findtext("cac:TaxCategory/cbc:Percent", namespaces=UBL)): (
                Decimal(sub.findtext("cbc:TaxableAmount", namespaces=UBL)),
                Decimal(sub.findtext("cbc:TaxAmount", namespaces=UBL)),
            )
            for sub in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", namespaces=UBL)
        },
    }


def _cii_figures(xml: bytes) -> dict:
    root = etree.fromstring(xml)
    totals = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", namespaces=RAM)
    return {
        "subtotal": Decimal(totals.findtext("ram:TaxBasisTotalAmount", namespaces=RAM)),
        "tax_total": Decimal(totals.findtext("ram:TaxTotalAmount", namespaces=RAM)),
        "total": Decimal(totals.findtext("ram:GrandTotalAmount", namespaces=RAM)),
        "by_rate": {
            Decimal(tax.findtext("ram:RateApplicablePercent", namespaces=RAM)): (
                Decimal(tax.findtext("ram:BasisAmount", namespaces=RAM)),
                Decimal(tax.findtext("ram:CalculatedAmount", namespaces=RAM)),
            )
            for tax in root.iterfind(
                "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
                "ram:ApplicableTradeTax",
                namespaces={
                    **RAM,
                    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
                },
            )
        },
    }


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=lines_strategy, currency=st.sampled_from(["EUR", "JPY"]), gross=st.booleans())
def test_xml_totals_equal_the_database_and_the_pdf_to_the_cent(acme, lines, currency, gross):
    billing_settings_update(prices_include_tax=gross)
    customer = make_business(currency=currency)
    invoice = issue(
        customer,
        [
            {
                "description": f"Line {n}",
                "quantity": quantity,
                # JPY has no minor unit: whole yen prices.
                "unit_price": price.to_integral_value() or Decimal(1)
                if currency == "JPY"
                else price,
                "tax_class_code": tax_class,
            }
            for n, (quantity, price, tax_class) in enumerate(lines)
        ],
        currency=currency,
    )
    invoice = Invoice.objects.get(pk=invoice.pk)
    doc = document_presentation(invoice)
    ubl = _ubl_figures(_write(invoice, Format.PEPPOL).xml)
    cii = _cii_figures(_write(invoice, Format.FACTURX).xml)

    for figures in (ubl, cii):
        # The database …
        assert figures["subtotal"] == invoice.subtotal
        assert figures["tax_total"] == invoice.tax_total
        assert figures["total"] == invoice.total
        # … and what the PDF prints.
        assert format_money(figures["subtotal"], currency) == doc.subtotal
        assert format_money(figures["tax_total"], currency) == doc.tax_total
        assert format_money(figures["total"], currency) == doc.total
        printed = {row.rate: (row.base, row.amount) for row in doc.tax_rows}
        assert {
            rate: (format_money(base, currency), format_money(tax, currency))
            for rate, (base, tax) in figures["by_rate"].items()
        } == {rate: printed[rate] for rate in printed}
    assert ubl["lines"] == ubl["subtotal"] and ubl["payable"] == invoice.total
