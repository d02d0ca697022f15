"""Reseller lifecycle and the operator's audit trail: every console, API, billing and command
write about a reseller is one row of the operator's instance trail (public schema), shown on
the reseller's page by its label; illegal moves are refused with a sentence."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from shared_apps.tenancy import services
from shared_apps.tenancy.models import Reseller
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.pipelines import InvalidTransition
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import client_for


@pytest.fixture
def console(operator):
    return client_for(operator, operator.owner)


def _reseller_events(reseller: Reseller, action: str = ""):
    return audit_event_list(object_type="reseller", object_id=str(reseller.pk), action=action)


def test_suspension_from_the_console_records_the_operator_user_and_the_status_change(
    console, operator, instance_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/console/resellers/acme/suspend/", {"reason": "unpaid invoice"})
    reseller = instance_a.reseller()
    event = _reseller_events(reseller, "reseller.suspended").get()
    owner = get_user_model().objects.get(email=operator.owner)
    assert event.actor == owner and event.actor_label == operator.owner
    assert event.changes == {"status": ["active", "suspended"]}
    assert event.detail["reason"] == "unpaid invoice"
    assert event.object_label == "acme"

    page = console.get("/console/resellers/acme/").content.decode()
    activity = page[page.index("<h2>Activity</h2>") :]
    assert "Reseller suspended" in activity and operator.owner in activity
    assert "Status: Active → Suspended" in activity and "unpaid invoice" in activity
    assert "status:suspended" not in page and "reseller.suspended" not in page


def test_the_dashboard_shows_recent_reseller_activity_by_label_when_something_happened(
    console, instance_a
):
    services.allocation_set(
        reseller=instance_a.reseller(), resource_code="disk_gb", quantity=150, actor="billing"
    )
    page = console.get("/console/").content.decode()
    assert "Allocation changed" in page and "Disk space: 100 → 150" in page
    assert "billing" in page and "reseller.allocation_set" not in page


def test_resuming_a_terminated_reseller_is_refused_on_screen_when_posted(console, instance_a):
    console.post("/console/resellers/acme/terminate/", {"reason": "contract ended"})
    response = console.post("/console/resellers/acme/resume/", follow=True)
    assert response.status_code == 200
    assert "Acme is terminated; it cannot become active." in response.content.decode()
    reseller = Reseller.objects.get(slug="acme")
    assert reseller.status == "terminated"
    assert not _reseller_events(reseller, "reseller.resumed").exists()


def test_resuming_a_terminated_reseller_is_a_409_in_the_api(console, instance_a):
    console.post("/api/console/resellers/acme/terminate/", {}, content_type="application/json")
    response = console.post("/api/console/resellers/acme/resume/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Acme is terminated; it cannot become active.",
        "code": "invalid_transition",
    }
    assert Reseller.objects.get(slug="acme").status == "terminated"


def test_an_illegal_move_leaves_the_reseller_and_the_trail_untouched_when_refused(instance_a):
    reseller = instance_a.reseller()
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition, match="Acme is active; it cannot become active"):
        services.reseller_resume(reseller=reseller, actor="command")
    assert AuditEvent.objects.count() == before
    assert not Reseller.pipeline.allows("terminated", "active")


def test_an_api_key_caller_is_recorded_as_the_key_when_suspending(operator, instance_a):
    owner = get_user_model().objects.get(email=operator.owner)
    token = Token.objects.create(user=owner)
    client = client_for(operator)
    response = client.post(
        "/api/console/resellers/acme/suspend/",
        {"reason": "api"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 200, response.content
    event = _reseller_events(instance_a.reseller(), "reseller.suspended").get()
    assert event.actor == owner and event.actor_label == f"{operator.owner} (API)"


def test_allocation_and_domain_changes_record_old_and_new_values_when_made_in_the_console(
    console, operator, instance_a
):
    data = {
        "disk_gb": "250",
        "bandwidth_gb": "0",
        "hosting_accounts": "10",
        "domains": "0",
        "email_accounts": "0",
    }
    console.post("/console/resellers/acme/allocations/", data)
    console.post("/console/resellers/acme/add_domain/", {"domain": "billing.acme-example.com"})
    console.post("/console/resellers/acme/remove_domain/", {"domain": "billing.acme-example.com"})
    console.post("/console/resellers/acme/escalation_price/", {"escalation_price": "12.50"})
    reseller = instance_a.reseller()
    allocation = _reseller_events(reseller, "reseller.allocation_set").get()
    assert allocation.changes == {"quantity": [100, 250]}
    assert allocation.detail == {"resource": "disk_gb"}
    assert allocation.actor_label == operator.owner
    for action in ("reseller.domain_added", "reseller.domain_removed"):
        assert _reseller_events(reseller, action).get().detail == {
            "domain": "billing.acme-example.com"
        }
    price = _reseller_events(reseller, "reseller.escalation_price_set").get()
    assert price.changes == {"escalation_price": [None, "12.50"]}


def test_a_command_is_recorded_as_the_actor_when_it_suspends(instance_a):
    call_command("reseller_status", "acme", "suspend", "--reason", "unpaid")
    event = _reseller_events(instance_a.reseller(), "reseller.suspended").get()
    assert event.actor is None and event.actor_label == "command"


def test_reseller_staff_cannot_see_the_operators_trail_when_signed_in_on_their_instance(
    console, instance_a, instance_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/console/resellers/acme/suspend/", {"reason": "unpaid invoice"})
        console.post("/console/resellers/acme/resume/")
    # The console and its API live on the operator's domain only.
    reseller_owner = client_for(instance_a, "boss@acme.test")
    assert reseller_owner.get("/console/resellers/acme/").status_code == 404
    assert reseller_owner.get("/api/console/resellers/acme/").status_code in (403, 404)
    other_owner = client_for(instance_b, "boss@bluebird.test")
    assert other_owner.get("/console/resellers/acme/").status_code == 404
    # The operator's rows live in the public schema's trail; each instance's trail is its own.
    connection.set_schema_to_public()  # the requests above left the connection in r_bluebird
    assert _reseller_events(instance_a.reseller()).count() >= 2
    for schema in ("r_acme", "r_bluebird"):
        with schema_context(schema):
            assert not audit_event_list(object_type="reseller").exists()
            assert not AuditEvent.objects.filter(action__startswith="reseller.").exists()


def test_operator_support_staff_see_activity_but_cannot_suspend(operator, instance_a):
    support = client_for(operator, operator.support)
    assert support.post("/console/resellers/acme/suspend/").status_code == 403
    assert Reseller.objects.get(slug="acme").status == "active"
    assert not _reseller_events(instance_a.reseller(), "reseller.suspended").exists()
    page = support.get("/console/resellers/acme/").content.decode()
    assert "Reseller created" in page


def test_old_reseller_events_are_copied_into_the_audit_trail_by_the_data_migration(
    operator, instance_a
):
    """Runs 0004's copy on the models as they were then; the old table is rebuilt inside
    the test's transaction (PostgreSQL DDL rolls back with it)."""
    from importlib import import_module

    from django.db.migrations.loader import MigrationLoader

    name = "0004_copy_reseller_events_to_audit_trail"
    migration = import_module(f"shared_apps.tenancy.migrations.{name}")
    then = MigrationLoader(connection).project_state(("tenancy", name)).apps
    OldEvent = then.get_model("tenancy", "ResellerEvent")
    with connection.schema_editor() as editor:
        editor.create_model(OldEvent)
    reseller = instance_a.reseller()
    suspended = OldEvent.objects.create(
        reseller_id=reseller.pk,
        reseller_slug="acme",
        action="status:suspended",
        actor=operator.owner,
        detail={"previous": "active", "reason": "unpaid"},
    )
    OldEvent.objects.create(
        reseller_id=reseller.pk,
        reseller_slug="acme",
        action="allocation_set",
        actor="billing",
        detail={"resource": "disk_gb", "previous": 100, "quantity": 200},
    )
    OldEvent.objects.create(
        reseller_id=None, reseller_slug="gone", action="deleted", actor="manage.py", detail={}
    )
    OldEvent.objects.create(
        reseller_id=reseller.pk,
        reseller_slug="acme",
        action="inbox_key_created",
        actor="",
        detail={"key_prefix": "abcd1234"},
    )
    AuditEvent.objects.all().delete()

    migration.copy_events(then, None)

    copied = AuditEvent.objects.get(action="reseller.suspended")
    assert copied.object_type == "reseller" and copied.object_id == str(reseller.pk)
    assert copied.object_label == "acme" and copied.created_at == suspended.created_at
    assert copied.actor == get_user_model().objects.get(email=operator.owner)
    assert copied.changes == {"status": ["active", "suspended"]}
    assert copied.detail == {"reason": "unpaid"}
    allocation = AuditEvent.objects.get(action="reseller.allocation_set")
    assert allocation.actor is None and allocation.actor_label == "billing"
    assert allocation.changes == {"quantity": [100, 200]}
    deleted = AuditEvent.objects.get(action="reseller.deleted")
    assert deleted.object_label == "gone" and deleted.object_id == ""
    assert deleted.actor_label == "manage.py"
    key = AuditEvent.objects.get(action="reseller.inbox_key_created")
    assert key.actor_label == "system" and key.detail == {"key_prefix": "abcd1234"}


def test_a_terminated_reseller_page_offers_no_lifecycle_buttons(console, instance_a):
    console.post("/console/resellers/acme/terminate/", {"reason": "contract ended"})
    page = console.get("/console/resellers/acme/").content.decode()
    assert "/console/resellers/acme/resume/" not in page
    assert "/console/resellers/acme/suspend/" not in page
    assert "/console/resellers/acme/terminate/" not in page
    assert "/console/resellers/acme/export/" in page


def test_an_active_reseller_page_offers_suspend_and_terminate_but_not_resume(console, instance_a):
    page = console.get("/console/resellers/acme/").content.decode()
    assert "/console/resellers/acme/suspend/" in page
    assert "/console/resellers/acme/terminate/" in page
    assert "/console/resellers/acme/resume/" not in page
