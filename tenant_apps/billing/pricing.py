"""The one way invoice lines are priced: drafts, credit notes and renewal runs all use it.

A line's net, tax and gross come from `taxes.line_amounts` (each rounded once, net + tax ==
gross), its rate from the document's tax context, and a document's totals are the sums of
its rounded lines, so every document reconciles. A credit note passes no tax context: it
repeats the rate the credited line was issued with, whatever the rates are today.

VAT is owed per rate on the sum of that rate's lines (EN 16931, BR-CO-17): ten lines of
1.05 at 21 % owe 2.21, not ten times 0.22 rounded down to 2.20. `balance_vat` moves the
difference between the two onto the rate's largest line, so the lines still add up to the
document and each rate's VAT is the one the law computes.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from tenant_apps.instance.money import ZERO, round_money

from .models import Invoice, InvoiceLine
from .taxes import HUNDRED, TaxContext, line_amounts


class LineInput(Protocol):
    """What a line is made of before it is priced (a `services.LineSpec`, or an issued
    `InvoiceLine` being credited)."""

    description: str
    unit_price: Decimal
    quantity: Decimal
    tax_class_code: str
    kind: str
    service_id: int | None
    period_start: datetime.date | None
    period_end: datetime.date | None


def line_from(spec: LineInput, *, position: int, invoice: Invoice | None = None) -> InvoiceLine:
    """An unsaved, unpriced line with what the spec says."""
    return InvoiceLine(
        invoice=invoice,
        position=position,
        kind=spec.kind,
        description=spec.description,
        quantity=spec.quantity,
        unit_price=spec.unit_price,
        tax_class_code=spec.tax_class_code,
        service_id=spec.service_id,
        period_start=spec.period_start,
        period_end=spec.period_end,
    )


def price_line(
    line: InvoiceLine,
    *,
    currency: str,
    prices_include_tax: bool,
    tax_context: TaxContext | None,
) -> InvoiceLine:
    """Set a line's rate and amounts in place (no save).

    With a tax context the rate is the context's for the line's tax class; without one the
    line keeps the rate it carries (credit notes repeat the credited line's rate).
    """
    if tax_context is not None:
        line.tax_rate = tax_context.rate_for(line.tax_class_code)
    line.net_amount, line.tax_amount, line.gross_amount = line_amounts(
        quantity=line.quantity,
        unit_price=line.unit_price,
        rate=line.tax_rate,
        prices_include_tax=prices_include_tax,
        currency=currency,
    )
    return line


def priced_lines(
    specs: Iterable[LineInput],
    *,
    currency: str,
    prices_include_tax: bool,
    tax_context: TaxContext | None,
    invoice: Invoice | None = None,
    start: int = 0,
) -> list[InvoiceLine]:
    """New, unsaved, priced lines for `specs`, numbered from `start`.

    Without a tax context each spec must carry its `tax_rate` (an issued line being credited).
    """
    lines = []
    for offset, spec in enumerate(specs):
        line = line_from(spec, position=start + offset, invoice=invoice)
        if tax_context is None:
            line.tax_rate = spec.tax_rate
        lines.append(
            price_line(
                line,
                currency=currency,
                prices_include_tax=prices_include_tax,
                tax_context=tax_context,
            )
        )
    return balance_vat(lines, currency=currency, prices_include_tax=prices_include_tax)


def vat_per_rate(
    lines: Iterable[InvoiceLine], *, currency: str, prices_include_tax: bool
) -> dict[Decimal, Decimal]:
    """{rate: VAT owed} computed on each rate's summed lines, as the law computes it."""
    base: dict[Decimal, Decimal] = {}
    for line in lines:
        amount = line.gross_amount if prices_include_tax else line.net_amount
        base[line.tax_rate] = base.get(line.tax_rate, ZERO) + amount
    if prices_include_tax:
        return {
            rate: round_money(total * rate / (HUNDRED + rate), currency)
            for rate, total in base.items()
        }
    return {rate: round_money(total * rate / HUNDRED, currency) for rate, total in base.items()}


def balance_vat(
    lines: list[InvoiceLine], *, currency: str, prices_include_tax: bool
) -> list[InvoiceLine]:
    """Make each rate's line taxes add up to the rate's VAT (see the module docstring):
    the rounding difference goes onto that rate's largest line, in place."""
    owed = vat_per_rate(lines, currency=currency, prices_include_tax=prices_include_tax)
    for rate, vat in owed.items():
        group = [line for line in lines if line.tax_rate == rate]
        difference = vat - sum((line.tax_amount for line in group), ZERO)
        if not difference:
            continue
        largest = max(group, key=lambda line: (abs(line.net_amount), -line.position))
        largest.tax_amount += difference
        if prices_include_tax:
            largest.net_amount -= difference  # the price the customer saw stays the same
        else:
            largest.gross_amount += difference
    return lines


# Amount columns hold 14 digits, 2 of them decimals: a document's amounts stay below this.
AMOUNT_LIMIT = Decimal("1000000000000")


def set_totals(document: Invoice, lines: Iterable[InvoiceLine]) -> None:
    """Totals are sums of the already-rounded lines, so a document always reconciles.

    A line or total too large to store is refused here, the one place every document's
    amounts pass, with a sentence rather than a database error."""
    lines = list(lines)
    document.subtotal = sum((line.net_amount for line in lines), ZERO)
    document.tax_total = sum((line.tax_amount for line in lines), ZERO)
    document.total = document.subtotal + document.tax_total
    amounts = [document.subtotal, document.tax_total, document.total]
    amounts += [line.gross_amount for line in lines] + [line.net_amount for line in lines]
    if any(abs(amount) >= AMOUNT_LIMIT for amount in amounts):
        raise ValidationError(
            {
                "lines": [
                    _(
                        "A document cannot come to %(AMOUNT_LIMIT)s %(currency)s or more: split "
                        "it into several."
                    )
                    % {"AMOUNT_LIMIT": format(AMOUNT_LIMIT, ","), "currency": document.currency}
                ]
            }
        )
