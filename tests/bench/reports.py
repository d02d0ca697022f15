"""Benchmark: the billing reports of one instance holding a year of documents.

    python tests/bench/reports.py --invoices 200000 [--db NAME] [--rounds 5] [--keep]

Builds one reseller instance and writes into it, with COPY (one statement per table, rows
made from model instances so every field keeps its default): customers in six countries
(EU consumers and businesses, a few outside the EU billed in USD), --invoices issued
invoices over 2026 with one or two lines each (a service period on the first), about one
in twenty credited by a credit note, payments with their allocations for the paid and
part-paid ones, and a few drafts and void invoices that the reports must leave out.
Documents get their ids and numbers in the order they are issued, and payments in the
order they are received, as they do in an instance (numbering is gap-free and
chronological).

Then it asks the instance for each report the way a signed-in owner does, through the
WSGI handler (routing, session, permission, view, template or streamed CSV): the VAT
page for 2026 (OSS table and EC sales list), the aging page on 31 December, and the
journal CSV of the year, read to its last byte. Each is run once to warm up, then
--rounds times; the figure is the median. Target: each < 1,000 ms.

Prints figures and, last, a JSON object. The database is created at the start and dropped
at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import random
import statistics
import sys
import time
from decimal import ROUND_HALF_UP, Decimal

from _setup import configure, drop

DB = "upline_bench_reports"
SLUG = "reports"
YEAR_START, YEAR_END = datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)
TARGET_MS = 1000
CENT = Decimal("0.01")
# country: (VAT rate for consumers, currency, share of customers)
COUNTRIES = {
    "FR": (Decimal("20"), "EUR", 40),
    "DE": (Decimal("19"), "EUR", 20),
    "IT": (Decimal("22"), "EUR", 15),
    "ES": (Decimal("21"), "EUR", 10),
    "BE": (Decimal("21"), "EUR", 10),
    "US": (Decimal("0"), "USD", 5),
}


def _copy(model, objects) -> int:
    """COPY model instances into the model's table: every concrete field, as Django would
    save it (defaults applied, JSON adapted, auto_now_add set)."""
    from django.db import connection

    fields = list(model._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    count = 0
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for obj in objects:
            copy.write_row(
                [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
            )
            count += 1
    return count


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.65:
        return "paid"
    if roll < 0.75:
        return "partially_paid"
    if roll < 0.80:
        return "credited"
    return "issued"


def _populate(schema_name: str, invoices: int, seed: int) -> dict:
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from tenant_apps.billing.models import (
        Invoice,
        InvoiceLine,
        Payment,
        PaymentAllocation,
        TaxRate,
    )
    from tenant_apps.catalog.models import TaxClass
    from tenant_apps.clients.models import Customer
    from tenant_apps.instance.services import issuer_identity_set

    rng = random.Random(seed)
    with schema_context(schema_name), transaction.atomic():
        issuer_identity_set(legal_name="Reports Bench SARL", country="FR", tax_id="FR40303265045")
        standard = TaxClass.objects.get(code="standard")
        for code, (rate, _currency, _share) in COUNTRIES.items():
            if rate:
                TaxRate.objects.create(country=code, tax_class=standard, rate=rate)

        countries = [code for code, (_r, _c, share) in COUNTRIES.items() for _ in range(share)]
        customers = []
        for i in range(max(1000, invoices // 40)):
            country = rng.choice(countries)
            business = country != "US" and rng.random() < 0.3
            customers.append(
                Customer(
                    id=i + 1,
                    kind="company" if business else "person",
                    name=f"Customer {i}",
                    company_name=f"Company {i}" if business else "",
                    email=f"c{i}@example.com",
                    country=country,
                    currency=COUNTRIES[country][1],
                    tax_id=f"{country}{100000000 + i}" if business else "",
                    tax_id_status="valid" if business else "none",
                )
            )
        _copy(Customer, customers)

        # Documents are made in the order they are issued, as gap-free numbering makes
        # them: ids and numbers follow the issue date. (document, its line specs)
        documents: list[tuple] = []
        received: list[tuple] = []  # (day, invoice, amount)
        extra = invoices // 50  # drafts and void invoices, never counted
        for i in range(invoices + extra):
            customer = rng.choice(customers)
            country = str(customer.country)
            rate = COUNTRIES[country][0]
            if country == "US":
                treatment, rate = Invoice.TaxTreatment.OUTSIDE_SCOPE, Decimal("0")
            elif customer.kind == "company" and country != "FR":
                treatment, rate = Invoice.TaxTreatment.REVERSE_CHARGE, Decimal("0")
            else:
                treatment = Invoice.TaxTreatment.STANDARD
            issued = YEAR_START + datetime.timedelta(days=rng.randrange(365))
            annual = rng.random() < 0.12
            period_end = (
                issued.replace(year=issued.year + 1) - datetime.timedelta(days=1)
                if annual
                else issued + datetime.timedelta(days=29)
            )
            price = Decimal(rng.choice((990, 1490, 2990, 4990, 9990, 19900))) / 100
            specs = [("service", price * (12 if annual else 1), rate, issued, period_end)]
            if rng.random() < 0.3:
                specs.append(("setup", Decimal("25.00"), rate, None, None))
            subtotal = sum((spec[1] for spec in specs), Decimal(0))
            tax_total = sum((_money(spec[1] * spec[2] / 100) for spec in specs), Decimal(0))
            total = subtotal + tax_total
            status = ("draft" if i % 2 else "void") if i >= invoices else _status(rng)
            snapshot = {
                "name": customer.name,
                "company_name": customer.company_name,
                "email": customer.email,
                "country": country,
                "tax_id": customer.tax_id,
                "tax_id_status": customer.tax_id_status,
            }
            invoice = Invoice(
                kind=Invoice.Kind.INVOICE,
                status=status,
                customer_id=customer.id,
                currency=customer.currency,
                tax_treatment=treatment,
                issue_date=issued,
                due_date=issued + datetime.timedelta(days=14),
                subtotal=subtotal,
                tax_total=tax_total,
                total=total,
                issuer_snapshot={"legal_name": "Reports Bench SARL", "country": "FR"},
                customer_snapshot=snapshot,
            )
            documents.append((invoice, specs))
            paid_on = issued + datetime.timedelta(days=rng.randrange(20))
            if status == "paid":
                invoice.amount_paid = total
                received.append((paid_on, invoice, total))
            elif status == "partially_paid":
                invoice.amount_paid = _money(total / 2)
                received.append((paid_on, invoice, invoice.amount_paid))
            elif status == "credited":
                invoice.amount_credited = total
                credited_on = min(issued + datetime.timedelta(days=5), YEAR_END)
                note = Invoice(
                    kind=Invoice.Kind.CREDIT_NOTE,
                    status=Invoice.Status.ISSUED,
                    customer_id=customer.id,
                    currency=customer.currency,
                    tax_treatment=treatment,
                    issue_date=credited_on,
                    due_date=credited_on,
                    subtotal=subtotal,
                    tax_total=tax_total,
                    total=total,
                    issuer_snapshot=invoice.issuer_snapshot,
                    customer_snapshot=snapshot,
                )
                note.credited = invoice
                documents.append((note, specs))

        documents.sort(key=lambda item: item[0].issue_date)  # stable: creation order
        numbers = {Invoice.Kind.INVOICE: 0, Invoice.Kind.CREDIT_NOTE: 0}
        prefix = {Invoice.Kind.INVOICE: "2026-", Invoice.Kind.CREDIT_NOTE: "CN2026-"}
        for document_id, (document, _specs) in enumerate(documents, 1):
            document.id = document_id
            if document.status != "draft":
                numbers[document.kind] += 1
                document.number = f"{prefix[document.kind]}{numbers[document.kind]:07d}"
        lines = []
        for document, specs in documents:
            if hasattr(document, "credited"):
                document.credited_invoice_id = document.credited.id
            for position, (kind, net, rate, start, end) in enumerate(specs):
                tax = _money(net * rate / 100)
                lines.append(
                    InvoiceLine(
                        id=len(lines) + 1,
                        invoice_id=document.id,
                        position=position,
                        kind=kind,
                        description=f"{kind} {document.number or document.id}",
                        unit_price=net,
                        tax_rate=rate,
                        net_amount=net,
                        tax_amount=tax,
                        gross_amount=net + tax,
                        period_start=start,
                        period_end=end,
                    )
                )
        received.sort(key=lambda item: item[0])
        payments, allocations = [], []
        for payment_id, (day, invoice, amount) in enumerate(received, 1):
            payments.append(
                Payment(
                    id=payment_id,
                    customer_id=invoice.customer_id,
                    invoice_id=invoice.id,
                    amount=amount,
                    applied_amount=amount,
                    currency=invoice.currency,
                    method="bank_transfer",
                    reference=f"TRF {invoice.number}",
                    received_on=day,
                )
            )
            allocations.append(
                PaymentAllocation(
                    id=payment_id, payment_id=payment_id, invoice_id=invoice.id, amount=amount
                )
            )

        _copy(Invoice, (document for document, _specs in documents))
        _copy(InvoiceLine, lines)
        _copy(Payment, payments)
        _copy(PaymentAllocation, allocations)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(
                no_style(), [Customer, Invoice, InvoiceLine, Payment, PaymentAllocation]
            ):
                cursor.execute(statement)
    with schema_context(schema_name), connection.cursor() as cursor:
        # As autovacuum would after such a load: the planner needs the new tables' sizes.
        for model in (Customer, Invoice, InvoiceLine, Payment, PaymentAllocation):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    kinds = [document.kind for document, _specs in documents]
    return {
        "invoices": invoices,
        "credit_notes": kinds.count(Invoice.Kind.CREDIT_NOTE),
        "lines": len(lines),
        "payments": len(payments),
        "left_out": extra,
        "customers": len(customers),
    }


def _session_cookie(schema_name: str) -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django_tenants.utils import schema_context

    from tenant_apps.accounts.models import Role

    with schema_context(schema_name):
        user = get_user_model().objects.get(role=Role.OWNER)
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        return session.session_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--db", default=DB, help="database to create, use and drop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    configure(args.db)
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from shared_apps.tenancy.services import reseller_create

    started = time.perf_counter()
    reseller = reseller_create(
        slug=SLUG,
        name="Reports",
        legal_name="Reports Bench SARL",
        owner_email=f"owner@{SLUG}.test",
        method="template",
    )
    counts = _populate(reseller.schema_name, args.invoices, args.seed)
    host = f"{SLUG}.{settings.UPLINE_BASE_DOMAIN}"
    session_key = _session_cookie(reseller.schema_name)
    connection.set_schema_to_public()
    print(
        f"set-up: {counts['invoices']} invoices, {counts['credit_notes']} credit notes, "
        f"{counts['lines']} lines, {counts['payments']} payments, {counts['customers']} "
        f"customers (+{counts['left_out']} drafts and void) in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )

    handler = WSGIHandler()

    def get(path: str, query: str) -> tuple[float, int]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": host,
            "SERVER_PORT": "80",
            "HTTP_HOST": host,
            "HTTP_COOKIE": f"sessionid={session_key}",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        statuses = []
        begun = time.perf_counter()
        body = handler(environ, lambda status, headers: statuses.append(status))
        size = sum(len(chunk) for chunk in body)
        if hasattr(body, "close"):
            body.close()
        elapsed = (time.perf_counter() - begun) * 1000
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{path}?{query} answered {statuses[0]}")
        return elapsed, size

    year = f"start={YEAR_START}&end={YEAR_END}"
    measured = {
        "vat_report_ms": ("/staff/billing/reports/vat/", year),
        "aging_ms": ("/staff/billing/reports/aging/", f"as_of={YEAR_END}"),
        "journal_csv_ms": ("/staff/billing/reports/journal/", f"{year}&export=csv"),
    }
    result: dict = {"bench": "reports", **counts}
    for name, (path, query) in measured.items():
        first, size = get(path, query)
        times = [get(path, query)[0] for _ in range(args.rounds)]
        result[name] = round(statistics.median(times), 1)
        print(
            f"{name}: median {statistics.median(times):.0f} ms over {args.rounds} "
            f"(min {min(times):.0f}, max {max(times):.0f}, first {first:.0f}); "
            f"{size / 1024:.0f} KiB",
            file=sys.stderr,
        )
        if name == "journal_csv_ms":
            result["journal_csv_bytes"] = size
    result.update(
        rounds=args.rounds,
        target=f"each < {TARGET_MS} ms",
        meets_target=all(result[name] < TARGET_MS for name in measured),
    )
    connection.set_schema_to_public()
    if not args.keep:
        drop(args.db)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
