"""Helpdesk writes: opening, replying, the status pipeline, assignment, SLA, departments and
canned replies — plus the calls the upstream bridge makes (escalation marks, upstream notes).

Every function is keyword-only and atomic, and records what it did in the instance's audit
trail (replies by message id: the text stays in the ticket). Notifications are Outbox rows
written in the same transaction as the change; a drain is enqueued on commit, and a broker
outage only delays delivery (the beat fan-out drains again). Every change of a ticket is
announced on `ports.ticket_changed` as a `TicketEvent` carrying its origin, inside the
transaction, so the bridge's own writes commit or roll back with ours — and the bridge knows
its own writes by their origin.

`actor` is who acts, for the audit trail: a user of this instance, an `audit.ApiActor`, a
label, or None for the system. Ticket rows are locked (`select_for_update`) before they
change; nothing else is locked.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework import status

from tenant_apps.accounts.models import STAFF_ROLES, User
from tenant_apps.instance import audit, deferred, dispatch
from tenant_apps.instance.audit import audit_record, event_type
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.pipelines import transition

from . import ports
from .attachments import CheckedUpload, attachments_check
from .models import (
    Attachment,
    CannedReply,
    Department,
    InvalidTicketTransition,
    Message,
    Outbox,
    Ticket,
)
from .ports import Kind, Origin, TicketEvent
from .rich_text import body_to_html, is_blank

log = logging.getLogger(__name__)

GENERAL_SLUG = "general-support"
ESCALATION_INBOX_NAME = "Reseller escalations"
ESCALATION_INBOX_SLUG = "reseller-escalations"

S = Ticket.Status
# What a customer may do to their own ticket (the pipeline itself is Ticket.pipeline).
CUSTOMER_TARGETS = frozenset({S.CLOSED, S.OPEN, S.AWAITING_STAFF})

TICKET_OPENED = event_type("ticket.opened", gettext_noop("Ticket opened"))
TICKET_REPLIED = event_type("ticket.replied", gettext_noop("Ticket answered"))
TICKET_NOTE_ADDED = event_type("ticket.note_added", gettext_noop("Internal note added"))
TICKET_STATUS_CHANGED = event_type("ticket.status_changed", gettext_noop("Ticket status changed"))
TICKET_ASSIGNED = event_type("ticket.assigned", gettext_noop("Ticket assigned"))
TICKET_PRIORITY_CHANGED = event_type(
    "ticket.priority_changed", gettext_noop("Ticket priority changed")
)
TICKET_DEPARTMENT_CHANGED = event_type(
    "ticket.department_changed", gettext_noop("Ticket department changed")
)
TICKET_ESCALATED = event_type("ticket.escalated", gettext_noop("Ticket escalated upstream"))
TICKET_UPSTREAM_NOTE_ADDED = event_type(
    "ticket.upstream_note_added", gettext_noop("Upstream note received")
)
TICKET_UPSTREAM_REPLIED = event_type("ticket.upstream_replied", gettext_noop("Reply sent upstream"))
TICKET_UPSTREAM_CLOSED = event_type(
    "ticket.upstream_closed", gettext_noop("Upstream ticket closed")
)
TICKET_SLA_BREACHED = event_type("ticket.sla_breached", gettext_noop("Ticket SLA target missed"))
DEPARTMENT_CREATED = event_type("department.created", gettext_noop("Department added"))
DEPARTMENT_UPDATED = event_type("department.updated", gettext_noop("Department changed"))
CANNED_REPLY_CREATED = event_type("cannedreply.created", gettext_noop("Canned reply added"))
CANNED_REPLY_UPDATED = event_type("cannedreply.updated", gettext_noop("Canned reply changed"))
CANNED_REPLY_DELETED = event_type("cannedreply.deleted", gettext_noop("Canned reply deleted"))

DEPARTMENT_FIELDS = ["name", "slug", "first_response_minutes", "resolution_minutes", "is_active"]
CANNED_REPLY_FIELDS = ["title", "body", "department"]


class AlreadyEscalated(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "already_escalated"


class TicketNotAllowed(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "not_allowed"


# --------------------------------------------------------------------------------------
# Plumbing: locking, actors, announcing, outbox


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


@dataclass(frozen=True)
class Said:
    """One reply of a ticket's conversation, as its customer saw it."""

    at: datetime.datetime
    body: str  # stored HTML
    by_staff: bool


_LOCK_AND_CONVERSATION_SQL = """
SELECT {ticket_columns} FROM {ticket} WHERE id = %s FOR UPDATE;
SELECT message.created_at, message.body,
       COALESCE(author.is_active AND author.role IN ({staff_roles}), false)
FROM {message} message LEFT JOIN {user} author ON author.id = message.author_id
WHERE message.ticket_id = %s AND message.kind = '{reply}'
ORDER BY message.created_at, message.id
"""


@functools.cache
def _lock_and_conversation_sql() -> str:
    return _LOCK_AND_CONVERSATION_SQL.format(
        ticket_columns=", ".join(field.column for field in Ticket._meta.concrete_fields),
        ticket=Ticket._meta.db_table,
        message=Message._meta.db_table,
        user=User._meta.db_table,
        staff_roles=", ".join(f"'{role}'" for role in sorted(STAFF_ROLES)),
        reply=Message.Kind.REPLY,
    )


def ticket_lock_with_conversation(ticket_id: int) -> tuple[Ticket, list[Said]]:
    """For the bridge: the ticket, locked for the caller's transaction, and the replies its
    customer saw, oldest first (what an escalation shares), read in one round trip.

    Written as SQL because an escalation is measured against two bare writes and this pair
    of reads, built by the ORM, cost twice as long to compile as to run. Raises
    Ticket.DoesNotExist like `Ticket.objects.get`."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_and_conversation_sql(), [ticket_id, ticket_id])
        row = cursor.fetchone()
        cursor.nextset()
        said = [Said(at=at, body=body, by_staff=staff) for at, body, staff in cursor.fetchall()]
    if row is None:
        raise Ticket.DoesNotExist(f"No ticket {ticket_id}.")
    fields = Ticket._meta.concrete_fields
    return Ticket.from_db(None, [field.attname for field in fields], row), said


def _sync(target: Ticket, source: Ticket) -> Ticket:
    """Copy the saved state onto the caller's instance, so views and tests see it."""
    for field in Ticket._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def _user_of(actor):
    """The user behind an actor (an API key acts as its user), or the actor itself."""
    return actor.user if isinstance(actor, audit.ApiActor) else actor


def _origin_of(actor) -> Origin:
    user = _user_of(actor)
    if _is_staff(user):
        return Origin.STAFF
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None):
        return Origin.CUSTOMER
    return Origin.SYSTEM


def _actor_name(actor) -> str:
    """How the actor is named in a ticket's system lines (“Ticket closed by …”)."""
    if actor is None or actor == "":
        return "the system"
    return str(_user_of(actor))


def _announce(
    kind: Kind, ticket: Ticket, *, origin: Origin, message: Message | None = None
) -> None:
    event = TicketEvent(
        kind=kind,
        ticket_id=ticket.pk,
        schema_name=connection.schema_name,
        status=ticket.status,
        message_id=message.pk if message is not None else None,
        origin=origin,
    )
    ports.ticket_changed.send(sender=Ticket, event=event, ticket=ticket, message=message)


def _drain_later(schema_name: str) -> None:
    from .tasks import outbox_drain

    # Off the caller's path; a request lost with the broker down waits for the beat fan-out.
    dispatch.enqueue_soon(outbox_drain, schema_name=schema_name)


def _outbox(event: str, **payload) -> Outbox:
    row = Outbox(event=event, payload=payload)
    if not deferred.insert_later(row):  # inside a crossing, written with its audit rows
        row.save(force_insert=True)
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


def _label_without_author(author, actor) -> str:
    """A message with no local author (the bridge writes a reseller's words into the
    operator's helpdesk) is signed with the actor label it came with, e.g.
    "support@acme.test (Acme)", rather than shown as from nobody."""
    if author is None and isinstance(actor, str):
        return actor
    return ""


def _clean_body(body: str) -> str:
    html = body_to_html(body)
    if is_blank(html):
        raise ValidationError({"body": _("Write a message first.")})
    return html


# --------------------------------------------------------------------------------------
# Departments


def department_default() -> Department:
    """The department tickets land in when none is chosen (“General support”)."""
    department = (
        Department.objects.filter(is_active=True, is_escalation_inbox=False).order_by("id").first()
    )
    if department is None:
        department, created = Department.objects.get_or_create(
            slug=GENERAL_SLUG, defaults={"name": "General support"}
        )
        if created:
            _department_recorded(DEPARTMENT_CREATED, department, {}, actor=None, created=True)
    return department


def _department_recorded(event, department: Department, before: dict, *, actor, created=False):
    after = audit.snapshot(department, DEPARTMENT_FIELDS)
    audit_record(
        event, actor=actor, obj=department, changes=audit.diff(before, after, created=created)
    )


def _unique_slug(name: str, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:50] or "department"
    slug, n = base, 2
    while Department.objects.filter(slug=slug).exclude(pk=exclude_pk).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _validate_minutes(first_response_minutes: int, resolution_minutes: int) -> None:
    if first_response_minutes < 1 or resolution_minutes < 1:
        raise ValidationError(_("SLA targets must be at least one minute."))
    if resolution_minutes < first_response_minutes:
        raise ValidationError(
            {
                "resolution_minutes": _(
                    "The resolution target cannot be shorter than the first reply."
                )
            }
        )


@transaction.atomic
def department_create(
    *,
    name: str,
    slug: str = "",
    first_response_minutes: int = 240,
    resolution_minutes: int = 4320,
    is_active: bool = True,
    actor=None,
) -> Department:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the department a name.")})
    _validate_minutes(first_response_minutes, resolution_minutes)
    if slug and Department.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": _("Another department already uses this short name.")})
    department = Department.objects.create(
        name=name,
        slug=slug or _unique_slug(name),
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        is_active=is_active,
    )
    _department_recorded(DEPARTMENT_CREATED, department, {}, actor=actor, created=True)
    return department


@transaction.atomic
def department_update(
    *,
    department: Department,
    name: str,
    first_response_minutes: int,
    resolution_minutes: int,
    is_active: bool,
    actor=None,
) -> Department:
    """New targets apply to tickets opened from now on; open tickets keep their deadlines."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the department a name.")})
    _validate_minutes(first_response_minutes, resolution_minutes)
    if not is_active and department.is_escalation_inbox:
        raise ValidationError(_("The reseller escalations inbox cannot be switched off."))
    before = audit.snapshot(department, DEPARTMENT_FIELDS)
    department.name = name
    department.first_response_minutes = first_response_minutes
    department.resolution_minutes = resolution_minutes
    department.is_active = is_active
    department.save()
    _department_recorded(DEPARTMENT_UPDATED, department, before, actor=actor)
    return department


def department_escalation_inbox() -> Department:
    """The department escalations from resellers are filed into (created on first use)."""
    department = Department.objects.filter(is_escalation_inbox=True).order_by("id").first()
    if department is not None:
        return department  # every escalation but the first: one read, no savepoint
    with transaction.atomic():
        department, created = Department.objects.get_or_create(
            slug=ESCALATION_INBOX_SLUG,
            defaults={
                "name": ESCALATION_INBOX_NAME,
                "is_escalation_inbox": True,
                "first_response_minutes": 120,
                "resolution_minutes": 2 * 24 * 60,
            },
        )
        if created:
            _department_recorded(DEPARTMENT_CREATED, department, {}, actor=None, created=True)
        elif not department.is_escalation_inbox:
            before = audit.snapshot(department, DEPARTMENT_FIELDS)
            department.is_escalation_inbox = True
            department.is_active = True
            department.save(update_fields=["is_escalation_inbox", "is_active"])
            _department_recorded(DEPARTMENT_UPDATED, department, before, actor=None)
    return department


# --------------------------------------------------------------------------------------
# Canned replies


def _canned_validate(title: str, body: str) -> None:
    errors = {}
    if not title.strip():
        errors["title"] = _("Give the reply a title.")
    if not body.strip():
        errors["body"] = _("Write the reply's text.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def canned_reply_create(
    *, title: str, body: str, department: Department | None = None, actor=None
) -> CannedReply:
    _canned_validate(title, body)
    reply = CannedReply.objects.create(title=title.strip(), body=body, department=department)
    after = audit.snapshot(reply, CANNED_REPLY_FIELDS)
    audit_record(
        CANNED_REPLY_CREATED, actor=actor, obj=reply, changes=audit.diff({}, after, created=True)
    )
    return reply


@transaction.atomic
def canned_reply_update(
    *,
    canned_reply: CannedReply,
    title: str,
    body: str,
    department: Department | None,
    actor=None,
) -> CannedReply:
    _canned_validate(title, body)
    before = audit.snapshot(canned_reply, CANNED_REPLY_FIELDS)
    canned_reply.title, canned_reply.body = title.strip(), body
    canned_reply.department = department
    canned_reply.save()
    after = audit.snapshot(canned_reply, CANNED_REPLY_FIELDS)
    audit_record(
        CANNED_REPLY_UPDATED, actor=actor, obj=canned_reply, changes=audit.diff(before, after)
    )
    return canned_reply


@transaction.atomic
def canned_reply_delete(*, canned_reply: CannedReply, actor=None) -> None:
    # Recorded before the row goes, so the event still names it (id and title).
    audit_record(CANNED_REPLY_DELETED, actor=actor, obj=canned_reply)
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
    actor=None,
) -> Ticket:
    """Open a ticket with its first message.

    `requester` is who asks (a customer's login, or None); `opened_by` who typed it (staff
    opening on a customer's behalf), defaulting to the requester; `actor` who is recorded
    in the audit trail, defaulting to who typed it. Attachments are checked before anything
    is written.
    """
    subject = " ".join((subject or "").split())
    errors = {}
    if not subject:
        errors["subject"] = _("Give the ticket a subject.")
    try:
        body_html = _clean_body(body)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if priority not in Ticket.Priority.values:
        errors["priority"] = _("Choose a priority.")
    if department is not None and not department.is_active:
        errors["department"] = _("This department no longer takes tickets.")
    if errors:
        raise ValidationError(errors)
    checked = attachments_check(attachments)
    author = opened_by or requester
    # No savepoint inside a caller's transaction (the bridge opens the operator's side of an
    # escalation in its own): input is checked above, so what fails below fails whole.
    with _FilesRolledBack(), transaction.atomic(savepoint=False):
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
            author_label=_label_without_author(author, actor),
            checked=checked,
            now=now,
        )
        audit_record(
            TICKET_OPENED,
            actor=actor if actor is not None else author,
            obj=ticket,
            detail={
                "message_id": message.pk,
                "source": source,
                "department": department.name,
                "priority": priority,
            },
        )
        _outbox(
            Outbox.Event.TICKET_OPENED,
            ticket_id=ticket.pk,
            message_id=message.pk,
            by_staff=_is_staff(author),
        )
    return ticket


def _move(
    ticket: Ticket,
    to: str,
    *,
    actor,
    origin: Origin,
    note: str = "",
    now: datetime.datetime | None = None,
) -> bool:
    """The one place a status changes (ticket already locked): along `Ticket.pipeline`,
    recorded and announced. False when the ticket is already there. The row is saved with
    its first response too, so a reply that moves the ticket writes it once."""
    current = ticket.status
    if to == current:
        return False
    if to not in Ticket.Status.values:
        raise InvalidTicketTransition(_("“%(to)s” is not a ticket status.") % {"to": to})
    transition(ticket, to, noun=_("Ticket %(number)s") % {"number": ticket.number})
    now = now or timezone.now()
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
            "first_response_at",
            "first_response_due_at",
            "resolution_due_at",
        ]
    )
    audit_record(
        TICKET_STATUS_CHANGED,
        actor=actor,
        obj=ticket,
        changes={"status": [current, to]},
        detail={"origin": origin},
    )
    kind = Kind.CLOSED if to == S.CLOSED else Kind.REOPENED if current == S.CLOSED else None
    message = None
    if kind is not None:
        text = note or f"Ticket {kind} by {_actor_name(actor)}."
        message = _add_message(
            ticket=ticket, kind=Message.Kind.SYSTEM, body_html=body_to_html(text), now=now
        )
    _announce(kind or Kind.STATUS_CHANGED, ticket, origin=origin, message=message)
    return True


@transaction.atomic
def ticket_transition(*, ticket: Ticket, to: str, actor, origin: Origin | None = None) -> Ticket:
    """Move a ticket along the pipeline; illegal moves raise InvalidTicketTransition (409).

    `origin` is for the bridge, which marks the changes it relays (see `ports.Origin`).
    """
    locked = _locked(ticket)
    if not _is_staff(_user_of(actor)) and to not in CUSTOMER_TARGETS:
        raise InvalidTicketTransition(_("Customers can only close or reopen their tickets."))
    if to == locked.status:
        raise InvalidTicketTransition(
            _("Ticket %(number)s is already %(status)s.")
            % {"number": locked.number, "status": locked.get_status_display().lower()}
        )
    _move(locked, to, actor=actor, origin=origin or _origin_of(actor))
    return _sync(ticket, locked)


def ticket_close(*, ticket: Ticket, actor, origin: Origin | None = None) -> Ticket:
    return ticket_transition(ticket=ticket, to=S.CLOSED, actor=actor, origin=origin)


def ticket_reopen(*, ticket: Ticket, actor) -> Ticket:
    if ticket.status != S.CLOSED:
        raise InvalidTicketTransition(
            _("Ticket %(number)s is not closed.") % {"number": ticket.number}
        )
    to = S.OPEN if _is_staff(_user_of(actor)) else S.AWAITING_STAFF
    return ticket_transition(ticket=ticket, to=to, actor=actor)


def ticket_reply(
    *,
    ticket: Ticket,
    author,
    body: str,
    attachments: Iterable = (),
    internal: bool = False,
    actor=None,
    origin: Origin | None = None,
) -> Message:
    """A staff or customer reply, or (staff only) an internal note.

    Staff replies set the first response and wait for the customer; customer replies wait
    for staff and reopen a closed ticket. Internal notes change no status. `author` is the
    message's author (a user of this instance, or None for a reply relayed by the bridge);
    `actor` who is recorded, defaulting to the author; `origin` is for the bridge.
    """
    staff = _is_staff(author)
    if internal and not staff:
        raise TicketNotAllowed(_("Only staff can write internal notes."))
    body_html = _clean_body(body)
    checked = attachments_check(attachments)
    actor = actor if actor is not None else author
    origin = origin or _origin_of(author)
    # One INSERT per schema for the reply's events (and the relay's, when it crosses).
    with _FilesRolledBack(), transaction.atomic(), deferred.batched():
        locked = _locked(ticket)
        now = timezone.now()
        kind = Message.Kind.INTERNAL_NOTE if internal else Message.Kind.REPLY
        message = _add_message(
            ticket=locked,
            kind=kind,
            body_html=body_html,
            author=author,
            author_label=_label_without_author(author, actor),
            checked=checked,
            now=now,
        )
        # The message id, never its text: the trail says what happened, the ticket what was said.
        audit_record(
            TICKET_NOTE_ADDED if internal else TICKET_REPLIED,
            actor=actor,
            obj=locked,
            detail={"message_id": message.pk, "origin": origin},
        )
        moved = False
        if not internal:
            if staff:
                if locked.first_response_at is None:
                    locked.first_response_at = now
                if locked.status != S.CLOSED:
                    moved = _move(locked, S.AWAITING_CUSTOMER, actor=actor, origin=origin, now=now)
                _outbox(Outbox.Event.STAFF_REPLIED, ticket_id=locked.pk, message_id=message.pk)
            else:
                moved = _move(locked, S.AWAITING_STAFF, actor=actor, origin=origin, now=now)
                _outbox(Outbox.Event.CUSTOMER_REPLIED, ticket_id=locked.pk, message_id=message.pk)
        if not moved:  # a move saved the row already, first response and activity included
            locked.last_activity_at = now
            locked.save(update_fields=["first_response_at", "last_activity_at"])
        _announce(Kind.NOTED if internal else Kind.REPLIED, locked, origin=origin, message=message)
        _sync(ticket, locked)
    return message


@transaction.atomic(savepoint=False)  # bridge-only: the crossing fails whole
def ticket_add_upstream_message(
    *,
    ticket: Ticket,
    body: str,
    author_label: str,
    kind: str = Message.Kind.UPSTREAM_NOTE,
) -> Message | None:
    """For the bridge: a note relayed from upstream, seen by this instance's staff only.
    None when the ticket is gone (deleted by this instance's staff): nothing to add to."""
    if kind not in (Message.Kind.UPSTREAM_NOTE, Message.Kind.UPSTREAM_REPLY):
        raise ValidationError(_("Upstream messages are upstream notes or upstream replies."))
    body_html, now = _clean_body(body), timezone.now()
    # Locks the row and moves its activity in one round trip (a relay is on every reply
    # upstream); no row: nothing to add to.
    locked = next(
        iter(
            Ticket.objects.raw(
                f"UPDATE {Ticket._meta.db_table} SET last_activity_at = %s "
                "WHERE id = %s RETURNING *",
                [now, ticket.pk],
            )
        ),
        None,
    )
    if locked is None:
        return None
    message = _add_message(
        ticket=locked, kind=kind, body_html=body_html, author_label=author_label, now=now
    )
    audit_record(
        TICKET_UPSTREAM_NOTE_ADDED,
        actor=author_label,
        obj=locked,
        detail={"message_id": message.pk, "kind": kind},
    )
    _sync(ticket, locked)
    return message


@transaction.atomic
def ticket_record_upstream_reply(
    *, ticket: Ticket, author, body: str, attachments: Iterable = ()
) -> Message:
    """For the bridge: what this instance's staff sent upstream (staff-only message)."""
    if not _is_staff(author):
        raise TicketNotAllowed(_("Only staff can write upstream."))
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
        audit_record(
            TICKET_UPSTREAM_REPLIED, actor=author, obj=locked, detail={"message_id": message.pk}
        )
    _sync(ticket, locked)
    return message


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee, actor=None) -> Ticket:
    """Give the ticket to a staff member of this instance (None: unassign)."""
    if assignee is not None and not _is_staff(assignee):
        raise ValidationError({"assignee": _("Tickets can only be assigned to active staff.")})
    locked = _locked(ticket)
    before = locked.assignee_id
    locked.assignee = assignee
    locked.save(update_fields=["assignee"])
    audit_record(
        TICKET_ASSIGNED,
        actor=actor,
        obj=locked,
        changes={"assignee": [before, locked.assignee_id]},
        detail={"assignee": str(assignee) if assignee is not None else ""},
    )
    return _sync(ticket, locked)


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: str, actor=None) -> Ticket:
    if priority not in Ticket.Priority.values:
        raise ValidationError({"priority": _("Choose a priority.")})
    locked = _locked(ticket)
    before = locked.priority
    locked.priority = priority
    locked.save(update_fields=["priority"])
    audit_record(
        TICKET_PRIORITY_CHANGED, actor=actor, obj=locked, changes={"priority": [before, priority]}
    )
    return _sync(ticket, locked)


@transaction.atomic
def ticket_set_department(*, ticket: Ticket, department: Department, actor=None) -> Ticket:
    """Move to another department; its SLA targets apply from the ticket's opening."""
    if not department.is_active:
        raise ValidationError({"department": _("This department no longer takes tickets.")})
    locked = _locked(ticket)
    before = locked.department_id
    locked.department = department
    locked.first_response_due_at = locked.created_at + datetime.timedelta(
        minutes=department.first_response_minutes
    )
    locked.resolution_due_at = locked.created_at + datetime.timedelta(
        minutes=department.resolution_minutes
    )
    locked.save(update_fields=["department", "first_response_due_at", "resolution_due_at"])
    audit_record(
        TICKET_DEPARTMENT_CHANGED,
        actor=actor,
        obj=locked,
        changes={"department": [before, department.pk]},
        detail={"department": department.name},
    )
    return _sync(ticket, locked)


def ticket_mark_escalated(
    *,
    ticket: Ticket,
    link_id: int,
    actor=None,
    detail: dict | None = None,
    note: str = "",
    note_author: str = "",
    already_locked: bool = False,
) -> Ticket:
    """For the bridge: the ticket now has a linked ticket upstream (refused if it already has).

    `detail` adds what the bridge knows about the crossing (upstream ticket, price) to the
    recorded event; `note`, if given, is the staff-only upstream note that says so, written
    under the same lock (one event records both). `already_locked`: the caller read `ticket`
    with select_for_update in this transaction (no second read), so the crossing fails whole
    and needs no savepoint."""
    with transaction.atomic(savepoint=not already_locked):
        return _mark_escalated(
            ticket,
            ticket if already_locked else _locked(ticket),
            link_id=link_id,
            actor=actor,
            detail=detail,
            note=note,
            note_author=note_author,
        )


def _mark_escalated(
    ticket: Ticket, locked: Ticket, *, link_id, actor, detail, note, note_author
) -> Ticket:
    if locked.escalation == Ticket.Escalation.ESCALATED:
        raise AlreadyEscalated(
            _("Ticket %(number)s is already escalated upstream.") % {"number": locked.number}
        )
    if locked.is_closed:
        raise InvalidTicketTransition(
            _("Ticket %(number)s is closed: reopen it first.") % {"number": locked.number}
        )
    before = locked.escalation
    locked.escalation = Ticket.Escalation.ESCALATED
    locked.upstream_link_id = link_id
    locked.last_activity_at = timezone.now()
    extra = {}
    if note:
        message = _add_message(
            ticket=locked,
            kind=Message.Kind.UPSTREAM_NOTE,
            body_html=_clean_body(note),
            author_label=note_author,
        )
        locked.last_activity_at = message.created_at
        extra["message_id"] = message.pk
    changed = ("escalation", "upstream_link_id", "last_activity_at")
    if not deferred.update_later(locked, changed):  # locked above: no one else writes it
        locked.save(update_fields=changed)
    audit_record(
        TICKET_ESCALATED,
        actor=actor,
        obj=locked,
        changes={"escalation": [before, locked.escalation]},
        detail={"link_id": link_id, **(detail or {}), **extra},
    )
    return _sync(ticket, locked)


@transaction.atomic(savepoint=False)  # bridge-only: the crossing fails whole
def ticket_mark_upstream_closed(
    *, ticket: Ticket, author_label: str = "", close_ticket: bool = False
) -> Ticket | None:
    """For the bridge: upstream closed its side. Staff see a note; the customer's ticket
    stays as it is unless `close_ticket` (the reseller still answers its customer). None
    when the ticket is gone (deleted by this instance's staff)."""
    locked = Ticket.objects.select_for_update().filter(pk=ticket.pk).first()
    if locked is None:
        return None
    if locked.escalation != Ticket.Escalation.ESCALATED:
        return _sync(ticket, locked)  # idempotent: a repeated relay changes nothing
    author_label = author_label or "Upstream"
    locked.escalation = Ticket.Escalation.RESOLVED_UPSTREAM
    locked.save(update_fields=["escalation"])
    _add_message(
        ticket=locked,
        kind=Message.Kind.UPSTREAM_NOTE,
        body_html=body_to_html("The upstream ticket was closed."),
        author_label=author_label,
    )
    audit_record(
        TICKET_UPSTREAM_CLOSED,
        actor=author_label,
        obj=locked,
        changes={"escalation": [Ticket.Escalation.ESCALATED, locked.escalation]},
    )
    if close_ticket and not locked.is_closed:
        # Origin "upstream": the bridge knows this close as its own and relays nothing back.
        _move(
            locked,
            S.CLOSED,
            actor=author_label,
            origin=Origin.UPSTREAM,
            note="Ticket closed upstream.",
        )
    return _sync(ticket, locked)


# --------------------------------------------------------------------------------------
# SLA


@transaction.atomic
def ticket_sla_sweep(*, now: datetime.datetime | None = None, actor=None) -> int:
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
        _breach_recorded(ticket, "first_response", actor=actor)
        queued += 1
    resolution = Ticket.objects.select_for_update(skip_locked=True).filter(
        closed_at__isnull=True,
        resolution_due_at__lt=now,
        resolution_breach_notified_at__isnull=True,
    )
    for ticket in resolution:
        ticket.resolution_breach_notified_at = now
        ticket.save(update_fields=["resolution_breach_notified_at"])
        _breach_recorded(ticket, "resolution", actor=actor)
        queued += 1
    return queued


def _breach_recorded(ticket: Ticket, target: str, *, actor) -> None:
    audit_record(TICKET_SLA_BREACHED, actor=actor, obj=ticket, detail={"target": target})
    _outbox(Outbox.Event.SLA_BREACHED, ticket_id=ticket.pk, target=target)
