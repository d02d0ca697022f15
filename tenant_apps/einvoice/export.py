"""The accountant's export: every issued document of a period, as e-invoices, in one ZIP.

Streamed as it is built — one document written, validated and compressed at a time, the
bytes sent before the next is read — so a year of invoices needs neither the memory nor
the minutes a ZIP built up front would, and the first bytes leave at once. The documents
are read in (issue date, id) order in chunks of a server-side cursor.

A document that cannot be produced valid is left out, never put in invalid: the last file
of the archive, `problems.txt`, names each one and says why (and `index.csv` lists every
document with the file it became).
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from collections.abc import Iterator

from django.db import connection
from django.utils.translation import gettext, gettext_lazy
from django_tenants.utils import schema_context

from .documents import EInvoiceRefused, einvoice_produce
from .formats import E_FORMATS, SHORT_NAMES, Format
from .selectors import customer_format, documents_in_period

#: The export's format choice: one structured format, or each customer's own choice
#: (customers who take plain PDFs get Factur-X, which is a PDF too).
CUSTOMER_CHOICE = "customer"
EXPORT_CHOICES = [
    *[(fmt.value, SHORT_NAMES[fmt]) for fmt in E_FORMATS],
    (CUSTOMER_CHOICE, gettext_lazy("Each customer's chosen format (Factur-X for PDF customers)")),
]
MAX_DAYS = 366


class _Pipe(io.RawIOBase):
    """A write-only, unseekable file whose bytes are taken out after each write."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def export_name(start: datetime.date, end: datetime.date, fmt: str) -> str:
    return f"einvoices-{start.isoformat()}-to-{end.isoformat()}-{fmt}.zip"


def einvoice_zip_stream(
    *, start: datetime.date, end: datetime.date, fmt: str, schema_name: str | None = None
) -> Iterator[bytes]:
    """The ZIP of the period's documents, as a sequence of byte chunks (see the module)."""
    schema = schema_name or connection.schema_name
    pipe = _Pipe()
    with schema_context(schema), zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        index = io.StringIO()
        index_writer = csv.writer(index)
        index_writer.writerow(
            ["number", "kind", "issue_date", "customer", "total", "currency", "format", "file"]
        )
        problems: list[str] = []
        for invoice in documents_in_period(start, end).iterator(chunk_size=50):
            chosen = customer_format(invoice.customer_id) if fmt == CUSTOMER_CHOICE else fmt
            if chosen not in E_FORMATS:
                chosen = Format.FACTURX
            folder = "credit-notes" if invoice.kind == invoice.Kind.CREDIT_NOTE else "invoices"
            try:
                produced = einvoice_produce(invoice=invoice, fmt=chosen)
            except EInvoiceRefused as exc:
                problems.append(f"{invoice.number} ({SHORT_NAMES[chosen]}): {exc}")
                filename = ""
            else:
                filename = f"{folder}/{produced.filename}"
                archive.writestr(filename, produced.content)
            index_writer.writerow(
                [
                    invoice.number,
                    invoice.get_kind_display(),
                    invoice.issue_date.isoformat(),
                    invoice.customer_snapshot.get("company_name")
                    or invoice.customer_snapshot.get("name", ""),
                    f"{invoice.total}",
                    invoice.currency,
                    chosen,
                    filename or gettext("left out: see problems.txt"),
                ]
            )
            yield pipe.take()
        archive.writestr("index.csv", index.getvalue())
        archive.writestr(
            "problems.txt",
            "\n".join(problems) + "\n"
            if problems
            else gettext("Every document of the period is in this archive, validated.") + "\n",
        )
    yield pipe.take()
