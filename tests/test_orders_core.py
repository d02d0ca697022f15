"""Order to cash: ordering, activation within quota, renewals, payment, dunning, changes."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Allocation
from shared_apps.tenancy.services import QuotaExceeded
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice
from tenant_apps.instance import clock
from tenant_apps.orders import services
from tenant_apps.orders.models import Order, Service
from tenant_apps.recurring import services as runs
from tenant_apps.recurring.models import BillingRun
from tenant_apps.referrals.models import Referer
from tests.billing_fixtures import dunning_settings, make_customer, make_product, setup_issuer

DAY0 = datetime.date(2026, 1, 10)


def _disk_used(slug="acme"):
    return Allocation.objects.get(reseller__slug=slug, resource_id="disk_gb").used


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        dunning_settings()
        yield instance_a


def _order(customer, product, accept=True, activate=True, today=DAY0, **extra):
    order = services.order_place(
        customer=customer, items=[{"product": product, "cycle": "monthly", **extra}]
    )
    invoice = services.order_accept(order=order, activate=activate, today=today) if accept else None
    order.refresh_from_db()
    return order, invoice


def _pay(invoice, capture):
    with capture(execute=True):
        billing.payment_record(
            customer=invoice.customer,
            invoice=invoice,
            amount=invoice.amount_due,
            method="bank_transfer",
        )


def test_staff_order_activates_service_invoices_setup_and_first_month_and_takes_quota(acme):
    customer = make_customer()
    product = make_product(amount="10.00", setup="5.00", resources={"disk_gb": 30})
    order, invoice = _order(customer, product)
    service = Service.objects.get(order_item__order=order)
    assert order.status == "accepted" and service.status == "active"
    assert service.next_due_date == datetime.date(2026, 2, 10)
    assert [line.kind for line in invoice.lines.all()] == ["setup", "service"]
    assert invoice.total == Decimal("18.00") and invoice.number
    assert _disk_used() == 30


def test_activation_beyond_the_allocation_is_refused_and_nothing_is_left(acme):
    customer = make_customer()
    product = make_product(resources={"disk_gb": 110})
    order = services.order_place(
        customer=customer, items=[{"product": product, "cycle": "monthly"}]
    )
    with pytest.raises(QuotaExceeded, match="Disk space: needs 110 GB, 100 left"):
        services.order_accept(order=order, today=DAY0)
    order.refresh_from_db()
    assert (
        order.status == "pending" and not Service.objects.exists() and not Invoice.objects.exists()
    )
    assert _disk_used() == 0


def test_order_records_its_referer_as_a_relation(acme):
    referer = Referer.objects.create(code="partner1", name="Partner One")
    order = services.order_place(
        customer=make_customer(),
        items=[{"product": make_product(), "cycle": "monthly"}],
        referer=referer,
        referer_source="link",
        source="portal",
    )
    assert Order.objects.get(pk=order.pk).referer == referer and order.referer_source == "link"
    referer.is_active = False
    referer.save()
    with pytest.raises(ValidationError, match="no longer active"):
        services.order_place(
            customer=make_customer("Bob Chen"),
            items=[{"product": make_product("b"), "cycle": "monthly"}],
            referer=referer,
            referer_source="code",
        )


@pytest.mark.parametrize(
    "item, field",
    [
        ({"cycle": "annual"}, "cycle"),
        ({"cycle": "weekly"}, "cycle"),
        ({"cycle": "monthly", "quantity": 0}, "quantity"),
        ({"cycle": "monthly", "quantity": "two"}, "quantity"),
    ],
)
def test_bad_order_input_is_refused_and_nothing_written(acme, item, field):
    with pytest.raises(ValidationError) as exc:
        services.order_place(customer=make_customer(), items=[{"product": make_product(), **item}])
    assert field in exc.value.message_dict
    assert not Order.objects.exists()


def test_portal_order_starts_the_service_when_the_first_invoice_is_paid(
    acme, django_capture_on_commit_callbacks
):
    customer = make_customer()
    order, invoice = _order(customer, make_product(resources={"disk_gb": 10}), activate=False)
    service = Service.objects.get(order_item__order=order)
    assert service.status == "pending" and _disk_used() == 0
    _pay(invoice, django_capture_on_commit_callbacks)
    service.refresh_from_db()
    assert service.status == "active"
    # Its period starts on the day of payment (today), not at checkout (DAY0).
    assert service.next_due_date == services.next_period_start(clock.today(), "monthly")
    assert _disk_used() == 10


def test_renewal_run_invoices_once_per_period_and_payment_moves_the_due_date(
    acme, django_capture_on_commit_callbacks
):
    customer = make_customer()
    order, first = _order(customer, make_product())
    _pay(first, django_capture_on_commit_callbacks)
    service = Service.objects.get(order_item__order=order)

    early = runs.renewals_run(
        today=datetime.date(2026, 1, 20)
    )  # 21 days before: outside the lead time
    assert early.invoices_created == 0
    run = runs.renewals_run(today=datetime.date(2026, 1, 28))
    assert run.invoices_created == 1
    again = runs.renewals_run(today=datetime.date(2026, 1, 28))
    assert again.invoices_created == 0
    renewal = Invoice.objects.get(billing_run=run)
    line = renewal.lines.get()
    assert (line.period_start, line.period_end) == (
        datetime.date(2026, 2, 10),
        datetime.date(2026, 3, 9),
    )
    assert renewal.due_date == datetime.date(2026, 2, 11)

    _pay(renewal, django_capture_on_commit_callbacks)
    service.refresh_from_db()
    assert service.next_due_date == datetime.date(2026, 3, 10)
    assert runs.renewals_run(today=datetime.date(2026, 2, 26)).invoices_created == 1


def test_renewals_group_a_customers_services_on_one_invoice(acme):
    customer = make_customer()
    _order(customer, make_product("a"))
    _order(customer, make_product("b"))
    run = runs.renewals_run(today=datetime.date(2026, 2, 1))
    assert run.invoices_created == 1
    assert Invoice.objects.get(billing_run=run).lines.count() == 2


def test_dunning_reminds_charges_suspends_terminates_once_each(
    acme, django_capture_on_commit_callbacks, mailoutbox
):
    customer = make_customer()
    order, invoice = _order(customer, make_product(resources={"disk_gb": 20}))
    service = Service.objects.get(order_item__order=order)
    due = invoice.due_date  # DAY0 + 14

    with django_capture_on_commit_callbacks(execute=True):
        first = runs.dunning_run(today=due + datetime.timedelta(days=3))
    assert first.reminders_sent == 1 and first.late_fees == 0
    assert runs.dunning_run(today=due + datetime.timedelta(days=3)).reminders_sent == 0

    fees = runs.dunning_run(today=due + datetime.timedelta(days=14))
    invoice.refresh_from_db()
    assert (
        fees.reminders_sent == 1
        and fees.late_fees == 1
        # Outside the scope of VAT by default (issue 9): the fee is 5.00, no VAT on it.
        and invoice.late_fee_invoice.total == Decimal("5.00")
    )

    suspended = runs.dunning_run(today=due + datetime.timedelta(days=21))
    service.refresh_from_db()
    assert (
        suspended.services_suspended == 1
        and service.status == "suspended"
        and service.suspended_for_nonpayment
    )
    assert runs.dunning_run(today=due + datetime.timedelta(days=22)).services_suspended == 0
    assert _disk_used() == 20  # suspension keeps the capacity

    ended = runs.dunning_run(today=due + datetime.timedelta(days=60))
    service.refresh_from_db()
    assert ended.services_terminated == 1 and service.status == "terminated"
    assert _disk_used() == 0
    assert BillingRun.objects.filter(kind="dunning").count() == 6


def test_paying_lifts_a_nonpayment_suspension(acme, django_capture_on_commit_callbacks):
    customer = make_customer()
    order, invoice = _order(customer, make_product())
    runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=21))
    service = Service.objects.get(order_item__order=order)
    assert Service.objects.get(pk=service.pk).status == "suspended"
    _pay(invoice, django_capture_on_commit_callbacks)
    assert Service.objects.get(pk=service.pk).status == "active"


def test_cancel_at_end_of_term_ends_the_service_at_its_due_date_and_frees_capacity(acme):
    customer = make_customer()
    order, _ = _order(customer, make_product(resources={"disk_gb": 40}))
    service = Service.objects.get(order_item__order=order)
    services.service_cancel(service=service)
    assert runs.renewals_run(today=datetime.date(2026, 2, 1)).invoices_created == 0
    assert Service.objects.get(pk=service.pk).status == "active"
    runs.renewals_run(today=datetime.date(2026, 2, 10))
    assert Service.objects.get(pk=service.pk).status == "cancelled"
    assert _disk_used() == 0


def test_illegal_service_transitions_are_refused(acme):
    order, _ = _order(make_customer(), make_product())
    service = Service.objects.get(order_item__order=order)
    services.service_terminate(service=service)
    with pytest.raises(services.InvalidServiceTransition, match="terminated"):
        services.service_unsuspend(service=service)


def test_upgrade_is_prorated_and_invoiced_and_needs_quota(acme):
    customer = make_customer()
    small = make_product("small", amount="10.00", resources={"disk_gb": 10})
    big = make_product("big", amount="40.00", resources={"disk_gb": 50})
    huge = make_product("huge", amount="90.00", resources={"disk_gb": 500})
    order, _ = _order(customer, small)
    service = Service.objects.get(order_item__order=order)
    # Half-way through a 31-day period (2026-01-10 → 2026-02-09): 16 days left of 31.
    invoice = services.service_change_plan(
        service=service, product=big, today=datetime.date(2026, 1, 25)
    )
    assert invoice.lines.get().unit_price == Decimal("15.48")  # 30.00 × 16 / 31
    assert _disk_used() == 50
    with pytest.raises(QuotaExceeded):
        services.service_change_plan(
            service=service, product=huge, today=datetime.date(2026, 1, 26)
        )
    assert Service.objects.get(pk=service.pk).product == big and _disk_used() == 50


def test_downgrade_gives_the_unused_difference_back_as_a_credit_note(
    acme, django_capture_on_commit_callbacks
):
    customer = make_customer()
    big = make_product("big", amount="40.00", resources={"disk_gb": 50})
    small = make_product("small", amount="10.00", resources={"disk_gb": 10})
    order, invoice = _order(customer, big)
    _pay(invoice, django_capture_on_commit_callbacks)
    service = Service.objects.get(order_item__order=order)
    note = services.service_change_plan(
        service=service, product=small, today=datetime.date(2026, 1, 25)
    )
    assert note.kind == "credit_note" and note.credited_invoice == invoice
    # Issue 9, defect 11: exactly 30.00 × 16/31 = 15.48 (this asserted 15.60 before, from
    # crediting a quantity of 0.39 of the 40.00 line).
    assert note.subtotal == Decimal("15.48")
    assert _disk_used() == 10


def test_renewal_run_task_fans_out_and_runs_in_each_instance(acme):
    from tenant_apps.recurring.tasks import billing_run_instance

    with schema_context(acme.schema_name):
        _order(make_customer(), make_product())
    result = billing_run_instance.apply(
        kwargs={"schema_name": acme.schema_name, "run_date": "2026-02-01"}
    ).get()
    assert result["invoices"] == 1
    with schema_context("r_bluebird"):
        assert not BillingRun.objects.exists()
