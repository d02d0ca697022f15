"""Invoice and credit-note PDFs: rendered from the frozen snapshots, stored once per document.

An issued document never changes, so its PDF is built only from what was frozen at issue
(`issuer_snapshot`, `customer_snapshot`, the lines and the amounts) and never from the live
identity or customer rows. It is stored once, under the instance's own schema prefix, and
never rendered again for storage.
"""

from __future__ import annotations

import base64
import datetime
import logging
import mimetypes
import re
from collections import defaultdict
from decimal import Decimal
from functools import cache
from pathlib import Path
from urllib.request import url2pathname

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.template import loader
from django_countries import countries
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.money import ZERO, format_money

from .models import Invoice, InvoiceLine
from .services import InvalidInvoiceState
from .taxes import EU_COUNTRIES

log = logging.getLogger(__name__)

TEMPLATE = "billing/pdf/invoice.html"
STYLESHEET = "billing/pdf/invoice.css"
DEFAULT_ACCENT = "#4f46e5"
# A logo is printed a few centimetres wide; anything bigger only slows every render down.
LOGO_MAX_BYTES = 1_000_000
LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"})
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class DocumentNotIssued(InvalidInvoiceState):
    code = "document_not_issued"


# --------------------------------------------------------------------------------------
# Rendering


class LocalFilesOnly(URLFetcher):
    """Lets WeasyPrint read inline data and the project's own files, nothing else.

    Snapshot text and logos come from staff input; a PDF must never make the server fetch
    a URL (SSRF) or read a file outside the template and media folders.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)
        self._roots = [
            Path(root).resolve()
            for root in (*_template_dirs(), settings.MEDIA_ROOT)
            if root  # MEDIA_ROOT may be unset
        ]

    def fetch(self, url, headers=None):
        if url.lower().startswith("file:"):
            path = Path(url2pathname(url.split("?")[0].removeprefix("file:"))).resolve()
            if not any(path.is_relative_to(root) for root in self._roots):
                raise ValueError(f"Refusing to read {path} into a document.")
        return super().fetch(url, headers)


def _template_dirs() -> list[Path]:
    return [Path(d) for engine in settings.TEMPLATES for d in engine.get("DIRS", [])]


@cache
def _font_config() -> FontConfiguration:
    # Building a font configuration walks fontconfig's cache: do it once per process.
    return FontConfiguration()


@cache
def _stylesheet() -> CSS:
    # Parsed once per process and reused: the layout is the same for every document.
    source = loader.get_template(STYLESHEET).template.source
    return CSS(string=source, font_config=_font_config(), url_fetcher=LocalFilesOnly())


def _require_issued(invoice: Invoice) -> None:
    if invoice.status == Invoice.Status.DRAFT or not invoice.number:
        raise DocumentNotIssued(
            f"Invoice {invoice} is a draft: issue it before it gets a PDF "
            "(a draft has no number and its amounts may still change)."
        )


def _date(value: datetime.date | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def _period(start: datetime.date | None, end: datetime.date | None) -> str:
    if not start and not end:
        return ""
    if start and end and start.year == end.year:
        return f"{start.day} {start:%b} – {_date(end)}"
    return f"{_date(start)} – {_date(end)}".strip(" –")


def _number(value: Decimal) -> str:
    """2.50 → "2.5", 1.00 → "1", 20.000 → "20" (never exponent notation)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _country(code: str) -> str:
    return str(countries.name(code) or code) if code else ""


def _address(snapshot: dict) -> list[str]:
    town = " ".join(p for p in (snapshot.get("postal_code", ""), snapshot.get("city", "")) if p)
    parts = [
        snapshot.get("address_line1", ""),
        snapshot.get("address_line2", ""),
        town,
        snapshot.get("region", ""),
        _country(snapshot.get("country", "")),
    ]
    return [p for p in parts if p]


def _labelled(label: str, value: str | None) -> str:
    return f"{label} {value}" if value else ""


def _lines(*parts: str | None) -> str:
    # One text block printed with white-space: pre-line: a tenth faster than <br> per line.
    return "\n".join(part for part in parts if part)


def _accent(issuer: dict) -> str:
    # The snapshot is data, not CSS: only a plain #rrggbb colour reaches the stylesheet.
    colour = str(issuer.get("brand_color") or "")
    return colour if _COLOUR.match(colour) else DEFAULT_ACCENT


def _logo_data_uri(name: str) -> str:
    """The stored logo as a data: URI, or "" (a missing or unusable logo never blocks a PDF)."""
    if not name:
        return ""
    mime, _ = mimetypes.guess_type(name)
    if mime not in LOGO_TYPES:
        log.warning("Logo %s is not an image type we print; leaving it out.", name)
        return ""
    storage = IssuerIdentity._meta.get_field("logo").storage
    try:
        with storage.open(name, "rb") as handle:
            content = handle.read(LOGO_MAX_BYTES + 1)
    except OSError:
        log.warning("Logo %s is missing from storage; leaving it out.", name)
        return ""
    if len(content) > LOGO_MAX_BYTES:
        log.warning("Logo %s is larger than %s bytes; leaving it out.", name, LOGO_MAX_BYTES)
        return ""
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _tax_rows(lines: list[InvoiceLine], currency: str, label: str) -> list[dict]:
    by_rate: dict[Decimal, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for line in lines:
        by_rate[line.tax_rate][0] += line.net_amount
        by_rate[line.tax_rate][1] += line.tax_amount
    return [
        {
            "label": f"{label} {_number(rate)} %",
            "base": format_money(net, currency),
            "amount": format_money(tax, currency),
        }
        for rate, (net, tax) in sorted(by_rate.items())
    ]


def _document_context(invoice: Invoice) -> dict:
    issuer = invoice.issuer_snapshot or {}
    customer = invoice.customer_snapshot or {}
    currency = invoice.currency
    lines = list(invoice.lines.all())
    is_invoice = invoice.kind == Invoice.Kind.INVOICE
    tax_label = "VAT" if str(issuer.get("country", "")).upper() in EU_COUNTRIES else "Tax"
    credited = invoice.credited_invoice if invoice.credited_invoice_id else None
    amount_settled = invoice.amount_paid + invoice.amount_credited
    return {
        "title": invoice.get_kind_display(),
        "is_invoice": is_invoice,
        "number": invoice.number,
        "credited_number": credited.number if credited else "",
        "credited_date": _date(credited.issue_date) if credited else "",
        "issue_date": _date(invoice.issue_date),
        "due_date": _date(invoice.due_date) if is_invoice else "",
        "currency": currency,
        "accent": _accent(issuer),
        "logo": _logo_data_uri(issuer.get("logo", "")),
        "issuer": {
            "brand": issuer.get("trading_name") or issuer.get("legal_name", ""),
            "legal_name": issuer.get("legal_name", ""),
            "details": _lines(
                *_address(issuer),
                _labelled("VAT id:", issuer.get("tax_id")),
                _labelled("Reg. no.:", issuer.get("registration_number")),
                issuer.get("email"),
                issuer.get("phone"),
            ),
            "tax_id": issuer.get("tax_id", ""),
            "registration_number": issuer.get("registration_number", ""),
            "bank_details": issuer.get("bank_details", "").strip(),
            "footer": issuer.get("invoice_footer", "").strip(),
        },
        "customer": {
            "name": customer.get("company_name") or customer.get("name", ""),
            "details": _lines(
                _labelled("Attn.", customer.get("name")) if customer.get("company_name") else "",
                *_address(customer),
                _labelled("VAT id:", customer.get("tax_id")),
            ),
        },
        "lines": [
            {
                "description": line.description,
                "period": _period(line.period_start, line.period_end),
                "quantity": _number(line.quantity),
                "unit_price": format_money(line.unit_price, currency),
                "tax_rate": f"{_number(line.tax_rate)} %",
                "net": format_money(line.net_amount, currency),
            }
            for line in lines
        ],
        "prices_include_tax": invoice.prices_include_tax,
        "subtotal": format_money(invoice.subtotal, currency),
        "tax_rows": _tax_rows(lines, currency, tax_label),
        "total": format_money(invoice.total, currency),
        "amount_settled": format_money(amount_settled, currency) if amount_settled else "",
        "amount_due": format_money(invoice.amount_due, currency),
        "payable": invoice.amount_due > 0,
        "legal_notes": invoice.legal_notes.strip(),
        "notes": invoice.notes.strip(),
    }


def invoice_html_render(*, invoice: Invoice) -> str:
    """The document as HTML (what the PDF is printed from); user text is escaped."""
    _require_issued(invoice)
    return loader.render_to_string(TEMPLATE, _document_context(invoice))


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    """The PDF of an issued invoice or credit note, from its frozen snapshots and lines."""
    html = invoice_html_render(invoice=invoice)
    base_url = str(_template_dirs()[0]) if _template_dirs() else None
    document = HTML(string=html, base_url=base_url, url_fetcher=LocalFilesOnly())
    return document.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config())


# --------------------------------------------------------------------------------------
# Storage


def invoice_pdf_path(*, invoice: Invoice) -> str:
    """Where the PDF lives: under the instance's schema, so instances never share a file."""
    number = _UNSAFE_FILENAME.sub("-", invoice.number or "").strip(".-") or f"id{invoice.pk}"
    return f"{connection.schema_name}/invoices/{invoice.kind}/{number}.pdf"


def invoice_pdf_store(*, invoice: Invoice) -> str:
    """Render and store the document's PDF once; returns the stored file's name.

    Idempotent and safe to run twice at once: the file name is only recorded by an UPDATE
    that matches while no PDF is recorded, so the first run wins and a later or concurrent
    run keeps that file (and removes its own copy).
    """
    _require_issued(invoice)
    recorded = Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).get()
    if recorded:
        invoice.pdf.name = recorded
        return recorded
    content = invoice_pdf_render(invoice=invoice)
    storage = invoice.pdf.storage
    # The model's upload_to would put every instance's files in one folder; the storage
    # is called directly so the name is exactly the per-instance path. An existing file
    # (a crashed earlier run) is never overwritten: the storage picks a free name.
    name = storage.save(invoice_pdf_path(invoice=invoice), ContentFile(content))
    claimed = Invoice.objects.filter(pk=invoice.pk, pdf="").update(pdf=name)
    if not claimed:
        storage.delete(name)
        name = Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).get()
    invoice.pdf.name = name
    return name
