"""The upstream bridge: escalate in one transaction, share only what was chosen, relay the
operator's answers as staff-only notes, reply upstream, close on either side."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.bridge import services as bridge
from shared_apps.bridge.models import EscalationLink
from shared_apps.tenancy.models import Reseller
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Message, Outbox, Ticket
from tenant_apps.helpdesk.selectors import ticket_messages_for
from tenant_apps.instance.models import IssuerIdentity
from tests.billing_fixtures import make_customer


def _user(email):
    return get_user_model().objects.get(email=email)


@pytest.fixture
def acme_ticket(instance_a):
    """A customer of Acme opens a ticket with a log file; Acme's support answers once."""
    with schema_context(instance_a.schema_name):
        customer = make_customer(
            "Alice Martin", email="alice@customer.test", user=_user(instance_a.customer)
        )
        ticket = helpdesk.ticket_open(
            subject="Site down",
            body="My site example.com is down since 9:00.",
            customer=customer,
            requester=_user(instance_a.customer),
            attachments=[
                SimpleUploadedFile("error.log", b"PHP Fatal error at line 3\n", "text/plain")
            ],
        )
        helpdesk.ticket_reply(
            ticket=ticket, author=_user(instance_a.support), body="We are looking."
        )
        return ticket.pk


def _escalate(instance_a, ticket_id, **share):
    return bridge.ticket_escalate(
        reseller_schema=instance_a.schema_name,
        ticket_id=ticket_id,
        escalated_by=instance_a.support,
        note="Server seems to be at fault",
        **share,
    )


def test_escalation_opens_a_linked_ticket_upstream_sharing_only_the_text(instance_a, acme_ticket):
    link = _escalate(instance_a, acme_ticket)
    operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)  # public schema
    first = operator_ticket.messages.get()
    assert operator_ticket.subject == "[Acme] Site down"
    assert operator_ticket.department.is_escalation_inbox and operator_ticket.source == "upstream"
    assert (
        "My site example.com is down" in first.body and "Server seems to be at fault" in first.body
    )
    assert "Alice" not in first.body and "alice@customer.test" not in first.body
    assert not first.attachments.exists()
    with schema_context(instance_a.schema_name):
        ticket = Ticket.objects.get(pk=acme_ticket)
        assert ticket.escalation == "escalated" and ticket.upstream_link_id == link.pk


def test_the_crossing_ends_with_one_round_trip_for_notification_audit_and_ticket_state(
    instance_a, acme_ticket
):
    with CaptureQueriesContext(connection) as seen:
        link = _escalate(instance_a, acme_ticket)
    last_writes = [q["sql"] for q in seen.captured_queries if "helpdesk_outbox" in q["sql"]]
    assert len(last_writes) == 1
    schema = instance_a.schema_name
    assert '"public"."instance_auditevent"' in last_writes[0]
    assert f'"{schema}"."instance_auditevent"' in last_writes[0]
    assert f'UPDATE "{schema}"."helpdesk_ticket"' in last_writes[0]
    queued = Outbox.objects.get(payload__ticket_id=link.operator_ticket_id)  # public schema
    assert queued.event == Outbox.Event.TICKET_OPENED and queued.delivered_at is None
    with schema_context(schema):
        ticket = Ticket.objects.get(pk=acme_ticket)
        assert (ticket.escalation, ticket.upstream_link_id) == ("escalated", link.pk)


def test_the_operator_reads_the_conversation_in_order_with_who_said_it_and_no_internal_note(
    instance_a, acme_ticket
):
    with schema_context(instance_a.schema_name):
        ticket = Ticket.objects.get(pk=acme_ticket)
        helpdesk.ticket_reply(
            ticket=ticket,
            author=_user(instance_a.support),
            body="Internal: reboot node",
            internal=True,
        )
        helpdesk.ticket_reply(
            ticket=ticket, author=_user(instance_a.customer), body="Still down at noon."
        )
    link = _escalate(instance_a, acme_ticket)
    shared = Ticket.objects.get(pk=link.operator_ticket_id).messages.get().body  # public
    said = [
        shared.index(text)
        for text in ("— Customer,", "My site example.com", "— Staff,", "We are looking.")
    ]
    assert said == sorted(said)
    assert shared.index("We are looking.") < shared.rindex("— Customer,")
    assert shared.rindex("— Customer,") < shared.index("Still down at noon.")
    assert "reboot node" not in shared


def test_escalating_a_ticket_that_does_not_exist_changes_nothing(instance_a):
    with pytest.raises(Ticket.DoesNotExist):
        bridge.ticket_escalate(
            reseller_schema=instance_a.schema_name, ticket_id=987654, escalated_by="x@acme.test"
        )
    assert not EscalationLink.objects.exists()


def test_a_resellers_first_escalation_opens_its_account_with_the_operator(instance_a, acme_ticket):
    acme = Reseller.objects.get(schema_name=instance_a.schema_name)
    Customer.objects.filter(reseller_id=acme.pk).update(reseller_id=None)  # not yet a customer
    if not IssuerIdentity.objects.update(country="BE", currency="USD"):
        IssuerIdentity.objects.create(country="BE", currency="USD")
    link = _escalate(instance_a, acme_ticket)
    account = Customer.objects.get(reseller_id=acme.pk)  # public schema: the operator's
    assert (account.kind, account.company_name, account.country, account.currency) == (
        "company",
        acme.legal_name,
        "BE",
        "USD",
    )
    assert Ticket.objects.get(pk=link.operator_ticket_id).customer_id == account.pk


def test_customer_details_and_chosen_attachments_are_shared_only_when_ticked(
    instance_a, acme_ticket
):
    with schema_context(instance_a.schema_name):
        attachment_id = bridge.ticket_attachments(Ticket.objects.get(pk=acme_ticket)).get().pk
    link = _escalate(
        instance_a,
        acme_ticket,
        share_customer_name=True,
        share_customer_email=True,
        attachment_ids=[attachment_id],
    )
    first = Ticket.objects.get(pk=link.operator_ticket_id).messages.get()
    assert "Alice Martin" in first.body and "alice@customer.test" in first.body
    assert first.attachments.get().original_name == "error.log"


def test_escalating_twice_is_refused_and_writes_nothing(instance_a, acme_ticket):
    _escalate(instance_a, acme_ticket)
    tickets_before = Ticket.objects.count()
    with pytest.raises(helpdesk.AlreadyEscalated):
        _escalate(instance_a, acme_ticket)
    assert EscalationLink.objects.count() == 1 and Ticket.objects.count() == tickets_before


def test_a_suspended_reseller_cannot_escalate_and_nothing_is_written(instance_a, acme_ticket):
    Reseller.objects.filter(slug="acme").update(status="suspended")
    with pytest.raises(bridge.EscalationRefused, match="suspended"):
        _escalate(instance_a, acme_ticket)
    assert not EscalationLink.objects.exists() and not Ticket.objects.exists()
    with schema_context(instance_a.schema_name):
        assert Ticket.objects.get(pk=acme_ticket).escalation == ""


def test_another_reseller_cannot_escalate_or_reply_on_a_ticket_it_does_not_have(
    instance_a, instance_b, acme_ticket
):
    _escalate(instance_a, acme_ticket)
    with pytest.raises(bridge.EscalationRefused):
        bridge.escalation_reply_upstream(
            reseller_schema=instance_b.schema_name,
            ticket_id=acme_ticket,
            author=None,
            body="Not mine",
        )
    with pytest.raises(Ticket.DoesNotExist):
        bridge.ticket_escalate(
            reseller_schema=instance_b.schema_name, ticket_id=acme_ticket, escalated_by="x"
        )


def test_operator_reply_reaches_reseller_staff_but_never_the_customer(
    instance_a, operator, acme_ticket
):
    link = _escalate(instance_a, acme_ticket)
    operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
    helpdesk.ticket_reply(
        ticket=operator_ticket,
        author=_user(operator.support),
        body="Disk full on node 7, fixed now.",
    )
    helpdesk.ticket_reply(
        ticket=operator_ticket,
        author=_user(operator.support),
        body="Internal: check node 7 monitoring",
        internal=True,
    )
    with schema_context(instance_a.schema_name):
        ticket = Ticket.objects.get(pk=acme_ticket)
        notes = list(
            ticket.messages.filter(kind=Message.Kind.UPSTREAM_NOTE).values_list("body", flat=True)
        )
        assert any("Disk full on node 7" in body for body in notes)
        assert not any("check node 7 monitoring" in body for body in notes)
        seen_by_customer = " ".join(
            m.body for m in ticket_messages_for(_user(instance_a.customer), ticket)
        )
        assert "Disk full" not in seen_by_customer and "Escalated" not in seen_by_customer
    link.refresh_from_db()
    assert link.first_operator_reply_at is not None


def test_reseller_replies_upstream_from_its_own_ticket(instance_a, acme_ticket):
    link = _escalate(instance_a, acme_ticket)
    with schema_context(instance_a.schema_name):
        support = _user(instance_a.support)
    bridge.escalation_reply_upstream(
        reseller_schema=instance_a.schema_name,
        ticket_id=acme_ticket,
        author=support,
        body="Any news? The customer is waiting.",
    )
    operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
    assert "Any news?" in operator_ticket.messages.order_by("-id").first().body
    assert operator_ticket.status == "awaiting_staff"
    with schema_context(instance_a.schema_name):
        assert (
            Ticket.objects.get(pk=acme_ticket)
            .messages.filter(kind=Message.Kind.UPSTREAM_REPLY)
            .exists()
        )


def test_closing_upstream_marks_the_reseller_ticket_resolved_upstream(
    instance_a, operator, acme_ticket
):
    link = _escalate(instance_a, acme_ticket)
    helpdesk.ticket_close(
        ticket=Ticket.objects.get(pk=link.operator_ticket_id), actor=_user(operator.support)
    )
    link.refresh_from_db()
    assert link.status == "closed"
    with schema_context(instance_a.schema_name):
        ticket = Ticket.objects.get(pk=acme_ticket)
        assert ticket.escalation == "resolved_upstream" and not ticket.is_closed


def test_closing_the_customer_ticket_closes_the_upstream_one(instance_a, acme_ticket):
    link = _escalate(instance_a, acme_ticket)
    with schema_context(instance_a.schema_name):
        helpdesk.ticket_close(
            ticket=Ticket.objects.get(pk=acme_ticket), actor=_user(instance_a.support)
        )
    assert Ticket.objects.get(pk=link.operator_ticket_id).is_closed
    link.refresh_from_db()
    assert link.status == "closed"


def test_console_lists_escalations_with_timings_for_operator_staff_only(
    instance_a, operator, acme_ticket
):
    from tests.conftest import client_for

    _escalate(instance_a, acme_ticket)
    page = client_for(operator, operator.support).get("/console/escalations/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "[Acme] Site down" in body and "Acme" in body and "waiting" in body
    assert client_for(instance_a, instance_a.owner).get("/console/escalations/").status_code == 404


def test_staff_escalate_and_reply_upstream_from_the_ticket_page(instance_a, acme_ticket):
    from tests.conftest import client_for

    client = client_for(instance_a, instance_a.support)
    response = client.post(
        f"/staff/escalations/tickets/{acme_ticket}/escalate/",
        {"note": "Please check node 7", "share_customer_name": "on"},
    )
    assert response.status_code == 302
    with schema_context("public"):  # requests leave the connection in the instance's schema
        link = EscalationLink.objects.get()
        assert "Alice Martin" in Ticket.objects.get(pk=link.operator_ticket_id).messages.get().body
    again = client.post(f"/staff/escalations/tickets/{acme_ticket}/escalate/", {}, follow=True)
    assert b"already escalated" in again.content
    client.post(
        f"/staff/escalations/tickets/{acme_ticket}/reply/", {"body": "Customer is a big account"}
    )
    with schema_context("public"):
        last = Ticket.objects.get(pk=link.operator_ticket_id).messages.order_by("-id").first()
        assert "big account" in last.body


def test_customers_and_the_operator_cannot_use_the_escalation_routes(
    instance_a, operator, acme_ticket
):
    from tests.conftest import client_for

    url = f"/staff/escalations/tickets/{acme_ticket}/escalate/"
    assert client_for(instance_a, instance_a.customer).post(url, {}).status_code == 403
    assert client_for(operator, operator.owner).post(url, {}).status_code == 404
    assert not EscalationLink.objects.exists()


def test_ticket_pages_show_the_upstream_side_to_staff_only(instance_a, operator, acme_ticket):
    from tests.conftest import client_for

    staff = client_for(instance_a, instance_a.support)
    page = staff.get(f"/staff/helpdesk/tickets/{acme_ticket}/").content.decode()
    assert "Escalate to" in page
    link = _escalate(instance_a, acme_ticket)
    with schema_context("public"):
        operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
        helpdesk.ticket_reply(
            ticket=operator_ticket, author=_user(operator.support), body="Node 7 rebooted."
        )
    page = staff.get(f"/staff/helpdesk/tickets/{acme_ticket}/").content.decode()
    assert "Node 7 rebooted." in page and "Escalate to" not in page
    assert page.count("data-quote=") == 1  # on the operator's answer, not our own note
    portal = client_for(instance_a, instance_a.customer).get(f"/portal/support/{acme_ticket}/")
    assert portal.status_code == 200 and b"Node 7 rebooted." not in portal.content
    operator_page = client_for(operator, operator.support).get(
        f"/staff/helpdesk/tickets/{operator_ticket.pk}/"
    )
    assert b"Escalated by Acme" in operator_page.content


def test_upstream_on_hold_is_relayed_but_reply_status_flips_are_not(
    instance_a, operator, acme_ticket
):
    link = _escalate(instance_a, acme_ticket)
    operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
    helpdesk.ticket_reply(ticket=operator_ticket, author=_user(operator.support), body="Looking.")
    helpdesk.ticket_transition(ticket=operator_ticket, to="on_hold", actor=_user(operator.support))
    with schema_context(instance_a.schema_name):
        notes = [
            m.body for m in Ticket.objects.get(pk=acme_ticket).messages.filter(kind="upstream_note")
        ]
    assert len(notes) == 3  # escalated, the reply, on hold
    assert "On hold" in notes[-1]


def test_paid_upstream_support_is_shown_first_and_billed_on_the_next_invoice(
    instance_a, acme_ticket
):
    import datetime
    from decimal import Decimal

    from tenant_apps.billing.models import Invoice, PendingCharge
    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs
    from tests.billing_fixtures import make_product, setup_issuer
    from tests.conftest import client_for

    setup_issuer("FR")  # the operator's own identity, public schema
    plan = make_product("reseller-pro", amount="300", is_reseller_plan=True)
    plan.escalation_price = Decimal("15.00")
    plan.save()
    acme = Reseller.objects.get(slug="acme")
    from tenant_apps.clients.models import Customer

    # Earlier escalations in the session may have made Acme the operator's customer already.
    reseller_customer = Customer.objects.filter(reseller_id=acme.pk).first() or make_customer(
        "Acme", kind="company", company_name="Acme Ltd", reseller_id=acme.pk
    )
    today = datetime.date(2026, 11, 26)
    Service.objects.create(
        customer=reseller_customer,
        product=plan,
        status="active",
        cycle="monthly",
        currency="EUR",
        recurring_amount=Decimal("300"),
        next_due_date=today + datetime.timedelta(days=3),
    )

    page = client_for(instance_a, instance_a.support).get(f"/staff/helpdesk/tickets/{acme_ticket}/")
    assert "Each escalation costs" in page.content.decode() and "15.00" in page.content.decode()
    with schema_context("public"):
        _escalate(instance_a, acme_ticket)
        charge = PendingCharge.objects.get()
        assert charge.customer == reseller_customer and charge.amount == Decimal("15.00")
        run = runs.renewals_run(today=today)
        invoice = Invoice.objects.get(billing_run=run)
        assert [
            line.description.startswith("Upstream support") for line in invoice.lines.all()
        ].count(True) == 1
        charge.refresh_from_db()
        assert charge.invoice == invoice
        assert runs.renewals_run(today=today).invoices_created == 0


def test_operator_sets_a_price_per_reseller_that_overrides_the_plan(
    instance_a, operator, acme_ticket
):
    from decimal import Decimal

    from tenant_apps.billing.models import PendingCharge
    from tests.billing_fixtures import setup_issuer
    from tests.conftest import client_for

    setup_issuer("FR")
    console = client_for(operator, operator.owner)
    bad = console.post(
        "/console/resellers/acme/escalation_price/", {"escalation_price": "-3"}, follow=True
    )
    assert b"cannot be negative" in bad.content
    console.post("/console/resellers/acme/escalation_price/", {"escalation_price": "9.50"})
    assert Reseller.objects.get(slug="acme").escalation_price == Decimal("9.50")
    page = client_for(instance_a, instance_a.support).get(f"/staff/helpdesk/tickets/{acme_ticket}/")
    assert "9.50" in page.content.decode()
    with schema_context("public"):
        _escalate(instance_a, acme_ticket)
        assert PendingCharge.objects.get().amount == Decimal("9.50")


def test_the_plan_price_is_read_for_the_resellers_own_customer_whatever_the_ids(
    instance_a, acme_ticket
):
    """Services and resellers count their ids apart: the price must follow the reseller's
    customer, not whichever customer's id happens to equal the service's."""
    from decimal import Decimal

    from tenant_apps.billing.models import PendingCharge
    from tenant_apps.clients.models import Customer
    from tenant_apps.orders.models import Service
    from tests.billing_fixtures import make_product, setup_issuer

    setup_issuer("FR")
    plan = make_product("reseller-ids", amount="300", is_reseller_plan=True)
    plan.escalation_price = Decimal("9.00")
    plan.save()
    acme = Reseller.objects.get(slug="acme")
    other = make_customer("Someone else", kind="company", company_name="Else Ltd")
    for _ in range(3):  # ids move on: the plan service's id is not the reseller's
        Service.objects.create(
            customer=other,
            product=plan,
            status="cancelled",
            cycle="monthly",
            currency="EUR",
            recurring_amount=Decimal("300"),
        )
    reseller_customer = Customer.objects.filter(reseller_id=acme.pk).first() or make_customer(
        "Acme", kind="company", company_name="Acme Ltd", reseller_id=acme.pk
    )
    Service.objects.create(
        customer=reseller_customer,
        product=plan,
        status="active",
        cycle="monthly",
        currency="EUR",
        recurring_amount=Decimal("300"),
    )
    with schema_context("public"):
        _escalate(instance_a, acme_ticket)
        assert PendingCharge.objects.get().amount == Decimal("9.00")
