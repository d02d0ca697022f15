"""Customers in the instance's audit trail: every write is one event on the customer, the
customer page's activity list reads the trail, and the old CustomerEvent rows were copied
into it by a data migration."""

from __future__ import annotations

import datetime
import importlib

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.clients import services
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import client_for
from tests.test_clients_services import CustomerFactory
from tests.test_clients_vies import VALID, use_vat_checker

COPY = importlib.import_module(
    "tenant_apps.clients.migrations.0003_copy_customer_events_to_audit_trail"
)


def test_closing_and_reopening_record_the_old_and_new_status_with_the_actor(instance_a):
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        customer = CustomerFactory()
        services.customer_close(customer=customer, actor=owner)
        services.customer_reopen(customer=customer, actor=owner)

        trail = [
            (e.action, e.changes, e.actor)
            for e in reversed(audit_event_list(customer_id=customer.pk))
        ]
    assert trail == [
        ("customer.closed", {"status": ["active", "closed"]}, owner),
        ("customer.reopened", {"status": ["closed", "active"]}, owner),
    ]


def test_closing_a_closed_customer_is_refused_and_records_nothing(instance_a):
    with schema_context(instance_a.schema_name):
        customer = services.customer_close(customer=CustomerFactory())
        events = AuditEvent.objects.count()

        with pytest.raises(ValidationError, match="already closed"):
            services.customer_close(customer=customer)

        assert AuditEvent.objects.count() == events


def test_a_vies_check_records_the_registry_answer_and_the_status_change(instance_a):
    use_vat_checker(VALID)
    with schema_context(instance_a.schema_name):
        customer = CustomerFactory(kind="company", company_name="Odigo SAS", tax_id="FR40303265045")
        services.customer_tax_id_verify(customer=customer, actor="vies-recheck")

        event = audit_event_list(action="customer.tax_id_checked").get()
    assert event.actor_label == "vies-recheck"
    assert event.changes == {"tax_id_status": ["none", "valid"]}
    assert event.detail["tax_id"] == "FR40303265045" and event.detail["status"] == "valid"


def test_the_customer_page_lists_its_activity_from_the_trail_and_no_other_customers(
    instance_a,
):
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        customer = CustomerFactory(name="Alice Martin")
        other = CustomerFactory(name="Bob Other")
        services.customer_update(customer=customer, city="Nantes", actor=owner)
        services.contact_add(customer=customer, name="Paul", email="paul@alice.test")
        services.contact_add(customer=other, name="Zed", email="zed@bob.test")

    page = client_for(instance_a, instance_a.owner).get(f"/staff/customers/{customer.pk}/")
    text = page.content.decode()

    assert "Details changed" in text and "city" in text and instance_a.owner in text
    assert "Contact added" in text and "paul@alice.test" in text
    assert "zed@bob.test" not in text


def test_old_customer_events_are_copied_into_the_audit_trail_when_migrating(instance_a):
    with schema_context(instance_a.schema_name):
        state = MigrationLoader(connection).project_state(
            ("clients", "0003_copy_customer_events_to_audit_trail"), at_end=False
        )
        OldEvent = state.apps.get_model("clients", "CustomerEvent")
        with connection.schema_editor() as editor:
            editor.create_model(OldEvent)  # dropped by 0004; rolled back with the test
        customer = CustomerFactory(name="Alice Martin")
        when = timezone.now() - datetime.timedelta(days=400)
        rows = [
            ("created", instance_a.owner, {"tax_id_status": "none"}),
            ("closed", "someone-gone@acme.test", {}),
            ("contact_added", "", {"contact": "paul@alice.test"}),
        ]
        for action, actor, detail in rows:
            OldEvent.objects.create(
                customer_id=customer.pk, action=action, actor=actor, detail=detail
            )
        OldEvent.objects.update(created_at=when)

        COPY.copy_events(state.apps, None)

        copied = list(audit_event_list(customer_id=customer.pk).order_by("id"))
        owner = get_user_model().objects.get(email=instance_a.owner)
    assert [(e.action, e.actor_label, e.actor_id, e.detail) for e in copied] == [
        ("customer.created", instance_a.owner, owner.pk, {"tax_id_status": "none"}),
        ("customer.closed", "someone-gone@acme.test", None, {}),
        ("contact.added", "system", None, {"contact": "paul@alice.test"}),
    ]
    assert {(e.object_type, e.object_id, e.object_label) for e in copied} == {
        ("customer", str(customer.pk), "Alice Martin")
    }
    assert all(e.created_at == when for e in copied)
    assert copied[1].changes == {"status": ["active", "closed"]}
