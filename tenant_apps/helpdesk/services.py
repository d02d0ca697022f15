"""Helpdesk writes: opening, replying, the status pipeline, assignment, SLA, departments and
canned replies — plus the calls the upstream bridge makes (escalation marks, upstream notes).

Every function is keyword-only and atomic. Notifications are Outbox rows written in the same
transaction as the change; a drain is enqueued on commit, and a broker outage only delays
delivery (the beat fan-out drains again). Every change is announced on
`ports.ticket_changed` inside the transaction, so the bridge's own writes commit or roll back
with ours.

Ticket rows are locked (`select_for_update`) before they change; nothing else is locked.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify
from rest_framework import status

from config.errors import DomainError

from . import ports
from .attachments import CheckedUpload, attachments_check
from .models import Attachment, CannedReply, Department, Message, Outbox, Ticket
from .rich_text import body_to_html, is_blank

log = logging.getLogger(__name__)

GENERAL_SLUG = "general-support"
ESCALATION_INBOX_NAME = "Reseller escalations"
ESCALATION_INBOX_SLUG = "reseller-escalations"

S = Ticket.Status
# The pipeline: which statuses each status may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.AWAITING_STAFF, S.AWAITING_CUSTOMER, S.ON_HOLD, S.CLOSED}),
    S.AWAITING_STAFF: frozenset({S.AWAITING_CUSTOMER, S.ON_HOLD, S.CLOSED}),
    S.AWAITING_CUSTOMER: frozenset({S.AWAITING_STAFF, S.ON_HOLD, S.CLOSED}),
    S.ON_HOLD: frozenset({S.AWAITING_STAFF, S.AWAITING_CUSTOMER, S.CLOSED}),
    S.CLOSED: frozenset({S.OPEN, S.AWAITING_STAFF}),  # reopen
}
# What a customer may do to their own ticket.
CUSTOMER_TARGETS = frozenset({S.CLOSED, S.OPEN, S.AWAITING_STAFF})


class InvalidTicketTransition(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "invalid_transition"


class AlreadyEscalated(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "already_escalated"


class TicketNotAllowed(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "not_allowed"


# --------------------------------------------------------------------------------------
# Plumbing: locking, hook, outbox


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _sync(target: Ticket, source: Ticket) -> Ticket:
    """Copy the saved state onto the caller's instance, so views and tests see it."""
    for field in Ticket._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def _fire_hook(event: str, ticket: Ticket, message: Message | None = None) -> None:
    ports.ticket_changed.send(sender=Ticket, event=event, ticket=ticket, message=message)


def _drain_later(schema_name: str) -> None:
    from .tasks import outbox_drain

    try:
        outbox_drain.apply_async(kwargs={"schema_name": schema_name})
    except Exception:  # broker down: the rows wait for the beat fan-out
        log.warning("Could not enqueue a helpdesk outbox drain for %s", schema_name)


def _outbox(event: str, **payload) -> Outbox:
    row = Outbox.objects.create(event=event, payload=payload)
    schema = connection.schema_name
    transaction.on_commit(lambda: _drain_later(schema))
    return row


def _is_staff(user) -> bool:
    return bool(user is not None and getattr(user, "is_instance_staff", False))


def _store_attachments(message: Message, checked: Iterable[CheckedUpload]) -> None:
    for item in checked:
        attachment = Attachment(
            message=message,
            original_name=item.original_name[:255],
            size=item.size,
            content_type=item.content_type,
        )
        attachment.file.save(item.original_name, item.upload, save=False)
        attachment.save()
        # A failed call must not leave the file behind (see _FilesRolledBack).
        _remove_on_rollback(attachment.file.storage, attachment.file.name)


def _remove_on_rollback(storage, name: str) -> None:
    # Django has no on-rollback hook: remember the file; _FilesRolledBack deletes it on error.
    transaction.get_connection().__dict__.setdefault("_helpdesk_new_files", []).append(
        (storage, name)
    )


def _clean_files_after_failure() -> None:
    connection = transaction.get_connection()
    for storage, name in connection.__dict__.pop("_helpdesk_new_files", []):
        try:
            storage.delete(name)
        except OSError:
            log.warning("Could not remove orphan attachment %s", name)


def _forget_new_files() -> None:
    transaction.get_connection().__dict__.pop("_helpdesk_new_files", None)


class _FilesRolledBack:
    """Context: files stored inside a failed service call are deleted with its rows."""

    def __enter__(self):
        _forget_new_files()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            _clean_files_after_failure()
        else:
            _forget_new_files()
        return False


def _add_message(
    *,
    ticket: Ticket,
    kind: str,
    body_html: str,
    author=None,
    author_label: str = "",
    checked: Iterable[CheckedUpload] = (),
    now: datetime.datetime | None = None,
) -> Message:
    message = Message.objects.create(
        ticket=ticket,
        kind=kind,
        body=body_html,
        author=author,
        author_label=author_label[:200],
        created_at=now or timezone.now(),
    )
    _store_attachments(message, checked)
    return message


def _clean_body(body: str) -> str:
    html = body_to_html(body)
    if is_blank(html):
        raise ValidationError({"body": "Write a message first."})
    return html


# --------------------------------------------------------------------------------------
# Departments


def department_default() -> Department:
    """The department tickets land in when none is chosen (“General support”)."""
    department = (
        Department.objects.filter(is_active=True, is_escalation_inbox=False).order_by("id").first()
    )
    if department is None:
        department, _ = Department.objects.get_or_create(
            slug=GENERAL_SLUG, defaults={"name": "General support"}
        )
    return department


def _unique_slug(name: str, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:50] or "department"
    slug, n = base, 2
    while Department.objects.filter(slug=slug).exclude(pk=exclude_pk).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _validate_minutes(first_response_minutes: int, resolution_minutes: int) -> None:
    if first_response_minutes < 1 or resolution_minutes < 1:
        raise ValidationError("SLA targets must be at least one minute.")
    if resolution_minutes < first_response_minutes:
        raise ValidationError(
            {"resolution_minutes": "The resolution target cannot be shorter than the first reply."}
        )


@transaction.atomic
def department_create(
    *,
    name: str,
    slug: str = "",
    first_response_minutes: int = 240,
    resolution_minutes: int = 4320,
    is_active: bool = True,
) -> Department:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the department a name."})
    _validate_minutes(first_response_minutes, resolution_minutes)
    if slug and Department.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": "Another department already uses this short name."})
    return Department.objects.create(
        name=name,
        slug=slug or _unique_slug(name),
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        is_active=is_active,
    )


@transaction.atomic
def department_update(
    *,
    department: Department,
    name: str,
    first_response_minutes: int,
    resolution_minutes: int,
    is_active: bool,
) -> Department:
    """New targets apply to tickets opened from now on; open tickets keep their deadlines."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the department a name."})
    _validate_minutes(first_response_minutes, resolution_minutes)
    if not is_active and department.is_escalation_inbox:
        raise ValidationError("The reseller escalations inbox cannot be switched off.")
    department.name = name
    department.first_response_minutes = first_response_minutes
    department.resolution_minutes = resolution_minutes
    department.is_active = is_active
    department.save()
    return department


@transaction.atomic
def department_escalation_inbox() -> Department:
    """The department escalations from resellers are filed into (created on first use)."""
    department = Department.objects.filter(is_escalation_inbox=True).order_by("id").first()
    if department is not None:
        return department
    department, created = Department.objects.get_or_create(
        slug=ESCALATION_INBOX_SLUG,
        defaults={
            "name": ESCALATION_INBOX_NAME,
            "is_escalation_inbox": True,
            "first_response_minutes": 120,
            "resolution_minutes": 2 * 24 * 60,
        },
    )
    if not created and not department.is_escalation_inbox:
        department.is_escalation_inbox = True
        department.is_active = True
        department.save(update_fields=["is_escalation_inbox", "is_active"])
    return department


# --------------------------------------------------------------------------------------
# Canned replies


def _canned_validate(title: str, body: str) -> None:
    errors = {}
    if not title.strip():
        errors["title"] = "Give the reply a title."
    if not body.strip():
        errors["body"] = "Write the reply's text."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def canned_reply_create(
    *, title: str, body: str, department: Department | None = None
) -> CannedReply:
    _canned_validate(title, body)
    return CannedReply.objects.create(title=title.strip(), body=body, department=department)


@transaction.atomic
def canned_reply_update(
    *, canned_reply: CannedReply, title: str, body: str, department: Department | None
) -> CannedReply:
    _canned_validate(title, body)
    canned_reply.title, canned_reply.body = title.strip(), body
    canned_reply.department = department
    canned_reply.save()
    return canned_reply


@transaction.atomic
def canned_reply_delete(*, canned_reply: CannedReply) -> None:
    canned_reply.delete()


# --------------------------------------------------------------------------------------
# Tickets


def ticket_open(
    *,
    subject: str,
    body: str,
    department: Department | None = None,
    customer=None,
    requester=None,
    opened_by=None,
    priority: str = Ticket.Priority.NORMAL,
    source: str = Ticket.Source.PORTAL,
    attachments: Iterable = (),
    now: datetime.datetime | None = None,
) -> Ticket:
    """Open a ticket with its first message.

    `requester` is who asks (a customer's login, or None); `opened_by` who typed it (staff
    opening on a customer's behalf), defaulting to the requester. Attachments are checked
    before anything is written.
    """
    subject = " ".join((subject or "").split())
    errors = {}
    if not subject:
        errors["subject"] = "Give the ticket a subject."
    try:
        body_html = _clean_body(body)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if priority not in Ticket.Priority.values:
        errors["priority"] = "Choose a priority."
    if department is not None and not department.is_active:
        errors["department"] = "This department no longer takes tickets."
    if errors:
        raise ValidationError(errors)
    checked = attachments_check(attachments)
    author = opened_by or requester
    with _FilesRolledBack(), transaction.atomic():
        department = department or department_default()
        now = now or timezone.now()
        ticket = Ticket.objects.create(
            subject=subject[:200],
            customer=customer,
            requester=requester,
            department=department,
            priority=priority,
            source=source,
            status=Ticket.Status.OPEN,
            created_at=now,
            last_activity_at=now,
            first_response_due_at=now
            + datetime.timedelta(minutes=department.first_response_minutes),
            resolution_due_at=now + datetime.timedelta(minutes=department.resolution_minutes),
        )
        message = _add_message(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body_html=body_html,
            author=author,
            checked=checked,
            now=now,
        )
        _outbox(
            Outbox.Event.TICKET_OPENED,
            ticket_id=ticket.pk,
            message_id=message.pk,
            by_staff=_is_staff(author),
        )
    return ticket


def _move(ticket: Ticket, to: str, *, actor=None, fire_hook: bool = True, note: str = "") -> bool:
    """The one place a status changes (ticket already locked). False when already there."""
    current = ticket.status
    if to == current:
        return False
    if to not in Ticket.Status.values:
        raise InvalidTicketTransition(f"“{to}” is not a ticket status.")
    if to not in TRANSITIONS[current]:
        raise InvalidTicketTransition(
            f"Ticket {ticket.number} is {ticket.get_status_display().lower()}: it cannot move "
            f"to “{Ticket.Status(to).label.lower()}”."
        )
    now = timezone.now()
    ticket.status = to
    ticket.last_activity_at = now
    if to == S.CLOSED:
        ticket.closed_at = now
    elif current == S.CLOSED:
        ticket.closed_at = None
    if to == S.ON_HOLD:
        ticket.on_hold_since = now
    elif current == S.ON_HOLD and ticket.on_hold_since is not None:
        # The SLA clock stood still on hold: open deadlines move on by the time held.
        held = now - ticket.on_hold_since
        if ticket.first_response_at is None and ticket.first_response_due_at:
            ticket.first_response_due_at += held
        if ticket.resolution_due_at:
            ticket.resolution_due_at += held
        ticket.on_hold_since = None
    ticket.save(
        update_fields=[
            "status",
            "closed_at",
            "last_activity_at",
            "on_hold_since",
            "first_response_due_at",
            "resolution_due_at",
        ]
    )
    event = "closed" if to == S.CLOSED else "reopened" if current == S.CLOSED else ""
    message = None
    if event:
        who = str(actor) if actor is not None else "the system"
        text = note or f"Ticket {event} by {who}."
        message = _add_message(
            ticket=ticket, kind=Message.Kind.SYSTEM, body_html=body_to_html(text), now=now
        )
    if fire_hook:
        _fire_hook(event or "status_changed", ticket, message)
    return True


@transaction.atomic
def ticket_transition(*, ticket: Ticket, to: str, actor) -> Ticket:
    """Move a ticket along the pipeline; illegal moves raise InvalidTicketTransition (409)."""
    locked = _locked(ticket)
    if not _is_staff(actor) and to not in CUSTOMER_TARGETS:
        raise InvalidTicketTransition("Customers can only close or reopen their tickets.")
    if to == locked.status:
        raise InvalidTicketTransition(
            f"Ticket {locked.number} is already {locked.get_status_display().lower()}."
        )
    _move(locked, to, actor=actor)
    return _sync(ticket, locked)


def ticket_close(*, ticket: Ticket, actor) -> Ticket:
    return ticket_transition(ticket=ticket, to=S.CLOSED, actor=actor)


def ticket_reopen(*, ticket: Ticket, actor) -> Ticket:
    if ticket.status != S.CLOSED:
        raise InvalidTicketTransition(f"Ticket {ticket.number} is not closed.")
    to = S.OPEN if _is_staff(actor) else S.AWAITING_STAFF
    return ticket_transition(ticket=ticket, to=to, actor=actor)


def ticket_reply(
    *,
    ticket: Ticket,
    author,
    body: str,
    attachments: Iterable = (),
    internal: bool = False,
) -> Message:
    """A staff or customer reply, or (staff only) an internal note.

    Staff replies set the first response and wait for the customer; customer replies wait
    for staff and reopen a closed ticket. Internal notes change no status.
    """
    staff = _is_staff(author)
    if internal and not staff:
        raise TicketNotAllowed("Only staff can write internal notes.")
    body_html = _clean_body(body)
    checked = attachments_check(attachments)
    with _FilesRolledBack(), transaction.atomic():
        locked = _locked(ticket)
        now = timezone.now()
        kind = Message.Kind.INTERNAL_NOTE if internal else Message.Kind.REPLY
        message = _add_message(
            ticket=locked, kind=kind, body_html=body_html, author=author, checked=checked, now=now
        )
        if not internal:
            if staff:
                if locked.first_response_at is None:
                    locked.first_response_at = now
                if locked.status != S.CLOSED:
                    _move(locked, S.AWAITING_CUSTOMER, actor=author)
                _outbox(Outbox.Event.STAFF_REPLIED, ticket_id=locked.pk, message_id=message.pk)
            else:
                _move(locked, S.AWAITING_STAFF, actor=author)
                _outbox(Outbox.Event.CUSTOMER_REPLIED, ticket_id=locked.pk, message_id=message.pk)
        locked.last_activity_at = now
        locked.save(update_fields=["first_response_at", "last_activity_at"])
        _fire_hook("replied", locked, message)
        _sync(ticket, locked)
    return message


@transaction.atomic
def ticket_add_upstream_message(
    *,
    ticket: Ticket,
    body: str,
    author_label: str,
    kind: str = Message.Kind.UPSTREAM_NOTE,
) -> Message:
    """For the bridge: a note relayed from upstream, seen by this instance's staff only."""
    if kind not in (Message.Kind.UPSTREAM_NOTE, Message.Kind.UPSTREAM_REPLY):
        raise ValidationError("Upstream messages are upstream notes or upstream replies.")
    locked = _locked(ticket)
    message = _add_message(
        ticket=locked, kind=kind, body_html=_clean_body(body), author_label=author_label
    )
    locked.last_activity_at = message.created_at
    locked.save(update_fields=["last_activity_at"])
    _sync(ticket, locked)
    return message


@transaction.atomic
def ticket_record_upstream_reply(
    *, ticket: Ticket, author, body: str, attachments: Iterable = ()
) -> Message:
    """For the bridge: what this instance's staff sent upstream (staff-only message)."""
    if not _is_staff(author):
        raise TicketNotAllowed("Only staff can write upstream.")
    body_html = _clean_body(body)
    checked = attachments_check(attachments)
    with _FilesRolledBack():
        locked = _locked(ticket)
        message = _add_message(
            ticket=locked,
            kind=Message.Kind.UPSTREAM_REPLY,
            body_html=body_html,
            author=author,
            checked=checked,
        )
        locked.last_activity_at = message.created_at
        locked.save(update_fields=["last_activity_at"])
    _sync(ticket, locked)
    return message


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee, actor=None) -> Ticket:
    """Give the ticket to a staff member of this instance (None: unassign)."""
    if assignee is not None and not _is_staff(assignee):
        raise ValidationError({"assignee": "Tickets can only be assigned to active staff."})
    locked = _locked(ticket)
    locked.assignee = assignee
    locked.save(update_fields=["assignee"])
    return _sync(ticket, locked)


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: str) -> Ticket:
    if priority not in Ticket.Priority.values:
        raise ValidationError({"priority": "Choose a priority."})
    locked = _locked(ticket)
    locked.priority = priority
    locked.save(update_fields=["priority"])
    return _sync(ticket, locked)


@transaction.atomic
def ticket_set_department(*, ticket: Ticket, department: Department) -> Ticket:
    """Move to another department; its SLA targets apply from the ticket's opening."""
    if not department.is_active:
        raise ValidationError({"department": "This department no longer takes tickets."})
    locked = _locked(ticket)
    locked.department = department
    locked.first_response_due_at = locked.created_at + datetime.timedelta(
        minutes=department.first_response_minutes
    )
    locked.resolution_due_at = locked.created_at + datetime.timedelta(
        minutes=department.resolution_minutes
    )
    locked.save(update_fields=["department", "first_response_due_at", "resolution_due_at"])
    return _sync(ticket, locked)


@transaction.atomic
def ticket_mark_escalated(*, ticket: Ticket, link_id: int) -> Ticket:
    """For the bridge: the ticket now has a linked ticket upstream (refused if it already has)."""
    locked = _locked(ticket)
    if locked.escalation == Ticket.Escalation.ESCALATED:
        raise AlreadyEscalated(f"Ticket {locked.number} is already escalated upstream.")
    if locked.is_closed:
        raise InvalidTicketTransition(f"Ticket {locked.number} is closed: reopen it first.")
    locked.escalation = Ticket.Escalation.ESCALATED
    locked.upstream_link_id = link_id
    locked.last_activity_at = timezone.now()
    locked.save(update_fields=["escalation", "upstream_link_id", "last_activity_at"])
    return _sync(ticket, locked)


@transaction.atomic
def ticket_mark_upstream_closed(
    *, ticket: Ticket, author_label: str = "", close_ticket: bool = False
) -> Ticket:
    """For the bridge: upstream closed its side. Staff see a note; the customer's ticket
    stays as it is unless `close_ticket` (the reseller still answers its customer)."""
    locked = _locked(ticket)
    if locked.escalation != Ticket.Escalation.ESCALATED:
        return _sync(ticket, locked)  # idempotent: a repeated relay changes nothing
    locked.escalation = Ticket.Escalation.RESOLVED_UPSTREAM
    locked.save(update_fields=["escalation"])
    _add_message(
        ticket=locked,
        kind=Message.Kind.UPSTREAM_NOTE,
        body_html=body_to_html("The upstream ticket was closed."),
        author_label=author_label or "Upstream",
    )
    if close_ticket and not locked.is_closed:
        # The bridge made this change: calling its hook back would echo it upstream.
        _move(locked, S.CLOSED, fire_hook=False, note="Ticket closed upstream.")
    return _sync(ticket, locked)


# --------------------------------------------------------------------------------------
# SLA


@transaction.atomic
def ticket_sla_sweep(*, now: datetime.datetime | None = None) -> int:
    """Queue one breach e-mail per target missed (first response, resolution); idempotent."""
    now = now or timezone.now()
    queued = 0
    first = (
        Ticket.objects.select_for_update(skip_locked=True)
        .filter(
            first_response_at__isnull=True,
            first_response_due_at__lt=now,
            first_response_breach_notified_at__isnull=True,
        )
        .exclude(status=S.CLOSED)
    )
    for ticket in first:
        ticket.first_response_breach_notified_at = now
        ticket.save(update_fields=["first_response_breach_notified_at"])
        _outbox(Outbox.Event.SLA_BREACHED, ticket_id=ticket.pk, target="first_response")
        queued += 1
    resolution = Ticket.objects.select_for_update(skip_locked=True).filter(
        closed_at__isnull=True,
        resolution_due_at__lt=now,
        resolution_breach_notified_at__isnull=True,
    )
    for ticket in resolution:
        ticket.resolution_breach_notified_at = now
        ticket.save(update_fields=["resolution_breach_notified_at"])
        _outbox(Outbox.Event.SLA_BREACHED, ticket_id=ticket.pk, target="resolution")
        queued += 1
    return queued
