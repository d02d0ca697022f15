"""The Django admin never moves a status behind the pipelines' back: statuses are shown
read-only there, so every move goes through a service (pipeline, audit trail, bridge)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tests.conftest import client_for


@pytest.fixture
def ticket(operator):
    with schema_context(operator.schema_name):
        customer = Customer.objects.create(
            kind="person", name="Admin Test", email="a@x.test", country="FR", currency="EUR"
        )
        return helpdesk.ticket_open(subject="Printer on fire", body="Help", customer=customer)


def test_a_tickets_status_is_read_only_in_the_admin(operator, ticket):
    page = client_for(operator, operator.owner).get(f"/admin/helpdesk/ticket/{ticket.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="status"' not in html and 'name="escalation"' not in html
    assert "Printer on fire" in html


@pytest.mark.parametrize(
    "path",
    [
        "orders/service",
        "orders/order",
        "billing/invoice",
        "helpdesk/ticket",
    ],
)
def test_no_admin_form_offers_a_status_field(operator, path):
    """Statuses have no editable field on any admin add or change form of these models."""
    client = client_for(operator, operator.owner)
    add = client.get(f"/admin/{path}/add/")
    assert add.status_code in (200, 403)
    assert 'name="status"' not in add.content.decode()
