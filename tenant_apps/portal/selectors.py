"""What the portal's overview shows a signed-in customer: their latest services, invoices
and tickets, each with how many there are in all (reads only; the lists' own pages show
the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tenant_apps.billing.selectors import portal_invoice_list
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.helpdesk.selectors import customer_ticket_list
from tenant_apps.orders.selectors import service_list

OVERVIEW_ROWS = 5


@dataclass
class PortalOverview:
    services: list = field(default_factory=list)
    service_count: int = 0
    invoices: list = field(default_factory=list)
    invoice_count: int = 0
    tickets: list = field(default_factory=list)
    ticket_count: int = 0


def portal_overview(user, *, rows: int = OVERVIEW_ROWS) -> PortalOverview:
    """The user's own services (plans, not add-ons), issued invoices and tickets, newest
    first; empty for anyone who is not a customer of this instance."""
    overview = PortalOverview()
    customer = customer_for_user(user)
    if customer is not None:
        plans = service_list(customer_id=customer.pk).filter(parent__isnull=True)
        overview.service_count = plans.count()
        overview.services = list(plans.order_by("-id")[:rows])
    invoices = portal_invoice_list(user)
    overview.invoice_count = invoices.count()
    overview.invoices = list(invoices[:rows])
    tickets = customer_ticket_list(user).select_related("department")
    overview.ticket_count = tickets.count()
    overview.tickets = list(tickets.order_by("-last_activity_at", "-id")[:rows])
    return overview
