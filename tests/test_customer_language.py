"""A customer reads their invoices and e-mails in their own language, whoever triggers them:
the PDF's wording and amounts, the invoice e-mail, a ticket reply and the portal invitation.
Staff mails keep the instance's default; a customer's language never leaks to another."""

from __future__ import annotations

import pytest
from django.utils import translation
from django_tenants.utils import schema_context

from tenant_apps.billing import documents, notifications
from tenant_apps.billing import services as billing
from tenant_apps.clients import services as clients
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Outbox
from tenant_apps.helpdesk.notifications import outbox_deliver
from tenant_apps.mail.models import OutgoingEmail
from tests.billing_fixtures import make_customer, setup_issuer
from tests.test_helpdesk_fixtures import open_ticket, portal_customer, user


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _issued(name: str, language: str):
    customer = make_customer(name)
    customer.language = language
    customer.save(update_fields=["language"])
    draft = billing.invoice_create_draft(
        customer=customer, lines=[{"description": "Plan", "unit_price": "1234.50"}]
    )
    return billing.invoice_issue(invoice=draft)


@pytest.mark.parametrize(
    "language, title, amount",
    [("fr", "Facture", "1\u202f234,50\xa0€"), ("de", "Rechnung", "1.234,50\xa0€")],
)
def test_the_invoice_document_is_in_the_customers_language_whoever_renders_it(
    instance_a, language, title, amount
):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        invoice = _issued("Lea Martin", language)
        # A member of staff reading English asks for it: the document stays the customer's.
        with translation.override("en"):
            html = documents.invoice_html_render(invoice=invoice)
        assert f'<html lang="{language}">' in html  # hyphenation and reading follow it
        assert title in html
        assert amount in html
        assert ">Invoice<" not in html


def test_an_english_customers_invoice_stays_english_under_a_french_reader(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        invoice = _issued("Sam Smith", "")
        with translation.override("fr"):
            html = documents.invoice_html_render(invoice=invoice)
        assert "Invoice" in html and "Facture" not in html
        assert "1,234.50" in html


def test_the_invoice_mail_is_written_in_the_customers_language(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        french = _issued("Lea Martin", "fr")
        german = _issued("Jonas Weber", "de")
        english = _issued("Sam Smith", "")
        for invoice in (french, german, english):
            assert notifications.invoice_issued_notify(invoice=invoice) is True
    subjects = {message.to[0]: message.subject for message in mailoutbox}
    assert subjects[french.customer.email].startswith("Facture ")
    assert subjects[german.customer.email].startswith("Rechnung ")
    assert subjects[english.customer.email].startswith("Invoice ")
    french_mail = next(m for m in mailoutbox if m.to[0] == french.customer.email)
    assert "1\u202f481,40\xa0€" in french_mail.body  # 1,234.50 + 20 % VAT, as the French write it


def test_a_ticket_reply_reaches_the_customer_in_their_language_and_staff_in_the_default(
    instance_a, mailoutbox
):
    with schema_context(instance_a.schema_name):
        customer = portal_customer(instance_a.customer)
        customer.language = "de"
        customer.save(update_fields=["language"])
        ticket = open_ticket(customer)
        outbox_deliver()  # staff are told of the new ticket: the instance's default language
        staff_mail = OutgoingEmail.objects.get(template_key="helpdesk_opened")
        helpdesk.ticket_reply(ticket=ticket, author=user(instance_a.support), body="Erledigt.")
        assert Outbox.objects.filter(delivered_at__isnull=True).exists()
        outbox_deliver()
        reply = OutgoingEmail.objects.get(template_key="helpdesk_staff_replied")
    assert reply.to == [instance_a.customer]
    assert "Hallo" in reply.body_text and "Hello" not in reply.body_text
    assert "opened ticket" in staff_mail.body_text  # English, the instance default


def test_the_portal_invitation_is_written_in_the_customers_language(
    instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        customer = make_customer("Chloe Invited")
        customer.language = "fr"
        customer.save(update_fields=["language"])
        with django_capture_on_commit_callbacks(execute=True):
            clients.customer_portal_invite(
                customer=customer, domain=instance_a.host, use_https=False
            )
        invitation = OutgoingEmail.objects.get(template_key="invitation")
    assert "invit" in invitation.subject.lower()
    assert "You are invited" not in invitation.subject
