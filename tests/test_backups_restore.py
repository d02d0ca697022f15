"""The restore round trip: back the whole platform up, restore it into an empty database
and find every row and every file again.

Runs on committed data: two throw-away instances are filled (customers, issued invoices
with their PDFs, tickets with attachments) on connections of their own, because pg_dump
reads only what is committed. The backup is restored with `manage.py upline_restore` into
a database this test creates on the test server and drops at the end, and its media
files into an empty folder. Every table of every schema is then compared with the source
by row count and by a checksum computed here, independently of the backup's own
(ordered md5 of each row's text), and every file by its SHA-256.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import override_settings
from django_tenants.utils import schema_context
from psycopg import sql

from provisioning import archive
from shared_apps.backups import services
from shared_apps.backups.database import Database
from shared_apps.backups.models import Backup
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import reseller_create
from tenant_apps.billing import services as billing
from tenant_apps.instance.models import AuditEvent
from tests.billing_fixtures import make_customer, setup_issuer
from tests.test_helpdesk_fixtures import PNG_BYTES, CustomerFactory, open_ticket, upload

pytestmark = pytest.mark.django_db

SLUGS = ("bk-one", "bk-two")
STABLE_TEXT = "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3"


def in_own_connection(function, *args):
    """`function(*args)` committed on a connection of its own (another thread)."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=600)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _fill_instance(slug: str, customers: int) -> None:
    reseller_create(
        slug=slug,
        name=slug.title(),
        legal_name=f"{slug.title()} SARL",
        owner_email=f"owner@{slug}.test",
        owner_password="pw-backup-12345",
        method="template",
    )
    with schema_context(f"r_{slug.replace('-', '_')}"):
        setup_issuer("FR")
        for n in range(customers):
            customer = make_customer(f"Client{n} {slug}", email=f"c{n}@{slug}.test")
            draft = billing.invoice_create_draft(
                customer=customer,
                lines=[billing.LineSpec(description=f"Hosting {n}", unit_price=Decimal("12.50"))],
            )
            # Issuing renders and stores the invoice's PDF (under the instance's folder).
            billing.invoice_issue(invoice=draft, issue_date=datetime.date(2026, 11, 2))
        asker = get_user_model().objects.create_user(email=f"asker@{slug}.test", role="customer")
        requester = CustomerFactory(user=asker, email=asker.email)
        open_ticket(
            requester,
            subject=f"Help {slug}",
            attachments=[upload("screen.png", PNG_BYTES), upload("log.txt", slug.encode() * 50)],
        )


def _arrange() -> None:
    for slug, customers in zip(SLUGS, (4, 3), strict=True):
        _fill_instance(slug, customers)


def _clean_up() -> None:
    for slug in SLUGS:
        schema_name = f"r_{slug.replace('-', '_')}"
        Reseller.objects.filter(slug=slug).delete()
        with connections["default"].cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
        archive.instance_files_delete(schema_name)
        AuditEvent.objects.filter(object_label=slug).delete()
    Backup.objects.all().delete()


def _back_up_database() -> Backup:
    (backup,) = services.backup_run(
        trigger=Backup.Trigger.COMMAND, instance_slugs=[], enqueue=False
    )
    return services.backup_database_perform(backup_id=backup.pk)


# --------------------------------------------------------------------------------------
# Independent comparison


def table_fingerprints(conninfo: str, password: str | None) -> dict[str, tuple[int, str]]:
    """{"schema.table": (rows, md5 of the rows' md5s in order)} for every user table."""
    result = {}
    with psycopg.connect(conninfo, password=password, autocommit=True) as conn:
        conn.execute(STABLE_TEXT)
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
            "AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' "
                "ORDER BY md5(t::text)), '')) FROM {} AS t"
            ).format(sql.Identifier(schema, table))
            rows, digest = conn.execute(query).fetchone()
            result[f"{schema}.{table}"] = (rows, digest)
    return result


def media_hashes(root: str) -> dict[str, str]:
    hashes = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


@pytest.fixture
def empty_database():
    """A new, empty database on the test server; dropped after the test."""
    source = Database.configured()
    name = f"{source.name}_restore_{os.getpid()}"[:63]
    admin = Database(source.name, source.user, source.password, source.host, source.port)
    with admin.connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = Database(name, source.user, source.password, source.host, source.port)
    try:
        yield target
    finally:
        with admin.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def committed_instances():
    in_own_connection(_clean_up)  # what a killed earlier run may have left
    try:
        in_own_connection(_arrange)
        yield
    finally:
        in_own_connection(_clean_up)


def _url(database: Database) -> str:
    credentials = database.user + (f":{database.password}" if database.password else "")
    return (
        f"postgres://{credentials}@{database.host or 'localhost'}:{database.port or 5432}/"
        f"{database.name}"
    )


# --------------------------------------------------------------------------------------
# The round trip


def test_a_whole_database_backup_restored_into_an_empty_database_gives_back_every_row_and_file(
    committed_instances, empty_database, tmp_path
):
    source = Database.configured()
    with override_settings(UPLINE_BACKUP_DIR=tmp_path / "backups"):
        before = table_fingerprints(source.conninfo(), source.password or None)
        files_before = media_hashes(settings.MEDIA_ROOT)
        # What the instances hold: the comparison below is about real data.
        assert before["r_bk_one.billing_invoice"][0] == 4
        assert before["r_bk_two.billing_invoice"][0] == 3
        assert before["r_bk_one.helpdesk_attachment"][0] == 2
        pdfs = [n for n in files_before if n.startswith("r_bk_") and "/invoices/" in n]
        attachments = [n for n in files_before if n.startswith("r_bk_") and "/helpdesk/" in n]
        assert len(pdfs) == 7 and len(attachments) == 4, sorted(files_before)

        backup = in_own_connection(_back_up_database)
        assert backup.status == Backup.Status.SUCCEEDED, backup.error

        restored_media = tmp_path / "restored-media"
        with override_settings(MEDIA_ROOT=str(restored_media)):
            call_command("upline_restore", backup.location, "--database-url", _url(empty_database))
        after = table_fingerprints(empty_database.conninfo(), empty_database.password or None)

    # The backup's own row was written "running" into the dump; it finished afterwards.
    row = "public.backups_backup"
    assert after.pop(row)[0] == 1 and before.pop(row)[0] == 0
    assert set(after) == set(before)
    differing = {name for name in before if before[name] != after[name]}
    assert not differing, sorted(differing)
    assert sum(rows for rows, _ in after.values()) > 1000
    assert media_hashes(restored_media) == files_before


def test_restoring_the_whole_database_into_a_database_that_holds_data_is_refused(tmp_path):
    source = Database.configured()
    with override_settings(UPLINE_BACKUP_DIR=tmp_path / "backups"):
        backup = in_own_connection(_back_up_database)
        try:
            assert backup.status == Backup.Status.SUCCEEDED, backup.error
            before = table_fingerprints(source.conninfo(), source.password or None)
            with pytest.raises(CommandError, match="is not empty .* Nothing was changed"):
                call_command("upline_restore", backup.location)
            assert table_fingerprints(source.conninfo(), source.password or None) == before
        finally:
            in_own_connection(lambda: Backup.objects.all().delete())
