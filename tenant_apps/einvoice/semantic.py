"""An issued invoice or credit note as the EN 16931 semantic model, from its frozen data.

`einvoice_model(invoice, …)` reads only what billing froze at issue — the issuer and
customer snapshots, the lines and the amounts, the very data the PDF prints through
`billing.presenters` — plus the routing details of this app's rows (electronic addresses,
buyer reference, order number, contact name). Both syntaxes (CII for Factur-X, UBL for
Peppol and XRechnung) are written from this one model, so they cannot disagree.

VAT is summed per (category, rate) from the lines, which billing already balanced so each
rate's VAT is the one computed on that rate's total (BR-CO-17): the breakdown here equals
the presenter's tax rows and the document's `tax_total`, to the cent.

`missing_fields(model, fmt)` lists, in plain words naming each field and where to fill it
in, what a format needs and the data lacks: a document is never produced without it.
"""

from __future__ import annotations

import datetime
import re
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban

from tenant_apps.billing.models import Invoice
from tenant_apps.instance.money import ZERO, currency_exponent

from .formats import SHORT_NAMES, Format
from .models import CustomerEInvoicing, IssuerEInvoicing

# UNTDID 5305 VAT categories used here.
STANDARD, ZERO_RATED, EXEMPT, REVERSE_CHARGE, OUTSIDE_SCOPE = "S", "Z", "E", "AE", "O"

EXEMPTION_CODES = {REVERSE_CHARGE: "VATEX-EU-AE", OUTSIDE_SCOPE: "VATEX-EU-O"}
EXEMPTION_TEXTS = {
    REVERSE_CHARGE: "Reverse charge",
    EXEMPT: "Exempt from VAT",
    OUTSIDE_SCOPE: "Not subject to VAT",
}
UNIT_ONE = "C62"  # UN/ECE rec 20: "one" (each)
CREDIT_TRANSFER = "30"  # UNTDID 4461
SEPA_CREDIT_TRANSFER = "58"
SEPA_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK "
    "IS LI NO CH GB MC SM VA AD GI".split()
)
_IBAN = re.compile(r"\b([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){3,8})\b")
_BIC = re.compile(r"\b(?:BIC|SWIFT)\W{0,3}([A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)\b", re.I)
_VAT_PREFIX = re.compile(r"^[A-Z]{2}[A-Z0-9+*.]{2,}$")


@dataclass(frozen=True)
class Party:
    name: str
    country: str
    trading_name: str = ""
    identifier: str = ""  # BT-29 / BT-46 (no scheme)
    registration_id: str = ""  # BT-30 / BT-47
    vat_id: str = ""  # BT-31 / BT-48
    tax_registration_id: str = ""  # BT-32 (a tax number that is not a VAT id)
    endpoint_scheme: str = ""  # BT-34 / BT-49 scheme
    endpoint_id: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    postal_code: str = ""
    region: str = ""
    contact_name: str = ""
    phone: str = ""
    email: str = ""

    @property
    def has_contact(self) -> bool:
        return bool(self.contact_name or self.phone or self.email)


@dataclass(frozen=True)
class Line:
    id: str
    name: str
    quantity: Decimal
    net_amount: Decimal
    net_price: Decimal
    category: str
    rate: Decimal | None  # None for "not subject to VAT" (BR-O-05)
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    unit_code: str = UNIT_ONE


@dataclass(frozen=True)
class VatGroup:
    category: str
    rate: Decimal | None
    taxable: Decimal
    tax: Decimal
    exemption_reason: str = ""
    exemption_code: str = ""


@dataclass(frozen=True)
class Payment:
    means_code: str
    iban: str
    bic: str = ""
    account_name: str = ""


@dataclass(frozen=True)
class EInvoiceModel:
    is_credit_note: bool
    type_code: str  # 380 commercial invoice, 381 credit note
    number: str
    issue_date: datetime.date
    due_date: datetime.date | None
    currency: str
    decimals: int
    notes: tuple[str, ...]
    buyer_reference: str
    order_reference: str
    preceding_number: str
    preceding_date: datetime.date | None
    seller: Party
    buyer: Party
    payment: Payment | None
    payment_terms: str
    remittance: str
    lines: tuple[Line, ...]
    vat_groups: tuple[VatGroup, ...]
    line_total: Decimal  # BT-106
    tax_basis_total: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    due_payable: Decimal  # BT-115

    def amount(self, value: Decimal) -> str:
        """An amount as the document writes it: the currency's minor unit (0 for JPY)."""
        quantum = Decimal(1).scaleb(-self.decimals)
        return str(Decimal(value).quantize(quantum))


@dataclass(frozen=True)
class MissingField:
    """A field a format needs and the data lacks, said so a person can go and fill it in."""

    field: str
    message: str


# --------------------------------------------------------------------------------------
# Reading the frozen data


def _text(value) -> str:
    return str(value or "").strip()


def decimal_text(value: Decimal) -> str:
    """20.000 → "20", 5.50 → "5.5", 0.00 → "0" (never exponent notation)."""
    text = f"{Decimal(value).normalize():f}"
    return text


def bank_account(bank_details: str) -> tuple[str, str]:
    """(IBAN, BIC) found in the issuer's printed bank details, or ("", "")."""
    text = (bank_details or "").upper()
    iban = ""
    for match in _IBAN.finditer(text):
        candidate = match.group(1).replace(" ", "")
        # The greedy pattern may swallow the next word ("… 189 BIC"): shorten until valid.
        while len(candidate) >= 15 and not stdnum_iban.is_valid(candidate):
            candidate = candidate[:-1]
        if stdnum_iban.is_valid(candidate):
            iban = candidate
            break
    bic = ""
    found = _BIC.search(text)
    if found and stdnum_bic.is_valid(found.group(1)):
        bic = found.group(1).upper()
    return iban, bic


def _category(treatment: str, rate: Decimal) -> str:
    if treatment == Invoice.TaxTreatment.REVERSE_CHARGE:
        return REVERSE_CHARGE
    if treatment == Invoice.TaxTreatment.EXEMPT:
        return EXEMPT
    if treatment == Invoice.TaxTreatment.OUTSIDE_SCOPE:
        return OUTSIDE_SCOPE
    return STANDARD if rate > 0 else ZERO_RATED


def _vat_ids(tax_id: str) -> tuple[str, str]:
    """(VAT id, other tax number): a VAT id starts with its country's two letters."""
    compact = tax_id.replace(" ", "").upper()
    if compact and _VAT_PREFIX.match(compact):
        return compact, ""
    return "", tax_id


def _net_price(quantity: Decimal, unit_price: Decimal, net: Decimal, gross_prices: bool):
    if not gross_prices and quantity * unit_price == net:
        return unit_price
    if not quantity:
        return net
    # Prices that include tax (or a rounded line): the net price is what the line's net
    # amount gives per unit, to eight places (Peppol allows 0.02 of slack on the product).
    return (net / quantity).quantize(Decimal("0.00000001")).normalize()


def einvoice_model(
    invoice: Invoice,
    *,
    profile: CustomerEInvoicing | None,
    issuer_settings: IssuerEInvoicing | None,
) -> EInvoiceModel:
    """The EN 16931 model of an issued document (see the module docstring)."""
    issuer = invoice.issuer_snapshot or {}
    customer = invoice.customer_snapshot or {}
    treatment = invoice.tax_treatment
    outside_scope = treatment == Invoice.TaxTreatment.OUTSIDE_SCOPE

    seller_vat, seller_tax_number = _vat_ids(_text(issuer.get("tax_id")))
    buyer_vat, _ = _vat_ids(_text(customer.get("tax_id")))
    registration = _text(issuer.get("registration_number"))
    seller_identifier = ""
    if outside_scope:
        # BR-O-02: a document not subject to VAT names no VAT id. The issuer is still
        # identified (BR-CO-26): by its registration number, else its tax number.
        if not registration:
            seller_identifier = seller_vat or seller_tax_number
        seller_vat, seller_tax_number, buyer_vat = "", "", ""

    settings_row = issuer_settings
    seller = Party(
        name=_text(issuer.get("legal_name")) or _text(issuer.get("trading_name")),
        trading_name=_text(issuer.get("trading_name"))
        if _text(issuer.get("trading_name")) != _text(issuer.get("legal_name"))
        else "",
        country=_text(issuer.get("country")).upper(),
        identifier=seller_identifier,
        registration_id=registration,
        vat_id=seller_vat,
        tax_registration_id=seller_tax_number,
        endpoint_scheme=settings_row.endpoint_scheme if settings_row else "",
        endpoint_id=_text(settings_row.endpoint_id) if settings_row else "",
        line1=_text(issuer.get("address_line1")),
        line2=_text(issuer.get("address_line2")),
        city=_text(issuer.get("city")),
        postal_code=_text(issuer.get("postal_code")),
        region=_text(issuer.get("region")),
        contact_name=_text(settings_row.contact_name) if settings_row else "",
        phone=_text(issuer.get("phone")),
        email=_text(issuer.get("email")),
    )
    company = _text(customer.get("company_name"))
    buyer = Party(
        name=company or _text(customer.get("name")),
        country=_text(customer.get("country")).upper(),
        vat_id=buyer_vat,
        endpoint_scheme=profile.endpoint_scheme if profile else "",
        endpoint_id=_text(profile.endpoint_id) if profile else "",
        line1=_text(customer.get("address_line1")),
        line2=_text(customer.get("address_line2")),
        city=_text(customer.get("city")),
        postal_code=_text(customer.get("postal_code")),
        region=_text(customer.get("region")),
        contact_name=_text(customer.get("name")) if company else "",
        email=_text(customer.get("email")),
    )

    lines = []
    groups: OrderedDict[tuple[str, Decimal | None], list[Decimal]] = OrderedDict()
    for position, line in enumerate(invoice.lines.all(), start=1):
        category = _category(treatment, line.tax_rate)
        rate = None if category == OUTSIDE_SCOPE else line.tax_rate
        quantity, net = line.quantity, line.net_amount
        if net < 0:
            # EN 16931 refuses a negative price (BR-27): a negative line is a negative
            # quantity at a positive price.
            quantity = -quantity
        lines.append(
            Line(
                id=str(position),
                name=line.description,
                quantity=quantity,
                net_amount=net,
                net_price=abs(
                    _net_price(
                        line.quantity, line.unit_price, line.net_amount, invoice.prices_include_tax
                    )
                ),
                category=category,
                rate=rate,
                period_start=line.period_start,
                period_end=line.period_end,
            )
        )
        sums = groups.setdefault((category, rate), [ZERO, ZERO])
        sums[0] += line.net_amount
        sums[1] += line.tax_amount

    legal = _text(invoice.legal_notes)
    vat_groups = tuple(
        VatGroup(
            category=category,
            rate=rate,
            taxable=taxable,
            tax=tax,
            exemption_reason=(legal or EXEMPTION_TEXTS[category])[:500]
            if category in EXEMPTION_TEXTS
            else "",
            exemption_code=EXEMPTION_CODES.get(category, ""),
        )
        for (category, rate), (taxable, tax) in groups.items()
    )

    is_credit_note = invoice.kind == Invoice.Kind.CREDIT_NOTE
    credited = invoice.credited_invoice if invoice.credited_invoice_id else None
    iban, bic = bank_account(_text(issuer.get("bank_details")))
    payment = None
    if iban:
        means = SEPA_CREDIT_TRANSFER if iban[:2] in SEPA_COUNTRIES else CREDIT_TRANSFER
        payment = Payment(means_code=means, iban=iban, bic=bic, account_name=seller.name)
    notes = tuple(note for note in (legal, _text(invoice.notes)) if note)
    payment_terms = ""
    if is_credit_note:
        payment_terms = (
            f"Credit note for invoice {credited.number}: nothing to pay."
            if credited and credited.number
            else "Credit note: nothing to pay."
        )
    return EInvoiceModel(
        is_credit_note=is_credit_note,
        type_code="381" if is_credit_note else "380",
        number=invoice.number or "",
        issue_date=invoice.issue_date,
        due_date=None if is_credit_note else invoice.due_date,
        currency=invoice.currency,
        decimals=currency_exponent(invoice.currency),
        notes=notes,
        buyer_reference=_text(profile.buyer_reference) if profile else "",
        order_reference=_text(profile.order_reference) if profile else "",
        preceding_number=(credited.number or "") if credited else "",
        preceding_date=credited.issue_date if credited else None,
        seller=seller,
        buyer=buyer,
        payment=payment,
        payment_terms=payment_terms,
        remittance=invoice.number or "",
        lines=tuple(lines),
        vat_groups=vat_groups,
        line_total=invoice.subtotal,
        tax_basis_total=invoice.subtotal,
        tax_total=invoice.tax_total,
        grand_total=invoice.total,
        due_payable=invoice.total,
    )


# --------------------------------------------------------------------------------------
# What each format needs


def missing_fields(model: EInvoiceModel, fmt: str) -> list[MissingField]:
    """What `fmt` needs that the data lacks, each naming the field and where to fill it in
    (one whole sentence each, so it translates as one)."""
    name = SHORT_NAMES.get(fmt, fmt)
    missing: list[MissingField] = []

    def need(field: str, present, sentence: str) -> None:
        if not present:
            missing.append(MissingField(field, sentence % {"format": name}))

    seller, buyer = model.seller, model.buyer
    need(
        "the issuer's legal name",
        seller.name,
        gettext("%(format)s needs the issuer's legal name: add it in the issuer identity."),
    )
    need(
        "the issuer's country",
        seller.country,
        gettext("%(format)s needs the issuer's country: add it in the issuer identity."),
    )
    need(
        "the customer's name",
        buyer.name,
        gettext("%(format)s needs the customer's name: add it in the customer's details."),
    )
    need(
        "the customer's country",
        buyer.country,
        gettext("%(format)s needs the customer's country: add it in the customer's details."),
    )
    categories = {group.category for group in model.vat_groups}
    if categories & {STANDARD, ZERO_RATED, EXEMPT}:
        # BR-S-02, BR-Z-02, BR-E-02: a VAT id or another tax number.
        need(
            "the issuer's VAT id or tax number",
            seller.vat_id or seller.tax_registration_id,
            gettext(
                "%(format)s needs the issuer's VAT id or tax number: add it in the issuer identity."
            ),
        )
    if REVERSE_CHARGE in categories:
        # BR-AE-02: both parties' VAT ids.
        need(
            "the issuer's VAT id",
            seller.vat_id,
            gettext(
                "%(format)s needs the issuer's VAT id (a VAT id starts with the country's two "
                "letters, e.g. FR40303265045): add it in the issuer identity."
            ),
        )
        need(
            "the customer's VAT id",
            buyer.vat_id,
            gettext(
                "%(format)s needs the customer's VAT id for a reverse-charge invoice: add it in "
                "the customer's details."
            ),
        )

    if fmt in (Format.PEPPOL, Format.XRECHNUNG):
        need(
            "the issuer's electronic address",
            seller.endpoint_id and seller.endpoint_scheme,
            gettext(
                "%(format)s needs the issuer's electronic address: add it in Staff → "
                "E-invoicing settings."
            ),
        )
        need(
            "the customer's electronic address",
            buyer.endpoint_id and buyer.endpoint_scheme,
            gettext(
                "%(format)s needs the customer's electronic address: add it in the customer's "
                "e-invoicing details."
            ),
        )
    if fmt == Format.PEPPOL:
        need(
            "the customer's buyer reference or purchase order number",
            model.buyer_reference or model.order_reference,
            gettext(
                "%(format)s needs the customer's buyer reference or purchase order number: add "
                "it in the customer's e-invoicing details."
            ),
        )
    if fmt == Format.XRECHNUNG:
        need(
            "the customer's buyer reference (Leitweg-ID)",
            model.buyer_reference,
            gettext(
                "%(format)s needs the customer's buyer reference (Leitweg-ID): add it in the "
                "customer's e-invoicing details."
            ),
        )
        need(
            "an invoicing contact name",
            seller.contact_name,
            gettext(
                "%(format)s needs an invoicing contact name: add it in Staff → E-invoicing "
                "settings."
            ),
        )
        need(
            "the issuer's phone number",
            seller.phone,
            gettext("%(format)s needs the issuer's phone number: add it in the issuer identity."),
        )
        need(
            "the issuer's e-mail address",
            seller.email,
            gettext("%(format)s needs the issuer's e-mail address: add it in the issuer identity."),
        )
        need(
            "the issuer's city",
            seller.city,
            gettext("%(format)s needs the issuer's city: add it in the issuer identity."),
        )
        need(
            "the issuer's postal code",
            seller.postal_code,
            gettext("%(format)s needs the issuer's postal code: add it in the issuer identity."),
        )
        need(
            "the customer's city",
            buyer.city,
            gettext("%(format)s needs the customer's city: add it in the customer's details."),
        )
        need(
            "the customer's postal code",
            buyer.postal_code,
            gettext(
                "%(format)s needs the customer's postal code: add it in the customer's details."
            ),
        )
        need(
            "the issuer's IBAN",
            model.payment,
            gettext(
                "%(format)s needs the issuer's IBAN (in the bank details, e.g. “IBAN DE89 3704 "
                "0044 0532 0130 00”): add it in the issuer identity."
            ),
        )
    return missing
