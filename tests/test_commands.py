"""Set-up and lifecycle commands: clear sentences for bad input, idempotent set-up."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from shared_apps.tenancy.models import Reseller


def test_status_command_suspends_and_refuses_illegal_moves(instance_a, capsys):
    call_command("reseller_status", "acme", "suspend", "--reason", "unpaid")
    assert Reseller.objects.get(slug="acme").status == "suspended"
    call_command("reseller_status", "acme", "resume")
    with pytest.raises(CommandError, match="cannot become active"):
        call_command("reseller_status", "acme", "resume")


def test_commands_name_unknown_resellers(db):
    with pytest.raises(CommandError, match="No reseller with the slug “ghost”"):
        call_command("reseller_export", "ghost")


def test_pool_refill_rejects_negative_size(db):
    with pytest.raises(CommandError, match="0 or more"):
        call_command("pool_refill", "--size", "-1")


def test_setup_and_migrate_everything_are_idempotent(django_db_blocker, capsys):
    """Runs on committed data: migrate-all uses worker processes with their own connections."""
    with django_db_blocker.unblock():
        call_command("upline_setup")
        call_command("upline_migrate", "--processes", "2")
        connection.set_schema_to_public()
        assert Reseller.objects.filter(slug__in=["acme", "bluebird"]).count() == 2
    out = capsys.readouterr().out
    assert "template" in out and "All instances migrated" in out


def test_demo_builds_order_to_cash_and_helpdesk_data_and_is_idempotent(db, capsys):
    from django_tenants.utils import schema_context

    from shared_apps.bridge.models import EscalationLink
    from shared_apps.tenancy.services import allocation_set
    from tenant_apps.billing.models import Invoice
    from tenant_apps.clients.models import Customer

    # The session's instances exist already (the demo then only fills them): give them room.
    for reseller in Reseller.objects.all():
        for code in ("disk_gb", "hosting_accounts", "domains", "email_accounts"):
            allocation_set(reseller=reseller, resource_code=code, quantity=10_000)
    call_command("upline_demo")
    call_command("upline_demo")
    assert "Every password is: upline-demo-2026" in capsys.readouterr().out
    assert EscalationLink.objects.count() == 1
    with schema_context("r_acme"):
        assert Customer.objects.filter(email="alice@example.com").exists()
        assert Invoice.objects.filter(status="paid").exists()
    assert Customer.objects.filter(reseller_id__isnull=False).exists()  # resellers billed upstream
    # Every demo instance can issue: its identity has what Art. 226 requires (issue 9).
    from tenant_apps.billing.issuer import issuer_missing_sentence

    for schema in ("public", "r_acme", "r_bluebird"):
        with schema_context(schema):
            assert issuer_missing_sentence() == "", schema
