"""Helpdesk over HTTP: staff queue and ticket page, the customer portal, attachments behind
permission checks, instance isolation, and the staff API (409 for illegal transitions)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.helpdesk import services
from tenant_apps.helpdesk.models import Attachment, Ticket
from tests.conftest import client_for
from tests.test_helpdesk_fixtures import (
    PNG_BYTES,
    open_ticket,
    other_customer,
    portal_customer,
    upload,
    user,
)

pytestmark = pytest.mark.django_db

SECRET_NOTE = "internal-only: customer owes us money"
UPSTREAM_NOTE = "upstream-only: datacenter power issue"
SENT_UPSTREAM = "sent-upstream: please check rack 4"


def _ticket_with_every_kind(info):
    """A customer ticket holding a reply, an internal note, an upstream note and reply."""
    with schema_context(info.schema_name):
        customer = portal_customer(info.customer)
        staff = user(info.support)
        ticket = open_ticket(customer, attachments=[upload("screen.png", PNG_BYTES)])
        services.ticket_reply(ticket=ticket, author=staff, body=SECRET_NOTE, internal=True)
        services.ticket_add_upstream_message(
            ticket=ticket, body=UPSTREAM_NOTE, author_label="Upline Hosting support"
        )
        services.ticket_record_upstream_reply(ticket=ticket, author=staff, body=SENT_UPSTREAM)
        services.ticket_reply(
            ticket=ticket,
            author=staff,
            body="Public answer",
            attachments=[upload("fix.txt", b"restart nginx")],
            internal=False,
        )
        services.ticket_reply(
            ticket=ticket,
            author=staff,
            body="note file",
            attachments=[upload("private.txt", b"private")],
            internal=True,
        )
        return ticket


# --------------------------------------------------------------------------------------
# Staff screens


def test_staff_queue_lists_tickets_with_filters(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    client = client_for(instance_a, instance_a.support)
    page = client.get("/staff/helpdesk/")
    assert page.status_code == 200
    assert ticket.subject in page.content.decode()
    assert client.get("/staff/helpdesk/?assignee=mine").status_code == 200
    filtered = client.get("/staff/helpdesk/?status=closed&sort=priority").content.decode()
    assert ticket.subject not in filtered


def test_staff_queue_shows_an_empty_state_without_tickets(instance_a):
    page = client_for(instance_a, instance_a.support).get("/staff/helpdesk/").content.decode()
    assert "No tickets yet" in page


def test_staff_ticket_page_shows_every_kind_of_message(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    page = client_for(instance_a, instance_a.support).get(f"/staff/helpdesk/tickets/{ticket.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    for text in (SECRET_NOTE, UPSTREAM_NOTE, SENT_UPSTREAM, "Public answer"):
        assert text in html
    assert "Internal note" in html and "Upstream note" in html


def test_customer_cannot_reach_the_staff_queue(instance_a):
    with schema_context(instance_a.schema_name):
        portal_customer(instance_a.customer)
    assert client_for(instance_a, instance_a.customer).get("/staff/helpdesk/").status_code == 403


def test_staff_reply_form_posts_an_internal_note(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    client = client_for(instance_a, instance_a.support)
    response = client.post(
        f"/staff/helpdesk/tickets/{ticket.pk}/", {"body": "second note", "internal": "on"}
    )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        assert ticket.messages.filter(kind="internal_note", body__contains="second note").exists()


def test_illegal_transition_on_the_staff_page_becomes_a_message(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    client = client_for(instance_a, instance_a.support)
    client.post(f"/staff/helpdesk/tickets/{ticket.pk}/transition/", {"to": "closed"})
    response = client.post(
        f"/staff/helpdesk/tickets/{ticket.pk}/transition/", {"to": "on_hold"}, follow=True
    )
    assert response.status_code == 200
    assert "cannot move" in response.content.decode()


def test_staff_opens_a_ticket_for_a_customer(instance_a):
    with schema_context(instance_a.schema_name):
        customer = portal_customer(instance_a.customer)
        department = services.department_default()
    response = client_for(instance_a, instance_a.support).post(
        "/staff/helpdesk/tickets/new/",
        {
            "customer": customer.pk,
            "subject": "Planned maintenance",
            "department": department.pk,
            "priority": "high",
            "body": "We will reboot your server tonight.",
        },
    )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        ticket = Ticket.objects.get(subject="Planned maintenance")
        assert ticket.source == "staff" and ticket.requester == customer.user


def test_staff_manage_departments_and_canned_replies(instance_a):
    client = client_for(instance_a, instance_a.owner)
    response = client.post(
        "/staff/helpdesk/departments/new/",
        {
            "name": "Sales",
            "first_response_minutes": 60,
            "resolution_minutes": 600,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    response = client.post("/staff/helpdesk/canned/new/", {"title": "Thanks", "body": "Thank you!"})
    assert response.status_code == 302
    assert "Sales" in client.get("/staff/helpdesk/departments/").content.decode()
    assert "Thanks" in client.get("/staff/helpdesk/canned/").content.decode()


# --------------------------------------------------------------------------------------
# Portal


def test_portal_ticket_page_never_shows_staff_only_messages(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    page = client_for(instance_a, instance_a.customer).get(f"/portal/support/{ticket.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Public answer" in html and "fix.txt" in html
    for text in (SECRET_NOTE, UPSTREAM_NOTE, SENT_UPSTREAM, "private.txt", "Internal note"):
        assert text not in html


def test_customer_opens_replies_to_and_closes_a_ticket_in_the_portal(instance_a):
    with schema_context(instance_a.schema_name):
        department = services.department_default()
        portal_customer(instance_a.customer)
    client = client_for(instance_a, instance_a.customer)
    response = client.post(
        "/portal/support/new/",
        {
            "subject": "Mail bounces",
            "department": department.pk,
            "priority": "normal",
            "body": "All mail to me bounces.",
            "attachments": [upload("bounce.log", b"550 rejected")],
        },
    )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        ticket = Ticket.objects.get(subject="Mail bounces")
        assert ticket.messages.get().attachments.count() == 1
    assert (
        client.post(f"/portal/support/{ticket.pk}/", {"body": "Still bouncing"}).status_code == 302
    )
    client.post(f"/portal/support/{ticket.pk}/close/")
    with schema_context(instance_a.schema_name):
        ticket.refresh_from_db()
        assert ticket.status == "closed"
    assert "Mail bounces" in client.get("/portal/support/").content.decode()


def test_script_typed_by_a_customer_is_rendered_as_text(instance_a):
    with schema_context(instance_a.schema_name):
        ticket = open_ticket(
            portal_customer(instance_a.customer),
            subject="<script>alert('subject')</script>",
            body="<script>alert('body')</script> hello &lt;script&gt;",
        )
    for info, email, url in (
        (instance_a, instance_a.customer, f"/portal/support/{ticket.pk}/"),
        (instance_a, instance_a.support, f"/staff/helpdesk/tickets/{ticket.pk}/"),
        (instance_a, instance_a.support, "/staff/helpdesk/"),
    ):
        html = client_for(info, email).get(url).content.decode()
        assert "<script>alert" not in html
        assert "&lt;script&gt;" in html


def test_customer_gets_404_for_another_customers_ticket_and_attachment(instance_a):
    with schema_context(instance_a.schema_name):
        portal_customer(instance_a.customer)
        theirs = open_ticket(other_customer(), attachments=[upload("x.png", PNG_BYTES)])
        attachment = Attachment.objects.get(message__ticket=theirs)
    client = client_for(instance_a, instance_a.customer)
    assert client.get(f"/portal/support/{theirs.pk}/").status_code == 404
    assert client.post(f"/portal/support/{theirs.pk}/", {"body": "hi"}).status_code == 404
    assert client.get(f"/portal/support/attachments/{attachment.pk}/").status_code == 404


def test_customer_downloads_own_visible_attachment_but_not_one_on_a_note(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    with schema_context(instance_a.schema_name):
        visible = Attachment.objects.get(message__ticket=ticket, original_name="fix.txt")
        hidden = Attachment.objects.get(message__ticket=ticket, original_name="private.txt")
    client = client_for(instance_a, instance_a.customer)
    response = client.get(f"/portal/support/attachments/{visible.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"restart nginx"
    assert "attachment" in response["Content-Disposition"]
    assert client.get(f"/portal/support/attachments/{hidden.pk}/").status_code == 404
    staff = client_for(instance_a, instance_a.support)
    assert staff.get(f"/staff/helpdesk/attachments/{hidden.pk}/").status_code == 200


def test_nothing_of_instance_b_is_reachable_from_instance_a(instance_a, instance_b):
    ticket_b = _ticket_with_every_kind(instance_b)
    with schema_context(instance_b.schema_name):
        attachment_b = Attachment.objects.filter(message__ticket=ticket_b).first()
    with schema_context(instance_a.schema_name):
        portal_customer(instance_a.customer)
    customer_a = client_for(instance_a, instance_a.customer)
    staff_a = client_for(instance_a, instance_a.support)
    # Same ids exist nowhere in A: 404 everywhere (A has no tickets at all here).
    assert customer_a.get(f"/portal/support/{ticket_b.pk}/").status_code == 404
    assert customer_a.get(f"/portal/support/attachments/{attachment_b.pk}/").status_code == 404
    assert staff_a.get(f"/staff/helpdesk/tickets/{ticket_b.pk}/").status_code == 404
    assert staff_a.get(f"/staff/helpdesk/attachments/{attachment_b.pk}/").status_code == 404
    assert staff_a.get(f"/api/tickets/{ticket_b.pk}/").status_code == 404


def test_portal_upload_of_a_disguised_file_shows_the_error_and_writes_nothing(instance_a):
    with schema_context(instance_a.schema_name):
        department = services.department_default()
        portal_customer(instance_a.customer)
    response = client_for(instance_a, instance_a.customer).post(
        "/portal/support/new/",
        {
            "subject": "Look",
            "department": department.pk,
            "priority": "normal",
            "body": "see file",
            "attachments": [upload("cat.png", b"<html><body>hi</body></html>")],
        },
    )
    assert response.status_code == 400
    assert "does not contain what its name says" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert not Ticket.objects.filter(subject="Look").exists()


# --------------------------------------------------------------------------------------
# API


def test_api_detail_shows_staff_every_message_and_customers_get_403(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    data = client_for(instance_a, instance_a.support).get(f"/api/tickets/{ticket.pk}/").json()
    kinds = {m["kind"] for m in data["messages"]}
    assert kinds == {"reply", "internal_note", "upstream_note", "upstream_reply"}
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get(f"/api/tickets/{ticket.pk}/").status_code == 403
    assert customer.get("/api/tickets/").status_code == 403


def test_api_reply_transition_and_illegal_transition_409(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    client = client_for(instance_a, instance_a.support)
    reply = client.post(
        f"/api/tickets/{ticket.pk}/replies/",
        {"body": "via api", "internal": False},
        content_type="application/json",
    )
    assert reply.status_code == 201 and reply.json()["kind"] == "reply"
    closed = client.post(
        f"/api/tickets/{ticket.pk}/transition/", {"to": "closed"}, content_type="application/json"
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    illegal = client.post(
        f"/api/tickets/{ticket.pk}/transition/", {"to": "on_hold"}, content_type="application/json"
    )
    assert illegal.status_code == 409
    assert illegal.json()["code"] == "invalid_transition"


def test_api_reply_with_multipart_attachment_and_a_refused_one(instance_a):
    ticket = _ticket_with_every_kind(instance_a)
    client = client_for(instance_a, instance_a.support)
    ok = client.post(
        f"/api/tickets/{ticket.pk}/replies/",
        {"body": "log attached", "attachments": [upload("a.csv", b"a,b\n1,2\n")]},
    )
    assert ok.status_code == 201 and ok.json()["attachments"][0]["original_name"] == "a.csv"
    bad = client.post(
        f"/api/tickets/{ticket.pk}/replies/",
        {"body": "evil", "attachments": [upload("a.gif", b"MZ\x90\x00")]},
    )
    assert bad.status_code == 400


def test_api_create_assign_departments_and_canned(instance_a):
    client = client_for(instance_a, instance_a.support)
    created = client.post(
        "/api/tickets/",
        {"subject": "API ticket", "body": "hello", "priority": "urgent"},
        content_type="application/json",
    )
    assert created.status_code == 201
    with schema_context(instance_a.schema_name):
        support_id = user(instance_a.support).pk
        customer_id = portal_customer(instance_a.customer).user_id
    assigned = client.post(
        f"/api/tickets/{created.json()['id']}/assign/",
        {"assignee": support_id},
        content_type="application/json",
    )
    assert assigned.status_code == 200 and assigned.json()["assignee"] == support_id
    refused = client.post(
        f"/api/tickets/{created.json()['id']}/assign/",
        {"assignee": customer_id},
        content_type="application/json",
    )
    assert refused.status_code == 400
    names = [d["name"] for d in client.get("/api/departments/").json()]
    assert "General support" in names
    assert client.get("/api/canned-replies/").status_code == 200
    assert client.get("/api/tickets/?status=open").json()["count"] >= 1


def test_api_schema_documents_the_helpdesk(instance_a):
    schema = client_for(instance_a, instance_a.support).get("/api/schema/").content.decode()
    assert "/api/tickets/{id}/replies/" in schema
