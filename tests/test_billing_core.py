"""Billing engine: taxes, totals, numbering, immutability, payments, credit, credit notes."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tenant_apps.billing import services
from tenant_apps.billing.models import CreditEntry, Invoice, InvoiceLine, NumberSequence, Payment
from tenant_apps.billing.taxes import line_amounts
from tenant_apps.instance import services as instance_services
from tests.billing_fixtures import make_customer, setup_issuer

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


def _issued(customer, *lines, on=TODAY):
    draft = services.invoice_create_draft(
        customer=customer,
        lines=lines or [{"description": "Hosting", "quantity": "1", "unit_price": "100.00"}],
    )
    return services.invoice_issue(invoice=draft, issue_date=on)


def test_domestic_consumer_pays_issuer_country_vat(acme):
    invoice = _issued(make_customer(country="FR"))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("120.00"),
    )
    assert invoice.tax_treatment == "standard"


def test_eu_consumer_pays_destination_rate(acme):
    invoice = _issued(make_customer(country="DE"))
    assert invoice.tax_total == Decimal("19.00")


def test_eu_business_with_valid_vat_id_is_reverse_charged_with_legal_mention(acme):
    customer = make_customer(
        "Beta GmbH",
        country="DE",
        kind="company",
        company_name="Beta GmbH",
        tax_id="DE136695976",
        tax_id_status="valid",
    )
    invoice = _issued(customer)
    assert invoice.tax_total == 0 and invoice.tax_treatment == "reverse_charge"
    assert "Reverse charge" in invoice.legal_notes and "DE136695976" in invoice.legal_notes


def test_eu_business_with_unverified_vat_id_pays_destination_vat(acme):
    customer = make_customer(
        "Gamma GmbH",
        country="DE",
        kind="company",
        company_name="Gamma GmbH",
        tax_id="DE136695976",
        tax_id_status="unverified",
    )
    assert _issued(customer).tax_total == Decimal("19.00")


def test_customer_outside_the_eu_is_outside_vat_scope(acme):
    invoice = _issued(make_customer("Uma Jones", country="US", currency="EUR"))
    assert invoice.tax_total == 0 and invoice.tax_treatment == "outside_scope"


def test_exempt_customer_pays_no_tax_and_the_reason_is_printed(acme):
    invoice = _issued(make_customer(tax_exempt=True, tax_exempt_reason="Charity, art. 261"))
    assert invoice.tax_total == 0 and "Charity, art. 261" in invoice.legal_notes


def test_tax_inclusive_prices_split_the_gross_amount(acme):
    services.billing_settings_update(prices_include_tax=True)
    invoice = _issued(make_customer(), {"description": "Plan", "unit_price": "12.00"})
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("10.00"),
        Decimal("2.00"),
        Decimal("12.00"),
    )


def test_numbers_are_consecutive_per_series_and_formatted(acme):
    customer = make_customer()
    numbers = [_issued(customer).number for _ in range(3)]
    assert numbers == ["2026-000001", "2026-000002", "2026-000003"]
    note = services.credit_note_create(
        invoice=Invoice.objects.get(number="2026-000001"), reason="Refund"
    )
    assert note.number == "CN2026-000001"


def test_issue_freezes_identities(acme):
    customer = make_customer()
    invoice = _issued(customer)
    instance_services.issuer_identity_set(legal_name="Renamed SARL", country="FR")
    customer.name = "Alice Renamed"
    customer.save()
    invoice.refresh_from_db()
    assert invoice.issuer_snapshot["legal_name"] == "Acme Hosting SARL"
    assert invoice.customer_snapshot["name"] == "Alice Martin"


def test_issued_invoice_cannot_be_edited(acme):
    invoice = _issued(make_customer())
    with pytest.raises(services.InvoiceNotEditable):
        services.invoice_line_add(invoice=invoice, line={"description": "More", "unit_price": "1"})
    assert invoice.lines.count() == 1


@pytest.mark.parametrize(
    "line, field",
    [
        ({"description": "Bad", "quantity": "-1", "unit_price": "10"}, "quantity"),
        ({"description": "Bad", "quantity": "0", "unit_price": "10"}, "quantity"),
        ({"description": "Bad", "quantity": "1", "unit_price": "-10"}, "unit_price"),
        ({"description": "Bad", "quantity": "abc", "unit_price": "10"}, "quantity"),
        ({"description": "", "quantity": "1", "unit_price": "10"}, "description"),
    ],
)
def test_bad_lines_are_refused_and_nothing_is_written(acme, line, field):
    customer = make_customer()
    with pytest.raises(ValidationError) as exc:
        services.invoice_create_draft(customer=customer, lines=[line])
    assert field in exc.value.message_dict
    assert not Invoice.objects.exists()


def test_unknown_currency_is_refused(acme):
    with pytest.raises(ValidationError, match="not a currency"):
        services.invoice_create_draft(
            customer=make_customer(),
            currency="XYZ",
            lines=[{"description": "x", "unit_price": "1"}],
        )
    assert not Invoice.objects.exists()


def test_issuing_without_identity_or_lines_is_refused(instance_b):
    with schema_context(instance_b.schema_name):
        customer = make_customer()
        empty = services.invoice_create_draft(customer=customer)
        with pytest.raises(services.BillingError, match="at least one line"):
            services.invoice_issue(invoice=empty)


def test_partial_payment_then_overpayment_becomes_credit(acme):
    customer = make_customer()
    invoice = _issued(customer)
    services.payment_record(customer=customer, invoice=invoice, amount="50", method="bank_transfer")
    invoice.refresh_from_db()
    assert invoice.status == "partially_paid" and invoice.amount_due == Decimal("70.00")
    services.payment_record(customer=customer, invoice=invoice, amount="100", method="cheque")
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_due == 0
    assert customer.credit_balance == Decimal("30.00")
    assert CreditEntry.objects.get(customer=customer).kind == "overpayment"


def test_credit_is_applied_to_the_next_invoice(acme):
    customer = make_customer()
    services.payment_record(customer=customer, amount="50", method="cash")
    invoice = _issued(customer)
    assert services.invoice_apply_credit(invoice=invoice) == Decimal("50.00")
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.amount_due == Decimal("70.00") and customer.credit_balance == 0


@pytest.mark.parametrize("state", ["void", "draft", "paid"])
def test_paying_an_unpayable_invoice_is_refused_and_nothing_written(acme, state):
    customer = make_customer()
    if state == "draft":
        invoice = services.invoice_create_draft(
            customer=customer, lines=[{"description": "x", "unit_price": "5"}]
        )
    else:
        invoice = _issued(customer)
        if state == "void":
            services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
            services.invoice_void(invoice=invoice)
        else:
            services.payment_record(customer=customer, invoice=invoice, amount="120", method="cash")
    before = Payment.objects.count()
    with pytest.raises(services.InvalidInvoiceState):
        services.payment_record(customer=customer, invoice=invoice, amount="10", method="cash")
    assert Payment.objects.count() == before


def test_negative_or_zero_payment_is_refused(acme):
    customer = make_customer()
    invoice = _issued(customer)
    for amount in ("0", "-5", "nope"):
        with pytest.raises(ValidationError):
            services.payment_record(
                customer=customer, invoice=invoice, amount=amount, method="cash"
            )
    assert not Payment.objects.exists()


def test_void_is_refused_once_something_was_paid(acme):
    customer = make_customer()
    invoice = _issued(customer)
    services.payment_record(customer=customer, invoice=invoice, amount="1", method="cash")
    with pytest.raises(services.InvalidInvoiceState, match="credit note"):
        services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
        services.invoice_void(invoice=invoice)


def test_credit_note_on_unpaid_invoice_credits_it_and_owes_nothing(acme):
    # Issue 9, defect 1: a credit note is not a payment — the invoice is "credited", not
    # "paid" (this test asserted "paid" before).
    customer = make_customer()
    invoice = _issued(customer)
    note = services.credit_note_create(invoice=invoice, reason="Cancelled order")
    invoice.refresh_from_db()
    assert (
        note.kind == "credit_note"
        and note.total == Decimal("120.00")
        and note.credited_invoice == invoice
    )
    assert invoice.amount_due == 0 and invoice.status == "credited"
    customer.refresh_from_db()
    assert customer.credit_balance == 0


def test_partial_credit_note_on_paid_invoice_gives_account_credit(acme):
    customer = make_customer()
    invoice = _issued(customer, {"description": "Hosting", "quantity": "2", "unit_price": "50"})
    services.payment_record(customer=customer, invoice=invoice, amount="120", method="cash")
    line = invoice.lines.get()
    note = services.credit_note_create(
        invoice=invoice, reason="One month unused", lines=[{"line_id": line.pk, "quantity": "1"}]
    )
    customer.refresh_from_db()
    assert note.total == Decimal("60.00") and customer.credit_balance == Decimal("60.00")
    with pytest.raises(ValidationError, match="left to credit"):
        services.credit_note_create(
            invoice=invoice, reason="Again", lines=[{"line_id": line.pk, "quantity": "2"}]
        )


def test_settings_refuse_a_number_format_without_number(acme):
    with pytest.raises(ValidationError) as exc:
        services.billing_settings_update(invoice_number_format="INV-{year}")
    assert "invoice_number_format" in exc.value.message_dict


@hsettings(max_examples=200, deadline=None)
@given(
    quantity=st.decimals(min_value="0.01", max_value="1000", places=2),
    unit_price=st.decimals(min_value="0", max_value="100000", places=2),
    rate=st.sampled_from([Decimal(r) for r in ("0", "5.5", "7", "19", "20", "21", "25.5")]),
    inclusive=st.booleans(),
)
def test_line_amounts_always_reconcile(quantity, unit_price, rate, inclusive):
    net, tax, gross = line_amounts(
        quantity=quantity,
        unit_price=unit_price,
        rate=rate,
        prices_include_tax=inclusive,
        currency="EUR",
    )
    assert net + tax == gross
    assert all(value == value.quantize(Decimal("0.01")) for value in (net, tax, gross))
    assert tax >= 0 and net >= 0
    reference = quantity * unit_price
    if inclusive:
        assert abs(gross - reference) <= Decimal("0.005")
    else:
        assert abs(net - reference) <= Decimal("0.005")


# The fixture only sets up the issuer once; each example cleans up what it creates.
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(
            st.decimals(min_value="0.01", max_value="99", places=2),
            st.decimals(min_value="0", max_value="9999", places=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_invoice_totals_are_the_sum_of_their_lines(acme, lines):
    with schema_context(acme.schema_name):
        customer = make_customer()
        invoice = services.invoice_create_draft(
            customer=customer,
            lines=[
                {"description": f"L{i}", "quantity": q, "unit_price": p}
                for i, (q, p) in enumerate(lines)
            ],
        )
        stored = list(InvoiceLine.objects.filter(invoice=invoice))
        assert invoice.subtotal == sum(line.net_amount for line in stored)
        assert invoice.tax_total == sum(line.tax_amount for line in stored)
        assert (
            invoice.total
            == invoice.subtotal + invoice.tax_total
            == sum(line.gross_amount for line in stored)
        )
        Invoice.objects.filter(pk=invoice.pk).delete()
        customer.delete()


def test_twenty_concurrent_issuers_get_consecutive_numbers(django_db_blocker):
    """20 threads issue 20 drafts at once in one instance: 1..20, no gap, no duplicate."""
    numbers: list[str] = []
    errors: list[Exception] = []

    def issue(invoice_id):
        try:
            with schema_context("r_bluebird"):
                invoice = Invoice.objects.get(pk=invoice_id)
                numbers.append(services.invoice_issue(invoice=invoice, issue_date=TODAY).number)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    with django_db_blocker.unblock():
        with schema_context("r_bluebird"):
            setup_issuer("FR")
            customer = make_customer("Race Customer")
            drafts = [
                services.invoice_create_draft(
                    customer=customer, lines=[{"description": "x", "unit_price": "1"}]
                ).pk
                for _ in range(20)
            ]
        try:
            threads = [threading.Thread(target=issue, args=(pk,)) for pk in drafts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, errors
            assert sorted(numbers) == [f"2026-{n:06d}" for n in range(1, 21)]
        finally:
            with schema_context("r_bluebird"):
                Invoice.objects.filter(customer=customer).delete()
                customer.delete()
                NumberSequence.objects.all().delete()
            connection.set_schema_to_public()


def test_a_payment_that_rounds_to_zero_is_refused(acme):
    customer = make_customer()
    invoice = _issued(customer)
    with pytest.raises(ValidationError, match="more than 0"):
        services.payment_record(customer=customer, invoice=invoice, amount="0.004", method="cash")
    assert not Payment.objects.exists()


def test_unknown_tax_class_is_refused_not_taxed_at_zero(acme):
    with pytest.raises(ValidationError) as exc:
        services.invoice_create_draft(
            customer=make_customer(),
            lines=[{"description": "x", "unit_price": "10", "tax_class_code": "nope"}],
        )
    assert "tax_class_code" in exc.value.message_dict
    assert not Invoice.objects.exists()


def test_closed_customers_are_not_invoiced(acme):
    customer = make_customer(status="closed")
    with pytest.raises(services.BillingError, match="closed"):
        services.invoice_create_draft(
            customer=customer, lines=[{"description": "x", "unit_price": "1"}]
        )


def test_void_reason_is_kept_internal(acme):
    invoice = _issued(make_customer())
    services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
    services.invoice_void(invoice=invoice, reason="Duplicate of 2026-000002")
    invoice.refresh_from_db()
    assert invoice.void_reason == "Duplicate of 2026-000002" and "Duplicate" not in invoice.notes


def test_a_run_that_stops_half_way_is_marked_failed(instance_b):
    from django.core.exceptions import ValidationError

    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs
    from tenant_apps.recurring.models import BillingRun
    from tests.billing_fixtures import make_product

    with schema_context(instance_b.schema_name):
        product = make_product()
        Service.objects.create(
            # No VAT rate for Belgium: issuing fails half-way through the run.
            customer=make_customer(country="BE"),
            product=product,
            status="active",
            cycle="monthly",
            currency="EUR",
            recurring_amount=Decimal("10"),
            next_due_date=TODAY,
        )
        with pytest.raises(ValidationError, match="no VAT rate"):
            runs.renewals_run(today=TODAY)
        run = BillingRun.objects.get()
        assert run.status == "failed" and "no VAT rate" in run.log[-1]
