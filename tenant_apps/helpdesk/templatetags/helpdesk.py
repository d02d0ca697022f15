"""Template filters of the helpdesk: message bodies as sanitised HTML, status/priority badges."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..rich_text import sanitise

register = template.Library()

STATUS_BADGES = {
    "open": "badge-info",
    "awaiting_staff": "badge-warning",
    "awaiting_customer": "badge-neutral",
    "on_hold": "badge-accent",
    "closed": "badge-terminated",
}
PRIORITY_BADGES = {
    "low": "badge-neutral",
    "normal": "badge-info",
    "high": "badge-warning",
    "urgent": "badge-danger",
}
SLA_BADGES = {
    "ok": ("badge-success", gettext_lazy("On track")),
    "due_soon": ("badge-warning", gettext_lazy("Due soon")),
    "breached": ("badge-danger", gettext_lazy("Breached")),
    "met": ("badge-neutral", gettext_lazy("Met")),
}


@register.filter
def message_html(value: str) -> str:
    """A stored body, sanitised again at render time (defence in depth), as safe HTML."""
    return mark_safe(sanitise(value))  # noqa: S308 — nh3 output


@register.simple_tag
def status_badge(ticket) -> str:
    return format_html(
        '<span class="badge {}">{}</span>',
        STATUS_BADGES.get(ticket.status, "badge-neutral"),
        ticket.get_status_display(),
    )


@register.simple_tag
def priority_badge(ticket) -> str:
    return format_html(
        '<span class="badge {}">{}</span>',
        PRIORITY_BADGES.get(ticket.priority, "badge-neutral"),
        ticket.get_priority_display(),
    )


@register.simple_tag
def sla_badge(ticket) -> str:
    css, label = SLA_BADGES[ticket.sla_state()]
    return format_html('<span class="badge {}">{}</span>', css, label)


@register.simple_tag
def escalation_badge(ticket) -> str:
    if ticket.escalation == "escalated":
        return format_html('<span class="badge badge-operator">{}</span>', _("Escalated"))
    if ticket.escalation == "resolved_upstream":
        return format_html('<span class="badge badge-success">{}</span>', _("Resolved upstream"))
    return ""
