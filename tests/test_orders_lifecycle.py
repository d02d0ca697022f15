"""Money that is right (issue 9), defects 17 and 11 (rest): when a service's period starts,
how add-ons follow their plan and are put on a running service, and plan changes after a
renewal was issued. Each test is named for the behaviour and failed on the code before.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Allocation
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice
from tenant_apps.catalog.models import Price
from tenant_apps.clients.models import Customer
from tenant_apps.instance import clock
from tenant_apps.instance.models import AuditEvent
from tenant_apps.orders import services as orders
from tenant_apps.orders.models import Order, Service
from tenant_apps.recurring import services as runs
from tests.billing_fixtures import dunning_settings, make_customer, make_product, setup_issuer
from tests.conftest import client_for
from tests.test_orders_screens import build_shop, place_order, service_of

DAY0 = datetime.date(2026, 1, 10)  # a staff order started that day is next due 2026-02-10
S = Service.Status


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        dunning_settings()
        yield instance_a


def _pay(invoice: Invoice, capture) -> None:
    fresh = Invoice.objects.get(pk=invoice.pk)
    with capture(execute=True):
        billing.payment_record(
            customer=fresh.customer, invoice=fresh, amount=fresh.amount_due, method="cash"
        )


def _plan_with_addon(code: str, *, addon_amount: str = "3.10", addon_resources=None, **addon):
    plan = make_product(f"{code}-plan", amount="10.00")
    extra = make_product(
        f"{code}-addon", amount=addon_amount, kind="addon", resources=addon_resources, **addon
    )
    plan.addons.add(extra)
    return plan, extra


def _running(plan, *, customer=None, addons=(), today=DAY0, capture=None) -> Service:
    """A plan ordered by staff and started on `today` (first invoice paid when `capture`)."""
    customer = customer or make_customer("Running Customer")
    order = orders.order_place(
        customer=customer,
        items=[{"product": plan, "cycle": "monthly", "label": "site.test", "addons": addons}],
    )
    first = orders.order_accept(order=order, today=today)
    if capture is not None:
        _pay(first, capture)
    return Service.objects.get(order_item__order=order, parent__isnull=True)


def _disk_used() -> int:
    return Allocation.objects.get(reseller__slug="acme", resource_id="disk_gb").used


# --------------------------------------------------------------------------------------
# Defect 17a: a portal order's period starts on the day it is paid


def test_a_portal_order_paid_ten_days_after_checkout_gets_its_whole_period_from_payment(
    acme, django_capture_on_commit_callbacks
):
    paid_on = clock.today()
    customer = make_customer("Late Payer")
    order = orders.order_place(
        customer=customer,
        items=[{"product": make_product("late-plan"), "cycle": "monthly"}],
        source=Order.Source.PORTAL,
    )
    invoice = orders.order_accept(
        order=order, activate=False, today=paid_on - datetime.timedelta(days=10)
    )

    _pay(invoice, django_capture_on_commit_callbacks)

    service = Service.objects.get(order_item__order=order)
    assert service.status == S.ACTIVE
    assert service.first_period_start == paid_on
    assert service.next_due_date == orders.next_period_start(paid_on, "monthly")
    # Its first renewal bills the period that follows the one paid for, from that day.
    run = runs.renewals_run(today=service.next_due_date - datetime.timedelta(days=3))
    renewal = Invoice.objects.get(billing_run=run).lines.get()
    assert renewal.period_start == service.next_due_date


def test_a_first_period_started_on_payment_and_given_back_is_billed_again_from_its_real_start(
    acme, django_capture_on_commit_callbacks
):
    paid_on = clock.today()
    customer = make_customer("Refunded Payer")
    order = orders.order_place(
        customer=customer,
        items=[{"product": make_product("refunded-plan"), "cycle": "monthly"}],
        source=Order.Source.PORTAL,
    )
    invoice = orders.order_accept(
        order=order, activate=False, today=paid_on - datetime.timedelta(days=3)
    )
    _pay(invoice, django_capture_on_commit_callbacks)
    service = Service.objects.get(order_item__order=order)

    # What billing announces (`service_periods_cancelled`) when that payment is refunded
    # and the invoice credited: its line, which states no dates, is owed again.
    orders.service_periods_rebill_or_waive(line_ids=[invoice.lines.get().pk], waive=False)

    run = runs.renewals_run(today=paid_on)
    again = Invoice.objects.get(billing_run=run).lines.get()
    assert (again.period_start, again.period_end) == (
        paid_on,
        orders.period_end(paid_on, "monthly"),
    )
    rebilled = AuditEvent.objects.get(action="service.period_rebilled", object_id=str(service.pk))
    assert rebilled.detail["period"].startswith(f"{paid_on:%Y-%m-%d} to ")


def test_the_checkout_invoice_states_the_period_length_instead_of_dates_it_cannot_know(
    instance_a,
):
    shop = build_shop(instance_a)
    portal = client_for(instance_a, instance_a.customer)
    with schema_context(instance_a.schema_name):
        price = Price.objects.get(product_id=shop.basic, cycle="monthly")
    portal.post(
        "/portal/services/order/",
        {"price": price.pk, "label": "alice.example", "referral_code": ""},
    )

    with schema_context(instance_a.schema_name):
        invoice = Invoice.objects.get()
        line = invoice.lines.get(kind="service")
        assert line.period_start is None and line.period_end is None
        assert line.description == "Basic hosting — alice.example (1 month from the day of payment)"
        assert Service.objects.get().next_due_date is None  # not running, nothing due
    page = portal.get(reverse("portal_billing:invoice_detail", kwargs={"pk": invoice.pk}))
    assert "1 month from the day of payment" in page.content.decode()


def test_a_staff_order_started_at_once_keeps_its_period_from_the_order_day(acme):
    service = _running(make_product("at-once"))

    line = service.invoice_lines.get()
    assert (line.period_start, line.period_end) == (DAY0, datetime.date(2026, 2, 9))
    assert service.next_due_date == datetime.date(2026, 2, 10)
    assert service.first_period_start == DAY0


def test_an_upgrade_in_the_first_month_of_a_late_paid_order_is_prorated_on_its_real_period(
    acme, django_capture_on_commit_callbacks
):
    paid_on = clock.today()
    customer = make_customer("Late Upgrader")
    small = make_product("late-small", amount="10.00")
    big = make_product("late-big", amount="40.00")
    order = orders.order_place(customer=customer, items=[{"product": small, "cycle": "monthly"}])
    first = orders.order_accept(
        order=order, activate=False, today=paid_on - datetime.timedelta(days=10)
    )
    _pay(first, django_capture_on_commit_callbacks)
    service = Service.objects.get(order_item__order=order)

    on = paid_on + datetime.timedelta(days=5)
    upgrade = orders.service_change_plan(service=service, product=big, today=on)

    ends = orders.next_period_start(paid_on, "monthly")
    days, of_days = (ends - on).days, (ends - paid_on).days
    line = upgrade.lines.get()
    assert f"{days} of {of_days} days" in line.description
    assert line.unit_price == (Decimal(30) * days / of_days).quantize(Decimal("0.01"))


# --------------------------------------------------------------------------------------
# Defect 17b: add-ons follow their plan


def test_suspending_a_plan_suspends_its_addons_and_resuming_it_resumes_them(acme):
    plan, extra = _plan_with_addon("susp")
    service = _running(plan, addons=[extra])
    addon = service.addons.get()

    orders.service_suspend(service=service, reason="Abuse report")

    addon.refresh_from_db()
    assert addon.status == S.SUSPENDED and addon.suspended_with_parent
    events = AuditEvent.objects.filter(action="service.status_changed", object_id=str(addon.pk))
    assert events.first().changes == {"status": ["active", "suspended"]}
    assert events.first().detail == {
        "reason": "With SUSP-PLAN: Abuse report",
        "with_parent": service.pk,
    }

    orders.service_unsuspend(service=Service.objects.get(pk=service.pk))

    addon.refresh_from_db()
    assert addon.status == S.ACTIVE and not addon.suspended_with_parent
    assert events.first().changes == {"status": ["suspended", "active"]}
    assert events.first().detail["with_parent"] == service.pk


def test_an_addon_suspended_on_its_own_stays_suspended_when_its_plan_resumes(acme):
    plan, extra = _plan_with_addon("own")
    service = _running(plan, addons=[extra])
    addon = service.addons.get()
    orders.service_suspend(service=addon, reason="Backups abused")
    orders.service_suspend(service=service)

    orders.service_unsuspend(service=Service.objects.get(pk=service.pk))

    addon.refresh_from_db()
    assert addon.status == S.SUSPENDED and addon.status_reason == "Backups abused"


def test_an_addon_does_not_resume_while_its_plan_is_suspended(acme):
    plan, extra = _plan_with_addon("wait")
    service = _running(plan, addons=[extra])
    orders.service_suspend(service=service)

    with pytest.raises(orders.InvalidServiceTransition, match="its add-on resumes with it"):
        orders.service_unsuspend(service=service.addons.get())

    assert service.addons.get().status == S.SUSPENDED


def test_terminating_a_plan_terminates_its_addons_and_gives_their_capacity_back(acme):
    plan, extra = _plan_with_addon("term", addon_resources={"disk_gb": 5})
    used = _disk_used()
    service = _running(plan, addons=[extra])
    assert _disk_used() == used + 5

    orders.service_terminate(service=service, reason="Closed")

    addon = service.addons.get()
    assert addon.status == S.TERMINATED and addon.status_reason == "With TERM-PLAN: Closed"
    assert _disk_used() == used


def test_cancelling_a_plan_now_cancels_its_addons_too(acme):
    plan, extra = _plan_with_addon("cancel-now")
    service = _running(plan, addons=[extra])

    orders.service_cancel(service=service, immediately=True)

    assert service.addons.get().status == S.CANCELLED


def test_a_plan_cancelled_at_term_ends_with_its_addons_and_neither_renews(
    acme, django_capture_on_commit_callbacks
):
    plan, extra = _plan_with_addon("cancel-term")
    service = _running(plan, addons=[extra], capture=django_capture_on_commit_callbacks)
    addon = service.addons.get()

    orders.service_cancel(service=service, reason="Moving away")

    addon.refresh_from_db()
    assert addon.cancel_at_period_end and addon.status == S.ACTIVE
    assert AuditEvent.objects.filter(
        action="service.cancel_scheduled", object_id=str(addon.pk)
    ).exists()
    run = runs.renewals_run(today=datetime.date(2026, 2, 10))
    assert run.invoices_created == 0
    assert {s.status for s in Service.objects.filter(pk__in=[service.pk, addon.pk])} == {
        S.CANCELLED
    }


def test_dunning_suspends_a_plan_with_its_addon_and_paying_resumes_both(
    acme, django_capture_on_commit_callbacks
):
    plan, extra = _plan_with_addon("dun")
    service = _running(plan, addons=[extra], capture=django_capture_on_commit_callbacks)
    addon = service.addons.get()
    runs.renewals_run(today=datetime.date(2026, 2, 1))
    renewal = Invoice.objects.get(lines__service=addon, billing_run__isnull=False)

    run = runs.dunning_run(today=renewal.due_date + datetime.timedelta(days=21))

    assert run.status == "done"
    assert {s.status for s in Service.objects.filter(pk__in=[service.pk, addon.pk])} == {
        S.SUSPENDED
    }
    _pay(renewal, django_capture_on_commit_callbacks)
    for one in (service, addon):
        one.refresh_from_db()
        assert one.status == S.ACTIVE and one.next_due_date == datetime.date(2026, 3, 10)


def test_addons_renew_with_their_plan_on_one_invoice(acme, django_capture_on_commit_callbacks):
    plan, extra = _plan_with_addon("renew", once_per_service=False)
    service = _running(plan, addons=[extra], capture=django_capture_on_commit_callbacks)
    later = orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 1, 20))
    _pay(later.invoice, django_capture_on_commit_callbacks)

    run = runs.renewals_run(today=datetime.date(2026, 2, 1))

    assert run.invoices_created == 1
    lines = Invoice.objects.get(billing_run=run).lines.order_by("id")
    assert [(line.service_id, line.unit_price) for line in lines] == [
        (service.pk, Decimal("10.00")),
        (service.addons.order_by("pk")[0].pk, Decimal("3.10")),
        (later.service.pk, Decimal("3.10")),
    ]
    assert {(line.period_start, line.period_end) for line in lines} == {
        (datetime.date(2026, 2, 10), datetime.date(2026, 3, 9))
    }


# --------------------------------------------------------------------------------------
# Defect 17b: an add-on put on a running service


def test_an_addon_added_to_a_running_service_is_prorated_to_the_plans_due_date(
    acme, django_capture_on_commit_callbacks
):
    plan, extra = _plan_with_addon("prorate")
    service = _running(plan, capture=django_capture_on_commit_callbacks)

    added = orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 1, 20))

    line = added.invoice.lines.get()
    # 3.10 × 21 days left of the plan's 31-day period (2026-01-20 → 2026-02-09).
    assert line.unit_price == Decimal("2.10")
    assert (line.period_start, line.period_end) == (
        datetime.date(2026, 1, 20),
        datetime.date(2026, 2, 9),
    )
    assert "21 of 31 days" in line.description
    assert added.service.status == S.PENDING and added.service.parent_id == service.pk
    assert added.service.order_item.order.status == Order.Status.ACCEPTED

    _pay(added.invoice, django_capture_on_commit_callbacks)

    addon = Service.objects.get(pk=added.service.pk)
    assert addon.status == S.ACTIVE and addon.next_due_date == service.next_due_date


def test_an_addon_added_after_the_plans_renewal_was_issued_is_billed_through_that_period(
    acme, django_capture_on_commit_callbacks
):
    plan, extra = _plan_with_addon("ahead")
    service = _running(plan, capture=django_capture_on_commit_callbacks)
    runs.renewals_run(today=datetime.date(2026, 2, 1))

    added = orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 2, 3))

    lines = added.invoice.lines.order_by("id")
    assert [(line.unit_price, line.period_start, line.period_end) for line in lines] == [
        (Decimal("0.70"), datetime.date(2026, 2, 3), datetime.date(2026, 2, 9)),  # 7 of 31
        (Decimal("3.10"), datetime.date(2026, 2, 10), datetime.date(2026, 3, 9)),
    ]
    _pay(added.invoice, django_capture_on_commit_callbacks)
    _pay(Invoice.objects.get(billing_run__isnull=False), django_capture_on_commit_callbacks)
    assert {
        s.next_due_date for s in Service.objects.filter(pk__in=[service.pk, added.service.pk])
    } == {datetime.date(2026, 3, 10)}
    # Nothing billed twice: the next run bills both for the period after.
    run = runs.renewals_run(today=datetime.date(2026, 2, 26))
    assert Invoice.objects.get(billing_run=run).lines.count() == 2


def test_a_free_addon_starts_at_once(acme):
    plan, extra = _plan_with_addon("free", addon_amount="0.00")
    service = _running(plan)

    added = orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 1, 20))

    assert added.invoice.total == 0 and added.invoice.status == Invoice.Status.PAID
    assert added.service.status == S.ACTIVE
    assert added.service.next_due_date == service.next_due_date


def _refusal_case(case: str):
    plan, extra = _plan_with_addon(f"no-{case}")
    service = _running(plan)
    if case == "not offered":
        extra = make_product(f"no-{case}-other", kind="addon")
    elif case == "plan not active":
        service = orders.service_suspend(service=service)
    elif case == "no price in its currency":
        Price.objects.filter(product=extra).update(currency="USD")
    elif case == "customer pays in another currency":
        Customer.objects.filter(pk=service.customer_id).update(currency="USD")
    elif case == "twice":
        orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 1, 20))
    return service, extra


@pytest.mark.parametrize(
    ("case", "error", "sentence"),
    [
        ("not offered", ValidationError, "NO-NOT OFFERED-OTHER is not offered with NO-NOT"),
        ("plan not active", orders.InvalidServiceTransition, "added to active services only"),
        ("no price in its currency", ValidationError, "has no monthly price in EUR"),
        ("customer pays in another currency", ValidationError, "the customer now pays in USD"),
        ("twice", ValidationError, "already has NO-TWICE-ADDON; it is sold once per service"),
    ],
)
def test_an_addon_that_cannot_go_on_the_service_is_refused_with_a_sentence_and_writes_nothing(
    acme, case, error, sentence
):
    service, extra = _refusal_case(case)
    before = (Order.objects.count(), Service.objects.count(), Invoice.objects.count())

    with pytest.raises(error) as refused:
        orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 1, 21))

    assert sentence.lower() in str(refused.value).lower()
    assert (Order.objects.count(), Service.objects.count(), Invoice.objects.count()) == before


def test_an_addon_sold_by_the_unit_can_be_added_twice(acme):
    plan, extra = _plan_with_addon("ips", once_per_service=False)
    service = _running(plan)
    for day in (20, 21):
        orders.service_addon_add(service=service, addon=extra, today=datetime.date(2026, 1, day))
    assert service.addons.count() == 2


# --------------------------------------------------------------------------------------
# Defect 17b: the screens and the API


@pytest.fixture
def shop(instance_a):
    return build_shop(instance_a)


def _basic_service(info, shop) -> Service:
    return service_of(info, place_order(info, shop, label="alice.example"))


def test_staff_add_an_addon_from_the_service_page(instance_a, shop):
    service = _basic_service(instance_a, shop)
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/orders/services/{service.pk}/").content.decode()
    assert "Add an add-on" in page and "Backups — €2.00/month" in page

    response = owner.post(
        f"/staff/orders/services/{service.pk}/add-addon/", {"addon": shop.backups}, follow=True
    )

    text = response.content.decode()
    assert "Backups added: invoice" in text and "it starts when it is paid" in text
    with schema_context(instance_a.schema_name):
        addon = Service.objects.get(parent=service)
        assert addon.status == S.PENDING and addon.order_item.order.source == "staff"
        event = AuditEvent.objects.get(action="service.addon_added", object_id=str(addon.pk))
        assert event.actor_label == instance_a.owner and event.detail["plan"] == service.pk

    again = owner.post(
        f"/staff/orders/services/{service.pk}/add-addon/", {"addon": shop.backups}, follow=True
    )
    assert "already has Backups; it is sold once per service" in again.content.decode()


def test_support_cannot_add_an_addon(instance_a, shop):
    service = _basic_service(instance_a, shop)
    support = client_for(instance_a, instance_a.support)

    response = support.post(
        f"/staff/orders/services/{service.pk}/add-addon/", {"addon": shop.backups}
    )

    assert response.status_code == 403
    with schema_context(instance_a.schema_name):
        assert not Service.objects.filter(parent=service).exists()


def test_a_customer_adds_an_addon_from_their_service_page(instance_a, shop):
    service = _basic_service(instance_a, shop)
    portal = client_for(instance_a, instance_a.customer)
    assert "Add an add-on" in portal.get(f"/portal/services/{service.pk}/").content.decode()

    response = portal.post(
        f"/portal/services/{service.pk}/add-on/", {"addon": shop.backups}, follow=True
    )

    text = response.content.decode()
    assert "Backups added: invoice" in text and "Awaiting payment" in text
    with schema_context(instance_a.schema_name):
        addon = Service.objects.get(parent=service)
        assert addon.order_item.order.source == "portal"
        assert addon.invoice_lines.get().invoice.customer_id == shop.customer


def test_a_customer_cannot_add_an_addon_to_another_customers_service(instance_a, shop):
    with schema_context(instance_a.schema_name):
        bob = Customer.objects.create(
            name="Bob Chen", email="bob@example.com", country="FR", currency="EUR"
        )
        order = orders.order_place(
            customer=bob, items=[{"product": shop.basic, "cycle": "monthly", "label": "bob.test"}]
        )
        orders.order_accept(order=order)
        theirs = Service.objects.get(order_item__order=order)
        before = (Order.objects.count(), Service.objects.count(), Invoice.objects.count())
    portal = client_for(instance_a, instance_a.customer)

    response = portal.post(f"/portal/services/{theirs.pk}/add-on/", {"addon": shop.backups})

    assert response.status_code == 404
    with schema_context(instance_a.schema_name):
        assert (Order.objects.count(), Service.objects.count(), Invoice.objects.count()) == before


def test_the_api_adds_an_addon_and_returns_its_service_and_invoice(instance_a, shop):
    service = _basic_service(instance_a, shop)
    owner = client_for(instance_a, instance_a.owner)

    response = owner.post(
        f"/api/services/{service.pk}/addons/",
        {"addon": shop.backups},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["service"]["parent"] == service.pk and body["service"]["status"] == "pending"
    assert body["invoice"]["status"] == "issued" and body["invoice"]["number"]
    with schema_context(instance_a.schema_name):
        assert Order.objects.get(items__service__pk=body["service"]["id"]).source == "api"


@pytest.mark.parametrize(
    ("case", "status", "fragment"),
    [("a plan", 400, "is not offered with Basic hosting"), ("suspended", 409, "active services")],
)
def test_the_api_refuses_an_addon_with_a_4xx_sentence(instance_a, shop, case, status, fragment):
    service = _basic_service(instance_a, shop)
    addon = shop.backups
    if case == "a plan":
        addon = shop.pro
    else:
        with schema_context(instance_a.schema_name):
            orders.service_suspend(service=service)
    owner = client_for(instance_a, instance_a.owner)

    response = owner.post(
        f"/api/services/{service.pk}/addons/", {"addon": addon}, content_type="application/json"
    )

    assert response.status_code == status
    assert fragment in str(response.json())
    with schema_context(instance_a.schema_name):
        assert not Service.objects.filter(parent=service).exists()


def test_another_instances_service_is_unreachable_for_adding_an_addon(instance_a, instance_b):
    build_shop(instance_a)  # acme's customer exists, with no service at all
    theirs_shop = build_shop(instance_b)
    theirs = _basic_service(instance_b, theirs_shop)
    with schema_context(instance_a.schema_name):
        assert not Service.objects.filter(pk=theirs.pk).exists()
    owner = client_for(instance_a, instance_a.owner)
    portal = client_for(instance_a, instance_a.customer)
    url_body = {"addon": theirs_shop.backups}

    assert owner.get(f"/staff/orders/services/{theirs.pk}/").status_code == 404
    assert owner.post(f"/staff/orders/services/{theirs.pk}/add-addon/", url_body).status_code == 404
    assert (
        owner.post(
            f"/api/services/{theirs.pk}/addons/", url_body, content_type="application/json"
        ).status_code
        == 404
    )
    assert portal.post(f"/portal/services/{theirs.pk}/add-on/", url_body).status_code == 404
    with schema_context(instance_b.schema_name):
        assert not Service.objects.filter(parent=theirs).exists()


# --------------------------------------------------------------------------------------
# Defect 11 (rest): a plan change after the next period's renewal was issued


def _renewed(code: str, amount: str, capture, *, pay_renewal: bool):
    """A service started 2026-01-10 and paid, whose renewal for 2026-02-10 → 03-09 was
    issued on 2026-02-01 (paid or not)."""
    plan = make_product(f"{code}-from", amount=amount)
    service = _running(plan, customer=make_customer(f"{code} Customer"), capture=capture)
    run = runs.renewals_run(today=datetime.date(2026, 2, 1))
    renewal = Invoice.objects.get(billing_run=run)
    if pay_renewal:
        _pay(renewal, capture)
    return Service.objects.get(pk=service.pk), renewal


def test_an_upgrade_after_an_unpaid_renewal_credits_it_and_bills_the_next_period_at_the_new_price(
    acme, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    service, renewal = _renewed("up-unpaid", "10.00", capture, pay_renewal=False)
    big = make_product("up-unpaid-to", amount="40.00")

    with capture(execute=True):
        invoice = orders.service_change_plan(
            service=service, product=big, today=datetime.date(2026, 2, 1)
        )

    lines = invoice.lines.order_by("id")
    assert [(line.kind, line.unit_price, line.period_start) for line in lines] == [
        ("adjustment", Decimal("8.71"), datetime.date(2026, 2, 1)),  # 30 × 9/31
        ("service", Decimal("40.00"), datetime.date(2026, 2, 10)),
    ]
    assert invoice.subtotal == Decimal("48.71")
    renewal.refresh_from_db()
    assert renewal.status == Invoice.Status.CREDITED and renewal.amount_due == 0
    # The period is billed once, at the new price: no run bills it again.
    assert runs.renewals_run(today=datetime.date(2026, 2, 2)).invoices_created == 0
    assert not AuditEvent.objects.filter(action="service.period_rebilled").exists()
    _pay(invoice, capture)
    assert Service.objects.get(pk=service.pk).next_due_date == datetime.date(2026, 3, 10)


def test_an_upgrade_after_a_paid_renewal_charges_the_difference_for_the_renewed_period_too(
    acme, django_capture_on_commit_callbacks
):
    service, renewal = _renewed(
        "up-paid", "10.00", django_capture_on_commit_callbacks, pay_renewal=True
    )
    big = make_product("up-paid-to", amount="40.00")

    invoice = orders.service_change_plan(
        service=service, product=big, today=datetime.date(2026, 2, 1)
    )

    lines = invoice.lines.order_by("id")
    # The current period is 31 days (not the 59 up to the paid-through date).
    assert [(line.unit_price, line.period_start, line.period_end) for line in lines] == [
        (Decimal("8.71"), datetime.date(2026, 2, 1), datetime.date(2026, 2, 9)),
        (Decimal("30.00"), datetime.date(2026, 2, 10), datetime.date(2026, 3, 9)),
    ]
    assert invoice.subtotal == Decimal("38.71")
    assert Invoice.objects.get(pk=renewal.pk).status == Invoice.Status.PAID


def test_a_downgrade_after_a_paid_renewal_credits_the_difference_for_the_renewed_period_too(
    acme, django_capture_on_commit_callbacks
):
    service, renewal = _renewed(
        "down-paid", "40.00", django_capture_on_commit_callbacks, pay_renewal=True
    )
    small = make_product("down-paid-to", amount="10.00")

    orders.service_change_plan(service=service, product=small, today=datetime.date(2026, 2, 1))

    notes = Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE, customer=service.customer)
    by_invoice = {note.credited_invoice_id: note.subtotal for note in notes}
    first = Invoice.objects.get(lines__service=service, billing_run__isnull=True, kind="invoice")
    assert by_invoice == {first.pk: Decimal("8.71"), renewal.pk: Decimal("30.00")}
    customer = Customer.objects.get(pk=service.customer_id)
    assert customer.credit_balance == sum(note.total for note in notes)


def test_a_downgrade_after_an_unpaid_renewal_bills_the_next_period_at_the_lower_price(
    acme, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    service, renewal = _renewed("down-unpaid", "40.00", capture, pay_renewal=False)
    small = make_product("down-unpaid-to", amount="10.00")

    with capture(execute=True):
        invoice = orders.service_change_plan(
            service=service, product=small, today=datetime.date(2026, 2, 1)
        )

    line = invoice.lines.get()
    assert (line.kind, line.unit_price, line.period_start) == (
        "service",
        Decimal("10.00"),
        datetime.date(2026, 2, 10),
    )
    renewal.refresh_from_db()
    assert renewal.status == Invoice.Status.CREDITED
    unused = Invoice.objects.get(
        kind=Invoice.Kind.CREDIT_NOTE, credited_invoice__billing_run__isnull=True
    )
    assert unused.subtotal == Decimal("8.71")  # 30 × 9/31 of the paid current period
    assert runs.renewals_run(today=datetime.date(2026, 2, 2)).invoices_created == 0
