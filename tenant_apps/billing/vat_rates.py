"""EU VAT rates shipped as data (`data/eu_vat_rates.json`: standard, reduced and
super-reduced rates per country, each with the day it took effect), and the one service that
writes the rates in force on a day into an instance's tax rates — instead of rates typed in
by hand, or a silent 0 %.

A rate class of the data ("standard", "reduced", "reduced_lower", "super_reduced") reaches an
instance's tax rates when the instance has a tax class with that code. A country without a
rate of some class taxes those supplies at the class the data names as its fallback (no
reduced rate in Denmark: the standard one), so every EU country gets a rate for every class.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from tenant_apps.catalog.models import TaxClass

from . import services
from .models import TaxRate

DATA = Path(__file__).resolve().parent / "data" / "eu_vat_rates.json"
STANDARD = "standard"


def _document(path: Path) -> dict:
    return json.loads(path.read_text())


def rate_classes(*, path: Path = DATA) -> list[str]:
    """The rate classes the data carries, the standard one first."""
    return list(_document(path)["classes"])


def eu_rates_on(
    day: datetime.date, *, rate_class: str = STANDARD, path: Path = DATA
) -> dict[str, Decimal]:
    """{country: rate of `rate_class`} in force on `day` (following the data's fallbacks for a
    country without a rate of that class)."""
    document = _document(path)
    in_force: dict[tuple[str, str], tuple[datetime.date, Decimal]] = {}
    for row in document["rates"]:
        since = datetime.date.fromisoformat(row["from"])
        key = (row["country"], row.get("class", STANDARD))
        if since <= day and (key not in in_force or since > in_force[key][0]):
            in_force[key] = (since, Decimal(row["rate"]))
    countries = sorted({country for country, klass in in_force if klass == STANDARD})
    fallback = document.get("fallback", {})
    rates = {}
    for country in countries:
        klass, seen = rate_class, set()
        while (country, klass) not in in_force and klass in fallback and klass not in seen:
            seen.add(klass)
            klass = fallback[klass]
        if (country, klass) in in_force:
            rates[country] = in_force[(country, klass)][1]
    return rates


def _percent(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


@transaction.atomic
def eu_vat_rates_refresh(*, day: datetime.date, actor=None) -> list[str]:
    """Set the rate of every EU country, for each rate class this instance has a tax class
    of, to the one in force on `day` (audited through `tax_rate_set`); returns one line per
    change ("EE: 22 % → 24 %", "EE reduced: 9 % → 13 %"), nothing when all were right."""
    tax_classes = {
        tax_class.code: tax_class for tax_class in TaxClass.objects.filter(code__in=rate_classes())
    }
    changes = []
    for code in rate_classes():
        tax_class = tax_classes.get(code)
        if tax_class is None:
            continue
        current = {row.country: row for row in TaxRate.objects.filter(tax_class=tax_class)}
        label = "" if code == STANDARD else f" {code.replace('_', ' ')}"
        for country, rate in eu_rates_on(day, rate_class=code).items():
            row = current.get(country)
            if row is not None and row.rate == rate:
                continue
            before = f"{_percent(row.rate)} %" if row else "none"
            services.tax_rate_set(
                country=country,
                tax_class=tax_class,
                rate=rate,
                name=row.name if row else "VAT",
                tax_rate=row,
                actor=actor,
            )
            changes.append(f"{country}{label}: {before} → {_percent(rate)} %")
    return changes
