"""Shared set-up for benchmark scripts: a throw-away database and Django configured for it.

Benchmarks never touch the development or test databases: each run creates (and at the
end drops) its own database next to the one DATABASE_URL names.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]


def _admin_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def configure(db_name: str) -> None:
    """Point Django at a fresh database `db_name`, migrate it and build the template."""
    # The scripts' own folder comes first on sys.path, and `provisioning.py` there would
    # shadow the `provisioning` package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upline")
    os.environ["DATABASE_URL"] = _admin_url(base_url, db_name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    # Stored PDFs of benchmark runs go to a throw-away folder, not the project's .var/media.
    os.environ.setdefault("UPLINE_MEDIA_ROOT", tempfile.mkdtemp(prefix="upline-bench-media-"))
    import psycopg

    with psycopg.connect(_admin_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')

    import django

    import provisioning  # noqa: F401  (bind the package before django.setup sees the script's name)

    django.setup()
    from django.core.management import call_command

    call_command("upline_setup", pool=0, verbosity=0)


def drop(db_name: str) -> None:
    from django.db import connections

    connections.close_all()
    import psycopg

    base_url = os.environ["DATABASE_URL"]
    with psycopg.connect(_admin_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def p95(values: list[float], ndigits: int = 1) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = max(int(round(0.95 * len(ordered))) - 1, 0)
    return round(ordered[index], ndigits)


def issued_invoices(
    count: int,
    *,
    slug: str,
    name: str,
    identity: dict,
    customer: dict | None = None,
    prepare=None,
) -> tuple[str, list[int]]:
    """A reseller `slug` with the issuer `identity`, French 20 % VAT, one company customer
    (plus the `customer` fields) and `count` issued invoices of the same five lines; returns
    (schema, invoice ids). `prepare(customer)` runs in the schema before the invoices."""
    import datetime
    from decimal import Decimal

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
        slug=slug,
        name=name,
        legal_name=identity["legal_name"],
        owner_email=f"owner@{slug}.test",
        owner_password="bench-password-1",
        method="template",
    )
    with schema_context(reseller.schema_name):
        instance_services.issuer_identity_set(**identity)
        TaxRate.objects.create(
            country="FR", tax_class=TaxClass.objects.get(code="standard"), rate=Decimal("20")
        )
        buyer = Customer.objects.create(
            kind=Customer.Kind.COMPANY,
            name="Jeanne Martin",
            company_name="Boulangerie Martin SARL",
            email="compta@martin.test",
            address_line1="3 place du Marché",
            postal_code="69001",
            city="Lyon",
            country="FR",
            currency="EUR",
            **(customer or {}),
        )
        if prepare is not None:
            prepare(buyer)
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
            draft = services.invoice_create_draft(customer=buyer, lines=lines)
            ids.append(services.invoice_issue(invoice=draft).pk)
    connection.set_schema_to_public()
    return reseller.schema_name, ids
