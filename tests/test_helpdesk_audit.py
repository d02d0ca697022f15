"""The helpdesk's writes in the instance's audit trail, its status pipeline, and the typed
ticket events it announces (what happened, and who caused it)."""

from __future__ import annotations

import dataclasses

import pytest
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from tenant_apps.helpdesk import ports, services
from tenant_apps.helpdesk.models import Message, Ticket
from tenant_apps.helpdesk.ports import Kind, Origin, TicketEvent
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.pipelines import InvalidTransition
from tests.conftest import client_for
from tests.test_helpdesk_fixtures import open_ticket, portal_customer, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        yield instance_a


@pytest.fixture
def events():
    """Every TicketEvent announced during the test, in order."""
    seen: list[TicketEvent] = []

    def receiver(sender, *, event, **kwargs):
        seen.append(event)

    ports.ticket_changed.connect(receiver, weak=False)
    yield seen
    ports.ticket_changed.disconnect(receiver)


def _trail(ticket, action):
    return list(
        AuditEvent.objects.filter(
            object_type="ticket", object_id=str(ticket.pk), action=action
        ).order_by("id")
    )


# --------------------------------------------------------------------------------------
# Audit trail


def test_opening_is_recorded_with_who_opened_and_the_first_message_id(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    [event] = _trail(ticket, "ticket.opened")
    assert event.actor.email == acme.customer and event.customer_id == customer.pk
    assert event.detail["message_id"] == ticket.messages.get().pk


def test_a_reply_is_recorded_with_its_message_id_and_never_its_text(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    message = services.ticket_reply(
        ticket=ticket, author=user(acme.support), body="Your password is hunter2"
    )
    [event] = _trail(ticket, "ticket.replied")
    assert event.actor.email == acme.support and event.detail["message_id"] == message.pk
    assert "hunter2" not in str(event.detail) + str(event.changes)


def test_an_internal_note_is_recorded_as_a_note_not_a_reply(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    note = services.ticket_reply(
        ticket=ticket, author=user(acme.support), body="VIP", internal=True
    )
    assert _trail(ticket, "ticket.note_added")[0].detail["message_id"] == note.pk
    assert not _trail(ticket, "ticket.replied")


def test_every_status_change_is_recorded_with_old_and_new_status(acme):
    staff = user(acme.support)
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_reply(ticket=ticket, author=staff, body="Looking.")
    services.ticket_transition(ticket=ticket, to=Ticket.Status.ON_HOLD, actor=staff)
    services.ticket_close(ticket=ticket, actor=staff)
    changes = [e.changes["status"] for e in _trail(ticket, "ticket.status_changed")]
    assert changes == [
        ["open", "awaiting_customer"],
        ["awaiting_customer", "on_hold"],
        ["on_hold", "closed"],
    ]


def test_assignment_priority_and_department_changes_are_recorded_with_old_and_new(acme):
    staff = user(acme.support)
    ticket = open_ticket(portal_customer(acme.customer))
    billing = services.department_create(name="Billing", actor=staff)
    old_department = ticket.department_id
    services.ticket_assign(ticket=ticket, assignee=staff, actor=staff)
    services.ticket_set_priority(ticket=ticket, priority="urgent", actor=staff)
    services.ticket_set_department(ticket=ticket, department=billing, actor=staff)
    assert _trail(ticket, "ticket.assigned")[0].changes == {"assignee": [None, staff.pk]}
    assert _trail(ticket, "ticket.priority_changed")[0].changes == {
        "priority": ["normal", "urgent"]
    }
    moved = _trail(ticket, "ticket.department_changed")[0]
    assert moved.changes == {"department": [old_department, billing.pk]}
    assert moved.actor.email == acme.support


def test_department_and_canned_reply_writes_are_recorded(acme):
    staff = user(acme.owner)
    department = services.department_create(name="Billing", actor=staff)
    services.department_update(
        department=department,
        name="Billing",
        first_response_minutes=30,
        resolution_minutes=600,
        is_active=True,
        actor=staff,
    )
    reply = services.canned_reply_create(title="Hello", body="Hi there", actor=staff)
    services.canned_reply_update(
        canned_reply=reply, title="Hello!", body="Hi there", department=None, actor=staff
    )
    reply_id = str(reply.pk)
    services.canned_reply_delete(canned_reply=reply, actor=staff)
    updated = AuditEvent.objects.get(action="department.updated", object_id=str(department.pk))
    assert updated.changes == {
        "first_response_minutes": [240, 30],
        "resolution_minutes": [4320, 600],
    }
    canned = AuditEvent.objects.filter(object_type="cannedreply", object_id=reply_id)
    assert sorted(canned.values_list("action", flat=True)) == [
        "cannedreply.created",
        "cannedreply.deleted",
        "cannedreply.updated",
    ]
    assert canned.get(action="cannedreply.updated").changes == {"title": ["Hello", "Hello!"]}
    assert {e.actor_label for e in canned} == {acme.owner}


def test_a_write_that_fails_records_nothing(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_close(ticket=ticket, actor=user(acme.support))
    before = AuditEvent.objects.count()
    with pytest.raises(services.InvalidTicketTransition):
        services.ticket_transition(ticket=ticket, to="on_hold", actor=user(acme.support))
    assert AuditEvent.objects.count() == before


def test_the_staff_screen_records_the_signed_in_user(instance_a):
    with schema_context(instance_a.schema_name):
        ticket = open_ticket(portal_customer(instance_a.customer))
    staff = client_for(instance_a, instance_a.support)
    staff.post(f"/staff/helpdesk/tickets/{ticket.pk}/priority/", {"priority": "high"})
    with schema_context(instance_a.schema_name):
        [event] = _trail(ticket, "ticket.priority_changed")
        assert event.actor.email == instance_a.support


def test_the_api_records_the_key_holder_labelled_as_api(instance_a):
    with schema_context(instance_a.schema_name):
        ticket = open_ticket(portal_customer(instance_a.customer))
        key = Token.objects.create(user=user(instance_a.support)).key
    response = client_for(instance_a).post(
        f"/api/tickets/{ticket.pk}/transition/",
        {"to": "on_hold"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert response.status_code == 200, response.content
    with schema_context(instance_a.schema_name):
        [event] = _trail(ticket, "ticket.status_changed")
        assert event.actor_label == f"{instance_a.support} (API)"
        assert event.actor.email == instance_a.support
        assert event.changes == {"status": ["open", "on_hold"]}


def test_another_instance_trail_does_not_see_the_tickets_events(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        ticket = open_ticket(portal_customer(instance_a.customer))
    with schema_context(instance_b.schema_name):
        assert not AuditEvent.objects.filter(object_type="ticket", object_id=str(ticket.pk))


# --------------------------------------------------------------------------------------
# Pipeline


def test_the_ticket_pipeline_refuses_an_illegal_move_with_a_sentence(acme):
    staff = user(acme.support)
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_close(ticket=ticket, actor=staff)
    with pytest.raises(InvalidTransition) as exc:
        services.ticket_transition(ticket=ticket, to="awaiting_customer", actor=staff)
    assert isinstance(exc.value, services.InvalidTicketTransition)
    assert str(exc.value) == (
        f"Ticket #{ticket.pk} is closed: it cannot move to “awaiting customer”."
    )
    assert Ticket.pipeline.targets("closed") == {"open", "awaiting_staff"}


def test_an_unknown_status_is_refused_by_name(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    with pytest.raises(services.InvalidTicketTransition, match="“solved” is not a ticket status"):
        services.ticket_transition(ticket=ticket, to="solved", actor=user(acme.support))


# --------------------------------------------------------------------------------------
# Ticket events


def test_events_say_what_happened_and_who_caused_it(acme, events):
    customer = portal_customer(acme.customer)
    staff = user(acme.support)
    ticket = open_ticket(customer)
    reply = services.ticket_reply(ticket=ticket, author=staff, body="Which domain?")
    services.ticket_reply(ticket=ticket, author=staff, body="VIP", internal=True)
    services.ticket_close(ticket=ticket, actor=customer.user)
    services.ticket_reopen(ticket=ticket, actor=None)
    assert [(e.kind, e.origin, e.status) for e in events] == [
        (Kind.STATUS_CHANGED, Origin.STAFF, "awaiting_customer"),
        (Kind.REPLIED, Origin.STAFF, "awaiting_customer"),
        (Kind.NOTED, Origin.STAFF, "awaiting_customer"),
        (Kind.CLOSED, Origin.CUSTOMER, "closed"),
        (Kind.REOPENED, Origin.SYSTEM, "awaiting_staff"),
    ]
    assert events[1].message_id == reply.pk and events[0].message_id is None
    assert {(e.ticket_id, e.schema_name) for e in events} == {(ticket.pk, acme.schema_name)}
    closed_line = Message.objects.get(pk=events[3].message_id)
    assert closed_line.kind == Message.Kind.SYSTEM


def test_an_event_is_a_frozen_value(acme, events):
    open_ticket(portal_customer(acme.customer))
    ticket = Ticket.objects.get()
    services.ticket_transition(ticket=ticket, to="on_hold", actor=user(acme.support))
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].origin = Origin.UPSTREAM


def test_a_change_the_bridge_writes_carries_its_origin(acme, events):
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_reply(ticket=ticket, author=None, body="From upstream", origin=Origin.UPSTREAM)
    services.ticket_mark_escalated(ticket=ticket, link_id=1)
    services.ticket_mark_upstream_closed(ticket=ticket, author_label="Upline", close_ticket=True)
    assert [(e.kind, e.origin) for e in events] == [
        (Kind.STATUS_CHANGED, Origin.UPSTREAM),
        (Kind.REPLIED, Origin.UPSTREAM),
        (Kind.CLOSED, Origin.UPSTREAM),
    ]
    assert all(e.by_bridge for e in events)
