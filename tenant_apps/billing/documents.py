"""Invoice and credit-note PDFs: rendered from the frozen snapshots, stored once per document.

An issued document never changes, so its PDF is built only from what was frozen at issue
(`issuer_snapshot`, `customer_snapshot`, the lines and the amounts) and never from the live
identity or customer rows. What it prints comes from `presenters.document_presentation`,
the same presentation the staff and portal pages show. It is stored once, under the
instance's own schema prefix, and never rendered again for storage.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import re
from functools import cache
from pathlib import Path
from urllib.request import url2pathname

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.template import loader
from django.utils import translation
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from tenant_apps.clients.selectors import customer_language
from tenant_apps.instance.models import IssuerIdentity

from . import ports
from .models import Invoice
from .presenters import document_presentation
from .services import InvalidInvoiceState

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


def _accent(colour: str) -> str:
    # The snapshot is data, not CSS: only a plain #rrggbb colour reaches the stylesheet.
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


def invoice_html_context(invoice: Invoice) -> dict:
    """What the PDF template prints: the shared presentation plus the letterhead's colour
    and logo (both read from the frozen snapshot and checked before they reach the PDF)."""
    doc = document_presentation(invoice)
    return {"doc": doc, "accent": _accent(doc.brand_color), "logo": _logo_data_uri(doc.logo)}


def invoice_html_render(*, invoice: Invoice) -> str:
    """The document as HTML (what the PDF is printed from), in the customer's language
    whoever asks for it; user text is escaped."""
    _require_issued(invoice)
    with translation.override(customer_language(invoice.customer)):
        return loader.render_to_string(TEMPLATE, invoice_html_context(invoice))


def invoice_pdf_render(*, invoice: Invoice, pdf_variant: str | None = None) -> bytes:
    """The PDF of an issued invoice or credit note, from its frozen snapshots and lines.

    `pdf_variant` asks WeasyPrint for a standard variant ("pdf/a-3b": what Factur-X embeds
    its XML in)."""
    html = invoice_html_render(invoice=invoice)
    base_url = str(_template_dirs()[0]) if _template_dirs() else None
    document = HTML(string=html, base_url=base_url, url_fetcher=LocalFilesOnly())
    options = {"pdf_variant": pdf_variant} if pdf_variant else {}
    return document.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config(), **options)


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
    # An app above billing may store another rendering (e-invoicing: Factur-X, when the
    # instance makes it the default PDF); None means billing's own.
    content = ports.stored_pdf(invoice) or invoice_pdf_render(invoice=invoice)
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
