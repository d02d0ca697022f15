"""SLA clocks stand still while a ticket is on hold, and resume with deadlines moved on."""

import datetime

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.helpdesk import services
from tenant_apps.helpdesk.models import Ticket
from tenant_apps.helpdesk.selectors import breached_q

T0 = datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.UTC)


def test_time_on_hold_does_not_count_against_the_sla(instance_a, monkeypatch):
    with schema_context(instance_a.schema_name):
        staff = get_user_model().objects.get(email=instance_a.support)
        ticket = services.ticket_open(subject="Slow site", body="Please look.", now=T0)
        first_due = ticket.first_response_due_at

        monkeypatch.setattr(services.timezone, "now", lambda: T0 + datetime.timedelta(minutes=10))
        services.ticket_transition(ticket=ticket, to="on_hold", actor=staff)
        ticket.refresh_from_db()
        ten_hours = T0 + datetime.timedelta(hours=10)
        assert not ticket.first_response_breached_at(ten_hours)
        assert not Ticket.objects.filter(breached_q(ten_hours), pk=ticket.pk).exists()

        monkeypatch.setattr(services.timezone, "now", lambda: ten_hours)
        services.ticket_transition(ticket=ticket, to="awaiting_staff", actor=staff)
        ticket.refresh_from_db()
        held = datetime.timedelta(hours=10) - datetime.timedelta(minutes=10)
        assert ticket.first_response_due_at == first_due + held and ticket.on_hold_since is None
        assert not ticket.first_response_breached_at(ten_hours + datetime.timedelta(minutes=1))
        late = ticket.first_response_due_at + datetime.timedelta(minutes=1)
        assert ticket.first_response_breached_at(late)
        assert Ticket.objects.filter(breached_q(late), pk=ticket.pk).exists()
