"""Fault 3 of issue 13: every absolute link in e-mails is built one way, from the instance's
configured public address — the invitation (sent after a request) and the invoice, receipt
and ticket-reply mails the worker sends carry the same scheme://host:port."""

from __future__ import annotations

import re

from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.billing import services as billing
from tenant_apps.billing import tasks as billing_tasks
from tenant_apps.clients import services as clients
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk import tasks as helpdesk_tasks
from tenant_apps.helpdesk.models import Outbox
from tenant_apps.mail.models import OutgoingEmail
from tests.billing_fixtures import make_customer, setup_issuer
from tests.test_helpdesk_fixtures import open_ticket, portal_customer, user

LINK = re.compile(r"https?://[^\s/]+")


def _bases(message) -> set[str]:
    return set(LINK.findall(message.body))


def test_worker_mails_and_the_invitation_carry_the_same_scheme_host_and_port(
    instance_a, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.UPLINE_PUBLIC_PORT = "8443"
    expected = {f"http://{instance_a.host}:8443"}
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = make_customer("Zoe Martin")
        draft = billing.invoice_create_draft(
            customer=customer, lines=[{"description": "Plan", "unit_price": "10"}]
        )
        invoice = billing.invoice_issue(invoice=draft)
        payment = billing.payment_record(
            customer=customer, invoice=invoice, amount="12.00", method="cash"
        )
        ticket_customer = portal_customer(instance_a.customer)
        ticket = open_ticket(ticket_customer)
        Outbox.objects.update(delivered_at=timezone.now())  # the opening notice: not ours
        helpdesk.ticket_reply(ticket=ticket, author=user(instance_a.support), body="Done.")
    # The worker's tasks, as a worker runs them (each enters the schema it is given).
    schema = {"schema_name": instance_a.schema_name}
    billing_tasks.documents_finalise.apply(kwargs={"invoice_ids": [invoice.pk], **schema})
    billing_tasks.payment_receipt_send.apply(kwargs={"payment_id": payment.pk, **schema})
    helpdesk_tasks.outbox_drain.apply(kwargs=schema)
    # The invitation, sent once the staff member's request commits.
    with schema_context(instance_a.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            clients.customer_portal_invite(
                customer=make_customer("Yann Invited"), domain=instance_a.host, use_https=False
            )
        keys = list(OutgoingEmail.objects.order_by("id").values_list("template_key", flat=True))
    assert keys == ["invoice_issued", "payment_receipt", "helpdesk_staff_replied", "invitation"]
    assert len(mailoutbox) == 4
    for message in mailoutbox:
        assert _bases(message) == expected, (message.subject, _bases(message))
        assert f"http://{instance_a.host}:8443" in message.alternatives[0][0]  # HTML links


def test_without_a_configured_port_links_use_the_scheme_default(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = make_customer()
        draft = billing.invoice_create_draft(
            customer=customer, lines=[{"description": "Plan", "unit_price": "10"}]
        )
        invoice = billing.invoice_issue(invoice=draft)
    billing_tasks.documents_finalise.apply(
        kwargs={"invoice_ids": [invoice.pk], "schema_name": instance_a.schema_name}
    )
    assert _bases(mailoutbox[0]) == {f"http://{instance_a.host}"}
