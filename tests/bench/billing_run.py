"""Benchmark: the recurring billing run over many instances, using both cores.

    python tests/bench/billing_run.py --instances 100 --services 1000

Builds --instances reseller instances, each with --services active monthly services due
inside the renewal window (one customer each, so one invoice per service: the worst
case). Then runs the renewal run of every instance the way the beat fan-out does — one
run per instance, spread over --workers processes (default: all cores) — and times it.
Runs it a second time to prove it is idempotent.

Ceiling, measured in the same run because the machine's speed varies from day to day: a
plain bulk insert of the rows the first run created. Each instance's invoices and invoice
lines from that run are read into memory (not timed), then the same rows (new ids, the
numbers prefixed with "CEIL-") are written back with `bulk_create` — the run's own batch
sizes, one transaction per instance — in the same shape as the run: the same instances
per process, the same number of processes, all starting together. ceiling_seconds runs
from the common start to the last process's end. The ceiling rows are deleted again
afterwards, and the ceiling comes after both runs, so it never touches their figures.
The target is ratio_vs_ceiling = seconds / ceiling_seconds <= 3.

Prints figures and, last, a JSON object.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import multiprocessing
import os
import sys
import time
from collections import defaultdict
from decimal import Decimal

from _setup import configure, drop

DB = "upline_bench_billing"
RUN_DATE = datetime.date(2026, 11, 26)
CEILING_PREFIX = "CEIL-"
TARGET_RATIO = 3


def _populate(schema_name: str, services_count: int) -> None:
    from django_tenants.utils import schema_context

    from tenant_apps.billing.models import TaxRate
    from tenant_apps.catalog.models import Price, Product, TaxClass
    from tenant_apps.clients.models import Customer
    from tenant_apps.instance.services import issuer_identity_set
    from tenant_apps.orders.models import Service

    with schema_context(schema_name):
        # Complete, as Art. 226 requires: billing issues nothing without it (issue 9).
        issuer_identity_set(
            legal_name=f"{schema_name} SARL",
            address_line1="1 rue de la Paix",
            postal_code="75001",
            city="Paris",
            country="FR",
            tax_id="FR40303265045",
        )
        standard = TaxClass.objects.get(code="standard")
        TaxRate.objects.create(country="FR", tax_class=standard, rate=Decimal("20"))
        product = Product.objects.create(code="web", name="Web hosting", tax_class=standard)
        Price.objects.create(
            product=product, currency="EUR", cycle="monthly", amount=Decimal("9.90")
        )
        customers = Customer.objects.bulk_create(
            Customer(
                kind="person",
                name=f"Customer {i}",
                email=f"c{i}@example.com",
                country="FR",
                currency="EUR",
            )
            for i in range(services_count)
        )
        due = RUN_DATE + datetime.timedelta(days=5)
        Service.objects.bulk_create(
            Service(
                customer=c,
                product=product,
                status="active",
                cycle="monthly",
                currency="EUR",
                recurring_amount=Decimal("9.90"),
                next_due_date=due,
                invoiced_period_start=due - datetime.timedelta(days=30),
            )
            for c in customers
        )


def _run_instances(schema_names: list[str]) -> tuple[int, int]:
    """One worker process: the renewal run of each given instance (what each task does)."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenant_apps.recurring.services import renewals_run

    invoices = 0
    for schema_name in schema_names:
        with schema_context(schema_name):
            invoices += renewals_run(today=RUN_DATE, triggered_by="bench").invoices_created
    connection.close()
    return invoices, os.getpid()


def _timed_run(schemas: list[str], workers: int) -> tuple[float, int]:
    from django.db import connections

    connections.close_all()  # workers must not share the parent's connection
    chunks = [schemas[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_run_instances, chunks)
    return time.perf_counter() - started, sum(r[0] for r in results)


def _ceiling_instances(schema_names: list[str], barrier, results) -> None:
    """One ceiling process: re-insert the first run's invoices and lines of its instances."""
    try:
        results.put(_ceiling_insert(schema_names, barrier))
    except BaseException:
        barrier.abort()  # the other processes stop waiting for this one
        results.put(None)
        raise


def _ceiling_insert(schema_names: list[str], barrier) -> tuple[float, float, int, int]:
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from tenant_apps.billing.models import Invoice, InvoiceLine

    # Not timed: read the rows the run made (every invoice in these instances is the run's).
    loaded = []
    for schema_name in schema_names:
        with schema_context(schema_name):
            invoices = list(Invoice.objects.order_by("id").values())
            lines: dict[int, list[dict]] = defaultdict(list)
            for line in InvoiceLine.objects.order_by("id").values():
                lines[line["invoice_id"]].append(line)
        loaded.append((schema_name, invoices, lines))
    # The loaded rows are this benchmark's input, not the run's: keep the collector from
    # walking them over and over while the timed part allocates.
    gc.collect()
    gc.freeze()
    barrier.wait(timeout=3600)  # every process starts writing at the same moment

    started = time.perf_counter()
    made_invoices = made_lines = 0
    for schema_name, invoices, lines in loaded:
        with schema_context(schema_name), transaction.atomic():
            new_invoices = [
                Invoice(**{**row, "id": None, "number": CEILING_PREFIX + row["number"]})
                for row in invoices
            ]
            Invoice.objects.bulk_create(new_invoices, batch_size=500)  # as invoices_issue_bulk
            new_lines = [
                InvoiceLine(**{**line, "id": None, "invoice_id": new.pk})
                for row, new in zip(invoices, new_invoices, strict=True)
                for line in lines[row["id"]]
            ]
            InvoiceLine.objects.bulk_create(new_lines, batch_size=1000)
        made_invoices += len(new_invoices)
        made_lines += len(new_lines)
    ended = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    connection.close()
    return started, ended, made_invoices, made_lines


def _ceiling_cleanup(schema_names: list[str]) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenant_apps.billing.models import Invoice, InvoiceLine

    invoice_table, line_table = Invoice._meta.db_table, InvoiceLine._meta.db_table
    for schema_name in schema_names:
        with schema_context(schema_name), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {line_table} WHERE invoice_id IN "
                f"(SELECT id FROM {invoice_table} WHERE number LIKE %s)",
                [CEILING_PREFIX + "%"],
            )
            cursor.execute(
                f"DELETE FROM {invoice_table} WHERE number LIKE %s", [CEILING_PREFIX + "%"]
            )
    connection.set_schema_to_public()


def _timed_ceiling(schemas: list[str], workers: int) -> tuple[float, int, int, str]:
    """Ceiling: seconds, invoices, lines and each process's time of the plain bulk insert."""
    from django.db import connections

    connections.close_all()  # workers must not share the parent's connection
    context = multiprocessing.get_context("fork")
    chunks = [schemas[i::workers] for i in range(workers)]  # as _timed_run
    barrier, results = context.Barrier(len(chunks)), context.Queue()
    processes = [
        context.Process(target=_ceiling_instances, args=(chunk, barrier, results))
        for chunk in chunks
    ]
    for process in processes:
        process.start()
    figures = [results.get() for _ in processes]
    for process in processes:
        process.join()
    if None in figures:
        raise SystemExit("a ceiling process failed (see its traceback above)")
    seconds = max(f[1] for f in figures) - min(f[0] for f in figures)
    each = ", ".join(f"{f[1] - f[0]:.1f} s" for f in figures)
    return seconds, sum(f[2] for f in figures), sum(f[3] for f in figures), each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    configure(DB)
    from config.celery import app
    from shared_apps.tenancy.services import reseller_create

    # PDFs and e-mails are queued for the workers, not rendered inside the run.
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"

    started = time.perf_counter()
    schemas = []
    for i in range(args.instances):
        reseller = reseller_create(
            slug=f"bill{i}",
            name=f"Bill {i}",
            legal_name=f"Bill {i}",
            owner_email=f"o@bill{i}.test",
            method="template",
        )
        _populate(reseller.schema_name, args.services)
        schemas.append(reseller.schema_name)
    total = args.instances * args.services
    print(
        f"set-up: {args.instances} instances × {args.services} due services in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )

    seconds, invoices = _timed_run(schemas, args.workers)
    print(
        f"run 1: {invoices} invoices in {seconds:.1f} s over {args.workers} processes "
        f"({invoices / seconds:.0f} invoices/s)",
        file=sys.stderr,
    )
    second_seconds, second_invoices = _timed_run(schemas, args.workers)
    print(f"run 2: {second_invoices} new invoices in {second_seconds:.1f} s", file=sys.stderr)

    ceiling = _timed_ceiling(schemas, args.workers)
    ceiling_seconds, ceiling_invoices, ceiling_lines, each = ceiling
    _ceiling_cleanup(schemas)
    print(
        f"ceiling: {ceiling_invoices} invoices and {ceiling_lines} lines bulk-inserted in "
        f"{ceiling_seconds:.1f} s over {args.workers} processes ({each}; then deleted)",
        file=sys.stderr,
    )
    ratio = seconds / ceiling_seconds

    result = {
        "bench": "billing_run",
        "instances": args.instances,
        "services": total,
        "invoices": invoices,
        "seconds": round(seconds, 2),
        "invoices_per_s": round(invoices / seconds, 1),
        "second_run_new_invoices": second_invoices,
        "workers": args.workers,
        "ceiling_seconds": round(ceiling_seconds, 2),
        "ceiling_invoices": ceiling_invoices,
        "ceiling_lines": ceiling_lines,
        "ratio_vs_ceiling": round(ratio, 2),
        "target": f"ratio_vs_ceiling <= {TARGET_RATIO}",
        "meets_target": round(ratio, 2) <= TARGET_RATIO,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
