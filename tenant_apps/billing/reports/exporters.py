"""Reports as files: CSV and XLSX (openpyxl, write-only), one sheet per table.

A report is exported as one or more `Sheet`s: a title, the columns (key and header) and
rows of plain values (dates, Decimals, ints, text). Amounts stay numbers in both formats
(negative for credit notes) so a spreadsheet can add them up. Text people typed never
becomes a formula: in a CSV, text that would start one (= + - @) is prefixed with ';
in an XLSX every text cell is stored as text.

The journal's CSV is written by PostgreSQL (`selectors.journal_csv_chunks`) and streamed.
"""

from __future__ import annotations

import csv
import datetime
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from . import selectors

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
DATE_FORMAT = "yyyy-mm-dd"
MONEY_FORMAT = "#,##0.00"
# openpyxl writes some 6,000 journal rows a second: past this, a download would outlast
# the request. The CSV has no limit.
XLSX_MAX_ROWS = 50_000


def too_many_rows_for_xlsx(rows: int) -> str:
    return _(
        "This range holds %(rows)s journal rows; an XLSX holds up to "
        "%(XLSX_MAX_ROWS)s. Download the CSV (no limit), or choose a shorter "
        "range."
    ) % {"rows": format(rows, ","), "XLSX_MAX_ROWS": format(XLSX_MAX_ROWS, ",")}


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text, date, money, number, percent


@dataclass
class Sheet:
    name: str  # the tab's name (31 characters at most) and the CSV's file-name part
    columns: Sequence[Column]
    rows: Iterable[Sequence]  # values in column order


def spreadsheet_safe(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return f"'{value}"
    return value


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(spreadsheet_safe(value))


class _Echo:
    """A file-like object whose write returns the line, for a streamed CSV."""

    def write(self, value: str) -> str:
        return value


def csv_lines(sheet: Sheet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([column.header for column in sheet.columns])
    for row in sheet.rows:
        yield writer.writerow([_csv_cell(value) for value in row])


def csv_text(sheet: Sheet) -> str:
    return "".join(csv_lines(sheet))


def _filename(stem: str, extension: str) -> str:
    return f"{stem}.{extension}"


def csv_response(sheet: Sheet, *, stem: str) -> HttpResponse:
    response = HttpResponse(csv_text(sheet), content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{_filename(stem, "csv")}"'
    return response


def _xlsx_cell(worksheet, value, kind: str):
    if isinstance(value, str):
        if value.startswith("="):
            # openpyxl would store it as a formula: keep it the text it is.
            cell = WriteOnlyCell(worksheet, value=value)
            cell.data_type = "s"
            return cell
        return value
    if value is None or kind not in ("date", "money"):
        return value
    cell = WriteOnlyCell(worksheet, value=value)
    cell.number_format = DATE_FORMAT if kind == "date" else MONEY_FORMAT
    return cell


def xlsx_write(sheets: Sequence[Sheet], target) -> None:
    """Write the sheets into one workbook at `target` (a path or a binary file)."""
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        worksheet = workbook.create_sheet(title=sheet.name[:31])
        worksheet.append([column.header for column in sheet.columns])
        kinds = [column.kind for column in sheet.columns]
        for row in sheet.rows:
            worksheet.append(
                [_xlsx_cell(worksheet, value, kind) for value, kind in zip(row, kinds, strict=True)]
            )
    workbook.save(target)


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    buffer = io.BytesIO()
    xlsx_write(sheets, buffer)
    return buffer.getvalue()


def xlsx_response(sheets: Sequence[Sheet], *, stem: str) -> FileResponse:
    # A temporary file, not memory: a year's journal is tens of megabytes.
    handle = tempfile.TemporaryFile()
    xlsx_write(sheets, handle)
    handle.seek(0)
    return FileResponse(
        handle, as_attachment=True, filename=_filename(stem, "xlsx"), content_type=XLSX_TYPE
    )


# --------------------------------------------------------------------------------------
# The reports as sheets


def _rows(rows: list[dict], columns: Sequence[Column]) -> list[list]:
    return [[row.get(column.key) for column in columns] for row in rows]


VAT_COLUMNS = (
    Column("currency", "Currency"),
    Column("period", "Period", "date"),
    Column("country", "Country"),
    Column("rate", "VAT rate (%)", "number"),
    Column("treatment", "Tax treatment"),
    Column("net", "Net", "money"),
    Column("vat", "VAT", "money"),
    Column("lines", "Lines", "number"),
)
EC_SALES_COLUMNS = (
    Column("currency", "Currency"),
    Column("country", "Country"),
    Column("vat_id", "Customer VAT id"),
    Column("customer", "Customer"),
    Column("net", "Net (reverse charge)", "money"),
    Column("documents", "Documents", "number"),
)


def vat_sheets(report: selectors.VatReport) -> list[Sheet]:
    return [
        Sheet("VAT", VAT_COLUMNS, _rows(report.rows, VAT_COLUMNS)),
        Sheet("EC sales list", EC_SALES_COLUMNS, _rows(report.ec_sales, EC_SALES_COLUMNS)),
    ]


INVOICED_COLUMNS = (
    Column("currency", "Currency"),
    Column("month", "Month", "date"),
    Column("net", "Net", "money"),
    Column("vat", "VAT", "money"),
    Column("gross", "Gross", "money"),
    Column("invoices", "Invoices", "number"),
    Column("credit_notes", "Credit notes", "number"),
)
COLLECTED_COLUMNS = (
    Column("currency", "Currency"),
    Column("month", "Month", "date"),
    Column("received", "Received", "money"),
    Column("refunded", "Refunded", "money"),
    Column("amount", "Collected", "money"),
    Column("payments", "Payments", "number"),
)
DEFERRED_COLUMNS = (
    Column("currency", "Currency"),
    Column("amount", "Deferred net", "money"),
    Column("lines", "Lines", "number"),
)


def revenue_sheets(report: selectors.RevenueReport) -> list[Sheet]:
    return [
        Sheet("Invoiced", INVOICED_COLUMNS, _rows(report.invoiced, INVOICED_COLUMNS)),
        Sheet("Collected", COLLECTED_COLUMNS, _rows(report.collected, COLLECTED_COLUMNS)),
        Sheet("Deferred", DEFERRED_COLUMNS, _rows(report.deferred, DEFERRED_COLUMNS)),
    ]


AGING_COLUMNS = (
    Column("currency", "Currency"),
    Column("customer_id", "Customer id", "number"),
    Column("customer", "Customer"),
    *(Column(key, label, "money") for key, label, _low, _high in selectors.AGING_BUCKETS),
    Column("total", "Total owed", "money"),
    Column("invoices", "Open invoices", "number"),
)


def aging_sheets(report: selectors.AgingReport) -> list[Sheet]:
    return [Sheet("Aging", AGING_COLUMNS, _rows(report.rows, AGING_COLUMNS))]


_JOURNAL_KINDS = {"date": "date", "net": "money", "vat": "money", "gross": "money"}
JOURNAL_COLUMNS = tuple(
    Column(
        name,
        name,
        _JOURNAL_KINDS.get(name, "money" if name in ("debit", "credit") else "text"),
    )
    for name in selectors.JOURNAL_COLUMNS
)


def journal_sheet(*, start: datetime.date, end: datetime.date) -> Sheet:
    return Sheet("Journal", JOURNAL_COLUMNS, selectors.journal_rows(start=start, end=end))


def journal_csv_response(
    *, start: datetime.date, end: datetime.date, stem: str
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        selectors.journal_csv_chunks(start=start, end=end), content_type=CSV_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(stem, "csv")}"'
    return response
