"""E-invoicing's answers to billing's ports (plugged in `apps.py`).

`stored_pdf`: when the instance makes Factur-X its default PDF, the stored PDF of every
issued document is its Factur-X — or, when its XML does not validate, billing's plain PDF
(the problem is on the invoice's page and history; an invalid file is never stored).

`mail_attachments`: the e-mail of a newly issued document carries the customer's chosen
e-invoice — Factur-X in place of the plain PDF, or the UBL file beside it — when it
validates; otherwise the plain PDF alone, with the reason recorded.
"""

from __future__ import annotations

import logging

from tenant_apps.billing.models import Invoice

from .documents import EInvoiceRefused, einvoice_produce
from .formats import Format
from .selectors import customer_format, issuer_settings_get
from .services import einvoice_withheld_record

log = logging.getLogger(__name__)
PDF = "application/pdf"


def _is_facturx(content: bytes) -> bool:
    return b"factur-x.xml" in content


def facturx_as_stored_pdf(invoice: Invoice) -> bytes | None:
    settings_row = issuer_settings_get()
    if settings_row is None or not settings_row.facturx_default_pdf:
        return None
    try:
        return einvoice_produce(invoice=invoice, fmt=Format.FACTURX).content
    except EInvoiceRefused as exc:
        einvoice_withheld_record(invoice=invoice, fmt=Format.FACTURX, problems=exc.problems)
        return None


def customer_einvoice_attachments(
    invoice: Invoice, pdf: tuple[str, bytes]
) -> list[tuple[str, bytes, str]]:
    name, content = pdf
    plain = [(name, content, PDF)]
    fmt = customer_format(invoice.customer_id)
    if fmt == Format.PDF or (fmt == Format.FACTURX and _is_facturx(content)):
        return plain
    try:
        produced = einvoice_produce(invoice=invoice, fmt=fmt)
    except EInvoiceRefused as exc:
        einvoice_withheld_record(invoice=invoice, fmt=fmt, problems=exc.problems)
        return plain
    if fmt == Format.FACTURX:
        return [(name, produced.content, PDF)]
    return [*plain, (produced.filename, produced.content, produced.content_type)]
