"""Helpdesk reads: the staff queue, permission-checking fetchers and the conversation a user
may see. Customers only ever get their own tickets and the messages visible to them.
"""

from __future__ import annotations

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from tenant_apps.accounts.models import STAFF_ROLES, User

from .models import (
    CUSTOMER_VISIBLE_KINDS,
    Attachment,
    CannedReply,
    Department,
    Message,
    Ticket,
)


def _is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_instance_staff)


def _customer_q(user) -> Q:
    """Tickets of the customer record the user signs in for, or that they asked themselves."""
    return Q(customer__user=user) | Q(requester=user)


def breached_q(now=None) -> Q:
    now = now or timezone.now()
    # On hold, the SLA clock stands at the moment the ticket was put on hold.
    running = Q(on_hold_since__isnull=True)
    return (
        (running & Q(first_response_at__isnull=True, first_response_due_at__lt=now))
        | Q(first_response_at__isnull=True, on_hold_since__gt=F("first_response_due_at"))
        | Q(first_response_at__gt=F("first_response_due_at"))
        | (running & Q(closed_at__isnull=True, resolution_due_at__lt=now))
        | Q(closed_at__isnull=True, on_hold_since__gt=F("resolution_due_at"))
        | Q(closed_at__gt=F("resolution_due_at"))
    )


def _base() -> QuerySet[Ticket]:
    return Ticket.objects.select_related("customer", "requester", "department", "assignee")


def ticket_queue(
    *,
    user,
    status: str | None = None,
    department: Department | int | None = None,
    assignee: User | int | str | None = None,
    priority: str | None = None,
    breached: bool | None = None,
    search: str | None = None,
    escalated: bool | None = None,
) -> QuerySet[Ticket]:
    """The staff queue, filtered. `status="active"` is everything but closed; `assignee`
    takes a user, an id, "mine" or "unassigned"."""
    if not _is_staff(user):
        return Ticket.objects.none()
    qs = _base()
    if status == "active":
        qs = qs.exclude(status=Ticket.Status.CLOSED)
    elif status:
        qs = qs.filter(status=status)
    if department:
        qs = qs.filter(department=department)
    if assignee == "mine":
        qs = qs.filter(assignee=user)
    elif assignee == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee=assignee)
    if priority:
        qs = qs.filter(priority=priority)
    if breached is True:
        qs = qs.filter(breached_q())
    elif breached is False:
        qs = qs.exclude(breached_q())
    if escalated is True:
        qs = qs.exclude(escalation="")
    elif escalated is False:
        qs = qs.filter(escalation="")
    text = (search or "").strip()
    if text:
        query = (
            Q(subject__icontains=text)
            | Q(customer__name__icontains=text)
            | Q(customer__company_name__icontains=text)
            | Q(customer__email__icontains=text)
            | Q(requester__email__icontains=text)
        )
        if text.lstrip("#").isdecimal():
            query |= Q(pk=int(text.lstrip("#")))
        qs = qs.filter(query)
    return qs


def customer_ticket_list(user) -> QuerySet[Ticket]:
    """A portal user's own tickets (empty for anyone else)."""
    if not (user and user.is_authenticated and user.is_customer):
        return Ticket.objects.none()
    return _base().filter(_customer_q(user)).distinct()


def get_ticket_for(user, pk) -> Ticket:
    """Staff: any ticket of this instance; customers: their own. Else Ticket.DoesNotExist."""
    try:
        pk = int(pk)
    except (TypeError, ValueError) as exc:
        raise Ticket.DoesNotExist(_("No such ticket.")) from exc
    if _is_staff(user):
        return _base().get(pk=pk)
    return customer_ticket_list(user).get(pk=pk)


def ticket_messages_for(user, ticket: Ticket) -> list[Message]:
    """The conversation `user` may read: all of it for staff, the visible part for customers."""
    qs = (
        Message.objects.filter(ticket=ticket)
        .select_related("author")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
    )
    if not _is_staff(user):
        qs = qs.filter(kind__in=CUSTOMER_VISIBLE_KINDS)
    return list(qs)


def get_attachment_for(user, pk) -> Attachment:
    """Staff: any attachment here; customers: only on visible messages of their tickets."""
    try:
        pk = int(pk)
    except (TypeError, ValueError) as exc:
        raise Attachment.DoesNotExist(_("No such attachment.")) from exc
    qs = Attachment.objects.select_related("message__ticket")
    if _is_staff(user):
        return qs.get(pk=pk)
    if not (user and user.is_authenticated and user.is_customer):
        raise Attachment.DoesNotExist(_("No such attachment."))
    own = customer_ticket_list(user).values("pk")
    return qs.get(pk=pk, message__kind__in=CUSTOMER_VISIBLE_KINDS, message__ticket__in=own)


def staff_members() -> QuerySet[User]:
    return User.objects.filter(is_active=True, role__in=STAFF_ROLES).order_by("full_name", "email")


def department_list(*, active_only: bool = False) -> QuerySet[Department]:
    qs = Department.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def portal_departments() -> QuerySet[Department]:
    """What a customer may pick: active departments, never the escalations inbox."""
    return Department.objects.filter(is_active=True, is_escalation_inbox=False)


def get_department_for(user, pk) -> Department:
    if not _is_staff(user):
        raise Department.DoesNotExist(_("No such department."))
    return Department.objects.get(pk=pk)


def canned_reply_list(*, department: Department | None = None) -> QuerySet[CannedReply]:
    qs = CannedReply.objects.select_related("department")
    if department is not None:
        qs = qs.filter(Q(department__isnull=True) | Q(department=department))
    return qs


def get_canned_reply_for(user, pk) -> CannedReply:
    if not _is_staff(user):
        raise CannedReply.DoesNotExist(_("No such canned reply."))
    return CannedReply.objects.get(pk=pk)


def queue_counts(user) -> dict[str, int]:
    """Headline numbers of the queue page."""
    if not _is_staff(user):
        return {}
    active = Ticket.objects.exclude(status=Ticket.Status.CLOSED)
    return {
        "awaiting_staff": active.filter(
            status__in=[Ticket.Status.OPEN, Ticket.Status.AWAITING_STAFF]
        ).count(),
        "mine": active.filter(assignee=user).count(),
        "unassigned": active.filter(assignee__isnull=True).count(),
        "breached": active.filter(breached_q()).count(),
    }
