"""Refunds, reversals, one payment across several invoices, automatic credit, and credit
kept per currency (issue 9: "Refunds and reversals", defect 13)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django_tenants.utils import schema_context

from tenant_apps.billing import services, settlement
from tenant_apps.billing.models import (
    CreditEntry,
    InvalidInvoiceState,
    Invoice,
    Payment,
    PaymentAllocation,
    Refund,
    TaxRate,
)
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.clients.services import customer_update
from tenant_apps.instance.models import AuditEvent
from tenant_apps.orders import services as orders
from tenant_apps.orders.models import Service
from tests.billing_fixtures import make_customer, make_product, setup_issuer
from tests.conftest import client_for

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


def _issued(customer, *prices, due_days: int = 0, issue_date=TODAY, lines=None):
    draft = services.invoice_create_draft(
        customer=customer,
        lines=lines
        or [{"description": f"Item {i}", "unit_price": p} for i, p in enumerate(prices)],
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=issue_date)
    if due_days:
        Invoice.objects.filter(pk=invoice.pk).update(
            due_date=issue_date + datetime.timedelta(days=due_days)
        )
        invoice.refresh_from_db()
    return invoice


def _ledger(customer) -> Decimal:
    """invoiced − paid − credited + refunded, from the documents and payments alone."""
    invoiced = Invoice.objects.filter(
        customer=customer,
        kind="invoice",
        status__in=["issued", "partially_paid", "paid", "credited"],
    ).aggregate(t=Sum("total"))["t"] or Decimal(0)
    credited = Invoice.objects.filter(customer=customer, kind="credit_note").aggregate(
        t=Sum("total")
    )["t"] or Decimal(0)
    paid = Payment.objects.filter(customer=customer, reversed_at__isnull=True).aggregate(
        t=Sum("amount")
    )["t"] or Decimal(0)
    refunded = Refund.objects.filter(customer=customer).aggregate(t=Sum("amount"))["t"] or Decimal(
        0
    )
    return invoiced - paid - credited + refunded


def _due_plus_credit(customer) -> Decimal:
    customer.refresh_from_db()
    due = sum((i.amount_due for i in Invoice.objects.filter(customer=customer)), Decimal(0))
    return due - customer.credit_balance


def test_a_full_refund_issues_the_credit_note_and_leaves_the_invoice_credited(acme):
    customer = make_customer("Refund Full")
    invoice = _issued(customer, "100")  # 120.00 with 20 % VAT
    payment = services.payment_record(
        customer=customer, invoice=invoice, amount="120", method="bank_transfer"
    )
    refund = settlement.payment_refund(payment=payment, amount="120", reason="Cancelled")
    invoice.refresh_from_db()
    payment.refresh_from_db()
    [note] = refund.credit_notes.all()
    assert note.kind == Invoice.Kind.CREDIT_NOTE and note.total == Decimal("120.00")
    assert note.credited_invoice_id == invoice.pk and note.number.startswith("CN")
    assert invoice.status == Invoice.Status.CREDITED
    assert invoice.amount_paid == 0 and invoice.amount_credited == Decimal("120.00")
    assert payment.refunded_amount == Decimal("120.00") and payment.refundable == 0
    customer.refresh_from_db()
    assert customer.credit_balance == 0
    assert _ledger(customer) == _due_plus_credit(customer) == 0
    event = AuditEvent.objects.get(action="payment.refunded")
    assert event.detail["credit_notes"] == [note.number]


def test_a_partial_refund_credits_exactly_the_amount_across_vat_rates(acme):
    reduced, _ = TaxClass.objects.get_or_create(code="reduced", defaults={"name": "Reduced"})
    TaxRate.objects.update_or_create(
        country="FR", tax_class=reduced, defaults={"rate": Decimal("5.5")}
    )
    customer = make_customer("Refund Partial")
    invoice = _issued(
        customer,
        lines=[
            {"description": "Hosting", "unit_price": "100"},
            {"description": "Guide", "unit_price": "20", "tax_class_code": "reduced"},
        ],
    )
    assert invoice.total == Decimal("141.10")
    payment = services.payment_record(
        customer=customer, invoice=invoice, amount=invoice.total, method="card"
    )
    refund = settlement.payment_refund(payment=payment, amount="33.33", reason="Goodwill")
    [note] = refund.credit_notes.all()
    assert note.total == Decimal("33.33")
    assert note.subtotal + note.tax_total == note.total
    # Each credited line keeps its own rate.
    assert {line.tax_rate for line in note.lines.all()} == {Decimal("20.000"), Decimal("5.500")}
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.amount_paid == Decimal("107.77")
    assert invoice.amount_due == 0
    assert _ledger(customer) == _due_plus_credit(customer) == 0
    # The rest can still be refunded, and no more.
    with pytest.raises(ValidationError) as exc:
        settlement.payment_refund(payment=payment, amount="107.78", reason="Too much")
    assert "at most 107.77" in str(exc.value)
    settlement.payment_refund(payment=payment, amount="107.77", reason="All of it")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CREDITED
    assert invoice.credit_notes.aggregate(t=Sum("total"))["t"] == invoice.total


def test_refunding_an_overpayment_takes_it_from_credit_without_a_credit_note(acme):
    customer = make_customer("Refund Over")
    invoice = _issued(customer, "10")
    payment = services.payment_record(
        customer=customer, invoice=invoice, amount="50", method="bank_transfer"
    )
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("38.00")
    refund = settlement.payment_refund(payment=payment, amount="30", reason="Paid twice")
    assert refund.from_credit == Decimal("30.00") and not refund.credit_notes.exists()
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("8.00")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    # 8 of credit left, then 12 of the invoice: 20 refunded with a 12.00 credit note.
    second = settlement.payment_refund(payment=payment, amount="20", reason="Cancelled too")
    assert second.from_credit == Decimal("8.00")
    assert second.credit_notes.get().total == Decimal("12.00")
    assert _ledger(customer) == _due_plus_credit(customer) == 0


@pytest.mark.parametrize("amount", ["0", "-5", "120.01", "abc"])
def test_a_refund_of_nothing_or_more_than_paid_is_refused_and_writes_nothing(acme, amount):
    customer = make_customer("Refund Bad")
    invoice = _issued(customer, "100")
    payment = services.payment_record(
        customer=customer, invoice=invoice, amount="120", method="cash"
    )
    documents = Invoice.objects.count()
    with pytest.raises(ValidationError):
        settlement.payment_refund(payment=payment, amount=amount, reason="x")
    assert Invoice.objects.count() == documents and not Refund.objects.exists()
    payment.refresh_from_db()
    assert payment.refunded_amount == 0


def test_a_refund_needs_a_reason(acme):
    customer = make_customer("Refund Reason")
    payment = services.payment_record(customer=customer, amount="10", method="cash")
    with pytest.raises(ValidationError) as exc:
        settlement.payment_refund(payment=payment, amount="5", reason=" ")
    assert "reason" in exc.value.message_dict


def test_credit_spent_elsewhere_is_not_refunded_twice(acme):
    customer = make_customer("Refund Spent")
    payment = services.payment_record(customer=customer, amount="24", method="cash")
    other = _issued(customer, "20")
    services.invoice_apply_credit(invoice=other)
    with pytest.raises(ValidationError) as exc:
        settlement.payment_refund(payment=payment, amount="24", reason="Changed mind")
    assert "already spent" in str(exc.value)
    assert not Refund.objects.exists()


def test_reversing_a_payment_recorded_by_mistake_reopens_the_invoice(acme):
    customer = make_customer("Reverse Me")
    invoice = _issued(customer, "100", due_days=14)
    payment = services.payment_record(
        customer=customer, invoice=invoice, amount="150", method="cash"
    )
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("30.00")
    settlement.payment_reverse(payment=payment, reason="Wrong customer's bank line")
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED and invoice.amount_due == Decimal("120.00")
    assert invoice.paid_at is None
    assert customer.credit_balance == 0
    assert _ledger(customer) == _due_plus_credit(customer) == Decimal("120.00")
    assert AuditEvent.objects.filter(action="invoice.payment_reversed", object_id=str(invoice.pk))
    with pytest.raises(InvalidInvoiceState):
        settlement.payment_reverse(payment=payment, reason="again")
    with pytest.raises(InvalidInvoiceState):
        settlement.payment_refund(payment=payment, amount="1", reason="after reversal")


def test_a_refunded_payment_cannot_be_reversed(acme):
    customer = make_customer("Reverse Refunded")
    invoice = _issued(customer, "100")
    payment = services.payment_record(
        customer=customer, invoice=invoice, amount="120", method="cash"
    )
    settlement.payment_refund(payment=payment, amount="10", reason="Goodwill")
    with pytest.raises(InvalidInvoiceState) as exc:
        settlement.payment_reverse(payment=payment, reason="mistake")
    assert "refunded" in str(exc.value)


def test_one_payment_settles_several_invoices_as_allocated(acme):
    customer = make_customer("Allocate Many")
    first, second = _issued(customer, "10"), _issued(customer, "20")
    payment = services.payment_record(
        customer=customer,
        amount="40",
        method="bank_transfer",
        allocations=[(first, "12"), (second, "20")],
    )
    first.refresh_from_db()
    second.refresh_from_db()
    customer.refresh_from_db()
    assert first.status == Invoice.Status.PAID
    assert second.status == Invoice.Status.PARTIALLY_PAID and second.amount_due == Decimal("4.00")
    assert customer.credit_balance == Decimal("8.00")
    assert payment.applied_amount == Decimal("32.00") and payment.invoice is None
    assert sorted(payment.allocations.values_list("amount", flat=True)) == [
        Decimal("12.00"),
        Decimal("20.00"),
    ]
    # A refund of all of it pays back the credit first, then each invoice with its note.
    settlement.payment_refund(payment=payment, amount="40", reason="Closed the account")
    assert _ledger(customer) == _due_plus_credit(customer)


def test_a_payment_can_settle_open_invoices_oldest_first(acme):
    customer = make_customer("Oldest First")
    late = _issued(customer, "10", due_days=30)
    early = _issued(customer, "10", due_days=5)
    services.payment_record(customer=customer, amount="18", method="cash", oldest_first=True)
    early.refresh_from_db()
    late.refresh_from_db()
    assert early.status == Invoice.Status.PAID
    assert late.status == Invoice.Status.PARTIALLY_PAID and late.amount_due == Decimal("6.00")


@pytest.mark.parametrize(
    ("allocation", "message"),
    [
        ("13", "at most 12.00"),
        ("0", "more than 0"),
    ],
)
def test_an_allocation_beyond_what_is_owed_is_refused(acme, allocation, message):
    customer = make_customer("Allocate Bad")
    invoice = _issued(customer, "10")
    with pytest.raises(ValidationError) as exc:
        services.payment_record(
            customer=customer, amount="20", method="cash", allocations=[(invoice, allocation)]
        )
    assert message in str(exc.value)
    assert not Payment.objects.filter(customer=customer).exists()


def test_allocations_cannot_exceed_the_payment_or_reach_another_customer(acme):
    customer, other = make_customer("Allocate Sum"), make_customer("Someone Else")
    one, two = _issued(customer, "10"), _issued(customer, "10")
    with pytest.raises(ValidationError) as exc:
        services.payment_record(
            customer=customer, amount="20", method="cash", allocations=[(one, "12"), (two, "12")]
        )
    assert "more than the 20.00 paid" in str(exc.value)
    foreign = _issued(other, "10")
    with pytest.raises(ValidationError) as exc:
        services.payment_record(
            customer=customer, amount="12", method="cash", allocations=[(foreign, "12")]
        )
    assert "another customer" in str(exc.value)
    assert not PaymentAllocation.objects.exists()


def test_one_payment_cannot_settle_invoices_in_two_currencies(acme):
    customer = make_customer("Two Currency Invoices")
    euros = _issued(customer, "10")
    draft = services.invoice_create_draft(
        customer=customer, currency="USD", lines=[{"description": "VPS", "unit_price": "10"}]
    )
    dollars = services.invoice_issue(invoice=draft, issue_date=TODAY)
    with pytest.raises(ValidationError) as exc:
        services.payment_record(
            customer=customer,
            amount="24",
            method="cash",
            allocations=[(euros, "12"), (dollars, "12")],
        )
    assert "one currency" in str(exc.value)
    assert not Payment.objects.filter(customer=customer).exists()


def test_credit_is_applied_oldest_first_when_the_instance_asks_for_it(
    acme, django_capture_on_commit_callbacks
):
    services.billing_settings_update(apply_credit_automatically=True)
    customer = make_customer("Auto Credit")
    late = _issued(customer, "10", due_days=30)
    early = _issued(customer, "10", due_days=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(customer=customer, amount="18", method="cash")
    early.refresh_from_db()
    late.refresh_from_db()
    customer.refresh_from_db()
    assert early.status == Invoice.Status.PAID
    assert late.amount_due == Decimal("6.00") and customer.credit_balance == 0
    # Credit left over meets the next invoice as soon as it is issued.
    services.customer_credit_adjust(customer=customer, amount="30", note="Goodwill")
    with django_capture_on_commit_callbacks(execute=True):
        fresh = _issued(customer, "5")
    fresh.refresh_from_db()
    late.refresh_from_db()
    customer.refresh_from_db()
    # The older invoice's 6.00 first, then the fresh one's 6.00.
    assert late.status == fresh.status == Invoice.Status.PAID
    assert customer.credit_balance == Decimal("18.00")


def test_credit_stays_on_account_when_the_instance_does_not_ask(
    acme, django_capture_on_commit_callbacks
):
    customer = make_customer("Manual Credit")
    invoice = _issued(customer, "10")
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(customer=customer, amount="50", method="cash")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED


def test_credit_from_a_former_currency_is_kept_apart(acme):
    customer = make_customer("Two Currencies")
    euro_invoice = _issued(customer, "10")
    services.payment_record(customer=customer, invoice=euro_invoice, amount="12", method="cash")
    customer_update(customer=Customer.objects.get(pk=customer.pk), currency="USD")
    customer.refresh_from_db()
    assert customer.currency == "USD"
    services.credit_note_create(invoice=euro_invoice, reason="Refund as credit")
    customer.refresh_from_db()
    # 12 EUR of credit, not 12 USD.
    assert customer.credit_balance == 0
    assert services.credit_available(customer, "EUR") == Decimal("12.00")
    assert CreditEntry.objects.filter(customer=customer).get().currency == "EUR"
    dollar_invoice = _issued(customer, "10")
    assert dollar_invoice.currency == "USD"
    with pytest.raises(Exception) as exc:
        services.invoice_apply_credit(invoice=dollar_invoice)
    assert "no credit in USD" in str(exc.value)
    # And the currency cannot switch back (or anywhere) while that credit is open.
    services.credit_note_create(invoice=dollar_invoice, reason="Not wanted")
    with pytest.raises(ValidationError) as exc:
        customer_update(customer=customer, currency="GBP")
    assert "12.00 EUR" in str(exc.value)


# --------------------------------------------------------------------------------------
# Screens and API


def _paid_invoice_payment(info, name="Screen Payer", amount="120"):
    with schema_context(info.schema_name):
        setup_issuer("FR")
        customer = make_customer(name)
        invoice = _issued(customer, "100")
        payment = services.payment_record(
            customer=customer, invoice=invoice, amount=amount, method="bank_transfer"
        )
        return customer.pk, invoice.pk, payment.pk


def _json(client, path, data):
    return client.post(path, json.dumps(data), content_type="application/json")


def test_staff_refund_a_payment_from_its_page(instance_a):
    _, invoice_id, payment_id = _paid_invoice_payment(instance_a)
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/billing/payments/{payment_id}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Settled invoices" in body and "Record refund" in body and "Reverse payment" in body
    response = owner.post(
        f"/staff/billing/payments/{payment_id}/",
        {
            "action": "refund",
            "refund-amount": "20",
            "refund-reason": "Goodwill",
            "refund-method": "bank_transfer",
        },
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Refund of" in text and "credit note CN" in text
    with schema_context(instance_a.schema_name):
        assert Refund.objects.get().amount == Decimal("20.00")
        assert Invoice.objects.get(pk=invoice_id).amount_paid == Decimal("100.00")


def test_a_refund_above_what_was_paid_is_a_form_error_not_a_500(instance_a):
    _, _, payment_id = _paid_invoice_payment(instance_a)
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(
        f"/staff/billing/payments/{payment_id}/",
        {"action": "refund", "refund-amount": "500", "refund-reason": "x", "refund-method": "cash"},
    )
    assert response.status_code == 400
    assert "at most 120.00" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert not Refund.objects.exists()


def test_staff_reverse_a_payment_from_its_page(instance_a):
    _, invoice_id, payment_id = _paid_invoice_payment(instance_a)
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(
        f"/staff/billing/payments/{payment_id}/",
        {"action": "reverse", "reverse-reason": "Wrong bank line"},
        follow=True,
    )
    assert "Payment reversed" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=invoice_id).status == Invoice.Status.ISSUED


def test_support_staff_see_a_payment_but_cannot_refund_it(instance_a):
    _, _, payment_id = _paid_invoice_payment(instance_a)
    support = client_for(instance_a, instance_a.support)
    page = support.get(f"/staff/billing/payments/{payment_id}/")
    assert page.status_code == 200 and "Record refund" not in page.content.decode()
    response = support.post(
        f"/staff/billing/payments/{payment_id}/",
        {"action": "refund", "refund-amount": "1", "refund-reason": "x", "refund-method": "cash"},
    )
    assert response.status_code == 403
    api = _json(support, f"/api/payments/{payment_id}/refund/", {"amount": "1", "reason": "x"})
    assert api.status_code == 403
    with schema_context(instance_a.schema_name):
        assert not Refund.objects.exists()


def test_a_customer_reaches_no_payment_page_or_refund_route(instance_a):
    _, _, payment_id = _paid_invoice_payment(instance_a)
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get(f"/staff/billing/payments/{payment_id}/").status_code in (302, 403)
    api = _json(customer, f"/api/payments/{payment_id}/refund/", {"amount": "1", "reason": "x"})
    assert api.status_code == 403


def test_another_instance_cannot_see_refund_or_reverse_a_payment(instance_a, instance_b):
    _, _, payment_id = _paid_invoice_payment(instance_a, name="Only In Acme")
    with schema_context(instance_b.schema_name):
        assert not Payment.objects.filter(pk=payment_id).exists()
    other = client_for(instance_b, instance_b.owner)
    assert other.get(f"/staff/billing/payments/{payment_id}/").status_code == 404
    assert other.get(f"/api/payments/{payment_id}/").status_code == 404
    for verb, data in (("refund", {"amount": "1", "reason": "x"}), ("reverse", {"reason": "x"})):
        assert _json(other, f"/api/payments/{payment_id}/{verb}/", data).status_code == 404
    with schema_context(instance_a.schema_name):
        assert not Refund.objects.exists()
        assert Payment.objects.get(pk=payment_id).reversed_at is None


def test_the_api_refunds_reverses_and_allocates(instance_a):
    customer_id, invoice_id, payment_id = _paid_invoice_payment(instance_a)
    owner = client_for(instance_a, instance_a.owner)
    refund = _json(
        owner, f"/api/payments/{payment_id}/refund/", {"amount": "30", "reason": "Partial"}
    )
    assert refund.status_code == 201, refund.content
    assert refund.json()["amount"] == "30.00" and refund.json()["credit_notes"][0].startswith("CN")
    too_much = _json(
        owner, f"/api/payments/{payment_id}/refund/", {"amount": "91", "reason": "Too much"}
    )
    assert too_much.status_code == 400 and "at most 90.00" in too_much.content.decode()
    negative = _json(owner, f"/api/payments/{payment_id}/refund/", {"amount": "-1", "reason": "x"})
    assert negative.status_code == 400
    refused = _json(owner, f"/api/payments/{payment_id}/reverse/", {"reason": "mistake"})
    assert refused.status_code == 409
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.get(pk=customer_id)
        one, two = _issued(customer, "10"), _issued(customer, "5")
    created = _json(
        owner,
        "/api/payments/",
        {
            "customer": customer_id,
            "amount": "20",
            "method": "cash",
            "allocations": [
                {"invoice": one.pk, "amount": "12"},
                {"invoice": two.pk, "amount": "6"},
            ],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert [a["amount"] for a in body["allocations"]] == ["12.00", "6.00"]
    assert body["applied_amount"] == "18.00"
    listed = owner.get("/api/payments/", {"invoice": two.pk}).json()
    results = listed["results"] if isinstance(listed, dict) else listed
    assert [p["id"] for p in results] == [body["id"]]
    reversed_ = _json(owner, f"/api/payments/{body['id']}/reverse/", {"reason": "Test entry"})
    assert reversed_.status_code == 200 and reversed_.json()["reversed_at"]
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=one.pk).status == Invoice.Status.ISSUED


def test_a_service_page_shows_a_refund_credit_note_as_money_given_back(
    instance_a, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = make_customer("Service Refund")
        order = orders.order_place(
            customer=customer,
            items=[{"product": make_product("refund-plan"), "cycle": "monthly", "label": "r.test"}],
        )
        invoice = orders.order_accept(order=order, today=TODAY)
        with django_capture_on_commit_callbacks(execute=True):
            payment = services.payment_record(
                customer=customer, invoice=invoice, amount=invoice.total, method="cash"
            )
        settlement.payment_refund(payment=payment, amount="6.00", reason="Half a month")
        service_id = Service.objects.get(order_item__order=order).pk
    page = client_for(instance_a, instance_a.owner).get(f"/staff/orders/services/{service_id}/")
    text = page.content.decode()
    assert "€10.00" in text and "-€5.00" in text.replace("−", "-")
