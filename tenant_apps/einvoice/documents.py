"""Producing e-invoices: model, write, validate — and refuse, in plain words, when invalid.

`einvoice_produce(invoice=, fmt=)` returns a validated `EInvoiceFile` or raises
`EInvoiceRefused` with the reasons: missing data named field by field before anything is
written, else what the XSD or the EN 16931 rules refused. No caller ever receives an
invalid file, so nothing invalid can be downloaded, attached or exported.

`einvoice_check(invoice=, fmt=)` runs the same steps without rendering a PDF (the staff
page and the API status use it): the XML checked is the one Factur-X would embed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils.translation import gettext

from tenant_apps.billing.documents import invoice_pdf_render
from tenant_apps.billing.models import Invoice
from tenant_apps.instance.errors import DomainError

from .cii import cii_xml
from .formats import SHORT_NAMES, EInvoiceFile, Format, file_name
from .selectors import customer_profile_get, issuer_settings_get
from .semantic import EInvoiceModel, einvoice_model, missing_fields
from .ubl import ubl_xml
from .validation import Problem, cii_problems, ubl_problems

log = logging.getLogger(__name__)
FACTURX_XML_NAME = "factur-x.xml"


class EInvoiceRefused(DomainError):
    """The document cannot be produced valid; `problems` says why, one sentence each."""

    code = "einvoice_invalid"
    status_code = 422

    def __init__(self, fmt: str, problems: list[Problem]) -> None:
        self.format = fmt
        self.problems = problems
        name = SHORT_NAMES.get(fmt, fmt)
        super().__init__(
            gettext("No valid %(format)s document: %(problems)s")
            % {"format": name, "problems": " ".join(p.message for p in problems)}
        )


class NotIssued(DomainError):
    code = "document_not_issued"
    status_code = 409


@dataclass(frozen=True)
class Written:
    model: EInvoiceModel
    xml: bytes


def _model(invoice: Invoice) -> EInvoiceModel:
    if invoice.status == Invoice.Status.DRAFT or not invoice.number:
        raise NotIssued(
            gettext(
                "%(document)s is a draft: only issued invoices and credit notes have e-invoices."
            )
            % {"document": invoice}
        )
    return einvoice_model(
        invoice,
        profile=customer_profile_get(invoice.customer_id),
        issuer_settings=issuer_settings_get(),
    )


def _write(invoice: Invoice, fmt: str) -> Written:
    """The model and its validated XML for `fmt`, or EInvoiceRefused."""
    model = _model(invoice)
    missing = missing_fields(model, fmt)
    if missing:
        raise EInvoiceRefused(fmt, [Problem(item.field, item.message) for item in missing])
    if fmt == Format.FACTURX:
        xml = cii_xml(model)
        problems = cii_problems(xml)
    else:
        xml = ubl_xml(model, fmt)
        problems = ubl_problems(xml, credit_note=model.is_credit_note)
    if problems:
        log.warning("%s of %s is invalid: %s", fmt, invoice, problems)
        raise EInvoiceRefused(fmt, problems)
    return Written(model, xml)


def einvoice_check(*, invoice: Invoice, fmt: str) -> list[Problem]:
    """Why `invoice` has no valid `fmt` document ([] when it has one)."""
    try:
        _write(invoice, fmt)
    except EInvoiceRefused as exc:
        return exc.problems
    return []


def facturx_pdf(*, invoice: Invoice, xml: bytes, model: EInvoiceModel) -> bytes:
    """The document's PDF/A-3 with the validated CII XML embedded (Factur-X EN 16931)."""
    from facturx import generate_from_binary

    pdf = invoice_pdf_render(invoice=invoice, pdf_variant="pdf/a-3b")
    seller = model.seller.name
    return generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # validated above, XSD and Schematron both
        pdf_metadata={
            "author": seller,
            "keywords": "Factur-X, Invoice",
            "title": f"{seller}: {invoice.get_kind_display()} {model.number}",
            "subject": f"Factur-X {invoice.get_kind_display().lower()} {model.number} "
            f"dated {model.issue_date.isoformat()} issued by {seller}",
        },
        lang="en-GB",
    )


def einvoice_produce(*, invoice: Invoice, fmt: str) -> EInvoiceFile:
    """The validated `fmt` document of an issued invoice or credit note (see the module)."""
    written = _write(invoice, fmt)
    name = file_name(written.model.number, fmt)
    if fmt == Format.FACTURX:
        content = facturx_pdf(invoice=invoice, xml=written.xml, model=written.model)
        return EInvoiceFile(fmt, name, "application/pdf", content)
    return EInvoiceFile(fmt, name, "application/xml", written.xml)
