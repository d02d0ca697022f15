"""`manage.py vat_rates_refresh [--schema S] [--date YYYY-MM-DD]`: write the EU VAT rates in
force (standard, and the reduced classes an instance has a tax class of) into the tax rates
of every instance (or one)."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from tenant_apps.instance import clock, ports

from ...vat_rates import eu_vat_rates_refresh


class Command(BaseCommand):
    help = (
        "Write the EU VAT rates in force into every instance's tax rates: the standard rate, "
        "and the reduced, reduced_lower and super_reduced rates where the instance has a tax "
        "class with that code."
    )

    def add_arguments(self, parser):
        parser.add_argument("--schema", help="Only this instance's schema (default: all)")
        parser.add_argument("--date", help="The rates in force on this day (default: today)")

    def handle(self, *args, schema=None, date=None, **options):
        try:
            day = datetime.date.fromisoformat(date) if date else None
        except ValueError as exc:
            raise CommandError(f"“{date}” is not a date; write it as YYYY-MM-DD.") from exc
        schemas = [schema] if schema else [get_public_schema_name(), *ports.reseller_schemas()]
        for name in schemas:
            with schema_context(name):
                changes = eu_vat_rates_refresh(day=day or clock.today(), actor="command")
            summary = "; ".join(changes) if changes else "already up to date"
            self.stdout.write(f"{name}: {summary}")
