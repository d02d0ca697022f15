"""Billing e-mails: sent once, with the PDF, to the right people, in the instance's wording."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

import factory
import pytest
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django_tenants.utils import schema_context
from factory.django import DjangoModelFactory

from tenant_apps.billing import notifications, services
from tenant_apps.billing.models import Invoice, TaxRate
from tenant_apps.catalog.models import BillingCycle, Product, TaxClass
from tenant_apps.clients.models import Contact, Customer
from tenant_apps.instance import services as instance_services
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.orders import notifications as service_notifications
from tenant_apps.orders.models import Service

LINES = [{"description": "Managed VPS L", "unit_price": "50.00"}]


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    country = "FR"
    currency = "EUR"


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.test")


def set_up_billing(**identity) -> None:
    instance_services.issuer_identity_set(
        **{
            "legal_name": "Acme Hosting SARL",
            "trading_name": "",
            "country": "FR",
            "email": "billing@acme.test",
        }
        | identity
    )
    TaxRate.objects.get_or_create(
        country="FR",
        tax_class=TaxClass.objects.get(code="standard"),
        defaults={"rate": Decimal("20")},
    )


def issue(customer: Customer) -> Invoice:
    draft = services.invoice_create_draft(customer=customer, lines=LINES)
    return services.invoice_issue(invoice=draft, issue_date=datetime.date(2026, 3, 2))


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_issued_invoice_is_mailed_once_when_notify_runs_twice(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())

        first = notifications.invoice_issued_notify(invoice=invoice)
        second = notifications.invoice_issued_notify(invoice=Invoice.objects.get(pk=invoice.pk))

        assert (first, second) == (True, False)
        assert Invoice.objects.get(pk=invoice.pk).emailed_at is not None
    assert len(mailoutbox) == 1


def test_concurrent_run_that_read_the_invoice_before_the_send_does_not_send_again(
    instance_a, mailoutbox, monkeypatch
):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        read_before_the_send = Invoice.objects.get(pk=invoice.pk)
        notifications.invoice_issued_notify(invoice=invoice)

        monkeypatch.setattr(notifications, "_fresh", lambda invoice_id: read_before_the_send)
        assert read_before_the_send.emailed_at is None
        assert notifications.invoice_issued_notify(invoice=invoice) is False
    assert len(mailoutbox) == 1


def test_failed_send_is_kept_in_the_outbox_and_its_retry_sends_the_invoice_once(
    instance_a, mailoutbox, monkeypatch
):
    # Changed with the mail outbox: the e-mail is recorded with the claim, a failed send
    # stays in the outbox with its reason and is retried there (no longer by re-notifying).
    from tenant_apps.mail.models import OutgoingEmail
    from tenant_apps.mail.services import email_deliver

    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        real_send = EmailMessage.send

        def smtp_down(self, fail_silently=False):
            raise ConnectionRefusedError("SMTP server down")

        monkeypatch.setattr(EmailMessage, "send", smtp_down)
        assert notifications.invoice_issued_notify(invoice=invoice) is True
        [row] = OutgoingEmail.objects.filter(template_key="invoice_issued")
        assert row.status == "failed" and "refused the connection" in row.last_error

        monkeypatch.setattr(EmailMessage, "send", real_send)
        assert notifications.invoice_issued_notify(invoice=invoice) is False
        email_deliver(email_id=row.pk)
    assert len(mailoutbox) == 1


def test_invoice_mail_attaches_the_stored_pdf(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())

        notifications.invoice_issued_notify(invoice=invoice)

        stored = Invoice.objects.get(pk=invoice.pk).pdf.name
        [(filename, content, mimetype)] = mailoutbox[0].attachments
        assert filename == f"{invoice.number}.pdf"
        assert mimetype == "application/pdf"
        assert content == default_storage.open(stored).read()


def test_contacts_who_receive_invoices_get_a_copy_and_others_do_not(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        customer = CustomerFactory(email="owner@client.test")
        ContactFactory(customer=customer, email="accounts@client.test", receives_invoices=True)
        ContactFactory(customer=customer, email="tech@client.test", receives_invoices=False)
        invoice = issue(customer)

        notifications.invoice_issued_notify(invoice=invoice)

    [message] = mailoutbox
    assert message.to == ["owner@client.test"]
    assert message.recipients() == ["owner@client.test", "accounts@client.test"]


def test_invoice_mail_comes_from_the_issuer_with_its_wording(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing(trading_name="Acme Cloud")
        invoice = issue(CustomerFactory(name="Jeanne Martin"))

        notifications.invoice_issued_notify(invoice=invoice, base_url="https://acme.example/")

    [message] = mailoutbox
    # Changed with per-instance sending: through the operator's relay (no SMTP of its own)
    # the From is the instance's name on the relay's address; replies go to the issuer.
    assert message.from_email == "Acme Cloud <no-reply@upline.localhost>"
    assert message.reply_to == ["billing@acme.test"]
    assert message.subject == f"Invoice {invoice.number} from Acme Cloud"
    assert "Hello Jeanne Martin," in message.body
    assert "Amount due: €60.00" in message.body
    assert f"https://acme.example/portal/billing/invoices/{invoice.pk}/" in message.body


def test_mail_without_issuer_email_comes_from_the_default_address(instance_a, mailoutbox, settings):
    settings.DEFAULT_FROM_EMAIL = "Upline <no-reply@upline.test>"
    with schema_context(instance_a.schema_name):
        set_up_billing(email="")
        invoice = issue(CustomerFactory())

        notifications.invoice_issued_notify(invoice=invoice)

    assert mailoutbox[0].from_email == "Acme Hosting SARL <no-reply@upline.test>"
    assert f"\n/portal/billing/invoices/{invoice.pk}/\n" in mailoutbox[0].body


def test_plain_text_mail_is_not_html_escaped(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing(legal_name="Smith & O'Brien Ltd")
        invoice = issue(CustomerFactory(name="Zoë <Finance>"))

        notifications.invoice_issued_notify(invoice=invoice)

    assert "Hello Zoë <Finance>," in mailoutbox[0].body
    assert mailoutbox[0].subject.endswith("from Smith & O'Brien Ltd")


def test_credit_note_is_mailed_with_the_credit_note_wording(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        note = services.credit_note_create(invoice=invoice, reason="Outage")

        notifications.invoice_issued_notify(invoice=note)

    [message] = mailoutbox
    assert message.subject == f"Credit note {note.number} from Acme Hosting SARL"
    assert f"which credits invoice {invoice.number}" in message.body
    assert message.attachments[0][0] == f"{note.number}.pdf"


def test_instance_wording_replaces_the_default(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        EmailTemplate.objects.create(
            key=EmailTemplate.Key.INVOICE_ISSUED,
            subject="Votre facture {{ invoice.number }}",
            body="Bonjour {{ customer.name }}, montant : {{ invoice.total }}.",
        )
        invoice = issue(CustomerFactory(name="Jeanne"))

        notifications.invoice_issued_notify(invoice=invoice)

    [message] = mailoutbox
    assert message.subject == f"Votre facture {invoice.number}"
    wording, signature = message.body.split("\n-- \n")
    assert wording == "Bonjour Jeanne, montant : €60.00.\n"
    assert "FR64443061841" in signature  # the issuer's identity closes every e-mail


@pytest.mark.parametrize(
    "subject, body",
    [
        ("Facture {{ invoice.number }}", "{% if %}broken"),
        ("Facture {% load nothing %}", "Bonjour"),
        ("Facture", '{% include "emails/invoice_issued.txt" %}'),
        ("{{ missing }}", "Bonjour"),  # renders an empty subject
    ],
)
def test_broken_instance_wording_falls_back_to_the_default_and_warns(
    instance_a, mailoutbox, caplog, subject, body
):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        EmailTemplate.objects.create(
            key=EmailTemplate.Key.INVOICE_ISSUED, subject=subject, body=body
        )
        invoice = issue(CustomerFactory())

        with caplog.at_level(logging.WARNING, logger="tenant_apps.billing.notifications"):
            assert notifications.invoice_issued_notify(invoice=invoice) is True

    assert mailoutbox[0].subject == f"Invoice {invoice.number} from Acme Hosting SARL"
    assert "E-mail template invoice_issued" in caplog.text


def test_draft_is_never_mailed(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        draft = services.invoice_create_draft(customer=CustomerFactory(), lines=LINES)

        with pytest.raises(services.InvalidInvoiceState):
            notifications.invoice_issued_notify(invoice=draft)

        assert Invoice.objects.get(pk=draft.pk).emailed_at is None
    assert mailoutbox == []


def test_issuing_stores_the_pdf_and_mails_it_once_after_commit(
    instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        customer = CustomerFactory()
        with django_capture_on_commit_callbacks(execute=True):
            invoice = issue(customer)

    with schema_context(instance_a.schema_name):
        invoice.refresh_from_db()
        assert invoice.pdf.name == f"r_acme/invoices/invoice/{invoice.number}.pdf"
        assert invoice.emailed_at is not None
    [message] = mailoutbox
    assert message.to == [customer.email]
    assert message.attachments[0][0] == f"{invoice.number}.pdf"


def test_payment_receipt_confirms_the_amount_and_what_is_left(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        payment = services.payment_record(
            customer=invoice.customer,
            invoice=invoice,
            amount="20.00",
            method="bank_transfer",
            reference="VIR-778",
            received_on=datetime.date(2026, 3, 10),
        )

        notifications.payment_receipt_notify(payment=payment)

    [message] = mailoutbox
    assert message.subject == f"Payment received: €20.00 for invoice {invoice.number}"
    assert "€20.00 (bank transfer, reference VIR-778) on 10 March 2026" in message.body
    assert f"Invoice {invoice.number}: €40.00 still due." in message.body


def test_overpayment_receipt_mentions_the_new_credit(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        payment = services.payment_record(
            customer=invoice.customer, invoice=invoice, amount="70.00", method="card"
        )

        notifications.payment_receipt_notify(payment=payment)

    body = mailoutbox[0].body
    assert f"Invoice {invoice.number}: paid in full." in body
    assert "€10.00 was added to your account credit, which is now €10.00." in body


def test_reminder_states_its_level_and_the_amount_due(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())

        assert notifications.invoice_reminder_notify(invoice=invoice, level=2) is True

    [message] = mailoutbox
    assert message.subject == f"Reminder 2: invoice {invoice.number} is overdue"
    assert "despite our earlier reminder." in message.body
    assert "Amount due: €60.00" in message.body
    assert message.attachments[0][0] == f"{invoice.number}.pdf"


def test_no_reminder_is_sent_for_an_invoice_paid_in_the_meantime(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        services.payment_record(
            customer=invoice.customer, invoice=invoice, amount="60.00", method="card"
        )

        # `invoice` is the copy the dunning run loaded before the payment arrived.
        assert notifications.invoice_reminder_notify(invoice=invoice, level=1) is False
    assert mailoutbox == []


def test_reminder_shows_what_is_still_due_after_a_partial_payment(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        services.payment_record(
            customer=invoice.customer, invoice=invoice, amount="25.00", method="card"
        )

        notifications.invoice_reminder_notify(invoice=invoice, level=1)

    assert "Amount due: €35.00" in mailoutbox[0].body


def test_reminder_is_refused_for_a_credit_note(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        note = services.credit_note_create(invoice=issue(CustomerFactory()), reason="Outage")

        with pytest.raises(services.InvalidInvoiceState):
            notifications.invoice_reminder_notify(invoice=note, level=1)
    assert mailoutbox == []


def test_suspension_mail_names_the_service_and_the_reason(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        product = Product.objects.create(
            code="vps-l", name="VPS L", tax_class=TaxClass.objects.get(code="standard")
        )
        service = Service.objects.create(
            customer=CustomerFactory(),
            product=product,
            label="web01",
            status=Service.Status.SUSPENDED,
            cycle=BillingCycle.MONTHLY,
            currency="EUR",
            recurring_amount=Decimal("50.00"),
            suspended_for_nonpayment=True,
            status_reason="Invoice 2026-000001 is 21 days overdue",
        )

        service_notifications.service_suspended_notify(service=service)

    [message] = mailoutbox
    assert message.subject == "Your service VPS L web01 is suspended"
    assert "suspended because an invoice is overdue." in message.body
    assert "Reason: Invoice 2026-000001 is 21 days overdue" in message.body
    assert "\n/portal/billing/\n" in message.body
