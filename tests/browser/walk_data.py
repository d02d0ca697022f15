"""Demo-like data for the browser walk (accessibility and mobile crawl), committed for the
live server and taken away afterwards.

The data is what `manage.py upline_demo` builds (customers with services, invoices,
payments and a refund, tickets, an escalation answered upstream, a referral partner) in
the session's committed instances, plus a bill from the operator to Acme. The live server
reads only committed rows, so it is written on a connection of its own; to leave the
instances exactly as the rest of the suite expects them, every table of the schemas the
demo writes to is copied aside first and put back afterwards (rows and id sequences).
"""

from __future__ import annotations

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import allocation_set
from tenant_apps.billing import services as billing
from tenant_apps.catalog.models import Product
from tenant_apps.clients.models import Customer
from tenant_apps.orders import services as orders

SNAPSHOT_SCHEMA = "_walk_snapshot"
SCHEMAS = ("public", "r_acme", "r_bluebird")

# Who signs in where (the demo's customers use the demo's password).
CUSTOMER = "alice@example.com"
RESELLER_STAFF = "owner@acme.test"
OPERATOR_STAFF = "owner@operator.test"
DEMO_CAPACITY = {
    "disk_gb": 2000,
    "bandwidth_gb": 20000,
    "hosting_accounts": 200,
    "domains": 400,
    "email_accounts": 2000,
}


def _tables(cursor) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s) "
        "ORDER BY schemaname, tablename",
        [list(SCHEMAS)],
    )
    return cursor.fetchall()


def _sequences(cursor) -> list[tuple[str, str, int | None]]:
    cursor.execute(
        "SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE schemaname = ANY(%s)",
        [list(SCHEMAS)],
    )
    return cursor.fetchall()


def snapshot_take() -> dict:
    """Copy every table of SCHEMAS aside; the sequences' positions are returned."""
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{SNAPSHOT_SCHEMA}" CASCADE')
        cursor.execute(f'CREATE SCHEMA "{SNAPSHOT_SCHEMA}"')
        tables = _tables(cursor)
        for number, (schema, table) in enumerate(tables):
            cursor.execute(
                f'CREATE TABLE "{SNAPSHOT_SCHEMA}"."t{number}" AS TABLE "{schema}"."{table}"'
            )
        return {"tables": tables, "sequences": _sequences(cursor)}


def snapshot_restore(marks: dict) -> None:
    """Put every table back as copied (foreign keys unchecked while rows are swapped)."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            for number, (schema, table) in enumerate(marks["tables"]):
                cursor.execute(f'DELETE FROM "{schema}"."{table}"')
                cursor.execute(
                    f'INSERT INTO "{schema}"."{table}" '
                    f'SELECT * FROM "{SNAPSHOT_SCHEMA}"."t{number}"'
                )
            for schema, sequence, last_value in marks["sequences"]:
                name = f'"{schema}"."{sequence}"'
                if last_value is None:
                    cursor.execute("SELECT setval(%s::regclass, 1, false)", [name])
                else:
                    cursor.execute("SELECT setval(%s::regclass, %s, true)", [name, last_value])
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute(f'DROP SCHEMA IF EXISTS "{SNAPSHOT_SCHEMA}" CASCADE')


def seed() -> dict:
    """The demo's data, an operator's bill to Acme, and an authenticator app for the
    operator's owner (who must give a second factor): {"device": TOTPDevice}."""
    # The session's resellers were given little capacity: as much as the demo's plans.
    for reseller in Reseller.objects.filter(slug__in=("acme", "bluebird")):
        for resource, quantity in DEMO_CAPACITY.items():
            allocation_set(reseller=reseller, resource_code=resource, quantity=quantity)
    call_command("upline_demo", port=8000, stdout=io.StringIO(), stderr=io.StringIO())
    with schema_context("r_acme"), transaction.atomic():
        # A payment typed in by a member of staff, so "Recorded by" shows an address.
        bob = Customer.objects.get(email="bob@example.com")
        billing.payment_record(
            customer=bob,
            invoice=bob.invoices.order_by("id").first(),
            amount="2.00",
            method="bank_transfer",
            reference="SEPA 2026-11 partial, bank reference 0042-7781",
            created_by=get_user_model().objects.get(email="billing@acme.test"),
        )
    with schema_context("public"), transaction.atomic():
        acme = Reseller.objects.get(slug="acme")
        # The escalation made Acme a customer of the operator: bill it its plan.
        customer = Customer.objects.filter(reseller_id=acme.pk).first()
        order = orders.order_place(
            customer=customer,
            items=[{"product": Product.objects.get(code="reseller-start"), "cycle": "monthly"}],
        )
        orders.order_accept(order=order)
        owner = get_user_model().objects.get(email=OPERATOR_STAFF)
        device = TOTPDevice.objects.create(user=owner, name="walk", confirmed=True)
    return {"device": device}
