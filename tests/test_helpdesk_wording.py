"""Helpdesk e-mails use the instance's own wording when staff wrote one."""

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.helpdesk import notifications, services
from tenant_apps.instance.models import EmailTemplate
from tests.billing_fixtures import make_customer
from tests.conftest import client_for


def test_staff_reply_mail_uses_the_instances_wording(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        EmailTemplate.objects.create(
            key="helpdesk_staff_replied",
            subject="[Acme support] {{ ticket.subject }}",
            body="Dear {{ customer.name }},\n\n{{ message.text }}\n\nAcme",
        )
        customer = make_customer("Alice Martin", email="alice@customer.test")
        ticket = services.ticket_open(subject="Slow site", body="Help", customer=customer)
        staff = get_user_model().objects.get(email=instance_a.support)
        services.ticket_reply(ticket=ticket, author=staff, body="We moved you to a faster node.")
        notifications.outbox_deliver()
    sent = [m for m in mailoutbox if m.subject == "[Acme support] Slow site"]
    assert sent and "Dear Alice Martin" in sent[0].body and "faster node" in sent[0].body


def test_helpdesk_mails_are_listed_for_editing(instance_a):
    page = client_for(instance_a, instance_a.owner).get("/staff/billing/settings/emails/")
    assert page.status_code == 200 and b"Helpdesk: staff replied" in page.content
