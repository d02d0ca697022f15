"""Template filters of the helpdesk: message bodies as sanitised HTML, status/priority badges."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

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
    "ok": ("badge-success", "On track"),
    "due_soon": ("badge-warning", "Due soon"),
    "breached": ("badge-danger", "Breached"),
    "met": ("badge-neutral", "Met"),
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
        return mark_safe('<span class="badge badge-operator">Escalated</span>')
    if ticket.escalation == "resolved_upstream":
        return mark_safe('<span class="badge badge-success">Resolved upstream</span>')
    return ""
