"""EU standard VAT rates shipped as data (`data/eu_vat_rates.json`, with the date each rate
took effect), and the one service that writes the rates in force on a day into an
instance's tax rates — instead of rates typed in by hand, or a silent 0 %."""

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


def eu_rates_on(day: datetime.date, *, path: Path = DATA) -> dict[str, Decimal]:
    """{country: standard rate} in force on `day`."""
    document = json.loads(path.read_text())
    in_force: dict[str, tuple[datetime.date, Decimal]] = {}
    for row in document["rates"]:
        since = datetime.date.fromisoformat(row["from"])
        if since <= day and (row["country"] not in in_force or since > in_force[row["country"]][0]):
            in_force[row["country"]] = (since, Decimal(row["rate"]))
    return {country: rate for country, (_since, rate) in sorted(in_force.items())}


def _percent(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


@transaction.atomic
def eu_vat_rates_refresh(*, day: datetime.date, actor=None) -> list[str]:
    """Set the standard rate of every EU country to the one in force on `day` (audited
    through `tax_rate_set`); returns one line per change, nothing when all were right."""
    standard = TaxClass.objects.filter(code="standard").first()
    if standard is None:
        return []
    changes = []
    current = {row.country: row for row in TaxRate.objects.filter(tax_class=standard)}
    for country, rate in eu_rates_on(day).items():
        row = current.get(country)
        if row is not None and row.rate == rate:
            continue
        before = f"{_percent(row.rate)} %" if row else "none"
        services.tax_rate_set(
            country=country,
            tax_class=standard,
            rate=rate,
            name=row.name if row else "VAT",
            tax_rate=row,
            actor=actor,
        )
        changes.append(f"{country}: {before} → {_percent(rate)} %")
    return changes
