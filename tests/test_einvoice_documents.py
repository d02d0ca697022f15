"""E-invoices (Factur-X, Peppol BIS 3.0, XRechnung) validate for every tax situation billing
issues, are written from the same frozen data as the PDF, and are refused — never produced
invalid — when the data a format needs is missing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context
from facturx import get_xml_from_pdf
from lxml import etree

from tenant_apps.billing.models import Invoice
from tenant_apps.billing.services import billing_settings_update
from tenant_apps.einvoice import validation
from tenant_apps.einvoice.documents import EInvoiceRefused, einvoice_check, einvoice_produce
from tenant_apps.einvoice.formats import E_FORMATS, Format
from tenant_apps.einvoice.services import customer_einvoicing_update
from tests.einvoice_fixtures import (
    LINES,
    credit_note_for,
    issue,
    late_fee_invoice,
    make_business,
    make_eu_business_with_valid_vat_id,
    setup_einvoicing_issuer,
)

UBL_NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_einvoicing_issuer()
        yield instance_a


def produce_all(invoice: Invoice) -> dict[str, bytes]:
    """Every format's file, asserting each is valid (XSD and EN 16931 Schematron)."""
    produced = {}
    for fmt in E_FORMATS:
        assert einvoice_check(invoice=invoice, fmt=fmt) == [], fmt
        produced[fmt] = einvoice_produce(invoice=invoice, fmt=fmt).content
    xml = get_xml_from_pdf(produced[Format.FACTURX], check_xsd=True)[1]
    assert validation.cii_problems(xml) == []
    produced["cii"] = xml
    return produced


def ubl_categories(xml: bytes) -> list[tuple[str, str]]:
    root = etree.fromstring(xml)
    return [
        (
            category.findtext("cbc:ID", namespaces=UBL_NS),
            category.findtext("cbc:TaxExemptionReasonCode", namespaces=UBL_NS) or "",
        )
        for category in root.iterfind(
            "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", namespaces=UBL_NS
        )
    ]


def test_a_domestic_business_invoice_validates_in_every_format(acme):
    invoice = issue(make_business())
    files = produce_all(invoice)
    assert files[Format.FACTURX].startswith(b"%PDF")
    assert ubl_categories(files[Format.PEPPOL]) == [("S", "")]
    assert b"xrechnung_3.0" in files[Format.XRECHNUNG]
    assert b"poacc:billing:3.0" in files[Format.PEPPOL]


def test_a_reverse_charge_to_another_eu_country_is_category_ae_with_its_reason(acme):
    invoice = issue(make_eu_business_with_valid_vat_id())
    assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    files = produce_all(invoice)
    assert ubl_categories(files[Format.PEPPOL]) == [("AE", "VATEX-EU-AE")]
    assert b"Reverse charge" in files[Format.PEPPOL]
    assert b"<ram:CategoryCode>AE</ram:CategoryCode>" in files["cii"]
    assert b"DE136695976" in files["cii"]


def test_an_exempt_customer_gets_category_e_with_the_exemption_reason(acme):
    customer = make_business(tax_exempt=True, tax_exempt_reason="Art. 261-4-4 CGI (training)")
    invoice = issue(customer)
    assert invoice.tax_treatment == Invoice.TaxTreatment.EXEMPT
    files = produce_all(invoice)
    assert ubl_categories(files[Format.PEPPOL]) == [("E", "")]
    assert b"Art. 261-4-4 CGI (training)" in files[Format.PEPPOL]


def test_a_customer_outside_the_eu_gets_category_o_without_any_vat_id(acme):
    customer = make_business("Maple Hosting Inc", "CA", tax_id="123456789RT0001")
    invoice = issue(customer)
    assert invoice.tax_treatment == Invoice.TaxTreatment.OUTSIDE_SCOPE
    files = produce_all(invoice)
    assert ubl_categories(files[Format.PEPPOL]) == [("O", "VATEX-EU-O")]
    # BR-O-02: neither party's VAT id on a document not subject to VAT.
    assert b"FR40303265045" not in files[Format.PEPPOL]
    assert b"<ram:RateApplicablePercent>" not in files["cii"]


def test_several_vat_rates_on_one_invoice_give_one_breakdown_row_per_rate(acme):
    lines = [
        *LINES,
        {
            "description": "E-book: hosting guide",
            "unit_price": "12.99",
            "tax_class_code": "reduced",
        },
        {"description": "Donation", "unit_price": "5.00", "tax_class_code": "zero"},
    ]
    invoice = issue(make_business(), lines)
    files = produce_all(invoice)
    assert ubl_categories(files[Format.PEPPOL]) == [("S", ""), ("S", ""), ("Z", "")]
    percents = etree.fromstring(files[Format.PEPPOL]).xpath(
        "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent/text()", namespaces=UBL_NS
    )
    assert percents == ["20", "5.5", "0"]


def test_a_credit_note_references_the_invoice_it_credits(acme):
    invoice = issue(make_business())
    note = credit_note_for(invoice)
    files = produce_all(note)
    root = etree.fromstring(files[Format.PEPPOL])
    assert root.tag.endswith("}CreditNote")
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=UBL_NS) == "381"
    assert (
        root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=UBL_NS)
        == invoice.number
    )
    assert f"<ram:IssuerAssignedID>{invoice.number}</ram:IssuerAssignedID>".encode() in files["cii"]
    assert b"<ram:TypeCode>381</ram:TypeCode>" in files["cii"]


def test_a_zero_decimal_currency_is_written_without_decimals(acme):
    customer = make_business(currency="JPY")
    lines = [{"description": "Managed VPS", "unit_price": "1500", "quantity": "3"}]
    invoice = issue(customer, lines, currency="JPY")
    files = produce_all(invoice)
    root = etree.fromstring(files[Format.PEPPOL])
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=UBL_NS) == "5400"
    assert b'currencyID="JPY">900</cbc:TaxAmount>' in files[Format.PEPPOL]


def test_a_late_fee_invoice_outside_the_scope_of_vat_validates(acme):
    invoice = late_fee_invoice(make_business())
    assert invoice.tax_treatment == Invoice.TaxTreatment.OUTSIDE_SCOPE
    files = produce_all(invoice)
    assert ubl_categories(files[Format.PEPPOL]) == [("O", "VATEX-EU-O")]
    assert b"compensation for late payment" in files[Format.PEPPOL]


def test_a_late_fee_taxed_like_the_invoice_validates(acme):
    billing_settings_update(late_fee_vat="standard")
    invoice = late_fee_invoice(make_business())
    files = produce_all(invoice)
    assert ubl_categories(files[Format.PEPPOL]) == [("S", "")]


def test_prices_that_include_tax_still_give_a_valid_net_breakdown(acme):
    billing_settings_update(prices_include_tax=True)
    lines = [
        {"description": "Hosting", "unit_price": "1.05", "quantity": "10"},
        {"description": "Domain", "unit_price": "9.99", "quantity": "3"},
    ]
    invoice = issue(make_business(), lines)
    files = produce_all(invoice)
    total = etree.fromstring(files[Format.PEPPOL]).findtext(
        "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", namespaces=UBL_NS
    )
    assert Decimal(total) == invoice.total == Decimal("40.47")


# --------------------------------------------------------------------------------------
# Missing data: a clear message naming the field, never a file


def test_xrechnung_without_a_buyer_reference_names_the_leitweg_id_and_produces_nothing(acme):
    customer = make_business(
        einvoicing={"format": "facturx", "endpoint_scheme": "EM", "endpoint_id": "ap@b.test"}
    )
    invoice = issue(customer)
    with pytest.raises(EInvoiceRefused) as refused:
        einvoice_produce(invoice=invoice, fmt=Format.XRECHNUNG)
    assert "XRechnung needs the customer's buyer reference (Leitweg-ID)" in str(refused.value)
    assert [p.rule for p in refused.value.problems] == [
        "the customer's buyer reference (Leitweg-ID)"
    ]


def test_peppol_without_an_electronic_address_names_the_field_and_produces_nothing(acme):
    customer = make_business(einvoicing={"format": "pdf", "buyer_reference": "REF-1"})
    invoice = issue(customer)
    with pytest.raises(EInvoiceRefused) as refused:
        einvoice_produce(invoice=invoice, fmt=Format.PEPPOL)
    message = str(refused.value)
    assert "Peppol BIS 3.0 needs the customer's electronic address" in message
    assert "the customer's e-invoicing details" in message


def test_a_format_needing_a_field_cannot_be_chosen_without_it(acme):
    customer = make_business(einvoicing={"format": "pdf"})
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        customer_einvoicing_update(customer=customer, format="xrechnung")
    assert "buyer reference (Leitweg-ID)" in str(refused.value.message_dict["buyer_reference"])
    assert "electronic address" in str(refused.value.message_dict["endpoint_id"])


def test_factur_x_needs_nothing_beyond_the_invoice_itself(acme):
    customer = make_business(einvoicing={"format": "facturx"})
    invoice = issue(customer)
    assert einvoice_check(invoice=invoice, fmt=Format.FACTURX) == []
    assert einvoice_check(invoice=invoice, fmt=Format.PEPPOL) != []


def test_a_draft_has_no_e_invoice(acme):
    from tenant_apps.billing.services import invoice_create_draft
    from tenant_apps.einvoice.documents import NotIssued

    draft = invoice_create_draft(customer=make_business(), lines=LINES)
    with pytest.raises(NotIssued):
        einvoice_produce(invoice=draft, fmt=Format.FACTURX)


def test_the_validators_refuse_a_document_whose_totals_do_not_add_up(acme):
    invoice = issue(make_business())
    xml = einvoice_produce(invoice=invoice, fmt=Format.PEPPOL).content
    broken = xml.replace(
        b'<cbc:PayableAmount currencyID="EUR">180.00', b'<cbc:PayableAmount currencyID="EUR">181.00'
    )
    assert broken != xml
    problems = validation.ubl_problems(broken, credit_note=False)
    assert [p.rule for p in problems] == ["BR-CO-16"]
    assert "EN 16931 rule BR-CO-16" in problems[0].message


def test_the_validators_refuse_a_document_that_breaks_the_schema(acme):
    invoice = issue(make_business())
    xml = einvoice_produce(invoice=invoice, fmt=Format.PEPPOL).content
    broken = xml.replace(b"<cbc:IssueDate>", b"<cbc:Issued>", 1).replace(
        b"</cbc:IssueDate>", b"</cbc:Issued>", 1
    )
    problems = validation.ubl_problems(broken, credit_note=False)
    assert problems and problems[0].rule == "XSD"
    assert "a fault in Upline, not in your data" in problems[0].message
