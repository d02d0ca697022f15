"""Benchmark: e-invoices produced and validated per second, one process per core.

    python tests/bench/einvoice.py --count 200 [--workers N]

Creates one reseller instance (FR issuer with its e-invoicing details; a French business
customer whose Peppol details are complete) and --count issued invoices of five lines each
through the billing services, then produces for every invoice its Factur-X PDF (PDF/A-3
rendered by WeasyPrint, CII XML embedded) and its Peppol BIS 3.0 UBL XML with
`einvoice.documents.einvoice_produce` — each XML checked against its XSD and the EN 16931
Schematron before it counts as valid — in a pool of --workers processes, in batches of ten.
Each worker warms up (fonts, stylesheets, Saxon) on one invoice before the clock starts;
only the production is timed.

Prints, as its last line, one JSON object:
{"bench":"einvoice","valid":…,"invalid":0,"per_s":…} (per_s counts documents: two per
invoice). Target: invalid 0 and per_s >= 10.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time

from _setup import configure, drop, issued_invoices

DB = "upline_bench_einvoice"
SLUG = "einvbench"
BATCH = 10
TARGET_PER_S = 10


def _produce(schema: str, ids: list[int]) -> tuple[int, int, list[str]]:
    from django_tenants.utils import schema_context

    from tenant_apps.billing.models import Invoice
    from tenant_apps.einvoice.documents import EInvoiceRefused, einvoice_produce
    from tenant_apps.einvoice.formats import Format

    valid = invalid = 0
    reasons: list[str] = []
    with schema_context(schema):
        invoices = Invoice.objects.filter(pk__in=ids).select_related("customer", "credited_invoice")
        for invoice in invoices.prefetch_related("lines"):
            for fmt in (Format.FACTURX, Format.PEPPOL):
                try:
                    einvoice_produce(invoice=invoice, fmt=fmt)
                except EInvoiceRefused as exc:
                    invalid += 1
                    reasons.append(f"{invoice.number} {fmt}: {exc}")
                else:
                    valid += 1
    return valid, invalid, reasons


def produce_share(job: tuple[str, list[int]]) -> tuple[int, int, list[str], float]:
    """Worker: produce and validate both formats of the given invoices; CPU seconds too."""
    cpu_started = time.process_time()
    valid, invalid, reasons = _produce(*job)
    return valid, invalid, reasons, time.process_time() - cpu_started


def warm(job: tuple[str, list[int]]) -> int:
    """Worker: load fonts, stylesheets and Saxon once, as a long-lived worker has them."""
    _produce(*job)
    return os.getpid()


def build_invoices(count: int) -> tuple[str, list[int]]:
    from tenant_apps.einvoice.services import customer_einvoicing_update, issuer_einvoicing_update

    def einvoicing(customer) -> None:
        issuer_einvoicing_update(
            endpoint_scheme="0009", endpoint_id="30326504500011", contact_name="Accounts"
        )
        customer_einvoicing_update(
            customer=customer,
            format="peppol",
            order_reference="PO-2026-118",
            endpoint_scheme="0009",
            endpoint_id="44306184100015",
        )

    return issued_invoices(
        count,
        slug=SLUG,
        name="E-invoice Bench",
        identity={
            "legal_name": "E-invoice Bench Hosting SAS",
            "trading_name": "E-invoice Bench",
            "address_line1": "12 rue de la Paix",
            "postal_code": "75002",
            "city": "Paris",
            "country": "FR",
            "tax_id": "FR40303265045",
            "registration_number": "303265045",
            "email": "billing@einvbench.test",
            "phone": "+33 1 23 45 67 89",
            "bank_details": "IBAN FR76 3000 6000 0112 3456 7890 189\nBIC AGRIFRPP",
        },
        customer={"tax_id": "FR64443061841"},
        prepare=einvoicing,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if args.count < 1 or args.workers < 1:
        parser.error("--count and --workers must be at least 1")

    configure(DB)
    import logging

    from django.db import connections

    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    logging.getLogger("factur-x").setLevel(logging.WARNING)

    schema, ids = build_invoices(args.count)
    print(f"{len(ids)} invoices issued in {schema}", file=sys.stderr)
    # Forked children must not share the parent's database socket; Saxon is started in each
    # worker (never before the fork: its runtime does not survive one).
    connections.close_all()

    workers = min(args.workers, len(ids))
    batches = [(schema, ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        # One warm-up per worker (a batch each, so every process gets one), not timed.
        warmed = set(pool.map(warm, [(schema, ids[:1])] * workers, chunksize=1))
        started = time.perf_counter()
        results = list(pool.imap_unordered(produce_share, batches))
        elapsed = time.perf_counter() - started
    valid = sum(r[0] for r in results)
    invalid = sum(r[1] for r in results)
    cpu = sum(r[3] for r in results)
    for reasons in (r[2] for r in results):
        for reason in reasons[:3]:
            print(f"invalid: {reason}", file=sys.stderr)
    documents = valid + invalid
    per_s = documents / elapsed
    print(
        f"produced {documents} documents ({len(ids)} Factur-X PDFs + {len(ids)} UBL) in "
        f"{elapsed:.2f} s with {workers} processes ({len(warmed)} warmed); "
        f"{cpu / documents * 1000:.0f} ms CPU per document",
        file=sys.stderr,
    )
    result = {
        "bench": "einvoice",
        "count": len(ids),
        "workers": workers,
        "documents": documents,
        "cpu_ms_per_document": round(cpu / documents * 1000, 1),
        "target": f"invalid == 0 and per_s >= {TARGET_PER_S}",
        "meets_target": invalid == 0 and per_s >= TARGET_PER_S,
        "valid": valid,
        "invalid": invalid,
        "per_s": round(per_s, 1),
    }
    if not args.keep:
        drop(DB)
    # The keys the issue names, in its order, end the line.
    print(json.dumps(result))


if __name__ == "__main__":
    main()
