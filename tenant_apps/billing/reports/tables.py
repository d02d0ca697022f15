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
from django.utils.translation import gettext_lazy
from django_tables2.data import TableData

from tenant_apps.instance.money import format_money

from ..presenters import format_number
from . import selectors

NUM = {"th": {"class": "num"}, "td": {"class": "num nowrap"}}
JOURNAL_TYPES = {
    "invoice": gettext_lazy("Invoice"),
    "credit_note": gettext_lazy("Credit note"),
    "payment": gettext_lazy("Payment"),
    "payment_reversal": gettext_lazy("Payment reversed"),
    "refund": gettext_lazy("Refund"),
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
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    period = tables.Column(verbose_name=gettext_lazy("Period"))
    country = tables.Column(verbose_name=gettext_lazy("Country"))
    rate = tables.Column(verbose_name=gettext_lazy("VAT rate"), attrs=NUM)
    treatment = tables.Column(verbose_name=gettext_lazy("Tax treatment"))
    net = Money(verbose_name=gettext_lazy("Net"))
    vat = Money(verbose_name=gettext_lazy("VAT"))
    lines = Number(verbose_name=gettext_lazy("Lines"))

    class Meta(ReportTable.Meta):
        empty_text = gettext_lazy("No issued invoices or credit notes in this range.")

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
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    country = tables.Column(verbose_name=gettext_lazy("Country"))
    vat_id = tables.Column(
        verbose_name=gettext_lazy("Customer VAT id"), attrs={"td": {"class": "mono"}}
    )
    customer = tables.Column(verbose_name=gettext_lazy("Customer"))
    net = Money(verbose_name=gettext_lazy("Net (reverse charge)"))
    documents = Number(verbose_name=gettext_lazy("Documents"))

    class Meta(ReportTable.Meta):
        empty_text = gettext_lazy("No reverse-charge invoices in this range.")


class InvoicedTable(ReportTable):
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    month = tables.DateColumn(format="Y-m", verbose_name=gettext_lazy("Month"))
    net = Money(verbose_name=gettext_lazy("Net"))
    vat = Money(verbose_name=gettext_lazy("VAT"))
    gross = Money(verbose_name=gettext_lazy("Gross"))
    invoices = Number(verbose_name=gettext_lazy("Invoices"))
    credit_notes = Number(verbose_name=gettext_lazy("Credit notes"))

    class Meta(ReportTable.Meta):
        empty_text = gettext_lazy("Nothing invoiced in this range.")


class CollectedTable(ReportTable):
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    month = tables.DateColumn(format="Y-m", verbose_name=gettext_lazy("Month"))
    received = Money(verbose_name=gettext_lazy("Received"))
    refunded = Money(verbose_name=gettext_lazy("Refunded"))
    amount = Money(verbose_name=gettext_lazy("Collected"))
    payments = Number(verbose_name=gettext_lazy("Payments"))

    class Meta(ReportTable.Meta):
        empty_text = gettext_lazy("No payments received or refunds paid in this range.")


class DeferredTable(ReportTable):
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    amount = Money(verbose_name=gettext_lazy("Deferred net"))
    lines = Number(verbose_name=gettext_lazy("Lines"))

    class Meta(ReportTable.Meta):
        empty_text = gettext_lazy("No service periods run past the end of this range.")


class AgingTable(ReportTable):
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    customer = tables.Column(verbose_name=gettext_lazy("Customer"))
    not_due = Money(verbose_name=gettext_lazy("Not yet due"))
    days_0_30 = Money(verbose_name=gettext_lazy("0–30 days"))
    days_31_60 = Money(verbose_name=gettext_lazy("31–60 days"))
    days_61_90 = Money(verbose_name=gettext_lazy("61–90 days"))
    over_90 = Money(verbose_name=gettext_lazy("Over 90 days"))
    total = Money(verbose_name=gettext_lazy("Total owed"))
    invoices = Number(verbose_name=gettext_lazy("Open invoices"))

    class Meta(ReportTable.Meta):
        empty_text = gettext_lazy("Nothing is owed.")

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
    date = tables.DateColumn(format="Y-m-d", verbose_name=gettext_lazy("Date"))
    type = tables.Column(verbose_name=gettext_lazy("Type"))
    number = tables.Column(
        attrs={"td": {"class": "mono nowrap"}}, verbose_name=gettext_lazy("Number")
    )
    applies_to = tables.Column(
        verbose_name=gettext_lazy("Applies to"), attrs={"td": {"class": "mono nowrap"}}
    )
    customer_account = tables.Column(
        verbose_name=gettext_lazy("Account"), attrs={"td": {"class": "mono"}}
    )
    customer = tables.Column(verbose_name=gettext_lazy("Customer"))
    country = tables.Column(verbose_name=gettext_lazy("Country"))
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    net = Money(verbose_name=gettext_lazy("Net"))
    vat = Money(verbose_name=gettext_lazy("VAT"))
    gross = Money(verbose_name=gettext_lazy("Gross"))
    debit = Money(verbose_name=gettext_lazy("Debit"))
    credit = Money(verbose_name=gettext_lazy("Credit"))

    class Meta(ReportTable.Meta):
        orderable = False
        empty_text = gettext_lazy("No invoices, credit notes or payments in this range.")

    def render_type(self, value):
        return JOURNAL_TYPES.get(value, value)
