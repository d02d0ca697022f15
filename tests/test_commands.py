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
