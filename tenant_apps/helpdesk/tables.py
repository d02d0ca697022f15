"""Helpdesk tables (django-tables2) and the queue's filter bar (django-filter)."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django import forms
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .models import CannedReply, Department, Ticket
from .selectors import staff_members, ticket_queue
from .templatetags.helpdesk import escalation_badge, priority_badge, sla_badge, status_badge

# Priority sorts by urgency, not alphabetically.
PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


class TicketTable(tables.Table):
    """The queue. Seven columns fit a laptop screen: who asked and the department read
    under the subject, an escalation's badge beside the status."""

    number = tables.Column(
        verbose_name=gettext_lazy("#"), accessor="pk", attrs={"td": {"class": "mono"}}
    )
    subject = tables.Column(verbose_name=gettext_lazy("Subject · customer · department"))
    priority = tables.Column(verbose_name=gettext_lazy("Priority"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    assignee = tables.Column(
        order_by=("assignee__email",), empty_values=(), verbose_name=gettext_lazy("Assignee")
    )
    sla = tables.Column(verbose_name=gettext_lazy("SLA"), empty_values=(), orderable=False)
    last_activity_at = tables.Column(verbose_name=gettext_lazy("Last activity"))

    class Meta:
        model = Ticket
        fields = [
            "number",
            "subject",
            "priority",
            "status",
            "assignee",
            "sla",
            "last_activity_at",
        ]
        empty_text = gettext_lazy("No tickets match these filters.")
        attrs = {"class": "table"}
        order_by = ("-last_activity_at",)

    def render_number(self, record):
        return format_html(
            '<a href="{}">#{}</a>', reverse("helpdesk:ticket_detail", args=[record.pk]), record.pk
        )

    def render_subject(self, record):
        return format_html(
            '<a class="ticket-subject" href="{}">{}</a><div class="muted text-sm">{} · {}</div>',
            reverse("helpdesk:ticket_detail", args=[record.pk]),
            record.subject,
            self.customer_label(record),
            record.department.name,
        )

    @staticmethod
    def customer_label(record) -> str:
        if record.customer_id:
            return record.customer.display_name
        if record.requester_id:
            return record.requester.email
        return _("No customer")

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
        upstream = escalation_badge(record)
        if upstream:
            return format_html('<span class="cluster">{}{}</span>', status_badge(record), upstream)
        return status_badge(record)

    def render_assignee(self, record):
        if record.assignee_id:
            return str(record.assignee)
        return format_html('<span class="muted">{}</span>', _("Unassigned"))

    def render_sla(self, record):
        return sla_badge(record)

    def render_last_activity_at(self, value):
        return format_html(
            '<span class="nowrap" title="{}">{}</span>',
            value.strftime("%Y-%m-%d %H:%M"),
            _("%(time)s ago") % {"time": timesince(value).split(",")[0]},
        )


def portal_status_badge(ticket: Ticket) -> str:
    """A ticket's status as its customer reads it ("waiting for you", not the staff wording)."""
    labels = {
        "awaiting_customer": ("badge-warning", _("Waiting for your reply")),
        "awaiting_staff": ("badge-info", _("Waiting for us")),
        "open": ("badge-info", _("Open")),
        "on_hold": ("badge-neutral", _("On hold")),
        "closed": ("badge-terminated", _("Closed")),
    }
    css, label = labels.get(ticket.status, ("badge-neutral", ticket.get_status_display()))
    return format_html('<span class="badge {}">{}</span>', css, label)


class PortalTicketTable(tables.Table):
    number = tables.Column(
        verbose_name=gettext_lazy("#"), accessor="pk", attrs={"td": {"class": "mono"}}
    )
    subject = tables.Column(verbose_name=gettext_lazy("Subject"))
    department = tables.Column(
        order_by=("department__name",), verbose_name=gettext_lazy("Department")
    )
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    last_activity_at = tables.Column(verbose_name=gettext_lazy("Last activity"))

    class Meta:
        model = Ticket
        fields = ["number", "subject", "department", "status", "last_activity_at"]
        empty_text = gettext_lazy("No tickets yet.")
        attrs = {"class": "table"}
        order_by = ("-last_activity_at",)

    def render_number(self, record):
        url = reverse("portal_helpdesk:ticket_detail", args=[record.pk])
        return format_html('<a href="{}">#{}</a>', url, record.pk)

    def render_subject(self, record):
        url = reverse("portal_helpdesk:ticket_detail", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.subject)

    def render_status(self, record):
        return portal_status_badge(record)

    def render_last_activity_at(self, value):
        return format_html(
            '<span class="nowrap">{}</span>',
            _("%(time)s ago") % {"time": timesince(value).split(",")[0]},
        )


class DepartmentTable(tables.Table):
    name = tables.Column(verbose_name=gettext_lazy("Name"))
    first_response_minutes = tables.Column(verbose_name=gettext_lazy("First reply within"))
    resolution_minutes = tables.Column(verbose_name=gettext_lazy("Resolved within"))
    is_active = tables.Column(verbose_name=gettext_lazy("Status"))

    class Meta:
        model = Department
        fields = ["name", "first_response_minutes", "resolution_minutes", "is_active"]
        attrs = {"class": "table"}

    def render_name(self, record):
        badge = (
            format_html(' <span class="badge badge-operator">{}</span>', _("Escalations inbox"))
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
            return format_html('<span class="badge badge-success">{}</span>', _("Active"))
        return format_html('<span class="badge badge-neutral">{}</span>', _("Inactive"))


class CannedReplyTable(tables.Table):
    title = tables.Column(verbose_name=gettext_lazy("Title"))
    department = tables.Column(empty_values=(), verbose_name=gettext_lazy("Department"))
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = CannedReply
        fields = ["title", "department"]
        attrs = {"class": "table"}

    def render_title(self, record):
        url = reverse("helpdesk:canned_edit", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.title)

    def render_department(self, record):
        return record.department.name if record.department_id else _("All departments")

    def render_actions(self, record):
        from django.middleware.csrf import get_token

        request = self.request
        return format_html(
            '<form method="post" action="{}" class="inline" data-confirm="{}">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button class="btn btn-ghost btn-sm">{}</button></form>',
            reverse("helpdesk:canned_delete", args=[record.pk]),
            _("Delete “%(title)s”?") % {"title": record.title},
            get_token(request),
            _("Delete"),
        )


def minutes_label(value: int) -> str:
    if value % (24 * 60) == 0:
        days = value // (24 * 60)
        return ngettext("%(count)s day", "%(count)s days", days) % {"count": days}
    if value % 60 == 0:
        hours = value // 60
        return ngettext("%(count)s hour", "%(count)s hours", hours) % {"count": hours}
    return _("%(count)s min") % {"count": value}


class TicketFilter(django_filters.FilterSet):
    """The queue's filter bar; every filter is passed on to `ticket_queue`."""

    q = django_filters.CharFilter(label=gettext_lazy("Search"), method="noop")
    status = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"),
        choices=[("active", gettext_lazy("Not closed")), *Ticket.Status.choices],
        empty_label=gettext_lazy("Any status"),
        method="noop",
    )
    department = django_filters.ModelChoiceFilter(
        label=gettext_lazy("Department"),
        queryset=Department.objects.all(),
        empty_label=gettext_lazy("Any department"),
        method="noop",
    )
    assignee = django_filters.ChoiceFilter(
        choices=[],
        empty_label=gettext_lazy("Anyone"),
        method="noop",
        label=gettext_lazy("Assignee"),
    )
    priority = django_filters.ChoiceFilter(
        label=gettext_lazy("Priority"),
        choices=Ticket.Priority.choices,
        empty_label=gettext_lazy("Any priority"),
        method="noop",
    )
    breached = django_filters.BooleanFilter(
        label=gettext_lazy("SLA breached"), widget=forms.CheckboxInput, method="noop"
    )
    escalated = django_filters.BooleanFilter(
        label=gettext_lazy("Escalated"), widget=forms.CheckboxInput, method="noop"
    )

    class Meta:
        model = Ticket
        fields = ["q", "status", "department", "assignee", "priority", "breached", "escalated"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.form.fields["q"].widget.attrs["placeholder"] = _("Subject, customer or #id")
        self.form.fields["assignee"].choices = [
            ("", _("Anyone")),
            ("mine", _("Assigned to me")),
            ("unassigned", _("Unassigned")),
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
