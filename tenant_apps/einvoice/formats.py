"""The e-invoice formats an instance produces, and what each one is called, typed and named.

`Format` is also the customer's choice of how they receive documents: "pdf" (the plain
PDF, no e-invoice) or one of the three structured formats.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy


class Format(models.TextChoices):
    PDF = "pdf", gettext_lazy("PDF only")
    FACTURX = "facturx", gettext_lazy("Factur-X / ZUGFeRD (PDF with embedded XML, EN 16931)")
    PEPPOL = "peppol", "Peppol BIS Billing 3.0 (UBL XML)"
    XRECHNUNG = "xrechnung", "XRechnung 3.0 (UBL XML)"


#: The structured formats (what the e-invoicing views, the API and the export produce).
E_FORMATS = (Format.FACTURX, Format.PEPPOL, Format.XRECHNUNG)

SHORT_NAMES = {
    Format.PDF: "PDF",
    Format.FACTURX: "Factur-X",
    Format.PEPPOL: "Peppol BIS 3.0",
    Format.XRECHNUNG: "XRechnung",
}


@dataclass(frozen=True)
class EInvoiceFile:
    """One produced, validated document, ready to download, attach or put in a ZIP."""

    format: str
    filename: str
    content_type: str
    content: bytes


def parse_format(value: str) -> Format | None:
    """The structured format named `value` ("facturx", "peppol", "xrechnung"), else None."""
    try:
        fmt = Format(value)
    except ValueError:
        return None
    return fmt if fmt in E_FORMATS else None


def file_name(number: str, fmt: str) -> str:
    """The download's name: the document number (no "/" a number format may put in it)."""
    stem = (number or "document").replace("/", "-").replace("\\", "-")
    if fmt == Format.FACTURX:
        return f"{stem}.pdf"
    return f"{stem}-{'xrechnung' if fmt == Format.XRECHNUNG else 'peppol'}.xml"
