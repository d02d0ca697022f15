"""Export → delete → import round trip of a whole instance, on committed data."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from provisioning.models import ExportRecord
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import (
    DeletionRefused,
    reseller_create,
    reseller_delete,
    reseller_export,
    reseller_import,
)
from tenant_apps.accounts.models import Role
from tenant_apps.instance.models import AuditEvent, IssuerIdentity
from tenant_apps.instance.selectors import audit_event_list


@pytest.fixture
def committed(django_db_blocker):
    """Autocommit access (pg_dump runs in its own process and sees only committed data)."""
    created: list[str] = []
    with django_db_blocker.unblock():
        yield created
        for slug in created:
            reseller = Reseller.objects.filter(slug=slug).first()
            if reseller:
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP SCHEMA IF EXISTS "{reseller.schema_name}" CASCADE')
                reseller.delete()
        ExportRecord.objects.filter(reseller_slug__in=created).delete()
        connection.set_schema_to_public()
        # The operator's trail rows about these resellers were committed too.
        AuditEvent.objects.filter(object_type="reseller", object_label__in=created).delete()


def test_export_delete_import_round_trip(committed, tmp_path):
    committed += ["roundtrip", "roundtrip-copy"]
    reseller = reseller_create(
        slug="roundtrip",
        name="Round Trip",
        legal_name="Round Trip SARL",
        owner_email="owner@rt.test",
        owner_password="pw-rt-12345",
        custom_domains=["billing.rt.example"],
        allocations={"disk_gb": 42},
        method="template",
    )
    with schema_context("r_roundtrip"):
        for i in range(25):
            get_user_model().objects.create_user(email=f"c{i}@rt.test", role=Role.CUSTOMER)

    # Deleting without an export is refused.
    with pytest.raises(DeletionRefused, match="Export"):
        reseller_delete(reseller=reseller, confirm_slug="roundtrip")

    record = reseller_export(reseller=reseller, directory=tmp_path)
    assert Path(record.path).exists() and record.size_bytes > 0

    # Wrong confirmation is refused; the right one drops schema and rows.
    with pytest.raises(DeletionRefused, match="Type the slug"):
        reseller_delete(reseller=reseller, confirm_slug="roundtrp")
    reseller_delete(reseller=reseller, confirm_slug="roundtrip")
    assert not schema_exists("r_roundtrip")
    assert not Reseller.objects.filter(slug="roundtrip").exists()

    imported = reseller_import(path=Path(record.path), slug="roundtrip-copy")
    assert imported.schema_name == "r_roundtrip_copy"
    assert imported.allocations.get(resource_id="disk_gb").quantity == 42
    assert sorted(d.domain for d in imported.domains.all()) == [
        "billing.rt.example",
        "roundtrip-copy.upline.localhost",
    ]
    with schema_context("r_roundtrip_copy"):
        User = get_user_model()
        assert User.objects.filter(role=Role.CUSTOMER).count() == 25
        assert User.objects.get(email="owner@rt.test").check_password("pw-rt-12345")
        assert IssuerIdentity.objects.get().legal_name == "Round Trip SARL"
        # Sequences continue after the imported rows.
        assert (
            User.objects.create_user(email="new@rt.test").pk
            > User.objects.exclude(email="new@rt.test").order_by("-pk").first().pk
        )


def test_import_under_a_taken_slug_is_refused(committed, tmp_path):
    committed += ["exportme"]
    reseller = reseller_create(
        slug="exportme",
        name="Export Me",
        legal_name="Export Me Ltd",
        owner_email="o@em.test",
        owner_password="pw-em-12345",
        method="template",
    )
    record = reseller_export(reseller=reseller, directory=tmp_path)
    with pytest.raises(Exception, match="already exists"):
        reseller_import(path=Path(record.path))


def test_import_of_a_damaged_archive_is_a_clear_command_error(committed, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(CommandError, match="not an Upline instance archive"):
        call_command("reseller_import", str(bad))
    with pytest.raises(CommandError, match="No archive"):
        call_command("reseller_import", str(tmp_path / "missing.tar.gz"))


def test_delete_command_requires_confirmation(committed, tmp_path):
    committed += ["delcmd"]
    reseller_create(
        slug="delcmd",
        name="Del",
        legal_name="Del Ltd",
        owner_email="o@del.test",
        owner_password="pw-del-12345",
        method="template",
    )
    call_command("reseller_export", "delcmd", "--dir", str(tmp_path))
    with pytest.raises(CommandError, match="--confirm"):
        call_command("reseller_delete", "delcmd", interactive=False)
    call_command("reseller_delete", "delcmd", "--confirm", "delcmd")
    assert not schema_exists("r_delcmd")


def test_the_trail_keeps_a_deleted_resellers_history_when_exported_and_deleted_by_command(
    committed, tmp_path
):
    committed += ["gone"]
    reseller = reseller_create(
        slug="gone",
        name="Gone",
        legal_name="Gone Ltd",
        owner_email="o@gone.test",
        owner_password="pw-gone-12345",
        method="template",
        actor="command",
    )
    call_command("reseller_export", "gone", "--dir", str(tmp_path))
    call_command("reseller_delete", "gone", "--confirm", "gone")
    connection.set_schema_to_public()
    history = audit_event_list(object_type="reseller", object_id=str(reseller.pk))
    assert list(history.values_list("action", "actor_label", "object_label")) == [
        ("reseller.deleted", "command", "gone"),
        ("reseller.exported", "command", "gone"),
        ("reseller.created", "command", "gone"),
    ]
