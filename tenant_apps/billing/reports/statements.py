"""A customer's statement as it reads on screen and as a PDF (WeasyPrint, like invoices).

`statement_presentation` turns a `selectors.Statement` into formatted text once, so the
staff page, the portal page and the PDF print the same figures. Unlike an invoice, a
statement is not a frozen document: it is printed from today's issuer identity and
customer details, and rendered on request (never stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.template import loader
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from tenant_apps.instance.money import format_money
from tenant_apps.instance.selectors import issuer_identity_get

from ..documents import LocalFilesOnly
from ..presenters import (
    ISSUER_FIELDS,
    PartyView,
    customer_party,
    format_date,
    issuer_party,
)
from .selectors import Statement

TEMPLATE = "billing/pdf/statement.html"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class StatementRowView:
    date: str
    label: str
    reference: str
    debit: str
    credit: str
    balance: str
    invoice_id: int | None


@dataclass(frozen=True)
class StatementSectionView:
    currency: str
    opening: str
    rows: tuple[StatementRowView, ...]
    total_debit: str
    total_credit: str
    closing: str
    closing_is_credit: bool


@dataclass(frozen=True)
class StatementView:
    issuer: PartyView
    customer: PartyView
    start: str
    end: str
    sections: tuple[StatementSectionView, ...]


def _issuer_snapshot() -> dict:
    identity = issuer_identity_get()
    if identity is None:
        return {}
    values = {name: getattr(identity, name, "") or "" for name in ISSUER_FIELDS}
    return {**values, "logo": "", "country": str(identity.country or "")}


def statement_presentation(statement: Statement) -> StatementView:
    def money(amount: Decimal, currency: str) -> str:
        return format_money(amount, currency)

    def blank_or_money(amount: Decimal, currency: str) -> str:
        return money(amount, currency) if amount else ""

    sections = []
    for section in statement.sections:
        currency = section.currency
        sections.append(
            StatementSectionView(
                currency=currency,
                opening=money(section.opening, currency),
                rows=tuple(
                    StatementRowView(
                        date=format_date(line.date),
                        label=line.label,
                        reference=line.reference,
                        debit=blank_or_money(line.debit, currency),
                        credit=blank_or_money(line.credit, currency),
                        balance=money(line.balance, currency),
                        invoice_id=line.invoice_id,
                    )
                    for line in section.lines
                ),
                total_debit=money(section.total_debit, currency),
                total_credit=money(section.total_credit, currency),
                closing=money(section.closing, currency),
                closing_is_credit=section.closing < 0,
            )
        )
    return StatementView(
        issuer=issuer_party(_issuer_snapshot()),
        customer=customer_party(statement.customer.billing_snapshot()),
        start=format_date(statement.start),
        end=format_date(statement.end),
        sections=tuple(sections),
    )


@cache
def _font_config() -> FontConfiguration:
    return FontConfiguration()


def statement_html_render(statement: Statement) -> str:
    return loader.render_to_string(TEMPLATE, {"view": statement_presentation(statement)})


def statement_pdf_render(statement: Statement) -> bytes:
    """The statement as a PDF; customer and issuer text are escaped by the template, and
    WeasyPrint may read nothing but inline data (no URL a name could smuggle in)."""
    document = HTML(string=statement_html_render(statement), url_fetcher=LocalFilesOnly())
    return document.write_pdf(font_config=_font_config())


def statement_filename(statement: Statement) -> str:
    name = _UNSAFE_FILENAME.sub("-", statement.customer.display_name).strip(".-") or "customer"
    return f"statement-{name}-{statement.start:%Y%m%d}-{statement.end:%Y%m%d}.pdf"
