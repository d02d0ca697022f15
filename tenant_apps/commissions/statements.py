"""Payout statements a partner downloads: the ledger entries one payout settled, as CSV or
as a simple PDF (WeasyPrint). Rendered on demand from rows that never change once paid out,
so nothing is stored; the instance is the payer named on it (a statement, not an invoice)."""

from __future__ import annotations

import csv
import io

from django.template import loader
from weasyprint import HTML

from tenant_apps.instance.money import ZERO
from tenant_apps.instance.selectors import issuer_identity_get

from .models import Payout
from .selectors import statement_entries

CSV_HEADER = [
    "date",
    "invoice",
    "level",
    "entry",
    "net_amount",
    "terms",
    "commission",
    "currency",
]


def _refuse_fetch(url: str, *args, **kwargs):
    # The statement prints only what the template holds: no file, no network.
    raise ValueError(f"Statements load nothing from outside ({url}).")


def statement_filename(payout: Payout, fmt: str) -> str:
    return f"commission-statement-{payout.paid_on:%Y%m%d}-{payout.pk}.{fmt}"


def _terms(entry) -> str:
    if entry.terms_kind == "percent":
        return f"{entry.terms_value.normalize():f} %"
    return f"{entry.terms_value.quantize(ZERO.scaleb(-2))} fixed"


def statement_csv(payout: Payout) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for entry in statement_entries(payout):
        writer.writerow(
            [
                entry.created_at.date().isoformat(),
                entry.invoice.number or "",
                entry.level,
                entry.get_kind_display(),
                entry.base,
                _terms(entry),
                entry.amount,
                entry.currency,
            ]
        )
    writer.writerow(["", "", "", "Paid out", "", "", payout.amount, payout.currency])
    return out.getvalue()


def statement_context(payout: Payout) -> dict:
    return {
        "payout": payout,
        "entries": [(entry, _terms(entry)) for entry in statement_entries(payout)],
        "issuer": issuer_identity_get(),
    }


def statement_pdf(payout: Payout) -> bytes:
    html = loader.render_to_string("commissions/statement_pdf.html", statement_context(payout))
    return HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
