"""Billing writes land in the instance's one audit trail: who did what to which document."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.models import TaxRate
from tenant_apps.catalog.models import TaxClass
from tenant_apps.instance.audit import ApiActor
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.selectors import audit_event_list, audit_events_for
from tests.billing_fixtures import make_customer, setup_issuer

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


@pytest.fixture
def owner(acme):
    return get_user_model().objects.get(email=acme.owner)


def _draft(customer, **extra):
    return services.invoice_create_draft(
        customer=customer,
        lines=[{"description": "Hosting", "quantity": "1", "unit_price": "100.00"}],
        **extra,
    )


def _history(invoice) -> list[tuple[str, str]]:
    return [(e.action, e.actor_label) for e in reversed(audit_events_for(invoice))]


def test_issued_voided_and_paid_invoices_list_those_events_with_the_staff_email(acme, owner):
    customer = make_customer()
    voided = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY, actor=owner)
    services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
    services.invoice_void(invoice=voided, reason="Ordered twice", actor=owner)
    paid = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY, actor=owner)
    services.payment_record(
        customer=customer, invoice=paid, amount="120", method="bank_transfer", actor=owner
    )

    assert _history(voided) == [
        ("invoice.draft_created", "system"),
        ("invoice.issued", acme.owner),
        ("invoice.voided", acme.owner),
    ]
    assert _history(paid)[-2:] == [
        ("invoice.issued", acme.owner),
        ("invoice.payment_recorded", acme.owner),
    ]
    issued, void = audit_events_for(voided)[1], audit_events_for(voided)[0]
    assert issued.actor == owner and issued.changes["status"] == ["draft", "issued"]
    assert void.changes == {"status": ["issued", "void"]}
    payment = audit_events_for(paid)[0]
    assert payment.changes["status"] == ["issued", "paid"]
    assert payment.changes["amount_paid"] == ["0.00", "120.00"]
    assert payment.customer_id == customer.pk


def test_an_api_call_is_labelled_as_the_key_and_linked_to_its_user(acme, owner):
    invoice = services.invoice_issue(invoice=_draft(make_customer()), actor=ApiActor(owner))
    event = audit_events_for(invoice)[0]
    assert event.actor == owner and event.actor_label == f"{acme.owner} (API)"


def test_callers_that_name_no_actor_are_recorded_as_the_system_or_their_label(acme):
    invoice = services.invoice_issue(invoice=_draft(make_customer()))
    services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
    services.invoice_void(invoice=invoice, actor="billing")
    [voided, issued] = audit_events_for(invoice)[:2]
    assert issued.actor_label == "system" and issued.actor is None
    assert voided.actor_label == "billing" and voided.actor is None


def test_the_creator_of_a_draft_is_its_actor_when_no_actor_is_named(acme, owner):
    draft = _draft(make_customer(), created_by=owner)
    assert audit_events_for(draft)[0].actor == owner


def test_a_refused_write_leaves_no_event(acme, owner):
    customer = make_customer()
    invoice = services.invoice_issue(invoice=_draft(customer))
    services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
    services.invoice_void(invoice=invoice)
    before = AuditEvent.objects.count()
    with pytest.raises(services.InvalidInvoiceState):
        services.payment_record(
            customer=customer, invoice=invoice, amount="10", method="cash", actor=owner
        )
    assert AuditEvent.objects.count() == before


def test_changing_billing_settings_records_the_old_and_new_values(acme, owner):
    services.billing_settings_update(payment_terms_days=30, late_fee_amount="5", actor=owner)
    services.billing_settings_update(
        payment_terms_days=45, reminder_days=[5], late_fee_amount=Decimal("5"), actor=owner
    )
    event = audit_event_list(action="billingsettings.changed").first()
    assert event.actor == owner
    assert event.changes == {"payment_terms_days": [30, 45], "reminder_days": [[], [5]]}


def test_setting_and_deleting_a_tax_rate_are_recorded(acme, owner):
    standard = TaxClass.objects.get(code="standard")
    rate = services.tax_rate_set(country="ES", tax_class=standard, rate="21", actor=owner)
    services.tax_rate_set(country="ES", tax_class=standard, rate="10", tax_rate=rate, actor=owner)
    services.tax_rate_delete(tax_rate=TaxRate.objects.get(pk=rate.pk), actor=owner)
    events = list(audit_event_list(object_type="taxrate", object_id=str(rate.pk)))
    assert [e.action for e in events] == ["taxrate.deleted", "taxrate.set", "taxrate.set"]
    assert events[1].changes == {"rate": ["21.000", "10.000"]}
    assert events[2].changes["country"] == [None, "ES"]
    assert events[0].detail["country"] == "ES"


def test_draft_edits_are_recorded_with_the_total_before_and_after(acme, owner):
    draft = _draft(make_customer())
    services.invoice_line_add(
        invoice=draft, line={"description": "Setup", "unit_price": "50"}, actor=owner
    )
    line = draft.lines.get(description="Setup")
    services.invoice_line_remove(invoice=draft, line_id=line.pk, actor=owner)
    draft_id = draft.pk
    services.invoice_draft_delete(invoice=draft, actor=owner)
    events = list(audit_event_list(object_type="invoice", object_id=str(draft_id)))
    assert [e.action for e in events] == [
        "invoice.draft_deleted",
        "invoice.line_removed",
        "invoice.line_added",
        "invoice.draft_created",
    ]
    assert events[2].changes == {"total": ["120.00", "180.00"]}
    assert events[2].detail["description"] == "Setup"
    assert events[1].changes == {"total": ["180.00", "120.00"]}


def test_a_credit_note_is_recorded_on_the_invoice_and_as_issued_on_the_note(acme, owner):
    customer = make_customer()
    invoice = services.invoice_issue(invoice=_draft(customer))
    services.payment_record(customer=customer, invoice=invoice, amount="120", method="cash")
    note = services.credit_note_create(invoice=invoice, reason="Unused month", actor=owner)

    credited = audit_events_for(invoice)[0]
    assert credited.action == "invoice.credited" and credited.actor == owner
    assert credited.detail["credit_note"] == note.number and credited.detail["total"] == "120.00"
    assert credited.changes["credit_balance"] == ["0.00", "120.00"]
    issued = audit_events_for(note)[0]
    assert issued.action == "invoice.issued" and issued.detail["credits"] == invoice.number


def test_adjusting_account_credit_records_the_balance_before_and_after(acme, owner):
    customer = make_customer()
    services.customer_credit_adjust(customer=customer, amount="25", note="Goodwill", actor=owner)
    event = audit_event_list(action="customer.credit_adjusted").get()
    assert event.object_type == "customer" and event.object_id == str(customer.pk)
    assert event.changes == {"credit_balance": ["0.00", "25.00"]}
    assert event.detail["note"] == "Goodwill"


def test_a_payment_without_an_invoice_is_recorded_on_the_customer(acme, owner):
    customer = make_customer()
    services.payment_record(customer=customer, amount="40", method="cash", created_by=owner)
    event = audit_event_list(customer_id=customer.pk).get()
    assert event.action == "customer.payment_recorded" and event.actor == owner
    assert event.changes == {"credit_balance": ["0.00", "40.00"]}


def test_bulk_issue_writes_every_invoices_event_in_one_insert(acme):
    customers = [make_customer(f"Client {i} Person") for i in range(5)]
    specs = [
        services.InvoiceSpec(
            customer=customer,
            currency="EUR",
            lines=[services.LineSpec(description="Renewal", unit_price=Decimal("10"))],
        )
        for customer in customers
    ]
    with CaptureQueriesContext(connection) as queries:
        invoices = services.invoices_issue_bulk(
            specs=specs, run_id=None, on_date=TODAY, actor="schedule"
        )
    audit_inserts = [q for q in queries if 'INSERT INTO "instance_auditevent"' in q["sql"]]
    assert len(audit_inserts) == 1
    for invoice in invoices:
        [event] = audit_events_for(invoice)
        assert event.action == "invoice.issued" and event.actor_label == "schedule"
        assert event.customer_id == invoice.customer_id


def test_old_billing_events_are_copied_into_the_audit_trail_by_the_data_migration(acme, owner):
    """The table is gone after the next migration: rebuild it as it was, in this test's
    transaction (rolled back), and run the copy against the historical models."""
    from importlib import import_module

    from django.db.migrations.executor import MigrationExecutor

    migration = import_module(
        "tenant_apps.billing.migrations.0012_copy_billing_events_to_audit_trail"
    )
    old_apps = (
        MigrationExecutor(connection)
        .loader.project_state(("billing", "0012_copy_billing_events_to_audit_trail"))
        .apps
    )
    BillingEvent = old_apps.get_model("billing", "BillingEvent")
    with connection.schema_editor() as editor:
        editor.create_model(BillingEvent)

    customer = make_customer()
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    AuditEvent.objects.all().delete()
    issued = BillingEvent.objects.create(
        action="issued",
        actor=acme.owner,
        invoice_id=invoice.pk,
        customer_id=customer.pk,
        detail={"number": invoice.number, "total": "120.00"},
    )
    BillingEvent.objects.create(
        action="payment_recorded",
        actor="",
        customer_id=customer.pk,
        detail={"amount": "40.00", "method": "cash"},
    )
    BillingEvent.objects.create(
        action="credit_adjusted",
        actor="someone@gone.test",
        customer_id=customer.pk,
        detail={"amount": "5.00"},
    )
    BillingEvent.objects.create(action="settings_changed", actor="billing", detail={"fields": "x"})

    migration.copy_events(old_apps, None)

    copied = AuditEvent.objects.get(action="invoice.issued")
    assert copied.object_type == "invoice" and copied.object_id == str(invoice.pk)
    assert copied.object_label == invoice.number and copied.customer_id == customer.pk
    assert copied.actor_id == owner.pk and copied.actor_label == acme.owner
    assert copied.created_at == issued.created_at
    assert copied.detail == {"number": invoice.number, "total": "120.00"}
    assert [e.action for e in audit_events_for(invoice)] == ["invoice.issued"]
    payment = AuditEvent.objects.get(action="customer.payment_recorded")
    assert payment.object_id == str(customer.pk) and payment.actor_label == "system"
    adjusted = AuditEvent.objects.get(action="customer.credit_adjusted")
    assert adjusted.actor is None and adjusted.actor_label == "someone@gone.test"
    changed = AuditEvent.objects.get(action="billingsettings.changed")
    assert changed.object_type == "billingsettings" and changed.actor_label == "billing"
