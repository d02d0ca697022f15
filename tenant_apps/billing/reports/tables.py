"""Report tables (django-tables2) over the aggregated rows of `selectors`.

Rows are dicts, one per group; amounts are formatted in the row's own currency. The
journal can hold hundreds of thousands of rows: `JournalData` hands the paginator one page
at a time (LIMIT/OFFSET on the journal's SQL), never the whole range.
"""

from __future__ import annotations

import datetime

import django_tables2 as tables
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django_tables2.data import TableData

from tenant_apps.instance.money import format_money

from ..presenters import format_number
from . import selectors

NUM = {"th": {"class": "num"}, "td": {"class": "num nowrap"}}
JOURNAL_TYPES = {
    "invoice": "Invoice",
    "credit_note": "Credit note",
    "payment": "Payment",
    "payment_reversal": "Payment reversed",
    "refund": "Refund",
}
TREATMENTS = dict(selectors.Invoice.TaxTreatment.choices)


def _customer_link(customer_id: int | None, label: str):
    try:
        url = reverse("clients:customer_detail", args=[customer_id])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


class Money(tables.Column):
    """An amount in the row's currency, right-aligned (empty stays empty)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", NUM)
        super().__init__(*args, **kwargs)

    def render(self, value, record):
        return format_money(value, record["currency"])


class Number(tables.Column):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", NUM)
        super().__init__(*args, **kwargs)


class ReportTable(tables.Table):
    class Meta:
        attrs = {"class": "table"}
        template_name = "components/table.html"


class VatTable(ReportTable):
    currency = tables.Column()
    period = tables.Column()
    country = tables.Column()
    rate = tables.Column(verbose_name="VAT rate", attrs=NUM)
    treatment = tables.Column(verbose_name="Tax treatment")
    net = Money()
    vat = Money(verbose_name="VAT")
    lines = Number()

    class Meta(ReportTable.Meta):
        empty_text = "No issued invoices or credit notes in this range."

    def __init__(self, *args, period: str = "month", **kwargs):
        self.period_kind = period
        super().__init__(*args, **kwargs)

    def render_period(self, value: datetime.date):
        if self.period_kind == "quarter":
            return f"{value.year} Q{(value.month - 1) // 3 + 1}"
        return value.strftime("%Y-%m")

    def render_rate(self, value):
        return f"{format_number(value)} %"

    def render_treatment(self, value):
        return TREATMENTS.get(value, value)


class EcSalesTable(ReportTable):
    currency = tables.Column()
    country = tables.Column()
    vat_id = tables.Column(verbose_name="Customer VAT id", attrs={"td": {"class": "mono"}})
    customer = tables.Column()
    net = Money(verbose_name="Net (reverse charge)")
    documents = Number()

    class Meta(ReportTable.Meta):
        empty_text = "No reverse-charge invoices in this range."


class InvoicedTable(ReportTable):
    currency = tables.Column()
    month = tables.DateColumn(format="Y-m")
    net = Money()
    vat = Money(verbose_name="VAT")
    gross = Money()
    invoices = Number()
    credit_notes = Number(verbose_name="Credit notes")

    class Meta(ReportTable.Meta):
        empty_text = "Nothing invoiced in this range."


class CollectedTable(ReportTable):
    currency = tables.Column()
    month = tables.DateColumn(format="Y-m")
    received = Money()
    refunded = Money()
    amount = Money(verbose_name="Collected")
    payments = Number()

    class Meta(ReportTable.Meta):
        empty_text = "No payments received or refunds paid in this range."


class DeferredTable(ReportTable):
    currency = tables.Column()
    amount = Money(verbose_name="Deferred net")
    lines = Number(verbose_name="Lines")

    class Meta(ReportTable.Meta):
        empty_text = "No service periods run past the end of this range."


class AgingTable(ReportTable):
    currency = tables.Column()
    customer = tables.Column()
    not_due = Money(verbose_name="Not yet due")
    days_0_30 = Money(verbose_name="0–30 days")
    days_31_60 = Money(verbose_name="31–60 days")
    days_61_90 = Money(verbose_name="61–90 days")
    over_90 = Money(verbose_name="Over 90 days")
    total = Money(verbose_name="Total owed")
    invoices = Number(verbose_name="Open invoices")

    class Meta(ReportTable.Meta):
        empty_text = "Nothing is owed."

    def render_customer(self, value, record):
        return _customer_link(record["customer_id"], value)


class JournalData(TableData):
    """The journal of a range, one page at a time (count, then LIMIT/OFFSET)."""

    def __init__(self, *, start: datetime.date, end: datetime.date):
        super().__init__(data=None)
        self.start, self.end = start, end

    @cached_property
    def _count(self) -> int:
        return selectors.journal_count(start=self.start, end=self.end)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, key):
        if isinstance(key, slice):
            offset = key.start or 0
            stop = self._count if key.stop is None else min(key.stop, self._count)
            rows = selectors.journal_rows(
                start=self.start, end=self.end, limit=max(stop - offset, 0), offset=offset
            )
            return [dict(zip(selectors.JOURNAL_COLUMNS, row, strict=True)) for row in rows]
        return self[key : key + 1][0]

    def __iter__(self):
        return iter(self[:])


class JournalTable(ReportTable):
    date = tables.DateColumn(format="Y-m-d")
    type = tables.Column()
    number = tables.Column(attrs={"td": {"class": "mono nowrap"}})
    applies_to = tables.Column(verbose_name="Applies to", attrs={"td": {"class": "mono nowrap"}})
    customer_account = tables.Column(verbose_name="Account", attrs={"td": {"class": "mono"}})
    customer = tables.Column()
    country = tables.Column()
    currency = tables.Column()
    net = Money()
    vat = Money(verbose_name="VAT")
    gross = Money()
    debit = Money()
    credit = Money()

    class Meta(ReportTable.Meta):
        orderable = False
        empty_text = "No invoices, credit notes or payments in this range."

    def render_type(self, value):
        return JOURNAL_TYPES.get(value, value)
