"""What the helpdesk announces and asks, declared once.

Announcement (Django signal; receivers connect in their `AppConfig.ready()`):

`ticket_changed(sender=Ticket, event=TicketEvent, ticket=Ticket, message=Message | None)`
    Sent inside the transaction of each change of a ticket. `event` says what happened and
    who caused it (see `TicketEvent`); `ticket` is the row as saved and `message` the message
    the change wrote (a reply, a note, the "closed by …" line), for receivers that need more
    than ids without reading them again. A receiver that raises rolls the change back, so the
    upstream bridge's own writes commit or roll back with the helpdesk's.

Question (port, answered by the bridge):

`escalation_panel(request, ticket)` → dict | None: what the staff ticket page shows about
the upstream side of a ticket (None: nothing to show).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal

from tenant_apps.instance.ports import Port


class Origin(enum.StrEnum):
    """Who caused a ticket change.

    The bridge writes into two instances: what the operator did lands in a reseller's ticket
    (UPSTREAM), what a reseller did lands in the operator's ticket (DOWNSTREAM). It knows its
    own writes by their origin and never relays them back — no echo flag needed.
    """

    STAFF = "staff"  # a staff member of this instance
    CUSTOMER = "customer"  # a customer of this instance
    SYSTEM = "system"  # nobody in particular (a task, a sweep)
    UPSTREAM = "upstream"  # relayed by the bridge from the operator's side
    DOWNSTREAM = "downstream"  # relayed by the bridge from a reseller's side


#: The changes the bridge itself wrote.
BRIDGE_ORIGINS = frozenset({Origin.UPSTREAM, Origin.DOWNSTREAM})


class Kind(enum.StrEnum):
    """What happened to the ticket."""

    REPLIED = "replied"  # a reply the customer sees
    NOTED = "noted"  # an internal note (staff only)
    STATUS_CHANGED = "status_changed"  # any move except closing and reopening
    CLOSED = "closed"
    REOPENED = "reopened"


@dataclass(frozen=True)
class TicketEvent:
    """One change of one ticket, as announced on `ticket_changed`."""

    kind: Kind
    ticket_id: int
    schema_name: str  # the instance the ticket lives in
    status: str  # the ticket's status after the change
    message_id: int | None  # the message the change wrote, if any
    origin: Origin

    @property
    def by_bridge(self) -> bool:
        return self.origin in BRIDGE_ORIGINS


ticket_changed = Signal()


def _no_panel(request: Any, ticket: Any) -> dict | None:
    return None


escalation_panel: Port[Callable[[Any, Any], dict | None]] = Port("escalation_panel", _no_panel)
