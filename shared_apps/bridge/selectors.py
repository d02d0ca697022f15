"""Reads of escalations shared by the console, the reseller's ticket page and the API."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.tenancy.models import Reseller
from tenant_apps.helpdesk.models import Ticket

from .models import EscalationLink


def human_duration(delta) -> str:
    """“3 d 4 h”, “2 h 05 min”, “12 min” — for timings read at a glance."""
    if delta is None:
        return ""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


@dataclass
class EscalationRow:
    link: EscalationLink
    ticket: Ticket | None  # the operator's ticket (public schema)

    @property
    def with_reseller(self) -> str:
        return human_duration(self.link.time_with_reseller)

    @property
    def upstream(self) -> str:
        return human_duration(self.link.time_upstream)

    @property
    def first_answer(self) -> str:
        return human_duration(self.link.operator_first_response)


def escalation_queue(
    *, status: str | None = None, reseller_id: int | None = None
) -> list[EscalationRow]:
    """The operator's queue of escalations across resellers, with their upstream tickets."""
    links = EscalationLink.objects.select_related("reseller")
    if status:
        links = links.filter(status=status)
    if reseller_id:
        links = links.filter(reseller_id=reseller_id)
    links = list(links[:500])
    with schema_context(get_public_schema_name()):
        tickets = Ticket.objects.select_related("assignee", "department").in_bulk(
            [link.operator_ticket_id for link in links]
        )
    return [EscalationRow(link, tickets.get(link.operator_ticket_id)) for link in links]


def escalation_for_reseller_ticket(ticket_id: int) -> EscalationLink | None:
    """The link of one of the current reseller instance's tickets (None elsewhere)."""
    return (
        EscalationLink.objects.select_related("reseller")
        .filter(reseller__schema_name=connection.schema_name, reseller_ticket_id=ticket_id)
        .first()
    )


def escalation_panel(request, ticket: Ticket) -> dict | None:
    """What the ticket page shows about the upstream side of a ticket."""
    from django.conf import settings

    from tenant_apps.instance.money import format_money

    from .services import escalation_price_for, ticket_attachments

    instance = getattr(request, "tenant", None)
    if instance is None:
        return None
    if instance.is_operator:
        if ticket.source != Ticket.Source.UPSTREAM:
            return None
        link = (
            EscalationLink.objects.select_related("reseller")
            .filter(operator_ticket_id=ticket.pk)
            .first()
        )
        return {"mode": "operator", "link": link} if link else None
    link = escalation_for_reseller_ticket(ticket.pk)
    reseller = Reseller.objects.filter(schema_name=instance.schema_name).first()
    price = escalation_price_for(reseller) if reseller and link is None else None
    return {
        "price": format_money(*price) if price else "",
        "mode": "reseller",
        "link": link,
        "operator_name": settings.UPLINE_OPERATOR_NAME,
        "can_escalate": link is None and not ticket.is_closed and instance.is_active,
        "attachments": [(a.pk, a.original_name) for a in ticket_attachments(ticket)],
        "with_reseller": human_duration(link.time_with_reseller) if link else "",
    }
