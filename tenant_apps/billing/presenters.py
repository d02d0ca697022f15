"""How an invoice or credit note reads: one presentation for the staff page, the portal and the PDF.

`document_presentation(invoice)` turns a document into plain formatted text — the issuer's
and the customer's blocks, the lines, tax summed per rate, the totals, legal mentions and
bank details — so the screen and the printed PDF can never disagree on an address, a tax
row or a rounding. An issued document reads only from what was frozen at issue (its
snapshots, lines and amounts); a draft reads what would be frozen if it were issued now.
Money is formatted in the document's currency (no decimals for JPY, two for EUR …).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _
from django_countries import countries

from tenant_apps.instance import formats
from tenant_apps.instance.money import ZERO, format_money
from tenant_apps.instance.selectors import issuer_identity_get

from .models import Invoice
from .taxes import EU_COUNTRIES, legal_notes_for_reader

# What an issuer snapshot holds (see services._issuer_snapshot); a draft previews these.
ISSUER_FIELDS = (
    "legal_name",
    "trading_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "tax_id",
    "registration_number",
    "email",
    "phone",
    "bank_details",
    "invoice_footer",
    "brand_color",
    "logo",
)


@dataclass(frozen=True)
class PartyView:
    """One party as printed: a name, then the block of lines under it."""

    name: str
    lines: tuple[str, ...]  # attention, postal address, tax and registration numbers
    contact: tuple[str, ...]  # e-mail, phone
    legal_name: str = ""
    brand: str = ""  # the trading name when there is one (letterhead), else the legal name
    tax_id: str = ""
    registration_number: str = ""

    # The PDF prints each block as one text with white-space: pre-line (faster than a <br>
    # per line when thousands of documents are rendered in a run).
    @property
    def address_text(self) -> str:
        return "\n".join(self.lines)

    @property
    def contact_text(self) -> str:
        return "\n".join(self.contact)


@dataclass(frozen=True)
class LineView:
    id: int
    description: str
    kind: str
    period: str  # "1 Mar – 31 Mar 2026", or ""
    quantity: str
    unit_price: str
    tax_rate: str  # "20 %"
    net: str
    tax: str
    gross: str
    amount: str  # what the amount column shows: gross when prices include tax, else net


@dataclass(frozen=True)
class TaxRowView:
    rate: Decimal
    label: str  # "VAT 20 %"
    base: str
    amount: str


@dataclass(frozen=True)
class DocumentView:
    title: str  # "Invoice" / "Credit note"
    number: str
    is_invoice: bool
    issued: bool
    is_void: bool
    currency: str
    issue_date: str
    due_date: str  # "" for credit notes
    credited_number: str
    credited_date: str
    issuer: PartyView | None  # None on a draft while the instance has no issuer identity
    customer: PartyView
    lines: tuple[LineView, ...]
    prices_include_tax: bool
    amount_heading: str  # the amount column's heading: "Amount" (tax included) or "Net"
    tax_label: str  # "VAT" for an EU issuer, else "Tax"
    tax_rows: tuple[TaxRowView, ...]
    subtotal: str
    tax_total: str
    total: str
    total_label: str  # "Total" / "Total credited"
    amount_paid: str
    amount_credited: str
    amount_due: str
    shows_paid: bool
    shows_credited: bool
    shows_amount_due: bool  # an issued invoice that is not void
    payable: bool  # something is owed on an issued invoice
    owing: bool  # something is owed (a draft's preview included)
    legal_notes: str
    notes: str
    bank_details: str
    footer: str
    brand_color: str  # raw from the snapshot; the PDF validates it before use
    logo: str  # storage name from the snapshot

    @property
    def has_issuer(self) -> bool:
        return self.issuer is not None


# --------------------------------------------------------------------------------------
# Formatting


def format_date(value: datetime.date | None) -> str:
    """2026-03-02 → "2 Mar 2026" (the same on the screen and the PDF), in the reader's
    language ("2 mars 2026", "2. März 2026")."""
    return formats.format_date(value)


def format_period(start: datetime.date | None, end: datetime.date | None) -> str:
    if not start and not end:
        return ""
    if start and end and start.year == end.year:
        # "2 Mar – 1 Apr 2026": the first date without its year, as the reader writes it.
        first = format_date(start).removesuffix(str(start.year)).strip()
        return f"{first} – {format_date(end)}"
    return f"{format_date(start)} – {format_date(end)}".strip(" –")


def format_number(value: Decimal) -> str:
    """2.50 → "2.5", 1.00 → "1", 20.000 → "20" (never exponent notation; "2,5" in French
    and German)."""
    return formats.format_number(value)


def _country(code: str) -> str:
    return str(countries.name(code) or code) if code else ""


def _address(snapshot: dict) -> list[str]:
    town = " ".join(p for p in (snapshot.get("postal_code"), snapshot.get("city")) if p)
    parts = [
        snapshot.get("address_line1"),
        snapshot.get("address_line2"),
        town,
        snapshot.get("region"),
        _country(str(snapshot.get("country") or "")),
    ]
    return [str(part) for part in parts if part]


def _labelled(label: str, value) -> str:
    return f"{label} {value}" if value else ""


def _present(*parts: str) -> tuple[str, ...]:
    return tuple(part for part in parts if part)


def issuer_party(snapshot: dict) -> PartyView:
    legal_name = snapshot.get("legal_name") or ""
    return PartyView(
        name=legal_name or snapshot.get("trading_name") or "",
        lines=_present(
            *_address(snapshot),
            _labelled(_("VAT id"), snapshot.get("tax_id")),
            _labelled(_("Reg. no."), snapshot.get("registration_number")),
        ),
        contact=_present(snapshot.get("email") or "", snapshot.get("phone") or ""),
        legal_name=legal_name,
        brand=snapshot.get("trading_name") or legal_name,
        tax_id=snapshot.get("tax_id") or "",
        registration_number=snapshot.get("registration_number") or "",
    )


def customer_party(snapshot: dict) -> PartyView:
    company = snapshot.get("company_name") or ""
    person = snapshot.get("name") or ""
    return PartyView(
        name=company or person,
        lines=_present(
            _labelled(_("Attn."), person) if company else "",
            *_address(snapshot),
            _labelled(_("VAT id"), snapshot.get("tax_id")),
        ),
        contact=_present(snapshot.get("email") or ""),
        legal_name=company or person,
        brand=company or person,
        tax_id=snapshot.get("tax_id") or "",
    )


def _issuer_preview() -> dict:
    identity = issuer_identity_get()
    if identity is None:
        return {}
    values = {name: getattr(identity, name, "") for name in ISSUER_FIELDS}
    values["logo"] = identity.logo.name if getattr(identity, "logo", None) else ""
    return {**values, "country": str(identity.country or "")}


# --------------------------------------------------------------------------------------
# The document


def document_presentation(invoice: Invoice) -> DocumentView:
    """The document as it reads, every value formatted for the screen and the PDF alike."""
    currency = invoice.currency

    def money(amount: Decimal) -> str:
        return format_money(amount, currency)

    issued = invoice.status != Invoice.Status.DRAFT
    issuer = (invoice.issuer_snapshot if issued else _issuer_preview()) or {}
    customer = (invoice.customer_snapshot if issued else invoice.customer.billing_snapshot()) or {}
    is_invoice = invoice.kind == Invoice.Kind.INVOICE
    is_void = invoice.status == Invoice.Status.VOID
    in_eu = str(issuer.get("country") or "").upper() in EU_COUNTRIES
    tax_label = _("VAT") if in_eu else _("Tax")
    credited = invoice.credited_invoice if invoice.credited_invoice_id else None

    lines = list(invoice.lines.all())
    by_rate: dict[Decimal, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for line in lines:
        by_rate[line.tax_rate][0] += line.net_amount
        by_rate[line.tax_rate][1] += line.tax_amount

    return DocumentView(
        title=invoice.get_kind_display(),
        number=invoice.number or "",
        is_invoice=is_invoice,
        issued=issued,
        is_void=is_void,
        currency=currency,
        issue_date=format_date(invoice.issue_date),
        due_date=format_date(invoice.due_date) if is_invoice else "",
        credited_number=(credited.number or "") if credited else "",
        credited_date=format_date(credited.issue_date) if credited else "",
        issuer=issuer_party(issuer) if issuer else None,
        customer=customer_party(customer),
        lines=tuple(
            LineView(
                id=line.pk,
                description=line.description,
                kind=line.get_kind_display(),
                period=format_period(line.period_start, line.period_end),
                quantity=format_number(line.quantity),
                unit_price=money(line.unit_price),
                tax_rate=f"{format_number(line.tax_rate)} %",
                net=money(line.net_amount),
                tax=money(line.tax_amount),
                gross=money(line.gross_amount),
                amount=money(line.gross_amount if invoice.prices_include_tax else line.net_amount),
            )
            for line in lines
        ),
        prices_include_tax=invoice.prices_include_tax,
        amount_heading=_("Amount") if invoice.prices_include_tax else _("Net"),
        tax_label=tax_label,
        tax_rows=tuple(
            TaxRowView(
                rate=rate,
                label=_("%(tax_label)s %(rate)s %%")
                % {"tax_label": tax_label, "rate": format_number(rate)},
                base=money(net),
                amount=money(tax),
            )
            for rate, (net, tax) in sorted(by_rate.items())
        ),
        subtotal=money(invoice.subtotal),
        tax_total=money(invoice.tax_total),
        total=money(invoice.total),
        total_label=_("Total") if is_invoice else _("Total credited"),
        amount_paid=money(invoice.amount_paid),
        amount_credited=money(invoice.amount_credited),
        amount_due=money(invoice.amount_due),
        shows_paid=is_invoice and issued and invoice.amount_paid > 0,
        shows_credited=is_invoice and issued and invoice.amount_credited > 0,
        shows_amount_due=is_invoice and issued and not is_void,
        payable=is_invoice and issued and not is_void and invoice.amount_due > 0,
        owing=invoice.amount_due > 0,
        legal_notes=legal_notes_for_reader(invoice.legal_notes.strip()),
        notes=invoice.notes.strip(),
        bank_details=str(issuer.get("bank_details") or "").strip(),
        footer=str(issuer.get("invoice_footer") or "").strip(),
        brand_color=str(issuer.get("brand_color") or ""),
        logo=str(issuer.get("logo") or ""),
    )


def pdf_filename(invoice: Invoice) -> str:
    """The downloaded PDF's file name: the number, without the "/" a format may put in it."""
    return f"{invoice.number}.pdf".replace("/", "-").replace("\\", "-")
