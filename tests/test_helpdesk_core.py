"""Helpdesk services and selectors: the status pipeline, privacy of staff-only messages,
attachments, sanitised bodies, SLA breach flags, the outbox and the bridge's event hook."""

from __future__ import annotations

import datetime
import os

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.helpdesk import ports, selectors, services, tasks
from tenant_apps.helpdesk.models import Attachment, Department, Message, Outbox, Ticket
from tests.test_helpdesk_fixtures import PNG_BYTES, open_ticket, portal_customer, upload, user

pytestmark = pytest.mark.django_db

HOOK_CALLS: list[tuple[str, int, str | None]] = []


def record_hook(sender, *, event, ticket, message=None, **kwargs):
    HOOK_CALLS.append((event.kind, ticket.pk, message.kind if message else None))


@pytest.fixture
def subscribed():
    """Connect a receiver to the helpdesk's ticket_changed signal for one test."""
    connected = []

    def connect(receiver):
        ports.ticket_changed.connect(receiver, weak=False)
        connected.append(receiver)

    yield connect
    for receiver in connected:
        ports.ticket_changed.disconnect(receiver)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        yield instance_a


# --------------------------------------------------------------------------------------
# Departments and opening


def test_every_instance_starts_with_a_general_support_department(acme):
    assert Department.objects.filter(slug="general-support", name="General support").exists()


def test_escalation_inbox_is_created_once_and_reused(acme):
    first = services.department_escalation_inbox()
    second = services.department_escalation_inbox()
    assert first.pk == second.pk
    assert first.is_escalation_inbox and first.name == "Reseller escalations"


def test_opening_a_ticket_sets_sla_deadlines_from_its_department(acme):
    customer = portal_customer(acme.customer)
    department = services.department_create(
        name="Billing", first_response_minutes=60, resolution_minutes=600
    )
    ticket = open_ticket(customer, department=department)
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.first_response_due_at - ticket.created_at == datetime.timedelta(minutes=60)
    assert ticket.resolution_due_at - ticket.created_at == datetime.timedelta(minutes=600)
    assert ticket.messages.get().kind == Message.Kind.REPLY


def test_opening_without_subject_or_body_is_refused_with_field_errors(acme):
    with pytest.raises(ValidationError) as exc:
        services.ticket_open(subject=" ", body="<p> </p>")
    assert set(exc.value.message_dict) == {"subject", "body"}
    assert not Ticket.objects.exists()


# --------------------------------------------------------------------------------------
# Pipeline


def test_staff_reply_waits_for_the_customer_and_records_first_response(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="Looking into it.")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_CUSTOMER
    assert ticket.first_response_at is not None


def test_customer_reply_waits_for_staff(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="Which domain?")
    services.ticket_reply(ticket=ticket, author=customer.user, body="example.com")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_STAFF


def test_customer_reply_reopens_a_closed_ticket(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    services.ticket_close(ticket=ticket, actor=user(acme.support))
    services.ticket_reply(ticket=ticket, author=customer.user, body="It is broken again.")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_STAFF
    assert ticket.closed_at is None


def test_internal_note_changes_no_status(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="VIP", internal=True)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.first_response_at is None


def test_customer_cannot_write_an_internal_note(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    with pytest.raises(services.TicketNotAllowed):
        services.ticket_reply(ticket=ticket, author=customer.user, body="x", internal=True)
    assert ticket.messages.count() == 1


def test_closing_then_reopening_follows_the_pipeline(acme):
    staff = user(acme.support)
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_transition(ticket=ticket, to=Ticket.Status.ON_HOLD, actor=staff)
    services.ticket_close(ticket=ticket, actor=staff)
    assert ticket.status == Ticket.Status.CLOSED and ticket.closed_at is not None
    services.ticket_reopen(ticket=ticket, actor=staff)
    assert ticket.status == Ticket.Status.OPEN and ticket.closed_at is None


@pytest.mark.parametrize("to", ["on_hold", "awaiting_customer", "closed"])
def test_illegal_move_from_closed_is_refused_with_a_readable_409(acme, to):
    staff = user(acme.support)
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_close(ticket=ticket, actor=staff)
    with pytest.raises(services.InvalidTicketTransition) as exc:
        services.ticket_transition(ticket=ticket, to=to, actor=staff)
    assert exc.value.status_code == 409
    assert "closed" in str(exc.value)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED


def test_customer_can_only_close_or_reopen(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    with pytest.raises(services.InvalidTicketTransition):
        services.ticket_transition(ticket=ticket, to=Ticket.Status.ON_HOLD, actor=customer.user)


def test_assigning_a_customer_is_refused(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    with pytest.raises(ValidationError):
        services.ticket_assign(ticket=ticket, assignee=customer.user)
    services.ticket_assign(ticket=ticket, assignee=user(acme.support))
    assert Ticket.objects.get(pk=ticket.pk).assignee.email == acme.support


# --------------------------------------------------------------------------------------
# Escalation marks (the bridge's calls)


def test_escalating_twice_is_refused_and_changes_nothing(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_mark_escalated(ticket=ticket, link_id=7)
    with pytest.raises(services.AlreadyEscalated):
        services.ticket_mark_escalated(ticket=ticket, link_id=8)
    ticket.refresh_from_db()
    assert ticket.upstream_link_id == 7 and ticket.escalation == "escalated"


def test_upstream_close_marks_the_ticket_and_leaves_a_staff_only_note(acme):
    ticket = open_ticket(portal_customer(acme.customer))
    services.ticket_mark_escalated(ticket=ticket, link_id=1)
    services.ticket_mark_upstream_closed(ticket=ticket, author_label="Upline Hosting support")
    ticket.refresh_from_db()
    assert ticket.escalation == "resolved_upstream"
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.messages.filter(kind=Message.Kind.UPSTREAM_NOTE).count() == 1


# --------------------------------------------------------------------------------------
# Privacy


def test_customer_selector_never_returns_internal_or_upstream_messages(acme):
    customer = portal_customer(acme.customer)
    staff = user(acme.support)
    ticket = open_ticket(customer)
    services.ticket_reply(ticket=ticket, author=staff, body="secret note", internal=True)
    services.ticket_add_upstream_message(
        ticket=ticket, body="upstream says", author_label="Upline Hosting support"
    )
    services.ticket_record_upstream_reply(ticket=ticket, author=staff, body="asked upstream")
    services.ticket_reply(ticket=ticket, author=staff, body="public answer")
    kinds = {m.kind for m in selectors.ticket_messages_for(customer.user, ticket)}
    assert kinds == {Message.Kind.REPLY}
    assert len(selectors.ticket_messages_for(staff, ticket)) == 5


def test_customer_cannot_fetch_another_customers_ticket(acme):
    mine = portal_customer(acme.customer)
    from tests.test_helpdesk_fixtures import other_customer

    theirs = open_ticket(other_customer())
    with pytest.raises(Ticket.DoesNotExist):
        selectors.get_ticket_for(mine.user, theirs.pk)


# --------------------------------------------------------------------------------------
# Bodies and attachments


def test_script_in_a_body_is_removed_and_allowed_markup_kept(acme):
    ticket = open_ticket(
        portal_customer(acme.customer),
        body='<script>alert(1)</script><strong>bold</strong> <a href="https://x.test" '
        'onclick="evil()">link</a><img src=x onerror=alert(2)>',
    )
    body = ticket.messages.get().body
    assert "<script" not in body and "alert" not in body and "onclick" not in body
    assert "<img" not in body and "onerror" not in body
    assert "<strong>bold</strong>" in body
    assert 'rel="noopener nofollow"' in body


def test_a_valid_png_is_stored_under_the_instance_and_ticket_path(acme):
    ticket = open_ticket(
        portal_customer(acme.customer), attachments=[upload("screen shot.png", PNG_BYTES)]
    )
    attachment = Attachment.objects.get(message__ticket=ticket)
    assert attachment.file.name.startswith(f"{acme.schema_name}/helpdesk/{ticket.pk}/")
    assert attachment.file.name.endswith("/screen-shot.png")
    assert attachment.content_type == "image/png" and attachment.size == len(PNG_BYTES)


@pytest.mark.parametrize(
    "name,content,words",
    [
        ("evil.png", b"MZ\x90\x00\x03" + b"\x00" * 50, "does not contain"),
        ("page.png", b"<html><script>alert(1)</script></html>", "does not contain"),
        ("tool.exe", b"MZ\x90\x00", "not an accepted file type"),
        ("notes.txt", b"\x7fELF\x02\x01\x01\x00\x00\x00", "does not contain"),
    ],
)
def test_disallowed_attachment_is_refused_and_nothing_is_written(acme, name, content, words):
    customer = portal_customer(acme.customer)
    media_before = _media_files()
    with pytest.raises(ValidationError) as exc:
        open_ticket(customer, attachments=[upload(name, content)])
    assert words in " ".join(exc.value.messages)
    assert not Ticket.objects.exists() and not Attachment.objects.exists()
    assert _media_files() == media_before


def test_oversized_attachment_is_refused_and_nothing_is_written(acme, settings):
    settings.UPLINE_ATTACHMENT_MAX_BYTES = 1024
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    with pytest.raises(ValidationError) as exc:
        services.ticket_reply(
            ticket=ticket,
            author=customer.user,
            body="log attached",
            attachments=[upload("big.log", b"a" * 2048)],
        )
    assert "at most" in " ".join(exc.value.messages)
    assert ticket.messages.count() == 1 and not Attachment.objects.exists()


def _media_files() -> set[str]:
    found = set()
    for root, _dirs, files in os.walk(settings.MEDIA_ROOT):
        found.update(os.path.join(root, f) for f in files)
    return found


# --------------------------------------------------------------------------------------
# SLA


def test_first_response_breached_when_no_reply_before_the_deadline(acme):
    opened = timezone.now() - datetime.timedelta(hours=5)
    ticket = open_ticket(portal_customer(acme.customer), now=opened)  # 4 h target
    assert ticket.first_response_breached
    assert not ticket.resolution_breached
    assert ticket.sla_state() == "breached"
    assert selectors.ticket_queue(user=user(acme.support), breached=True).get() == ticket


def test_first_response_not_breached_when_answered_in_time(acme, monkeypatch):
    opened = timezone.now() - datetime.timedelta(hours=5)
    ticket = open_ticket(portal_customer(acme.customer), now=opened)
    answered = opened + datetime.timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: answered)
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="On it")
    monkeypatch.undo()
    ticket.refresh_from_db()
    assert not ticket.first_response_breached
    assert not selectors.ticket_queue(user=user(acme.support), breached=True).exists()


def test_resolution_breached_after_the_target_while_still_open(acme):
    opened = timezone.now() - datetime.timedelta(days=4)  # 3-day target
    ticket = open_ticket(portal_customer(acme.customer), now=opened)
    assert ticket.resolution_breached


def test_sla_state_is_due_soon_within_the_last_hour(acme):
    opened = timezone.now() - datetime.timedelta(hours=3, minutes=30)
    ticket = open_ticket(portal_customer(acme.customer), now=opened)
    assert ticket.sla_state() == "due_soon"


def test_sla_sweep_queues_one_breach_mail_per_target_once(acme, mailoutbox):
    opened = timezone.now() - datetime.timedelta(hours=5)
    ticket = open_ticket(portal_customer(acme.customer), now=opened)
    services.ticket_assign(ticket=ticket, assignee=user(acme.support))
    assert services.ticket_sla_sweep() == 1
    assert services.ticket_sla_sweep() == 0
    tasks.outbox_drain(schema_name=acme.schema_name)
    breach = [m for m in mailoutbox if "SLA breached" in m.subject]
    assert len(breach) == 1 and breach[0].to == [acme.support]


# --------------------------------------------------------------------------------------
# Outbox


def test_a_reply_commits_an_outbox_row_in_the_same_transaction(acme):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="Fixed.")
    row = Outbox.objects.get(event=Outbox.Event.STAFF_REPLIED)
    assert row.payload["ticket_id"] == ticket.pk and row.delivered_at is None


def test_draining_twice_delivers_each_notification_exactly_once(acme, mailoutbox):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="Fixed it.")
    tasks.outbox_drain(schema_name=acme.schema_name)
    tasks.outbox_drain(schema_name=acme.schema_name)
    to_customer = [m for m in mailoutbox if m.to == [customer.email]]
    assert len(to_customer) == 1
    assert "Fixed it." in to_customer[0].body
    assert to_customer[0].subject.startswith(f"[#{ticket.pk}]")
    assert not Outbox.objects.filter(delivered_at__isnull=True).exists()


def test_internal_note_sends_no_mail_to_the_customer(acme, mailoutbox):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="psst", internal=True)
    tasks.outbox_drain(schema_name=acme.schema_name)
    assert not [m for m in mailoutbox if customer.email in m.to]
    assert all("psst" not in m.body for m in mailoutbox)


def test_customer_reply_mails_the_assignee(acme, mailoutbox):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    services.ticket_assign(ticket=ticket, assignee=user(acme.owner))
    services.ticket_reply(ticket=ticket, author=customer.user, body="Any news?")
    tasks.outbox_drain(schema_name=acme.schema_name)
    replied = [m for m in mailoutbox if "customer replied" in m.subject]
    assert len(replied) == 1 and replied[0].to == [acme.owner]


def test_reply_commits_with_the_broker_down_and_a_later_drain_delivers(
    acme, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    tasks.outbox_drain(schema_name=acme.schema_name)  # the opening notice, out of the way
    mailoutbox.clear()

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.outbox_drain, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.ticket_reply(
            ticket=ticket, author=user(acme.support), body="Back online."
        )
    assert Message.objects.filter(pk=message.pk).exists()
    assert mailoutbox == []
    monkeypatch.undo()
    tasks.outbox_drain(schema_name=acme.schema_name)
    tasks.outbox_drain(schema_name=acme.schema_name)
    assert len([m for m in mailoutbox if m.to == [customer.email]]) == 1


def test_reply_enqueues_a_drain_on_commit(acme, mailoutbox, django_capture_on_commit_callbacks):
    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_reply(ticket=ticket, author=user(acme.support), body="Done.")
    assert [m for m in mailoutbox if m.to == [customer.email]]


def test_failed_send_is_kept_in_the_mail_outbox_and_sent_by_its_retry(
    acme, mailoutbox, monkeypatch
):
    # Changed with the mail outbox: the drain hands the e-mail over exactly once; a failed
    # send is kept (with its reason) and retried by the mail outbox, not by the drain.
    from django.core.mail import EmailMessage

    from tenant_apps.mail.models import OutgoingEmail
    from tenant_apps.mail.services import email_deliver

    customer = portal_customer(acme.customer)
    ticket = open_ticket(customer)
    Outbox.objects.update(delivered_at=timezone.now())
    services.ticket_reply(ticket=ticket, author=user(acme.support), body="Hello")

    def smtp_down(self, *args, **kwargs):
        raise OSError("smtp down")

    monkeypatch.setattr(EmailMessage, "send", smtp_down)
    tasks.outbox_drain(schema_name=acme.schema_name)
    [email] = OutgoingEmail.objects.filter(template_key="helpdesk_staff_replied")
    assert email.status == "failed" and email.attempts == 1 and "smtp down" in email.last_error
    assert not Outbox.objects.filter(delivered_at__isnull=True).exists()
    monkeypatch.undo()
    tasks.outbox_drain(schema_name=acme.schema_name)
    assert mailoutbox == []
    email_deliver(email_id=email.pk)
    assert len(mailoutbox) == 1


# --------------------------------------------------------------------------------------
# Event hook


def test_event_hook_is_called_for_replies_and_status_changes(acme, subscribed):
    subscribed(record_hook)
    HOOK_CALLS.clear()
    customer = portal_customer(acme.customer)
    staff = user(acme.support)
    ticket = open_ticket(customer)
    services.ticket_reply(ticket=ticket, author=staff, body="answer")
    services.ticket_transition(ticket=ticket, to=Ticket.Status.ON_HOLD, actor=staff)
    services.ticket_close(ticket=ticket, actor=staff)
    services.ticket_reopen(ticket=ticket, actor=staff)
    events = [(event, kind) for event, _pk, kind in HOOK_CALLS]
    assert events == [
        ("status_changed", None),  # open → awaiting customer, by the reply
        ("replied", "reply"),
        ("status_changed", None),
        ("closed", "system"),
        ("reopened", "system"),
    ]
    assert {pk for _e, pk, _k in HOOK_CALLS} == {ticket.pk}


def test_a_failing_hook_rolls_the_reply_back(acme, subscribed):
    subscribed(failing_hook)
    ticket = open_ticket(portal_customer(acme.customer))
    with pytest.raises(RuntimeError):
        services.ticket_reply(ticket=ticket, author=user(acme.support), body="x")
    assert ticket.messages.count() == 1


def failing_hook(sender, **kwargs):
    raise RuntimeError("bridge refused")
