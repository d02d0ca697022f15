"""The EN 16931 model written as UN/CEFACT CII D16B, Factur-X / ZUGFeRD profile EN 16931.

Element order follows the Factur-X EN 16931 schema; empty values are never written (an
empty element is invalid in the networks that receive these files).
"""

from __future__ import annotations

import datetime

from lxml import etree

from .semantic import OUTSIDE_SCOPE, EInvoiceModel, Party, decimal_text

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}
GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"


def _el(parent, ns: str, tag: str, text: str | None = None, **attrs) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        element.text = text
    return element


def _ram(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    return _el(parent, RAM, tag, text, **attrs)


def _opt(parent, tag: str, value: str, **attrs) -> None:
    if value:
        _ram(parent, tag, value, **attrs)


def _date(parent, tag: str, value: datetime.date, ns: str = UDT) -> None:
    holder = _ram(parent, tag)
    _el(holder, ns, "DateTimeString", value.strftime("%Y%m%d"), format="102")


def _party(parent, tag: str, party: Party) -> None:
    node = _ram(parent, tag)
    _opt(node, "ID", party.identifier)
    _ram(node, "Name", party.name)
    if party.registration_id or party.trading_name:
        legal = _ram(node, "SpecifiedLegalOrganization")
        _opt(legal, "ID", party.registration_id)
        _opt(legal, "TradingBusinessName", party.trading_name)
    if party.has_contact:
        contact = _ram(node, "DefinedTradeContact")
        _opt(contact, "PersonName", party.contact_name)
        if party.phone:
            _ram(_ram(contact, "TelephoneUniversalCommunication"), "CompleteNumber", party.phone)
        if party.email:
            _ram(_ram(contact, "EmailURIUniversalCommunication"), "URIID", party.email)
    address = _ram(node, "PostalTradeAddress")
    _opt(address, "PostcodeCode", party.postal_code)
    _opt(address, "LineOne", party.line1)
    _opt(address, "LineTwo", party.line2)
    _opt(address, "CityName", party.city)
    _ram(address, "CountryID", party.country)
    _opt(address, "CountrySubDivisionName", party.region)
    if party.endpoint_id and party.endpoint_scheme:
        _ram(
            _ram(node, "URIUniversalCommunication"),
            "URIID",
            party.endpoint_id,
            schemeID=party.endpoint_scheme,
        )
    if party.vat_id:
        _ram(_ram(node, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")
    if party.tax_registration_id:
        _ram(
            _ram(node, "SpecifiedTaxRegistration"),
            "ID",
            party.tax_registration_id,
            schemeID="FC",
        )


def cii_xml(model: EInvoiceModel) -> bytes:
    """The Factur-X EN 16931 XML of `model`, UTF-8 with its declaration."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, RSM, "ExchangedDocumentContext")
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", GUIDELINE_EN16931)

    document = _el(root, RSM, "ExchangedDocument")
    _ram(document, "ID", model.number)
    _ram(document, "TypeCode", model.type_code)
    _date(document, "IssueDateTime", model.issue_date)
    for note in model.notes:
        _ram(_ram(document, "IncludedNote"), "Content", note)

    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    money = model.amount
    for line in model.lines:
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", line.id)
        _ram(_ram(item, "SpecifiedTradeProduct"), "Name", line.name)
        price = _ram(_ram(item, "SpecifiedLineTradeAgreement"), "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", decimal_text(line.net_price))
        _ram(
            _ram(item, "SpecifiedLineTradeDelivery"),
            "BilledQuantity",
            decimal_text(line.quantity),
            unitCode=line.unit_code,
        )
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "CategoryCode", line.category)
        if line.rate is not None:
            _ram(tax, "RateApplicablePercent", decimal_text(line.rate))
        if line.period_start or line.period_end:
            period = _ram(settlement, "BillingSpecifiedPeriod")
            if line.period_start:
                _date(period, "StartDateTime", line.period_start)
            if line.period_end:
                _date(period, "EndDateTime", line.period_end)
        _ram(
            _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation"),
            "LineTotalAmount",
            money(line.net_amount),
        )

    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    _opt(agreement, "BuyerReference", model.buyer_reference)
    _party(agreement, "SellerTradeParty", model.seller)
    _party(agreement, "BuyerTradeParty", model.buyer)
    if model.order_reference:
        _ram(
            _ram(agreement, "BuyerOrderReferencedDocument"),
            "IssuerAssignedID",
            model.order_reference,
        )
    _ram(transaction, "ApplicableHeaderTradeDelivery")

    settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
    _opt(settlement, "PaymentReference", model.remittance)
    _ram(settlement, "InvoiceCurrencyCode", model.currency)
    if model.payment is not None:
        means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(means, "TypeCode", model.payment.means_code)
        account = _ram(means, "PayeePartyCreditorFinancialAccount")
        _ram(account, "IBANID", model.payment.iban)
        _opt(account, "AccountName", model.payment.account_name)
        if model.payment.bic:
            _ram(
                _ram(means, "PayeeSpecifiedCreditorFinancialInstitution"),
                "BICID",
                model.payment.bic,
            )
    for group in model.vat_groups:
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", money(group.tax))
        _ram(tax, "TypeCode", "VAT")
        _opt(tax, "ExemptionReason", group.exemption_reason)
        _ram(tax, "BasisAmount", money(group.taxable))
        _ram(tax, "CategoryCode", group.category)
        _opt(tax, "ExemptionReasonCode", group.exemption_code)
        if group.rate is not None and group.category != OUTSIDE_SCOPE:
            _ram(tax, "RateApplicablePercent", decimal_text(group.rate))
    if model.due_date or model.payment_terms:
        terms = _ram(settlement, "SpecifiedTradePaymentTerms")
        _opt(terms, "Description", model.payment_terms)
        if model.due_date:
            _date(terms, "DueDateDateTime", model.due_date)
    totals = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(totals, "LineTotalAmount", money(model.line_total))
    _ram(totals, "TaxBasisTotalAmount", money(model.tax_basis_total))
    _ram(totals, "TaxTotalAmount", money(model.tax_total), currencyID=model.currency)
    _ram(totals, "GrandTotalAmount", money(model.grand_total))
    _ram(totals, "DuePayableAmount", money(model.due_payable))
    if model.preceding_number:
        reference = _ram(settlement, "InvoiceReferencedDocument")
        _ram(reference, "IssuerAssignedID", model.preceding_number)
        if model.preceding_date:
            _date(reference, "FormattedIssueDateTime", model.preceding_date, ns=QDT)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
