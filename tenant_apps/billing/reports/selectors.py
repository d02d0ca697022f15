"""Report figures of one instance, computed by the database.

Rules every report follows:

- Only issued documents count: drafts and void documents never do. A credited invoice is
  still an issued document (its credit note counts against it).
- Credit notes count negative (their stored amounts are positive).
- Amounts are grouped by currency everywhere: EUR and USD are never added together.
- Documents fall in a range by their issue date, payments by the day they were received,
  refunds by the day they were paid back. A payment reversed as recorded by mistake was
  never collected; the ledgers (statement, journal) show it and its reversal.

Figures are aggregated in SQL (`values().annotate()`); Python only adds up the few
aggregated rows into per-currency totals. The journal's SQL is written once
(`journal_sql`), so the screen, the API, the XLSX and the CSV export (`COPY … TO STDOUT`)
read the same rows.
"""

from __future__ import annotations

import datetime
import itertools
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    F,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import (
    Coalesce,
    Greatest,
    NullIf,
    Round,
    TruncMonth,
    TruncQuarter,
)
from django.utils.translation import gettext
from psycopg import sql as psycopg_sql

from tenant_apps.clients.models import Customer
from tenant_apps.instance import clock
from tenant_apps.instance.money import ZERO

from ..models import CreditEntry, Invoice, InvoiceLine, Payment, PaymentAllocation, Refund

MONEY = DecimalField(max_digits=16, decimal_places=2)
NO_MONEY = Decimal("0.00")
NOT_COUNTED = (Invoice.Status.DRAFT, Invoice.Status.VOID)
PERIODS = ("month", "quarter")
# Memory a report's query may sort and group in before spilling to disk.
REPORT_WORK_MEM = "64MB"


REPORT_SETTINGS_SQL = "SELECT set_config('jit', 'off', true), set_config('work_mem', %s, true)"


@contextmanager
def report_settings(*, repeatable_read: bool = False) -> Iterator[None]:
    """The report's queries in one transaction planned for reading many rows: no JIT (on
    a year of documents PostgreSQL spent two seconds compiling plans that then saved
    nothing) and room to sort and group in memory (the default 4 MB spills to disk).

    `repeatable_read` (only for a transaction of its own) makes every statement read one
    snapshot, the one a second connection can share (`pg_export_snapshot`)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            if repeatable_read:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(REPORT_SETTINGS_SQL, [REPORT_WORK_MEM])
        yield


def _zero() -> Value:
    return Value(ZERO, output_field=MONEY)


def counted_documents() -> QuerySet[Invoice]:
    """Invoices and credit notes that count in reports: issued, not void."""
    return Invoice.objects.exclude(status__in=NOT_COUNTED)


def signed(amount: str, *, kind: str = "kind") -> Case:
    """An amount as reports add it: negative on a credit note."""
    return Case(
        When(**{kind: Invoice.Kind.CREDIT_NOTE}, then=-F(amount)),
        default=F(amount),
        output_field=MONEY,
    )


def _country(prefix: str = "") -> Coalesce:
    """The customer's country frozen at issue (the place of supply), else today's."""
    return Coalesce(
        NullIf(KeyTextTransform("country", f"{prefix}customer_snapshot"), Value("")),
        F(f"{prefix}customer__country"),
        output_field=TextField(),
    )


def _sorted(rows: QuerySet, keys: tuple[str, ...]) -> list[dict]:
    """Aggregated rows in the order of `keys`, sorted here rather than by the query: with no
    ORDER BY PostgreSQL groups in a hash table, and a year of lines is never sorted only to
    be grouped into a few hundred rows (a quarter less time for the VAT report). For keys
    of codes and numbers only: Python does not sort text in the database's collation."""

    def key(row: dict) -> tuple:
        return tuple((row[name] is None, row[name]) for name in keys)

    return sorted(rows, key=key)


def _totals(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Per-currency sums of already aggregated rows, currencies in alphabetical order."""
    sums: dict[str, dict[str, Decimal | int]] = {}
    for row in rows:
        total = sums.setdefault(row["currency"], {key: 0 for key in keys})
        for key in keys:
            if row[key] is not None:  # Decimal("0.00") stays a Decimal
                total[key] += row[key]
    return [{"currency": currency, **sums[currency]} for currency in sorted(sums)]


def quarter_of(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The calendar quarter around `day` (first and last day)."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = day.replace(month=first_month, day=1)
    following = (
        start.replace(year=start.year + 1, month=1)
        if first_month == 10
        else start.replace(month=first_month + 3)
    )
    return start, following - datetime.timedelta(days=1)


def this_quarter() -> tuple[datetime.date, datetime.date]:
    """The default range of every report: the instance's current quarter."""
    return quarter_of(clock.today())


# --------------------------------------------------------------------------------------
# VAT


@dataclass
class VatReport:
    start: datetime.date
    end: datetime.date
    period: str
    rows: list[dict]  # currency, period, country, rate, treatment, net, vat, lines
    totals: list[dict]  # per currency: net, vat
    ec_sales: list[dict]  # currency, country, vat_id, customer, net, documents
    ec_totals: list[dict]  # per currency: net


def vat_rows(start: datetime.date, end: datetime.date, period: str = "month") -> list[dict]:
    """Net and VAT per currency × period × country × rate × tax treatment (OSS return data)."""
    trunc = TruncQuarter if period == "quarter" else TruncMonth
    rows = (
        InvoiceLine.objects.filter(invoice__issue_date__range=(start, end))
        .exclude(invoice__status__in=NOT_COUNTED)
        .values(
            currency=F("invoice__currency"),
            period=trunc("invoice__issue_date", output_field=DateField()),
            country=_country("invoice__"),
            rate=F("tax_rate"),
            treatment=F("invoice__tax_treatment"),
        )
        .annotate(
            net=Sum(signed("net_amount", kind="invoice__kind")),
            vat=Sum(signed("tax_amount", kind="invoice__kind")),
            lines=Count("id"),
        )
        .order_by()
    )
    return _sorted(rows, ("currency", "period", "country", "rate", "treatment"))


def ec_sales_rows(start: datetime.date, end: datetime.date) -> list[dict]:
    """Reverse-charge net totals per customer VAT id (the EC sales list), per currency."""
    name = Coalesce(
        NullIf(KeyTextTransform("company_name", "customer_snapshot"), Value("")),
        KeyTextTransform("name", "customer_snapshot"),
        output_field=TextField(),
    )
    rows = (
        counted_documents()
        .filter(issue_date__range=(start, end), tax_treatment=Invoice.TaxTreatment.REVERSE_CHARGE)
        .values(
            "currency",
            country=_country(),
            vat_id=Coalesce(
                KeyTextTransform("tax_id", "customer_snapshot"), Value(""), output_field=TextField()
            ),
        )
        .annotate(customer=Max(name), net=Sum(signed("subtotal")), documents=Count("id"))
        .order_by()
    )
    return _sorted(rows, ("currency", "country", "vat_id"))


@report_settings()
def vat_report(*, start: datetime.date, end: datetime.date, period: str = "month") -> VatReport:
    rows = vat_rows(start, end, period)
    ec_sales = ec_sales_rows(start, end)
    return VatReport(
        start=start,
        end=end,
        period=period,
        rows=rows,
        totals=_totals(rows, ("net", "vat")),
        ec_sales=ec_sales,
        ec_totals=_totals(ec_sales, ("net",)),
    )


# --------------------------------------------------------------------------------------
# Revenue


class DaysBetween(Func):
    """`later - earlier` in days (PostgreSQL subtracts dates into an integer)."""

    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = IntegerField()


@dataclass
class RevenueReport:
    start: datetime.date
    end: datetime.date
    invoiced: list[dict]  # currency, month, net, vat, gross, invoices, credit_notes
    invoiced_totals: list[dict]
    collected: list[dict]  # currency, month, received, refunded, amount (net), payments
    collected_totals: list[dict]
    deferred: list[dict]  # currency, amount, lines


def deferred_amount(end: datetime.date):
    """The part of a line's net whose service period lies after `end`, prorated by days and
    rounded to the cent per line (a credit note's line counts negative)."""
    day_after = Value(end + datetime.timedelta(days=1), output_field=DateField())
    remaining = DaysBetween(F("period_end"), Greatest(F("period_start"), day_after)) + 1
    length = DaysBetween(F("period_end"), F("period_start")) + 1
    return Round(
        signed("net_amount", kind="invoice__kind") * remaining / length,
        precision=2,
        output_field=MONEY,
    )


def deferred_lines(end: datetime.date) -> QuerySet[InvoiceLine]:
    """Lines with a service period running past `end`, on documents issued by then."""
    return InvoiceLine.objects.filter(
        invoice__issue_date__lte=end,
        period_start__isnull=False,
        period_end__gt=end,
        period_end__gte=F("period_start"),
    ).exclude(invoice__status__in=NOT_COUNTED)


def _collected_rows(received, refunded) -> list[dict]:
    """Money in (payments not reversed) and out (refunds) per currency and month."""
    rows: dict[tuple, dict] = {}

    def row(currency: str, month: datetime.date) -> dict:
        return rows.setdefault(
            (currency, month),
            {
                "currency": currency,
                "month": month,
                "received": NO_MONEY,
                "refunded": NO_MONEY,
                "amount": NO_MONEY,
                "payments": 0,
            },
        )

    for item in received:
        entry = row(item["currency"], item["month"])
        entry.update(received=item["amount"], payments=item["payments"])
    for item in refunded:
        row(item["currency"], item["month"])["refunded"] = item["amount"]
    for entry in rows.values():
        entry["amount"] = entry["received"] - entry["refunded"]
    return [rows[key] for key in sorted(rows)]


@report_settings()
def revenue_report(*, start: datetime.date, end: datetime.date) -> RevenueReport:
    invoiced = list(
        counted_documents()
        .filter(issue_date__range=(start, end))
        .values("currency", month=TruncMonth("issue_date", output_field=DateField()))
        .annotate(
            net=Sum(signed("subtotal")),
            vat=Sum(signed("tax_total")),
            gross=Sum(signed("total")),
            invoices=Count("id", filter=Q(kind=Invoice.Kind.INVOICE)),
            credit_notes=Count("id", filter=Q(kind=Invoice.Kind.CREDIT_NOTE)),
        )
        .order_by("currency", "month")
    )
    received = (
        Payment.objects.filter(received_on__range=(start, end), reversed_at__isnull=True)
        .values("currency", month=TruncMonth("received_on", output_field=DateField()))
        .annotate(amount=Sum("amount"), payments=Count("id"))
    )
    refunded = (
        Refund.objects.filter(refunded_on__range=(start, end))
        .values("currency", month=TruncMonth("refunded_on", output_field=DateField()))
        .annotate(amount=Sum("amount"), refunds=Count("id"))
    )
    collected = _collected_rows(received, refunded)
    deferred = list(
        deferred_lines(end)
        .values(currency=F("invoice__currency"))
        .annotate(amount=Sum(deferred_amount(end)), lines=Count("id"))
        .order_by("currency")
    )
    return RevenueReport(
        start=start,
        end=end,
        invoiced=invoiced,
        invoiced_totals=_totals(invoiced, ("net", "vat", "gross", "invoices", "credit_notes")),
        collected=collected,
        collected_totals=_totals(collected, ("received", "refunded", "amount", "payments")),
        deferred=deferred,
    )


# --------------------------------------------------------------------------------------
# Aging of receivables

# (key, label, days past due from, to); None is open-ended.
AGING_BUCKETS = (
    ("not_due", "Not yet due", None, -1),
    ("days_0_30", "0–30 days", 0, 30),
    ("days_31_60", "31–60 days", 31, 60),
    ("days_61_90", "61–90 days", 61, 90),
    ("over_90", "Over 90 days", 91, None),
)
AGING_KEYS = tuple(key for key, *_ in AGING_BUCKETS)


@dataclass
class AgingReport:
    as_of: datetime.date
    rows: list[dict]  # currency, customer_id, customer, <bucket keys>, total, invoices
    totals: list[dict]


def owed_amount():
    """What is still owed on an invoice (`Invoice.amount_due`, before the floor at 0)."""
    return F("total") - F("amount_paid") - F("amount_credited")


def _bucket_condition(as_of: datetime.date, low: int | None, high: int | None) -> Q:
    # Days past due = as_of - due_date, so "at least `low` days" is due_date <= as_of - low.
    condition = Q()
    if low is not None:
        condition &= Q(due_date__lte=as_of - datetime.timedelta(days=low))
    if high is not None:
        condition &= Q(due_date__gte=as_of - datetime.timedelta(days=high))
    return condition


def open_receivables(as_of: datetime.date) -> QuerySet[Invoice]:
    """Invoices issued by `as_of` on which something is still owed today."""
    return (
        Invoice.objects.filter(
            kind=Invoice.Kind.INVOICE,
            status__in=(Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID),
            issue_date__lte=as_of,
        )
        .alias(owed=owed_amount())
        .filter(owed__gt=0)
    )


@report_settings()
def aging_report(*, as_of: datetime.date) -> AgingReport:
    """What customers owe, by how long it is past due on `as_of`, per customer and currency.

    Balances are today's (what was paid or credited after `as_of` is already deducted);
    `as_of` decides how overdue each balance is and which invoices were issued by then.
    """
    buckets = {}
    for key, _label, low, high in AGING_BUCKETS:
        condition = _bucket_condition(as_of, low, high)
        if key == "not_due":
            condition |= Q(due_date__isnull=True)
        buckets[key] = Coalesce(Sum(owed_amount(), filter=condition, output_field=MONEY), _zero())
    rows = list(
        open_receivables(as_of)
        .values(
            "currency",
            "customer_id",
            customer_label=Coalesce(
                NullIf(F("customer__company_name"), Value("")),
                F("customer__name"),
                output_field=TextField(),
            ),
        )
        .annotate(**buckets, total=Sum(owed_amount(), output_field=MONEY), invoices=Count("id"))
        .order_by("currency", "customer_label", "customer_id")  # names in the database's collation
    )
    for row in rows:
        row["customer"] = row.pop("customer_label")
    return AgingReport(
        as_of=as_of, rows=rows, totals=_totals(rows, (*AGING_KEYS, "total", "invoices"))
    )


# --------------------------------------------------------------------------------------
# Customer statement


@dataclass
class StatementLine:
    date: datetime.date
    kind: str  # a key of KIND_ORDER
    label: str
    reference: str
    debit: Decimal  # adds to what the customer owes
    credit: Decimal  # takes from it
    balance: Decimal = ZERO
    invoice_id: int | None = None


@dataclass
class StatementSection:
    """One currency of a statement: opening balance, movements, closing balance."""

    currency: str
    opening: Decimal
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)

    @property
    def closing(self) -> Decimal:
        return self.opening + self.total_debit - self.total_credit


@dataclass
class Statement:
    customer: Customer
    start: datetime.date
    end: datetime.date
    sections: list[StatementSection]


def get_statement_customer_for(user, customer_id) -> Customer:
    """The customer whose statement `user` may read: staff who bill, any of this instance's
    customers; a portal customer, only their own. Raises Customer.DoesNotExist otherwise."""
    customers = Customer.objects.all()
    if user.is_authenticated and user.can_bill:
        return customers.get(pk=customer_id)
    if user.is_authenticated and user.is_customer:
        return customers.get(pk=customer_id, user=user)
    raise Customer.DoesNotExist(gettext("No such customer."))


KIND_ORDER = {
    "invoice": 0,
    "credit_note": 1,
    "payment": 2,
    "payment_reversal": 3,
    "refund": 4,
    "credit_adjustment": 5,
}


def _midnight(day: datetime.date) -> datetime.datetime:
    """Midnight starting `day` in the instance's time zone (for rows dated by a timestamp)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=clock.instance_time_zone())


def _paid_invoices(payment: Payment) -> str:
    numbers = sorted(
        {a.invoice.number for a in payment.allocations.all() if a.invoice.number}
        | ({payment.invoice.number} if payment.invoice and payment.invoice.number else set())
    )
    return f" for invoice {', '.join(numbers)}" if numbers else ""


@report_settings()
def customer_statement(
    *, customer: Customer, start: datetime.date, end: datetime.date
) -> Statement:
    """Opening balance, every movement of the range with a running balance, and the closing
    balance, per currency.

    Movements: invoices (charges), credit notes and payments (credits), refunds and
    reversals of payments recorded by mistake (charges: money goes back or was never
    received), manual credit adjustments. A positive balance is owed by the customer, a
    negative one is their credit: the closing balance equals what they owe on open
    invoices minus their account credit. Applying credit to an invoice moves nothing (the
    money was counted when it was received).
    """
    tz = clock.instance_time_zone()
    range_start, range_end = _midnight(start), _midnight(end + datetime.timedelta(days=1))
    documents = counted_documents().filter(customer=customer)
    payments = Payment.objects.filter(customer=customer)
    reversed_payments = payments.filter(reversed_at__isnull=False)
    refunds = Refund.objects.filter(customer=customer)
    adjustments = CreditEntry.objects.filter(customer=customer, kind=CreditEntry.Kind.MANUAL)

    opening: dict[str, Decimal] = defaultdict(lambda: ZERO)

    def add_to_opening(rows, sign: int, amount=None) -> None:
        amount = F("amount") if amount is None else amount
        for row in rows.values("currency").annotate(total=Sum(amount)).order_by():
            opening[row["currency"]] += sign * row["total"]

    add_to_opening(documents.filter(issue_date__lt=start), 1, signed("total"))
    add_to_opening(payments.filter(received_on__lt=start), -1)
    add_to_opening(reversed_payments.filter(reversed_at__lt=range_start), 1)
    add_to_opening(refunds.filter(refunded_on__lt=start), 1)
    add_to_opening(adjustments.filter(created_at__lt=range_start), -1)

    lines: dict[str, list[StatementLine]] = defaultdict(list)
    for doc in documents.filter(issue_date__range=(start, end)).select_related("credited_invoice"):
        is_note = doc.kind == Invoice.Kind.CREDIT_NOTE
        label = (
            gettext("Credit note for invoice %(number)s") % {"number": doc.credited_invoice.number}
            if is_note and doc.credited_invoice
            else doc.get_kind_display()
        )
        lines[doc.currency].append(
            StatementLine(
                date=doc.issue_date,
                kind=doc.kind,
                label=label,
                reference=doc.number or "",
                debit=ZERO if is_note else doc.total,
                credit=doc.total if is_note else ZERO,
                invoice_id=doc.pk,
            )
        )
    paid_in_range = payments.filter(received_on__range=(start, end))
    reversed_in_range = reversed_payments.filter(
        reversed_at__gte=range_start, reversed_at__lt=range_end
    )
    for payment in (
        (paid_in_range | reversed_in_range)
        .select_related("invoice")
        .prefetch_related("allocations__invoice")
    ):
        method = payment.get_method_display().lower()
        if start <= payment.received_on <= end:
            lines[payment.currency].append(
                StatementLine(
                    date=payment.received_on,
                    kind="payment",
                    label=gettext("Payment (%(method)s)%(paid_invoices)s")
                    % {"method": method, "paid_invoices": _paid_invoices(payment)},
                    reference=payment.reference,
                    debit=ZERO,
                    credit=payment.amount,
                )
            )
        if payment.reversed_at and range_start <= payment.reversed_at < range_end:
            lines[payment.currency].append(
                StatementLine(
                    date=payment.reversed_at.astimezone(tz).date(),
                    kind="payment_reversal",
                    label=gettext("Payment of %(received_on)s reversed")
                    % {"received_on": format(payment.received_on, "%Y-%m-%d")},
                    reference=payment.reference,
                    debit=payment.amount,
                    credit=ZERO,
                )
            )
    for refund in refunds.filter(refunded_on__range=(start, end)):
        lines[refund.currency].append(
            StatementLine(
                date=refund.refunded_on,
                kind="refund",
                label=gettext("Refund (%(method)s)")
                % {"method": refund.get_method_display().lower()},
                reference=refund.reference,
                debit=refund.amount,
                credit=ZERO,
            )
        )
    for entry in adjustments.filter(created_at__gte=range_start, created_at__lt=range_end):
        lines[entry.currency].append(
            StatementLine(
                date=entry.created_at.astimezone(tz).date(),
                kind="credit_adjustment",
                label=gettext("Credit adjustment: %(note)s") % {"note": entry.note}
                if entry.note
                else gettext("Credit adjustment"),
                reference="",
                debit=-entry.amount if entry.amount < 0 else ZERO,
                credit=entry.amount if entry.amount > 0 else ZERO,
            )
        )

    sections = []
    for currency in sorted(set(opening) | set(lines) or {customer.currency}):
        section = StatementSection(currency=currency, opening=opening.get(currency, ZERO))
        balance = section.opening
        for line in sorted(
            lines.get(currency, []),
            key=lambda line: (line.date, KIND_ORDER[line.kind], line.reference),
        ):
            balance += line.debit - line.credit
            line.balance = balance
            section.lines.append(line)
        sections.append(section)
    return Statement(customer=customer, start=start, end=end, sections=sections)


# --------------------------------------------------------------------------------------
# Journal

JOURNAL_COLUMNS = (
    "date",
    "type",
    "journal",
    "number",
    "applies_to",
    "reference",
    "customer_account",
    "customer",
    "country",
    "vat_id",
    "tax_treatment",
    "currency",
    "net",
    "vat",
    "gross",
    "debit",
    "credit",
    "method",
)
# Columns holding text people typed: guarded against spreadsheet formulas in exports.
JOURNAL_TEXT_COLUMNS = frozenset({"number", "applies_to", "reference", "customer", "vat_id"})


def customer_account(customer_id: int) -> str:
    """The customer's receivable account in the journal (as the SQL writes it)."""
    return f"C{customer_id:06d}"


def _spreadsheet_safe(column: str) -> str:
    """SQL: a text column prefixed with ' when it would start a spreadsheet formula."""
    name = column.split(".")[-1]
    return (
        f"CASE WHEN left({column}, 1) IN ('=', '+', '-', '@') "
        f"THEN '''' || {column} ELSE {column} END AS {name}"
    )


def journal_sql(*, spreadsheet_safe: bool = False) -> tuple[str, str, str]:
    """The journal as three statements with the same columns, run one after the other:
    the sales journal (invoices, and credit notes signed negative, by issue date), then
    the bank journal: payments received (by date), then money that went back (reversals
    of payments recorded by mistake, and refunds, by date).

    Amounts are on the customer's receivable account: an invoice, a refund and a reversal
    debit it, a credit note and a payment credit it. `net` and `vat` are what goes to
    revenue and VAT payable; bank rows have neither, and their `gross` is the money that
    came in (negative when it went out). Parameters: `_journal_params` (the range as
    dates, and as the instance's midnights for reversals, which carry a time).

    Three statements, not one UNION sorted by date: documents and payments come in date
    order straight from their (date, id) indexes (ids follow the dates, so the reads
    are sequential) and nothing large is sorted; a year's journal took twice as long as
    one sorted UNION.
    """
    invoices = Invoice._meta.db_table
    customers = Customer._meta.db_table
    payments = Payment._meta.db_table
    allocations = PaymentAllocation._meta.db_table
    refunds = Refund._meta.db_table
    cn = Invoice.Kind.CREDIT_NOTE.value
    not_counted = ", ".join(f"'{status.value}'" for status in NOT_COUNTED)

    def sign(column: str) -> str:
        return f"CASE WHEN d.kind = '{cn}' THEN -d.{column} ELSE d.{column} END"

    account = "'C' || LPAD({}::text, 6, '0')".format
    payment_number = "'PAY-' || LPAD({}::text, 6, '0')".format
    customer_name = "COALESCE(NULLIF(c.company_name, ''), c.name)"
    # The customer as frozen at issue; the customer row only for documents without it.
    snapshot = "NULLIF(d.customer_snapshot->>'{}', '')".format
    live = f"(SELECT c.{{}} FROM {customers} c WHERE c.id = d.customer_id)".format
    sales = f"""
        SELECT d.issue_date AS date, d.kind AS type, 'sales' AS journal, d.number AS number,
               CASE WHEN d.credited_invoice_id IS NULL THEN ''
                    ELSE (SELECT o.number FROM {invoices} o WHERE o.id = d.credited_invoice_id)
               END AS applies_to,
               '' AS reference,
               {account("d.customer_id")} AS customer_account,
               COALESCE({snapshot("company_name")}, {snapshot("name")}, {live("name")})
                   AS customer,
               COALESCE({snapshot("country")}, {live("country")}) AS country,
               COALESCE(d.customer_snapshot->>'tax_id', '') AS vat_id,
               d.tax_treatment AS tax_treatment, d.currency AS currency,
               {sign("subtotal")} AS net, {sign("tax_total")} AS vat, {sign("total")} AS gross,
               CASE WHEN d.kind = '{cn}' THEN NULL ELSE d.total END AS debit,
               CASE WHEN d.kind = '{cn}' THEN d.total END AS credit,
               '' AS method,
               d.id AS sort_id
          FROM {invoices} d
         WHERE d.issue_date BETWEEN %(start)s AND %(end)s
           AND d.status NOT IN ({not_counted})"""
    # The invoices a payment settled: the one it names, else its allocations (a payment
    # names its invoice exactly when it settled one; COALESCE stops at the first value).
    paid_invoices = f"""COALESCE(i.number,
               (SELECT string_agg(ai.number, ' ' ORDER BY ai.number)
                  FROM {allocations} a JOIN {invoices} ai ON ai.id = a.invoice_id
                 WHERE a.payment_id = p.id), '')"""
    reversal_date = "(p.reversed_at AT TIME ZONE %(tz)s)::date"
    received = f"""
        SELECT p.received_on AS date, 'payment' AS type, 'bank' AS journal,
               {payment_number("p.id")} AS number, {paid_invoices} AS applies_to,
               p.reference AS reference, {account("p.customer_id")} AS customer_account,
               {customer_name} AS customer, c.country AS country, c.tax_id AS vat_id,
               '' AS tax_treatment, p.currency AS currency,
               NULL::numeric AS net, NULL::numeric AS vat, p.amount AS gross,
               NULL::numeric AS debit, p.amount AS credit, p.method AS method,
               p.id AS sort_id
          FROM {payments} p
          JOIN {customers} c ON c.id = p.customer_id
          LEFT JOIN {invoices} i ON i.id = p.invoice_id
         WHERE p.received_on BETWEEN %(start)s AND %(end)s"""
    paid_back = f"""
        SELECT {reversal_date} AS date, 'payment_reversal' AS type, 'bank' AS journal,
               {payment_number("p.id")} AS number, {payment_number("p.id")} AS applies_to,
               p.reference AS reference, {account("p.customer_id")} AS customer_account,
               {customer_name} AS customer, c.country AS country, c.tax_id AS vat_id,
               '' AS tax_treatment, p.currency AS currency,
               NULL::numeric AS net, NULL::numeric AS vat, -p.amount AS gross,
               p.amount AS debit, NULL::numeric AS credit, p.method AS method,
               0 AS sort_group, p.id AS sort_id
          FROM {payments} p
          JOIN {customers} c ON c.id = p.customer_id
         WHERE p.reversed_at >= %(from_time)s AND p.reversed_at < %(until_time)s
        UNION ALL
        SELECT r.refunded_on, 'refund', 'bank', 'REF-' || LPAD(r.id::text, 6, '0'),
               {payment_number("r.payment_id")}, r.reference, {account("r.customer_id")},
               {customer_name}, c.country, c.tax_id, '', r.currency,
               NULL::numeric, NULL::numeric, -r.amount, r.amount, NULL::numeric, r.method,
               1, r.id
          FROM {refunds} r
          JOIN {customers} c ON c.id = r.customer_id
         WHERE r.refunded_on BETWEEN %(start)s AND %(end)s"""

    def outer(source: str, order: str) -> str:
        columns = ", ".join(
            _spreadsheet_safe(f"j.{name}")
            if spreadsheet_safe and name in JOURNAL_TEXT_COLUMNS
            else f"j.{name}"
            for name in JOURNAL_COLUMNS
        )
        return f"SELECT {columns} FROM ({source}) j{order}"

    return (
        outer(sales, " ORDER BY j.date, j.sort_id"),
        outer(received, " ORDER BY j.date, j.sort_id"),
        outer(paid_back, " ORDER BY j.date, j.sort_group, j.sort_id"),
    )


def _journal_params(start: datetime.date, end: datetime.date) -> dict:
    return {
        "start": start,
        "end": end,
        "tz": str(clock.instance_time_zone()),
        "from_time": _midnight(start),
        "until_time": _midnight(end + datetime.timedelta(days=1)),
    }


def _journal_counts(start: datetime.date, end: datetime.date) -> tuple[int, int, int]:
    """Rows of each part of the journal (as `journal_sql` returns them)."""
    sales = counted_documents().filter(issue_date__range=(start, end)).count()
    received = Payment.objects.filter(received_on__range=(start, end)).count()
    reversals = Payment.objects.filter(
        reversed_at__gte=_midnight(start),
        reversed_at__lt=_midnight(end + datetime.timedelta(days=1)),
    ).count()
    refunds = Refund.objects.filter(refunded_on__range=(start, end)).count()
    return sales, received, reversals + refunds


def journal_count(*, start: datetime.date, end: datetime.date) -> int:
    return sum(_journal_counts(start, end))


def journal_rows(
    *,
    start: datetime.date,
    end: datetime.date,
    limit: int | None = None,
    offset: int = 0,
    spreadsheet_safe: bool = False,
    chunk_size: int = 2000,
) -> Iterator[tuple]:
    """The journal's rows as tuples in `JOURNAL_COLUMNS` order, part after part (a page of
    them when `limit` is set)."""
    parts = journal_sql(spreadsheet_safe=spreadsheet_safe)
    params = _journal_params(start, end)
    if limit is None:
        pages = [(sql, None, 0) for sql in parts]
    else:
        # The page's window over the parts laid end to end.
        pages, first = [], 0
        for sql, count in zip(parts, _journal_counts(start, end), strict=True):
            low, high = max(offset, first), min(offset + limit, first + count)
            if low < high:
                pages.append((sql, high - low, low - first))
            first += count
    with report_settings(), connection.cursor() as cursor:
        for sql, page_limit, page_offset in pages:
            if page_limit is not None:
                sql += " LIMIT %(limit)s OFFSET %(offset)s"
            cursor.execute(sql, {**params, "limit": page_limit, "offset": page_offset})
            while rows := cursor.fetchmany(chunk_size):
                yield from rows


CSV_CHUNK_BYTES = 1 << 20
# The bank part's CSV is held in memory up to this size while the sales part streams,
# then in a temporary file.
BANK_SPOOL_BYTES = 16 << 20


def journal_csv_chunks(*, start: datetime.date, end: datetime.date) -> Iterator[bytes]:
    """The journal as CSV bytes (one header, then each part), written by PostgreSQL itself
    (COPY) and handed on in chunks of about a megabyte: COPY's own blocks are a few
    kilobytes, and passing each one through the response costs more than writing it.

    Outside any transaction of the caller's (a streamed response is), the bank part is
    written at the same time as the sales part, by a second connection reading the same
    snapshot (as `pg_dump --jobs` does): the two parts cost about the same, so a year's
    journal comes out in about half the time. Inside a transaction (a test, a caller's
    unit of work) the parts run one after the other on the caller's connection, which
    alone sees what that transaction wrote."""
    params = _journal_params(start, end)
    parallel = not connection.in_atomic_block
    with report_settings(repeatable_read=parallel), connection.cursor() as cursor:
        yield from journal_csv_from(cursor, params, parallel=parallel)


def journal_csv_from(cursor, params: dict, *, parallel: bool) -> Iterator[bytes]:
    """`journal_csv_chunks` on an open report transaction (`report_settings`)."""
    sales, *bank = journal_sql(spreadsheet_safe=True)
    if not parallel:
        yield from _in_chunks(_copied(cursor, [sales, *bank], params))
        return
    cursor.execute("SELECT pg_export_snapshot()")
    bank_copy = _SnapshotCopy(cursor.fetchone()[0], bank, params)
    bank_copy.start()
    try:
        yield from _in_chunks(itertools.chain(_copied(cursor, [sales], params), bank_copy.blocks()))
    finally:
        bank_copy.close()


def _copied(cursor, statements: list[str], params: dict) -> Iterator[bytes]:
    """COPY's CSV blocks of each statement in turn, the header before the first."""
    for index, sql in enumerate(statements):
        options = "FORMAT csv, HEADER" if index == 0 else "FORMAT csv"
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH ({options})", params) as copy:
            yield from copy


def _in_chunks(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """`blocks` gathered into chunks of about `CSV_CHUNK_BYTES`."""
    pending = bytearray()
    for block in blocks:
        pending += block
        if len(pending) >= CSV_CHUNK_BYTES:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


class _SnapshotCopy:
    """COPY statements run on a connection of their own, in a thread, reading the snapshot
    another transaction exported; their CSV is spooled until `blocks()` reads it."""

    def __init__(self, snapshot: str, statements: list[str], params: dict) -> None:
        self.snapshot, self.statements, self.params = snapshot, statements, params
        self.schema_name = connection.schema_name
        self.spool = tempfile.SpooledTemporaryFile(max_size=BANK_SPOOL_BYTES)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="journal-bank-copy", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            raw = connection.get_new_connection(connection.get_connection_params())
            try:
                raw.autocommit = True
                with raw.cursor() as cursor:
                    cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    # The exporter's snapshot (before any query), so both parts read
                    # exactly the same rows.
                    cursor.execute(
                        psycopg_sql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                            psycopg_sql.Literal(self.snapshot)
                        )
                    )
                    cursor.execute("SELECT set_config('search_path', %s, true)", [self._path()])
                    cursor.execute(REPORT_SETTINGS_SQL, [REPORT_WORK_MEM])
                    for sql in self.statements:
                        statement = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
                        with cursor.copy(statement, self.params) as copy:
                            for block in copy:
                                self.spool.write(block)
                    cursor.execute("COMMIT")
            finally:
                raw.close()
        except BaseException as exc:  # handed to the reader, raised there
            self.error = exc

    def _path(self) -> str:
        return ", ".join(dict.fromkeys([self.schema_name, "public"]))

    def blocks(self) -> Iterator[bytes]:
        """The spooled CSV, once the thread is done (its error raised here)."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.spool.seek(0)
        while block := self.spool.read(CSV_CHUNK_BYTES):
            yield block

    def close(self) -> None:
        self.thread.join()
        self.spool.close()


@report_settings()
def journal_totals(*, start: datetime.date, end: datetime.date) -> list[dict]:
    """Per currency: what the journal of the range holds (counts and sums of each kind)."""
    documents = (
        counted_documents()
        .filter(issue_date__range=(start, end))
        .values("currency")
        .annotate(
            invoices=Count("id", filter=Q(kind=Invoice.Kind.INVOICE)),
            credit_notes=Count("id", filter=Q(kind=Invoice.Kind.CREDIT_NOTE)),
            net=Sum(signed("subtotal")),
            vat=Sum(signed("tax_total")),
            gross=Sum(signed("total")),
        )
    )
    received = (
        Payment.objects.filter(received_on__range=(start, end))
        .values("currency")
        .annotate(payments=Count("id"), received=Sum("amount"))
    )
    reversed_ = (
        Payment.objects.filter(
            reversed_at__gte=_midnight(start),
            reversed_at__lt=_midnight(end + datetime.timedelta(days=1)),
        )
        .values("currency")
        .annotate(reversed=Sum("amount"))
    )
    refunded = (
        Refund.objects.filter(refunded_on__range=(start, end))
        .values("currency")
        .annotate(refunded=Sum("amount"))
    )
    empty = {
        "invoices": 0,
        "credit_notes": 0,
        "net": ZERO,
        "vat": ZERO,
        "gross": ZERO,
        "payments": 0,
        "received": ZERO,
        "reversed": ZERO,
        "refunded": ZERO,
    }
    totals: dict[str, dict] = {}
    for row in [*documents, *received, *reversed_, *refunded]:
        totals.setdefault(row["currency"], {"currency": row["currency"], **empty}).update(row)
    return [totals[currency] for currency in sorted(totals)]
