"""What the helpdesk announces and asks, declared once.

Announcement (Django signal; receivers connect in their `AppConfig.ready()`):

`ticket_changed(sender=Ticket, event=str, ticket=Ticket, message=Message | None)`
    Sent inside the transaction of each change: "replied" (with the message), "status_changed",
    "closed", "reopened". A receiver that raises rolls the change back, so the upstream
    bridge's own writes commit or roll back with the helpdesk's.

Question (port, answered by the bridge):

`escalation_panel(request, ticket)` → dict | None: what the staff ticket page shows about
the upstream side of a ticket (None: nothing to show).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from tenant_apps.instance.ports import Port

ticket_changed = Signal()


def _no_panel(request: Any, ticket: Any) -> dict | None:
    return None


escalation_panel: Port[Callable[[Any, Any], dict | None]] = Port("escalation_panel", _no_panel)
