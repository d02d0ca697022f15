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


# --------------------------------------------------------------------------------------
# The demo's shop and referral programme (Acme's instance)


def _demo_room():
    """The session's instances exist already (the demo then only fills them): give them room."""
    from shared_apps.tenancy.services import allocation_set

    for reseller in Reseller.objects.all():
        for code in ("disk_gb", "hosting_accounts", "domains", "email_accounts"):
            allocation_set(reseller=reseller, resource_code=code, quantity=10_000)


def test_demo_seeds_one_partner_rule_and_pending_commission_and_prints_the_shop(
    db, capsys, settings
):
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from provisioning.management.commands.upline_demo import PARTNER, PASSWORD
    from shared_apps.tenancy.naming import primary_domain_for_slug
    from tenant_apps.commissions.models import CommissionEntry, CommissionRule
    from tenant_apps.instance.models import AuditEvent
    from tenant_apps.referrals.models import Referer, SignUp

    _demo_room()
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"  # as in dev
    call_command("upline_demo", "--port", "8010")
    call_command("upline_demo", "--port", "8010")

    out = capsys.readouterr().out
    with schema_context("r_acme"):
        rule = CommissionRule.objects.get()
        assert (rule.kind, rule.rate, rule.duration, rule.months) == (
            "percent",
            10,
            "recurring",
            12,
        )
        assert rule.product_id is None and rule.is_active
        partner = Referer.objects.get(code="partner-demo")
        assert partner.customer.email == PARTNER["email"]
        assert get_user_model().objects.get(email=PARTNER["email"]).check_password(PASSWORD)
        signup = SignUp.objects.get(customer__email="erin@example.com")
        assert (signup.referer, signup.source) == (partner, "link")
        entry = CommissionEntry.objects.get()  # one pending entry, not one per run
        assert (entry.referer, entry.kind) == (partner, "accrual")
        assert entry.amount == entry.base / 10 > 0
        assert entry.matures_on > timezone.localdate()  # pending, not payable yet
        for action, obj in (
            ("commission_rule.created", rule),
            ("referer.created", partner),
            ("referer.portal_invited", partner),
        ):
            assert AuditEvent.objects.filter(action=action, object_id=str(obj.pk)).count() == 1
    with schema_context("r_bluebird"):
        assert not Referer.objects.filter(code="partner-demo").exists()
        assert not CommissionRule.objects.exists()

    acme = f"http://{primary_domain_for_slug('acme')}:8010/"
    bluebird = f"http://{primary_domain_for_slug('bluebird')}:8010/"
    shop = out[out.rindex("  Shop ") :]
    assert f"{acme:<34} Acme Hosting's shop" in shop
    assert f"{bluebird:<34} Bluebird Web's shop" in shop
    assert "the confirmation e-mail is printed, link included, in the web server's output" in shop
    assert f"Partner link       {acme}?ref=partner-demo" in shop
    assert f"Partner portal: {PARTNER['email']} at {acme}portal/partner/" in shop


def test_demo_goes_on_when_the_partners_invitation_is_throttled_and_invites_it_next_run(db, capsys):
    from django.core.cache import cache
    from django.core.exceptions import ValidationError
    from django_tenants.utils import schema_context

    from provisioning.management.commands.upline_demo import PARTNER
    from tenant_apps.accounts.throttling import INVITATION, password_mail_reserve
    from tenant_apps.referrals.models import Referer

    _demo_room()
    with schema_context("r_acme"):
        with pytest.raises(ValidationError):  # use up the hour's invitations to the address
            for _ in range(100):
                password_mail_reserve(kind=INVITATION, email=PARTNER["email"], ip_address=None)

    call_command("upline_demo", "--port", "8010")

    captured = capsys.readouterr()
    assert "The demo partner gets no portal login this time" in captured.err
    assert "No partner portal login yet" in captured.out
    with schema_context("r_acme"):
        partner = Referer.objects.get(code="partner-demo")
        assert partner.customer is None  # the refused invitation left no customer behind

    cache.clear()  # an hour later
    call_command("upline_demo", "--port", "8010")

    assert f"Partner portal: {PARTNER['email']}" in capsys.readouterr().out
    with schema_context("r_acme"):
        assert Referer.objects.get(code="partner-demo").customer.user.email == PARTNER["email"]
