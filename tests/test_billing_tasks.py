"""Billing background work: documents are finalised even after a broker outage; receipts."""

import datetime

from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.tasks import documents_sweep
from tests.billing_fixtures import make_customer, setup_issuer


def test_sweep_finalises_documents_whose_task_never_ran(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = make_customer()
        draft = services.invoice_create_draft(
            customer=customer, lines=[{"description": "Plan", "unit_price": "10"}]
        )
        # Issued without running on-commit work: as if the broker had been down.
        invoice = services.invoice_issue(invoice=draft)
        Invoice.objects.filter(pk=invoice.pk).update(
            issued_at=timezone.now() - datetime.timedelta(hours=1)
        )
    assert documents_sweep.apply(kwargs={"schema_name": instance_a.schema_name}).get() == 1
    with schema_context(instance_a.schema_name):
        invoice.refresh_from_db()
        assert invoice.pdf.name.startswith("r_acme/invoices/") and invoice.emailed_at
    assert mailoutbox[0].to == [customer.email]
    assert f"http://{instance_a.host}/portal/billing/invoices/{invoice.pk}/" in mailoutbox[0].body
    # A second sweep has nothing left to do.
    assert documents_sweep.apply(kwargs={"schema_name": instance_a.schema_name}).get() == 0


def test_payment_sends_a_receipt_after_commit(
    instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = make_customer()
        draft = services.invoice_create_draft(
            customer=customer, lines=[{"description": "Plan", "unit_price": "10"}]
        )
        invoice = services.invoice_issue(invoice=draft)
        with django_capture_on_commit_callbacks(execute=True):
            services.payment_record(
                customer=customer, invoice=invoice, amount="12.00", method="cash"
            )
    receipts = [m for m in mailoutbox if "12.00" in m.body or "12,00" in m.body]
    assert receipts and receipts[0].to == [customer.email]
