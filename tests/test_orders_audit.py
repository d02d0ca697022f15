"""The audit trail of orders and services: who placed, accepted and cancelled an order,
each service status change with its old and new status, plan changes, cancellation at the
end of the term — and none of it readable by another customer through the portal."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.accounts.models import Role
from tenant_apps.catalog.models import Product
from tenant_apps.clients.models import Customer
from tenant_apps.instance.selectors import audit_event_list, audit_events_for
from tenant_apps.orders import services
from tenant_apps.orders.models import Order, Service
from tests.conftest import client_for
from tests.test_orders_screens import build_shop, place_order, service_of, staff_order


@pytest.fixture
def shop(instance_a):
    return build_shop(instance_a)


def test_a_staff_order_from_the_screen_records_order_placed_with_that_staff_member(
    instance_a, shop
):
    owner = client_for(instance_a, instance_a.owner)

    owner.post("/staff/orders/new/", staff_order(shop))

    with schema_context(instance_a.schema_name):
        order = Order.objects.get()
        placed = audit_event_list(action="order.placed").get()
        assert placed.actor.email == instance_a.owner
        assert placed.actor_label == instance_a.owner
        assert (placed.object_type, placed.object_id) == ("order", str(order.pk))
        assert placed.customer_id == shop.customer
        assert placed.detail["referer"] == "partner1"
        accepted = audit_event_list(action="order.accepted").get()
        assert accepted.actor.email == instance_a.owner
        assert accepted.changes == {"status": ["pending", "accepted"]}
        assert accepted.detail["invoice"] == order.customer.invoices.get().number


def test_a_cancelled_order_records_who_cancelled_it(instance_a, shop):
    pk = place_order(instance_a, shop, accept=False)
    owner = client_for(instance_a, instance_a.owner)

    owner.post(f"/staff/orders/{pk}/cancel/")

    with schema_context(instance_a.schema_name):
        event = audit_event_list(action="order.cancelled").get()
        assert event.object_id == str(pk) and event.actor.email == instance_a.owner
        assert event.changes == {"status": ["pending", "cancelled"]}


def test_a_suspension_records_the_old_and_new_status_and_the_reason(instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))
    owner = client_for(instance_a, instance_a.owner)

    owner.post(f"/staff/orders/services/{service.pk}/suspend/", {"reason": "Abuse report"})

    with schema_context(instance_a.schema_name):
        latest = audit_events_for(Service.objects.get(pk=service.pk))[0]
        assert latest.action == "service.status_changed"
        assert latest.changes == {"status": ["active", "suspended"]}
        assert latest.detail == {"reason": "Abuse report"}
        assert latest.actor.email == instance_a.owner
        assert latest.customer_id == shop.customer


def test_every_status_change_of_a_service_is_one_event_in_order(instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))
    with schema_context(instance_a.schema_name):
        services.service_suspend(service=service, nonpayment=True, actor="billing")
        services.service_unsuspend(service=service)
        services.service_terminate(service=service, reason="Closed")

        moves = [
            (e.changes["status"], e.actor_label)
            for e in reversed(audit_events_for(service))
            if e.action == "service.status_changed"
        ]
    assert moves == [
        (["pending", "active"], "system"),
        (["active", "suspended"], "billing"),
        (["suspended", "active"], "system"),
        (["active", "terminated"], "system"),
    ]


def test_a_plan_change_and_a_cancellation_at_term_end_are_recorded(instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        services.service_change_plan(
            service=service, product=Product.objects.get(pk=shop.pro), actor=owner
        )
        services.service_cancel(service=service, reason="Moving away", actor=owner)

        changed = audit_event_list(action="service.plan_changed").get()
        assert changed.changes["product"] == [shop.basic, shop.pro]
        assert changed.detail["from"] == "Basic hosting" and changed.detail["to"] == "Pro hosting"
        scheduled = audit_event_list(action="service.cancel_scheduled").get()
        assert scheduled.changes == {"cancel_at_period_end": [False, True]}
        assert scheduled.detail["reason"] == "Moving away"
        assert scheduled.actor == owner


def test_another_customer_cannot_read_these_events_through_any_portal_screen(instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop, label="alice.example"))
    with schema_context(instance_a.schema_name):
        services.service_suspend(service=service, reason="Abuse report 7731")
        order_pk = service.order_item.order_id
        bob = get_user_model().objects.create_user(
            email="bob@customer.test", password="pw-bob-12345", role=Role.CUSTOMER
        )
        Customer.objects.create(name="Bob", email=bob.email, country="FR", user=bob)
    bob_browser = client_for(instance_a, "bob@customer.test")

    pages = [
        "/portal/",
        "/portal/profile/",
        "/portal/account/billing-details/",
        "/portal/services/",
        f"/portal/services/{service.pk}/",
        f"/portal/services/orders/{order_pk}/",
        "/portal/billing/",
        "/portal/support/",
        f"/staff/customers/{shop.customer}/",
        f"/staff/orders/services/{service.pk}/",
        f"/api/services/{service.pk}/",
        "/api/orders/",
    ]
    for url in pages:
        response = bob_browser.get(url, follow=True)
        text = response.content.decode()
        assert "Abuse report 7731" not in text, url
        assert "Service status changed" not in text, url
        assert "alice.example" not in text, url


def test_the_customer_sees_no_audit_trail_when_viewing_their_own_service(instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))
    with schema_context(instance_a.schema_name):
        services.service_suspend(service=service, reason="Abuse report 7731")
    alice = client_for(instance_a, instance_a.customer)

    page = alice.get(f"/portal/services/{service.pk}/").content.decode()

    assert "Service status changed" not in page
    assert instance_a.owner not in page
