"""Benchmark: the recurring billing run over many instances, using both cores.

    python tests/bench/billing_run.py --instances 100 --services 1000

Builds --instances reseller instances, each with --services active monthly services due
inside the renewal window (one customer each, so one invoice per service: the worst
case). Then runs the renewal run of every instance the way the beat fan-out does — one
run per instance, spread over --workers processes (default: all cores) — and times it.
Runs it a second time to prove it is idempotent. Prints figures and, last, a JSON object.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import sys
import time
from decimal import Decimal

from _setup import configure, drop

DB = "upline_bench_billing"
RUN_DATE = datetime.date(2026, 11, 26)


def _populate(schema_name: str, services_count: int) -> None:
    from django_tenants.utils import schema_context

    from tenant_apps.billing.models import TaxRate
    from tenant_apps.catalog.models import Price, Product, TaxClass
    from tenant_apps.clients.models import Customer
    from tenant_apps.instance.services import issuer_identity_set
    from tenant_apps.orders.models import Service

    with schema_context(schema_name):
        issuer_identity_set(legal_name=f"{schema_name} SARL", country="FR")
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

    result = {
        "bench": "billing_run",
        "instances": args.instances,
        "services": total,
        "invoices": invoices,
        "seconds": round(seconds, 2),
        "invoices_per_s": round(invoices / seconds, 1),
        "second_run_new_invoices": second_invoices,
        "workers": args.workers,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
