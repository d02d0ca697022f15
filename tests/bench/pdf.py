"""Benchmark: invoice PDFs rendered per second, with one rendering process per core.

    python tests/bench/pdf.py --count 200 [--workers N] [--sample /tmp/invoice.pdf]

Creates one reseller instance (FR issuer, FR customer, FR standard VAT 20 %) and --count
issued invoices of five lines each through the billing services, then renders every PDF
with `documents.invoice_pdf_render` in a pool of --workers processes (default: one per
core). Only the rendering phase is timed. Prints, as its last line, one JSON object.
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

DB = "upline_bench_pdf"
SLUG = "pdfbench"
BATCH = 10


def render_share(job: tuple[str, list[int]]) -> tuple[int, float]:
    """Worker: render the given invoices in the instance's schema; (bytes made, CPU seconds)."""
    schema, ids = job
    cpu_started = time.process_time()
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenant_apps.billing.documents import invoice_pdf_render
    from tenant_apps.billing.models import Invoice

    made = 0
    with schema_context(schema):
        invoices = Invoice.objects.filter(pk__in=ids).prefetch_related("lines")
        for invoice in invoices.select_related("credited_invoice"):
            made += len(invoice_pdf_render(invoice=invoice))
    connection.close()
    return made, time.process_time() - cpu_started


def build_invoices(count: int) -> tuple[str, list[int]]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from shared_apps.tenancy.services import reseller_create
    from tenant_apps.billing import services, tasks
    from tenant_apps.billing.models import TaxRate
    from tenant_apps.catalog.models import TaxClass
    from tenant_apps.clients.models import Customer
    from tenant_apps.instance import services as instance_services

    # Issuing enqueues PDF + mail work (eager here); the set-up must not render anything
    # itself, or it would do the measured work twice.
    tasks.documents_finalise_later = lambda invoice_ids, schema_name: None

    reseller = reseller_create(
        slug=SLUG,
        name="PDF Bench",
        legal_name="PDF Bench Hosting SAS",
        owner_email=f"owner@{SLUG}.test",
        owner_password="bench-password-1",
        method="template",
    )
    with schema_context(reseller.schema_name):
        instance_services.issuer_identity_set(
            legal_name="PDF Bench Hosting SAS",
            trading_name="PDF Bench",
            address_line1="12 rue de la Paix",
            postal_code="75002",
            city="Paris",
            country="FR",
            tax_id="FR40303265045",
            registration_number="RCS Paris 303 265 045",
            email="billing@pdfbench.test",
            bank_details="IBAN FR76 3000 6000 0112 3456 7890 189\nBIC AGRIFRPP",
            invoice_footer="Late payment: 40 € fixed recovery fee.",
        )
        TaxRate.objects.create(
            country="FR", tax_class=TaxClass.objects.get(code="standard"), rate=Decimal("20")
        )
        customer = Customer.objects.create(
            kind=Customer.Kind.COMPANY,
            name="Jeanne Martin",
            company_name="Boulangerie Martin SARL",
            email="compta@martin.test",
            address_line1="3 place du Marché",
            postal_code="69001",
            city="Lyon",
            country="FR",
            currency="EUR",
        )
        start = datetime.date(2026, 3, 1)
        end = datetime.date(2026, 3, 31)
        lines = [
            {"description": "Managed VPS L (4 vCPU, 8 GB)", "unit_price": "39.00"},
            {"description": "Additional storage 100 GB", "unit_price": "4.50", "quantity": "3"},
            {"description": "Daily backups", "unit_price": "6.00"},
            {"description": "Domain martin-boulangerie.fr", "unit_price": "9.90"},
            {"description": "Support hours", "unit_price": "65.00", "quantity": "1.5"},
        ]
        for line in lines:
            line.update(period_start=start, period_end=end)
        ids = []
        for _ in range(count):
            draft = services.invoice_create_draft(customer=customer, lines=lines)
            ids.append(services.invoice_issue(invoice=draft).pk)
    connection.set_schema_to_public()
    return reseller.schema_name, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", help="also write the first invoice's PDF to this file")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if args.count < 1 or args.workers < 1:
        parser.error("--count and --workers must be at least 1")

    configure(DB)
    import logging

    from django.db import connections

    # WeasyPrint logs every rendering step at INFO; production keeps it at WARNING too.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

    schema, ids = build_invoices(args.count)
    print(f"{len(ids)} invoices issued in {schema}", file=sys.stderr)

    # Warm this process (fonts, stylesheet, templates) before forking, as a long-lived
    # worker is warm: the figure is steady-state throughput, not interpreter start-up.
    sample_bytes, _ = render_share((schema, ids[:1]))
    if args.sample:
        from django_tenants.utils import schema_context

        from tenant_apps.billing.documents import invoice_pdf_render
        from tenant_apps.billing.models import Invoice

        with schema_context(schema):
            with open(args.sample, "wb") as handle:
                handle.write(invoice_pdf_render(invoice=Invoice.objects.get(pk=ids[0])))
    # Forked children must not share the parent's database socket.
    connections.close_all()

    workers = min(args.workers, len(ids))
    # Small batches handed out as workers free up: a worker slowed by another process on
    # the machine then takes fewer, instead of holding up the end with half of the work.
    batches = [(schema, ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        started = time.perf_counter()
        results = list(pool.imap_unordered(render_share, batches))
        elapsed = time.perf_counter() - started
    made = sum(size for size, _ in results)
    cpu = sum(seconds for _, seconds in results)
    # CPU time per PDF does not depend on what else the machine runs: with it, a figure
    # taken on a busy machine can be told apart from a slow renderer.
    print(
        f"rendered {len(ids)} PDFs in {elapsed:.2f} s with {workers} processes; "
        f"{cpu / len(ids) * 1000:.0f} ms CPU per PDF; "
        f"{made / len(ids) / 1024:.1f} KiB each (first {sample_bytes / 1024:.1f} KiB)",
        file=sys.stderr,
    )

    result = {
        "bench": "pdf",
        "count": len(ids),
        "workers": workers,
        "pdfs_per_s": round(len(ids) / elapsed, 1),
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
