"""Helpdesk tables (django-tables2) and the queue's filter bar (django-filter)."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django import forms
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timesince import timesince

from .models import CannedReply, Department, Ticket
from .selectors import staff_members, ticket_queue
from .templatetags.helpdesk import escalation_badge, priority_badge, sla_badge, status_badge

# Priority sorts by urgency, not alphabetically.
PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


class TicketTable(tables.Table):
    number = tables.Column(verbose_name="#", accessor="pk", attrs={"td": {"class": "mono"}})
    subject = tables.Column()
    customer = tables.Column(order_by=("customer__name",), empty_values=())
    department = tables.Column(order_by=("department__name",))
    priority = tables.Column()
    status = tables.Column()
    assignee = tables.Column(order_by=("assignee__email",), empty_values=())
    sla = tables.Column(verbose_name="SLA", empty_values=(), orderable=False)
    escalation = tables.Column(verbose_name="Upstream", empty_values=())
    last_activity_at = tables.Column(verbose_name="Last activity")

    class Meta:
        model = Ticket
        fields = [
            "number",
            "subject",
            "customer",
            "department",
            "priority",
            "status",
            "assignee",
            "sla",
            "escalation",
            "last_activity_at",
        ]
        empty_text = "No tickets match these filters."
        attrs = {"class": "table"}
        order_by = ("-last_activity_at",)

    def render_number(self, record):
        return format_html(
            '<a href="{}">#{}</a>', reverse("helpdesk:ticket_detail", args=[record.pk]), record.pk
        )

    def render_subject(self, record):
        return format_html(
            '<a class="ticket-subject" href="{}">{}</a>',
            reverse("helpdesk:ticket_detail", args=[record.pk]),
            record.subject,
        )

    def render_customer(self, record):
        if record.customer_id:
            return record.customer.display_name
        if record.requester_id:
            return record.requester.email
        return format_html('<span class="muted">{}</span>', "—")

    def render_priority(self, record):
        return priority_badge(record)

    def order_priority(self, queryset, is_descending):
        from django.db.models import Case, IntegerField, Value, When

        rank = Case(
            *[When(priority=key, then=Value(value)) for key, value in PRIORITY_ORDER.items()],
            output_field=IntegerField(),
        )
        queryset = queryset.annotate(priority_rank=rank).order_by(
            ("-" if is_descending else "") + "priority_rank", "-last_activity_at"
        )
        return queryset, True

    def render_status(self, record):
        return status_badge(record)

    def render_assignee(self, record):
        if record.assignee_id:
            return str(record.assignee)
        return format_html('<span class="muted">{}</span>', "Unassigned")

    def render_sla(self, record):
        return sla_badge(record)

    def render_escalation(self, record):
        return escalation_badge(record) or format_html('<span class="muted">{}</span>', "—")

    def render_last_activity_at(self, value):
        return format_html(
            '<span class="nowrap" title="{}">{} ago</span>',
            value.strftime("%Y-%m-%d %H:%M"),
            timesince(value).split(",")[0],
        )


class PortalTicketTable(tables.Table):
    number = tables.Column(verbose_name="#", accessor="pk", attrs={"td": {"class": "mono"}})
    subject = tables.Column()
    department = tables.Column(order_by=("department__name",))
    status = tables.Column()
    last_activity_at = tables.Column(verbose_name="Last activity")

    class Meta:
        model = Ticket
        fields = ["number", "subject", "department", "status", "last_activity_at"]
        empty_text = "No tickets yet."
        attrs = {"class": "table"}
        order_by = ("-last_activity_at",)

    def render_number(self, record):
        url = reverse("portal_helpdesk:ticket_detail", args=[record.pk])
        return format_html('<a href="{}">#{}</a>', url, record.pk)

    def render_subject(self, record):
        url = reverse("portal_helpdesk:ticket_detail", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.subject)

    def render_status(self, record):
        # Customers read "waiting for you" rather than the staff wording.
        labels = {
            "awaiting_customer": ("badge-warning", "Waiting for your reply"),
            "awaiting_staff": ("badge-info", "Waiting for us"),
            "open": ("badge-info", "Open"),
            "on_hold": ("badge-neutral", "On hold"),
            "closed": ("badge-terminated", "Closed"),
        }
        css, label = labels.get(record.status, ("badge-neutral", record.get_status_display()))
        return format_html('<span class="badge {}">{}</span>', css, label)

    def render_last_activity_at(self, value):
        return format_html('<span class="nowrap">{} ago</span>', timesince(value).split(",")[0])


class DepartmentTable(tables.Table):
    name = tables.Column()
    first_response_minutes = tables.Column(verbose_name="First reply within")
    resolution_minutes = tables.Column(verbose_name="Resolved within")
    is_active = tables.Column(verbose_name="Status")

    class Meta:
        model = Department
        fields = ["name", "first_response_minutes", "resolution_minutes", "is_active"]
        attrs = {"class": "table"}

    def render_name(self, record):
        badge = (
            format_html(' <span class="badge badge-operator">{}</span>', "Escalations inbox")
            if record.is_escalation_inbox
            else ""
        )
        return format_html(
            '<a href="{}">{}</a>{}',
            reverse("helpdesk:department_edit", args=[record.pk]),
            record.name,
            badge,
        )

    def render_first_response_minutes(self, value):
        return minutes_label(value)

    def render_resolution_minutes(self, value):
        return minutes_label(value)

    def render_is_active(self, value):
        if value:
            return format_html('<span class="badge badge-success">{}</span>', "Active")
        return format_html('<span class="badge badge-neutral">{}</span>', "Inactive")


class CannedReplyTable(tables.Table):
    title = tables.Column()
    department = tables.Column(empty_values=())
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = CannedReply
        fields = ["title", "department"]
        attrs = {"class": "table"}

    def render_title(self, record):
        url = reverse("helpdesk:canned_edit", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.title)

    def render_department(self, record):
        return record.department.name if record.department_id else "All departments"

    def render_actions(self, record):
        from django.middleware.csrf import get_token

        request = self.request
        return format_html(
            '<form method="post" action="{}" class="inline" data-confirm="Delete “{}”?">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button class="btn btn-ghost btn-sm">Delete</button></form>',
            reverse("helpdesk:canned_delete", args=[record.pk]),
            record.title,
            get_token(request),
        )


def minutes_label(value: int) -> str:
    if value % (24 * 60) == 0:
        days = value // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    if value % 60 == 0:
        hours = value // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{value} min"


class TicketFilter(django_filters.FilterSet):
    """The queue's filter bar; every filter is passed on to `ticket_queue`."""

    q = django_filters.CharFilter(label="Search", method="noop")
    status = django_filters.ChoiceFilter(
        choices=[("active", "Not closed"), *Ticket.Status.choices],
        empty_label="Any status",
        method="noop",
    )
    department = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(), empty_label="Any department", method="noop"
    )
    assignee = django_filters.ChoiceFilter(
        choices=[], empty_label="Anyone", method="noop", label="Assignee"
    )
    priority = django_filters.ChoiceFilter(
        choices=Ticket.Priority.choices, empty_label="Any priority", method="noop"
    )
    breached = django_filters.BooleanFilter(
        label="SLA breached", widget=forms.CheckboxInput, method="noop"
    )
    escalated = django_filters.BooleanFilter(
        label="Escalated", widget=forms.CheckboxInput, method="noop"
    )

    class Meta:
        model = Ticket
        fields = ["q", "status", "department", "assignee", "priority", "breached", "escalated"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.form.fields["q"].widget.attrs["placeholder"] = "Subject, customer or #id"
        self.form.fields["assignee"].choices = [
            ("", "Anyone"),
            ("mine", "Assigned to me"),
            ("unassigned", "Unassigned"),
            *[(str(u.pk), str(u)) for u in staff_members()],
        ]

    def noop(self, queryset, name, value):
        return queryset

    @property
    def qs(self):
        data = self.form.cleaned_data if self.form.is_valid() else {}
        assignee = data.get("assignee") or None
        return ticket_queue(
            user=self.user,
            status=data.get("status") or None,
            department=data.get("department"),
            assignee=int(assignee) if assignee and assignee.isdecimal() else assignee,
            priority=data.get("priority") or None,
            breached=True if data.get("breached") else None,
            escalated=True if data.get("escalated") else None,
            search=data.get("q") or None,
        )
