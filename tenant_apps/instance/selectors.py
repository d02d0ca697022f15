"""Reads of the instance core shared by screens, the API and tasks."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from .models import AuditEvent, IssuerIdentity


def issuer_identity_get() -> IssuerIdentity | None:
    """The current instance's issuer identity (None before set-up)."""
    return IssuerIdentity.objects.first()


def audit_event_list(
    *,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    customer_id: int | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> QuerySet[AuditEvent]:
    """The instance's audit trail, newest first, narrowed by whatever is given."""
    events = AuditEvent.objects.select_related("actor")
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if action:
        events = (
            events.filter(action=action)
            if "." in action
            else events.filter(action__startswith=f"{action}.")
        )
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=str(object_id))
    if customer_id is not None:
        events = events.filter(customer_id=customer_id)
    if since:
        events = events.filter(created_at__date__gte=since)
    if until:
        events = events.filter(created_at__date__lte=until)
    return events


def audit_events_for(obj, *, limit: int = 50) -> list[AuditEvent]:
    """The history of one object (an invoice's, a customer's …), newest first."""
    from .audit import object_type_of

    return list(audit_event_list(object_type=object_type_of(obj), object_id=str(obj.pk))[:limit])
