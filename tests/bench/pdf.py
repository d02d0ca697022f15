"""Benchmark: invoice PDFs rendered per second, with one rendering process per core.

    python tests/bench/pdf.py --count 200 [--workers N] [--rounds R] [--sample /tmp/invoice.pdf]

Creates one reseller instance (FR issuer, FR customer, FR standard VAT 20 %) and --count
issued invoices of five lines each through the billing services, then renders every PDF
with `documents.invoice_pdf_render` in a pool of --workers processes (default: one per
core), in batches of ten. Only the rendering phases are timed.

Baseline, measured in the same run because the machine's speed varies from day to day:
the first invoice's HTML (rendered once by the project's template) is printed --count
times by WeasyPrint alone — `HTML(string=...).write_pdf()` with the same stylesheet and a
font configuration, both made once per process as the project does; no Django, database
or storage work — first in this one process, then on the same pool as the measured
rendering (same processes, same batches). On the pool the two alternate in --rounds
rounds (default 5; the first mode swaps each round) so that both see the same machine;
each mode's time is the sum of its rounds. The target is
ratio_vs_plain = pdfs_per_s / plain_pdfs_per_s (pool figures) >= 0.8.

Prints, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time

from _setup import configure, drop, issued_invoices

DB = "upline_bench_pdf"
SLUG = "pdfbench"
BATCH = 10
TARGET_RATIO = 0.8

# What the plain-WeasyPrint baseline prints: set in the parent before the pool forks, so
# the workers inherit it (and the parsed stylesheet) as they inherit the warm project code.
_plain: dict = {}


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


def plain_setup(html: str, css_source: str) -> None:
    """Parse the stylesheet and make the font configuration once, as the project does."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    _plain.update(
        html=html,
        font_config=font_config,
        stylesheet=CSS(string=css_source, font_config=font_config),
    )


def plain_share(count: int) -> tuple[int, float]:
    """Worker: print the same HTML `count` times with WeasyPrint alone; (bytes, CPU seconds)."""
    from weasyprint import HTML

    cpu_started = time.process_time()
    made = 0
    for _ in range(count):
        made += len(
            HTML(string=_plain["html"]).write_pdf(
                stylesheets=[_plain["stylesheet"]], font_config=_plain["font_config"]
            )
        )
    return made, time.process_time() - cpu_started


def build_invoices(count: int) -> tuple[str, list[int]]:
    return issued_invoices(
        count,
        slug=SLUG,
        name="PDF Bench",
        identity={
            "legal_name": "PDF Bench Hosting SAS",
            "trading_name": "PDF Bench",
            "address_line1": "12 rue de la Paix",
            "postal_code": "75002",
            "city": "Paris",
            "country": "FR",
            "tax_id": "FR40303265045",
            "registration_number": "RCS Paris 303 265 045",
            "email": "billing@pdfbench.test",
            "bank_details": "IBAN FR76 3000 6000 0112 3456 7890 189\nBIC AGRIFRPP",
            "invoice_footer": "Late payment: 40 € fixed recovery fee.",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating project/plain rounds on the pool"
    )
    parser.add_argument("--sample", help="also write the first invoice's PDF to this file")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if args.count < 1 or args.workers < 1 or args.rounds < 1:
        parser.error("--count, --workers and --rounds must be at least 1")

    configure(DB)
    import logging

    from django.db import connections
    from django.template import loader
    from django_tenants.utils import schema_context

    from tenant_apps.billing.documents import STYLESHEET, invoice_html_render, invoice_pdf_render
    from tenant_apps.billing.models import Invoice

    # WeasyPrint logs every rendering step at INFO; production keeps it at WARNING too.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

    schema, ids = build_invoices(args.count)
    print(f"{len(ids)} invoices issued in {schema}", file=sys.stderr)

    # Warm this process (fonts, stylesheet, templates) before forking, as a long-lived
    # worker is warm: the figure is steady-state throughput, not interpreter start-up.
    sample_bytes, _ = render_share((schema, ids[:1]))
    if args.sample:
        with schema_context(schema):
            with open(args.sample, "wb") as handle:
                handle.write(invoice_pdf_render(invoice=Invoice.objects.get(pk=ids[0])))
    # The plain baseline prints the same document: the first invoice's HTML, made once here
    # by the project's template (not timed), and the project's stylesheet source.
    with schema_context(schema):
        html = invoice_html_render(invoice=Invoice.objects.get(pk=ids[0]))
    plain_setup(html, loader.get_template(STYLESHEET).template.source)
    plain_share(1)  # warm, as the project's path was warmed above

    # Forked children must not share the parent's database socket.
    connections.close_all()

    # Baseline: WeasyPrint alone, in this one process.
    started = time.perf_counter()
    plain_one_made, _ = plain_share(len(ids))
    plain_one_elapsed = time.perf_counter() - started

    workers = min(args.workers, len(ids))
    # Small batches handed out as workers free up: a worker slowed by another process on
    # the machine then takes fewer, instead of holding up the end with half of the work.
    batches = [(schema, ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]
    # The project's rendering and the plain baseline alternate in rounds on the same pool
    # (each round's first mode swaps), so both see the same machine even while another
    # load on it comes and goes; each mode's time is the sum of its rounds.
    rounds = min(args.rounds, len(batches))
    groups = [
        batches[r * len(batches) // rounds : (r + 1) * len(batches) // rounds]
        for r in range(rounds)
    ]
    elapsed = plain_elapsed = 0.0
    results: list[tuple[int, float]] = []
    plain_results: list[tuple[int, float]] = []
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for r, group in enumerate(groups):
            for mode in ("project", "plain") if r % 2 == 0 else ("plain", "project"):
                started = time.perf_counter()
                if mode == "project":
                    results += pool.imap_unordered(render_share, group)
                    elapsed += time.perf_counter() - started
                else:
                    plain_results += pool.imap_unordered(plain_share, [len(b[1]) for b in group])
                    plain_elapsed += time.perf_counter() - started
    made = sum(size for size, _ in results)
    cpu = sum(seconds for _, seconds in results)
    plain_cpu = sum(seconds for _, seconds in plain_results)
    # CPU time per PDF does not depend on what else the machine runs: with it, a figure
    # taken on a busy machine can be told apart from a slow renderer.
    print(
        f"rendered {len(ids)} PDFs in {elapsed:.2f} s with {workers} processes "
        f"({rounds} rounds); "
        f"{cpu / len(ids) * 1000:.0f} ms CPU per PDF; "
        f"{made / len(ids) / 1024:.1f} KiB each (first {sample_bytes / 1024:.1f} KiB)",
        file=sys.stderr,
    )
    print(
        f"plain WeasyPrint: {len(ids)} PDFs in {plain_elapsed:.2f} s with {workers} processes, "
        f"{plain_one_elapsed:.2f} s in one; {plain_cpu / len(ids) * 1000:.0f} ms CPU per PDF; "
        f"{plain_one_made / len(ids) / 1024:.1f} KiB each",
        file=sys.stderr,
    )

    pdfs_per_s = len(ids) / elapsed
    plain_pdfs_per_s = len(ids) / plain_elapsed
    ratio = pdfs_per_s / plain_pdfs_per_s
    result = {
        "bench": "pdf",
        "count": len(ids),
        "workers": workers,
        "rounds": rounds,
        "pdfs_per_s": round(pdfs_per_s, 1),
        "cpu_ms_per_pdf": round(cpu / len(ids) * 1000, 1),
        "plain_pdfs_per_s": round(plain_pdfs_per_s, 1),
        "plain_pdfs_per_s_one_process": round(len(ids) / plain_one_elapsed, 1),
        "plain_cpu_ms_per_pdf": round(plain_cpu / len(ids) * 1000, 1),
        "ratio_vs_plain": round(ratio, 3),
        "target": f"ratio_vs_plain >= {TARGET_RATIO}",
        "meets_target": round(ratio, 3) >= TARGET_RATIO,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
