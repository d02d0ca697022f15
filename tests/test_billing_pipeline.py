"""Invoice statuses move only along `Invoice.pipeline`, and every line is priced one way."""

import datetime
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.pipelines import InvalidTransition
from tests.billing_fixtures import make_customer, setup_issuer

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


def _issued(customer, unit_price="100.00"):
    draft = services.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": unit_price}]
    )
    return services.invoice_issue(invoice=draft, issue_date=TODAY)


def _unchanged(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    return (invoice.status, invoice.amount_paid, invoice.voided_at, AuditEvent.objects.count())


def test_voiding_a_paid_invoice_is_refused_with_a_sentence_and_changes_nothing(acme):
    customer = make_customer()
    invoice = _issued(customer)
    services.payment_record(customer=customer, invoice=invoice, amount="120", method="cash")
    services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
    before = _unchanged(invoice)
    with pytest.raises(InvalidTransition) as refused:
        services.invoice_void(invoice=invoice, reason="Mistake")
    assert str(refused.value) == (
        f"Invoice {invoice.number} has payments or credits: issue a credit note instead of "
        "voiding it."
    )
    assert _unchanged(invoice) == before and invoice.status == "paid"


def test_voiding_a_zero_invoice_is_refused_because_it_was_settled_when_issued(acme):
    invoice = _issued(make_customer(), unit_price="0")
    assert invoice.status == "paid" and invoice.paid_at is not None
    services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
    before = _unchanged(invoice)
    with pytest.raises(services.InvalidInvoiceState) as refused:
        services.invoice_void(invoice=invoice)
    assert str(refused.value) == f"Invoice {invoice.number} is paid; it cannot become void."
    assert _unchanged(invoice) == before


def test_paying_a_draft_is_refused_with_a_sentence_and_changes_nothing(acme):
    customer = make_customer()
    draft = services.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": "10"}]
    )
    before = _unchanged(draft)
    with pytest.raises(InvalidTransition, match="is a draft: issue it before recording payments"):
        services.payment_record(customer=customer, invoice=draft, amount="12", method="cash")
    assert _unchanged(draft) == before and not draft.payments.exists()


def test_the_invoice_pipeline_allows_only_these_moves():
    pipeline = Invoice.pipeline
    assert pipeline.targets("draft") == {"issued"}
    # "credited": covered by credit notes with nothing paid (issue 9: not a payment).
    assert pipeline.targets("issued") == {"partially_paid", "paid", "credited", "void"}
    # Back to issued / partially paid only when a payment is reversed or refunded.
    assert pipeline.targets("partially_paid") == {"paid", "credited", "issued"}
    assert pipeline.targets("paid") == {"partially_paid", "issued", "credited"}
    assert pipeline.targets("void") == set()
    assert pipeline.targets("credited") == set()
    with pytest.raises(services.InvalidInvoiceState, match="It is void; it cannot become paid."):
        pipeline.check("void", "paid")


def test_an_illegal_state_is_a_409_with_its_billing_code():
    error = services.InvalidInvoiceState("x")
    assert isinstance(error, InvalidTransition) and isinstance(error, services.BillingError)
    assert error.code == "invalid_invoice_state" and error.status_code == 409


def test_payments_move_an_invoice_through_partially_paid_to_paid(acme):
    customer = make_customer()
    invoice = _issued(customer)
    services.payment_record(customer=customer, invoice=invoice, amount="20", method="cash")
    invoice.refresh_from_db()
    assert invoice.status == "partially_paid" and invoice.paid_at is None
    services.payment_record(customer=customer, invoice=invoice, amount="100", method="cash")
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at is not None


def test_a_credit_note_on_a_paid_invoice_leaves_it_paid(acme):
    customer = make_customer()
    invoice = _issued(customer)
    services.payment_record(customer=customer, invoice=invoice, amount="120", method="cash")
    invoice.refresh_from_db()
    paid_at = invoice.paid_at
    note = services.credit_note_create(invoice=invoice, reason="Refund as credit")
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at == paid_at
    assert note.status == "issued"


PRICED = ("tax_rate", "net_amount", "tax_amount", "gross_amount")
AWKWARD_LINES = [
    {"description": "Plan", "quantity": "3", "unit_price": "33.33"},
    {"description": "Add-on", "quantity": "1.5", "unit_price": "0.07"},
    {"description": "Setup", "quantity": "7", "unit_price": "19.99"},
]


@pytest.mark.parametrize("prices_include_tax", [False, True])
def test_credit_notes_and_renewals_price_lines_by_the_same_rules_as_drafts(
    acme, prices_include_tax
):
    services.billing_settings_update(prices_include_tax=prices_include_tax)
    customer = make_customer()
    invoice = services.invoice_issue(
        invoice=services.invoice_create_draft(customer=customer, lines=AWKWARD_LINES),
        issue_date=TODAY,
    )
    note = services.credit_note_create(invoice=invoice, reason="Cancelled")
    [renewal] = services.invoices_issue_bulk(
        specs=[
            services.InvoiceSpec(
                customer=customer,
                currency="EUR",
                lines=[services.LineSpec.parse(line) for line in AWKWARD_LINES],
            )
        ],
        run_id=None,
        on_date=TODAY,
    )

    def amounts(document):
        lines = InvoiceLine.objects.filter(invoice=document).order_by("position")
        return [tuple(getattr(line, f) for f in PRICED) for line in lines]

    def totals(document):
        document.refresh_from_db()
        return (document.subtotal, document.tax_total, document.total)

    assert amounts(invoice) == amounts(note) == amounts(renewal)
    assert totals(invoice) == totals(note) == totals(renewal)
    assert invoice.tax_total > 0 and all(rate == Decimal("20") for rate, *_ in amounts(invoice))
