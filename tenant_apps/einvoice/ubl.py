"""The EN 16931 model written as OASIS UBL 2.1: Peppol BIS Billing 3.0 and XRechnung 3.0.

The two differ in their customisation identifier and in what they require (see
`semantic.missing_fields`), not in how the data is written. Element order follows the UBL
2.1 schemas; empty values are never written (Peppol refuses empty elements).
"""

from __future__ import annotations

import datetime

from lxml import etree

from .formats import Format
from .semantic import OUTSIDE_SCOPE, EInvoiceModel, Party, decimal_text

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
CUSTOMIZATION = {
    Format.PEPPOL: "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
    Format.XRECHNUNG: "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
}


def _cac(parent, tag: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{CAC}}}{tag}")


def _cbc(parent, tag: str, text: str, **attrs) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CBC}}}{tag}", {k: v for k, v in attrs.items() if v})
    element.text = text
    return element


def _opt(parent, tag: str, value: str, **attrs) -> None:
    if value:
        _cbc(parent, tag, value, **attrs)


def _date(value: datetime.date) -> str:
    return value.isoformat()


def _party(parent, tag: str, party: Party) -> None:
    node = _cac(_cac(parent, tag), "Party")
    if party.endpoint_id and party.endpoint_scheme:
        _cbc(node, "EndpointID", party.endpoint_id, schemeID=party.endpoint_scheme)
    if party.identifier:
        _cbc(_cac(node, "PartyIdentification"), "ID", party.identifier)
    if party.trading_name:
        _cbc(_cac(node, "PartyName"), "Name", party.trading_name)
    address = _cac(node, "PostalAddress")
    _opt(address, "StreetName", party.line1)
    _opt(address, "AdditionalStreetName", party.line2)
    _opt(address, "CityName", party.city)
    _opt(address, "PostalZone", party.postal_code)
    _opt(address, "CountrySubentity", party.region)
    _cbc(_cac(address, "Country"), "IdentificationCode", party.country)
    for company_id, scheme in ((party.vat_id, "VAT"), (party.tax_registration_id, "FC")):
        if company_id:
            tax_scheme = _cac(node, "PartyTaxScheme")
            _cbc(tax_scheme, "CompanyID", company_id)
            _cbc(_cac(tax_scheme, "TaxScheme"), "ID", scheme)
    legal = _cac(node, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    _opt(legal, "CompanyID", party.registration_id)
    if party.has_contact:
        contact = _cac(node, "Contact")
        _opt(contact, "Name", party.contact_name)
        _opt(contact, "Telephone", party.phone)
        _opt(contact, "ElectronicMail", party.email)


def _tax_category(parent, tag: str, category: str, rate, reason: str = "", code: str = ""):
    node = _cac(parent, tag)
    _cbc(node, "ID", category)
    if rate is not None and category != OUTSIDE_SCOPE:
        _cbc(node, "Percent", decimal_text(rate))
    _opt(node, "TaxExemptionReasonCode", code)
    _opt(node, "TaxExemptionReason", reason)
    _cbc(_cac(node, "TaxScheme"), "ID", "VAT")


def ubl_xml(model: EInvoiceModel, fmt: str) -> bytes:
    """The UBL Invoice (or CreditNote) of `model` for `fmt` (Peppol or XRechnung)."""
    credit = model.is_credit_note
    root_ns = CREDIT_NOTE_NS if credit else INVOICE_NS
    root = etree.Element(
        f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}",
        nsmap={None: root_ns, "cac": CAC, "cbc": CBC},
    )
    currency = model.currency

    def amount(parent, tag: str, value) -> None:
        _cbc(parent, tag, model.amount(value), currencyID=currency)

    _cbc(root, "CustomizationID", CUSTOMIZATION[fmt])
    _cbc(root, "ProfileID", PEPPOL_PROFILE)
    _cbc(root, "ID", model.number)
    _cbc(root, "IssueDate", _date(model.issue_date))
    if model.due_date and not credit:
        _cbc(root, "DueDate", _date(model.due_date))
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", model.type_code)
    for note in model.notes:
        _cbc(root, "Note", note)
    _cbc(root, "DocumentCurrencyCode", currency)
    _opt(root, "BuyerReference", model.buyer_reference)
    if model.order_reference:
        _cbc(_cac(root, "OrderReference"), "ID", model.order_reference)
    if model.preceding_number:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", model.preceding_number)
        if model.preceding_date:
            _cbc(reference, "IssueDate", _date(model.preceding_date))
    _party(root, "AccountingSupplierParty", model.seller)
    _party(root, "AccountingCustomerParty", model.buyer)
    if model.payment is not None:
        means = _cac(root, "PaymentMeans")
        _cbc(means, "PaymentMeansCode", model.payment.means_code)
        _opt(means, "PaymentID", model.remittance)
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", model.payment.iban)
        _opt(account, "Name", model.payment.account_name)
        if model.payment.bic:
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", model.payment.bic)
    if model.payment_terms:
        _cbc(_cac(root, "PaymentTerms"), "Note", model.payment_terms)

    tax_total = _cac(root, "TaxTotal")
    amount(tax_total, "TaxAmount", model.tax_total)
    for group in model.vat_groups:
        subtotal = _cac(tax_total, "TaxSubtotal")
        amount(subtotal, "TaxableAmount", group.taxable)
        amount(subtotal, "TaxAmount", group.tax)
        _tax_category(
            subtotal,
            "TaxCategory",
            group.category,
            group.rate,
            group.exemption_reason,
            group.exemption_code,
        )

    totals = _cac(root, "LegalMonetaryTotal")
    amount(totals, "LineExtensionAmount", model.line_total)
    amount(totals, "TaxExclusiveAmount", model.tax_basis_total)
    amount(totals, "TaxInclusiveAmount", model.grand_total)
    amount(totals, "PayableAmount", model.due_payable)

    for line in model.lines:
        node = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(node, "ID", line.id)
        _cbc(
            node,
            "CreditedQuantity" if credit else "InvoicedQuantity",
            decimal_text(line.quantity),
            unitCode=line.unit_code,
        )
        amount(node, "LineExtensionAmount", line.net_amount)
        if line.period_start or line.period_end:
            period = _cac(node, "InvoicePeriod")
            if line.period_start:
                _cbc(period, "StartDate", _date(line.period_start))
            if line.period_end:
                _cbc(period, "EndDate", _date(line.period_end))
        item = _cac(node, "Item")
        _cbc(item, "Name", line.name)
        _tax_category(item, "ClassifiedTaxCategory", line.category, line.rate)
        price = _cac(node, "Price")
        _cbc(price, "PriceAmount", decimal_text(line.net_price), currencyID=currency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
