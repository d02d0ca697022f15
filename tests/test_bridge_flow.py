"""The bridge as one flow: both routes upstream (an Upline instance, the inbox API) open
through the same active-reseller check and escalation price, hear back through the same
"is this news?" rule, never echo their own writes, and are audited on both sides."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.bridge import inbox
from shared_apps.bridge import services as bridge
from shared_apps.bridge.models import CallbackDelivery, EscalationLink, ExternalEscalation
from shared_apps.tenancy.models import Reseller
from tenant_apps.billing.models import PendingCharge
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Message, Ticket
from tenant_apps.helpdesk.ports import Kind, Origin, TicketEvent
from tenant_apps.instance.models import AuditEvent
from tests.billing_fixtures import make_customer, setup_issuer
from tests.conftest import OPERATOR_HOST, client_for


def _user(email):
    return get_user_model().objects.get(email=email)


def _reseller(info) -> Reseller:
    return Reseller.objects.get(slug=info.slug)


def _api(key: str) -> Client:
    return Client(HTTP_HOST=OPERATOR_HOST, HTTP_AUTHORIZATION=f"Bearer {key}")


def _open_by_api(key: str, ref: str = "WHMCS-7"):
    return _api(key).post(
        "/api/bridge/escalations/",
        {"external_ref": ref, "subject": "Mail bouncing", "body": "gmail.com bounces"},
        content_type="application/json",
    )


@pytest.fixture
def acme_ticket(instance_a) -> int:
    """A customer of Acme opens a ticket; Acme's support answers once."""
    with schema_context(instance_a.schema_name):
        customer = make_customer("Alice Martin", user=_user(instance_a.customer))
        ticket = helpdesk.ticket_open(
            subject="Site down",
            body="My site is down since 9:00.",
            customer=customer,
            requester=customer.user,
        )
        helpdesk.ticket_reply(
            ticket=ticket, author=_user(instance_a.support), body="We are looking."
        )
        return ticket.pk


def _escalate(info, ticket_id: int) -> EscalationLink:
    return bridge.ticket_escalate(
        reseller_schema=info.schema_name, ticket_id=ticket_id, escalated_by=info.support
    )


# --------------------------------------------------------------------------------------
# One way in: the active-reseller check and the escalation price on both routes


def test_an_inbox_escalation_is_charged_the_same_price_as_one_from_an_instance(
    instance_a, acme_ticket
):
    setup_issuer("FR")
    Reseller.objects.filter(slug="acme").update(escalation_price=Decimal("12.50"))
    key = inbox.inbox_token_create(reseller=_reseller(instance_a))[1]

    link = _escalate(instance_a, acme_ticket)
    response = _open_by_api(key)
    assert response.status_code == 201, response.content
    external = ExternalEscalation.objects.get()

    from_instance, from_inbox = PendingCharge.objects.order_by("id")
    operator_customer = Customer.objects.get(reseller_id=_reseller(instance_a).pk)
    for charge in (from_instance, from_inbox):
        assert charge.customer == operator_customer
        assert (charge.amount, charge.currency) == (Decimal("12.50"), "EUR")
        assert charge.invoice is None  # waits for the next invoice from the operator
    assert from_instance.description == (
        f"Upstream support: Acme ticket #{acme_ticket} (escalation #{link.operator_ticket_id})"
    )
    assert from_inbox.description == (
        f"Upstream support: Acme ticket WHMCS-7 (escalation #{external.operator_ticket_id})"
    )


def test_an_inbox_escalation_is_free_when_the_reseller_has_no_price(instance_a):
    key = inbox.inbox_token_create(reseller=_reseller(instance_a))[1]
    assert _open_by_api(key).status_code == 201
    assert not PendingCharge.objects.exists()


def test_a_suspended_reseller_is_refused_on_both_routes_with_the_same_message(
    instance_a, acme_ticket
):
    acme = _reseller(instance_a)
    key = inbox.inbox_token_create(reseller=acme)[1]
    Reseller.objects.filter(pk=acme.pk).update(status="suspended")

    with pytest.raises(bridge.ResellerInactive) as from_instance:
        _escalate(instance_a, acme_ticket)
    with pytest.raises(bridge.ResellerInactive) as from_inbox:
        inbox.external_escalation_open(
            reseller=acme, external_ref="WHMCS-7", subject="Mail bouncing", body="Help"
        )
    assert str(from_instance.value) == str(from_inbox.value)
    assert str(from_inbox.value).startswith("Acme is suspended: escalations to")
    refused = _open_by_api(key)
    assert refused.status_code == 403 and refused.json()["detail"] == str(from_inbox.value)
    assert not Ticket.objects.exists() and not PendingCharge.objects.exists()
    assert not EscalationLink.objects.exists() and not ExternalEscalation.objects.exists()


# --------------------------------------------------------------------------------------
# One relay: the same rule for both routes


def _event(kind, origin, status="awaiting_customer") -> TicketEvent:
    return TicketEvent(
        kind=kind, ticket_id=1, schema_name="public", status=status, message_id=None, origin=origin
    )


@pytest.mark.parametrize(
    "event,news",
    [
        (_event(Kind.REPLIED, Origin.STAFF), Kind.REPLIED),
        (_event(Kind.REPLIED, Origin.DOWNSTREAM), None),  # the reseller's own words
        (_event(Kind.REPLIED, Origin.SYSTEM), None),
        (_event(Kind.NOTED, Origin.STAFF), None),  # internal notes stay with the operator
        (_event(Kind.STATUS_CHANGED, Origin.STAFF, "awaiting_customer"), None),
        (_event(Kind.STATUS_CHANGED, Origin.DOWNSTREAM, "awaiting_staff"), None),
        (_event(Kind.STATUS_CHANGED, Origin.STAFF, "on_hold"), Kind.STATUS_CHANGED),
        (_event(Kind.CLOSED, Origin.STAFF, "closed"), Kind.CLOSED),
        (_event(Kind.CLOSED, Origin.DOWNSTREAM, "closed"), None),  # the reseller closed it
        (_event(Kind.REOPENED, Origin.STAFF, "open"), Kind.REOPENED),
    ],
)
def test_what_is_news_to_the_reseller_is_decided_by_one_rule(event, news):
    assert bridge.news_for_reseller(event) == news


def test_both_routes_hear_the_same_news_when_the_operator_works_the_ticket(
    instance_a, instance_b, operator, acme_ticket
):
    link = _escalate(instance_a, acme_ticket)
    bluebird = _reseller(instance_b)
    inbox.callback_endpoint_set(reseller=bluebird, url="https://billing.bluebird.example/hook")
    external = inbox.external_escalation_open(
        reseller=bluebird, external_ref="B-1", subject="Mail bouncing", body="Help"
    )
    support = _user(operator.support)
    for ticket_id in (link.operator_ticket_id, external.operator_ticket_id):
        ticket = Ticket.objects.get(pk=ticket_id)
        helpdesk.ticket_reply(ticket=ticket, author=support, body="Node 7 rebooted.")
        helpdesk.ticket_reply(ticket=ticket, author=support, body="Check 7", internal=True)
        helpdesk.ticket_transition(ticket=ticket, to="on_hold", actor=support)
        helpdesk.ticket_close(ticket=ticket, actor=support)

    assert list(CallbackDelivery.objects.order_by("id").values_list("event", flat=True)) == [
        "escalation.replied",
        "escalation.status_changed",
        "escalation.closed",
    ]
    with schema_context(instance_a.schema_name):
        notes = list(
            Message.objects.filter(ticket_id=acme_ticket, kind=Message.Kind.UPSTREAM_NOTE)
            .order_by("id")
            .values_list("body", flat=True)
        )
    assert len(notes) == 4  # escalated, the reply, on hold, closed
    assert "Node 7 rebooted." in notes[1] and "On hold" in notes[2]
    assert "upstream ticket was closed" in notes[3]
    assert not any("Check 7" in note for note in notes)
    link.refresh_from_db()
    external.refresh_from_db()
    assert link.status == external.status == "closed"
    assert link.first_operator_reply_at is not None and external.last_operator_reply_at


def test_closing_the_customers_ticket_closes_upstream_without_an_echo(
    instance_a, operator, acme_ticket
):
    link = _escalate(instance_a, acme_ticket)
    with schema_context(instance_a.schema_name):
        helpdesk.ticket_close(
            ticket=Ticket.objects.get(pk=acme_ticket), actor=_user(instance_a.support)
        )
        ticket = Ticket.objects.get(pk=acme_ticket)
        closed_notes = ticket.messages.filter(
            kind=Message.Kind.UPSTREAM_NOTE, body__contains="upstream ticket was closed"
        )
        assert ticket.is_closed and ticket.escalation == "resolved_upstream"
        assert closed_notes.count() == 1
    operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
    assert operator_ticket.is_closed
    assert operator_ticket.messages.filter(kind=Message.Kind.SYSTEM).get().body == (
        "<p>Ticket closed by Acme.</p>"
    )
    link.refresh_from_db()
    assert link.status == "closed"


# --------------------------------------------------------------------------------------
# Audit on both sides


def test_an_escalation_is_audited_in_the_resellers_instance_and_the_operators_trail(
    instance_a, acme_ticket
):
    staff = client_for(instance_a, instance_a.support)
    response = staff.post(f"/staff/escalations/tickets/{acme_ticket}/escalate/", {})
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        escalated = AuditEvent.objects.get(action="ticket.escalated")
        assert escalated.object_id == str(acme_ticket)
        assert escalated.actor.email == instance_a.support
    with schema_context("public"):
        link = EscalationLink.objects.get()
        opened = AuditEvent.objects.get(action="escalationlink.opened")
        assert opened.object_type == "escalationlink" and opened.object_id == str(link.pk)
        assert opened.actor is None and opened.actor_label == f"{instance_a.support} (Acme)"
        assert opened.customer_id == Customer.objects.get(reseller_id=link.reseller_id).pk
        assert opened.detail["operator_ticket"] == link.operator_ticket_id
        assert not AuditEvent.objects.filter(action="ticket.escalated").exists()
        assert AuditEvent.objects.filter(
            action="ticket.opened", object_id=str(link.operator_ticket_id)
        ).exists()


def test_inbox_api_calls_are_audited_with_the_key_as_actor(instance_a):
    key = inbox.inbox_token_create(reseller=_reseller(instance_a))[1]
    escalation_id = _open_by_api(key).json()["id"]
    _api(key).post(
        f"/api/bridge/escalations/{escalation_id}/replies/",
        {"body": "Any news?"},
        content_type="application/json",
    )
    with schema_context("public"):
        label = f"inbox key {key[:8]}… (Acme)"
        opened = AuditEvent.objects.get(action="externalescalation.opened")
        assert opened.object_id == str(escalation_id) and opened.actor_label == label
        replied = AuditEvent.objects.get(action="ticket.replied")
        assert replied.actor_label == label and "Any news?" not in str(replied.detail)


def test_inbox_keys_and_callback_addresses_are_audited_on_the_reseller(instance_a):
    acme = _reseller(instance_a)
    token, key = inbox.inbox_token_create(reseller=acme, actor="manage.py")
    inbox.inbox_token_revoke(reseller=acme, key_prefix=key[:8], actor="manage.py")
    endpoint = inbox.callback_endpoint_set(
        reseller=acme, url="https://billing.acme.example/hook", actor="manage.py"
    )
    with schema_context("public"):
        events = AuditEvent.objects.filter(
            object_type="reseller",
            object_id=str(acme.pk),
            action__in=[
                "reseller.inbox_key_created",
                "reseller.inbox_key_revoked",
                "reseller.callback_endpoint_set",
            ],
        )
        assert sorted(events.values_list("action", flat=True)) == [
            "reseller.callback_endpoint_set",
            "reseller.inbox_key_created",
            "reseller.inbox_key_revoked",
        ]
        assert {e.actor_label for e in events} == {"manage.py"}
        created = events.get(action="reseller.inbox_key_created")
        assert created.detail == {"key_prefix": token.key_prefix}
        trail = str(list(events.values_list("detail", flat=True)))
        assert key not in trail and endpoint.secret not in trail


def test_another_resellers_trail_has_none_of_the_escalation(instance_a, instance_b, acme_ticket):
    _escalate(instance_a, acme_ticket)
    with schema_context(instance_b.schema_name):
        assert not AuditEvent.objects.filter(action__startswith="ticket.").exists()
