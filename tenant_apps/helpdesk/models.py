"""Helpdesk records of one instance: departments with SLA targets, tickets, their messages and
attachments, canned replies, and the outbox that carries every notification.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.instance.pipelines import InvalidTransition, Pipeline

from .attachments import attachment_upload_to

# A ticket whose next SLA deadline is this close shows “due soon”.
DUE_SOON = datetime.timedelta(hours=1)


class InvalidTicketTransition(InvalidTransition):
    """A status move the ticket pipeline does not allow (409 in the API)."""


def _transition_message(noun: str, current: str, target: str) -> str:
    return _("%(noun)s is %(current)s: it cannot move to “%(target)s”.") % {
        "noun": noun,
        "current": current,
        "target": target,
    }


class Department(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    first_response_minutes = models.PositiveIntegerField(
        default=4 * 60, help_text=gettext_lazy("Target time to the first staff reply")
    )
    resolution_minutes = models.PositiveIntegerField(
        default=3 * 24 * 60, help_text=gettext_lazy("Target time from opening to closing")
    )
    is_active = models.BooleanField(default=True)
    # The department the upstream bridge files escalations from resellers into.
    is_escalation_inbox = models.BooleanField(default=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", gettext_lazy("Low")
        NORMAL = "normal", gettext_lazy("Normal")
        HIGH = "high", gettext_lazy("High")
        URGENT = "urgent", gettext_lazy("Urgent")

    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        AWAITING_STAFF = "awaiting_staff", gettext_lazy("Awaiting staff")
        AWAITING_CUSTOMER = "awaiting_customer", gettext_lazy("Awaiting customer")
        ON_HOLD = "on_hold", gettext_lazy("On hold")
        CLOSED = "closed", gettext_lazy("Closed")

    # The status pipeline: which statuses each status may move to (a closed ticket reopens).
    pipeline = Pipeline(
        Status,
        {
            Status.OPEN: {
                Status.AWAITING_STAFF,
                Status.AWAITING_CUSTOMER,
                Status.ON_HOLD,
                Status.CLOSED,
            },
            Status.AWAITING_STAFF: {Status.AWAITING_CUSTOMER, Status.ON_HOLD, Status.CLOSED},
            Status.AWAITING_CUSTOMER: {Status.AWAITING_STAFF, Status.ON_HOLD, Status.CLOSED},
            Status.ON_HOLD: {Status.AWAITING_STAFF, Status.AWAITING_CUSTOMER, Status.CLOSED},
            Status.CLOSED: {Status.OPEN, Status.AWAITING_STAFF},
        },
        error=InvalidTicketTransition,
        message=_transition_message,
    )

    class Escalation(models.TextChoices):
        NONE = "", gettext_lazy("Not escalated")
        ESCALATED = "escalated", gettext_lazy("Escalated")
        RESOLVED_UPSTREAM = "resolved_upstream", gettext_lazy("Resolved upstream")

    class Source(models.TextChoices):
        PORTAL = "portal", gettext_lazy("Portal")
        STAFF = "staff", gettext_lazy("Staff")
        EMAIL = "email", gettext_lazy("E-mail")
        API = "api", gettext_lazy("API")
        UPSTREAM = "upstream", gettext_lazy("Upstream")

    subject = models.CharField(max_length=200)
    customer = models.ForeignKey(
        "clients.Customer",
        null=True,
        blank=True,
        related_name="tickets",
        on_delete=models.SET_NULL,
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="requested_tickets",
        on_delete=models.SET_NULL,
    )
    department = models.ForeignKey(Department, related_name="tickets", on_delete=models.PROTECT)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        on_delete=models.SET_NULL,
    )
    # Set only by the upstream bridge, through ticket_mark_escalated / _upstream_closed.
    escalation = models.CharField(
        max_length=20, choices=Escalation.choices, default=Escalation.NONE, blank=True
    )
    upstream_link_id = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PORTAL)
    created_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set while the ticket is on hold: SLA clocks stop, and resume with deadlines moved on.
    on_hold_since = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    # When the breach e-mail was queued, so the sweep sends each one once.
    first_response_breach_notified_at = models.DateTimeField(null=True, blank=True)
    resolution_breach_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-last_activity_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["customer", "-last_activity_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def number(self) -> str:
        return f"#{self.pk}"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED

    @property
    def is_escalated(self) -> bool:
        return self.escalation == self.Escalation.ESCALATED

    def _clock(self, now: datetime.datetime | None) -> datetime.datetime:
        """SLA time: it stands still while the ticket is on hold."""
        return self.on_hold_since or now or timezone.now()

    def first_response_breached_at(self, now: datetime.datetime | None = None) -> bool:
        if self.first_response_due_at is None:
            return False
        answered_or_now = self.first_response_at or self._clock(now)
        return answered_or_now > self.first_response_due_at

    def resolution_breached_at(self, now: datetime.datetime | None = None) -> bool:
        if self.resolution_due_at is None:
            return False
        closed_or_now = self.closed_at or self._clock(now)
        return closed_or_now > self.resolution_due_at

    @property
    def first_response_breached(self) -> bool:
        return self.first_response_breached_at()

    @property
    def resolution_breached(self) -> bool:
        return self.resolution_breached_at()

    def sla_state(self, now: datetime.datetime | None = None) -> str:
        """ "breached", "due_soon", "ok" or "met" (closed within its targets)."""
        now = now or timezone.now()
        if self.first_response_breached_at(now) or self.resolution_breached_at(now):
            return "breached"
        if self.is_closed:
            return "met"
        deadlines = [self.resolution_due_at]
        if self.first_response_at is None:
            deadlines.append(self.first_response_due_at)
        upcoming = [d for d in deadlines if d is not None]
        if upcoming and min(upcoming) - now <= DUE_SOON:
            return "due_soon"
        return "ok"


class Message(models.Model):
    class Kind(models.TextChoices):
        REPLY = "reply", gettext_lazy("Reply")
        INTERNAL_NOTE = "internal_note", gettext_lazy("Internal note")
        UPSTREAM_NOTE = "upstream_note", gettext_lazy("Upstream note")
        UPSTREAM_REPLY = "upstream_reply", gettext_lazy("Sent upstream")
        SYSTEM = "system", gettext_lazy("System")

    ticket = models.ForeignKey(Ticket, related_name="messages", on_delete=models.CASCADE)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="ticket_messages",
        on_delete=models.SET_NULL,
    )
    # Who wrote it when there is no local author (e.g. "Upline Hosting support" upstream).
    author_label = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REPLY)
    body = models.TextField(help_text=gettext_lazy("Sanitised HTML (see rich_text.sanitise)"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.ticket_id}"

    @property
    def visible_to_customer(self) -> bool:
        return self.kind in CUSTOMER_VISIBLE_KINDS

    @property
    def author_name(self) -> str:
        if self.author_label:
            return self.author_label
        if self.author is not None:
            return str(self.author)
        return "System" if self.kind == self.Kind.SYSTEM else "Unknown"


# Replies and status lines; never internal, upstream or sent-upstream notes.
CUSTOMER_VISIBLE_KINDS = frozenset({Message.Kind.REPLY, Message.Kind.SYSTEM})


class Attachment(models.Model):
    message = models.ForeignKey(Message, related_name="attachments", on_delete=models.CASCADE)
    file = models.FileField(upload_to=attachment_upload_to, max_length=400)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name


class CannedReply(models.Model):
    title = models.CharField(max_length=120)
    body = models.TextField()
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        related_name="canned_replies",
        on_delete=models.CASCADE,
        help_text=gettext_lazy("Offered on this department's tickets only; empty for all"),
    )

    class Meta:
        ordering = ["title", "id"]
        verbose_name_plural = gettext_lazy("canned replies")

    def __str__(self) -> str:
        return self.title


class Outbox(models.Model):
    """A notification to deliver, written in the same transaction as the change it reports."""

    class Event(models.TextChoices):
        TICKET_OPENED = "ticket_opened", gettext_lazy("Ticket opened")
        STAFF_REPLIED = "staff_replied", gettext_lazy("Staff replied")
        CUSTOMER_REPLIED = "customer_replied", gettext_lazy("Customer replied")
        SLA_BREACHED = "sla_breached", gettext_lazy("SLA breached")

    event = models.CharField(max_length=40, choices=Event.choices)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"],
                name="helpdesk_outbox_pending",
                condition=models.Q(delivered_at__isnull=True),
            )
        ]
        verbose_name_plural = gettext_lazy("outbox")

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"
