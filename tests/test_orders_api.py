"""Orders and services API: place + accept, lifecycle actions, 4xx JSON errors, roles, isolation."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.orders.models import Order, Service
from tests.conftest import client_for
from tests.test_orders_screens import (
    build_shop,
    counts,
    disk_used,
    place_order,
    service_of,
)


@pytest.fixture
def shop(instance_a):
    return build_shop(instance_a)


@pytest.fixture
def owner(instance_a):
    return client_for(instance_a, instance_a.owner)


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def order_body(shop, **changes) -> dict:
    body = {
        "customer": shop.customer,
        "items": [
            {
                "product": shop.basic,
                "cycle": "monthly",
                "label": "api.test",
                "addons": [shop.backups],
            }
        ],
        "referer_code": "PARTNER1",
        "activate": True,
    }
    body.update(changes)
    return body


# --------------------------------------------------------------------------------------
# Orders


def test_create_places_and_accepts_with_the_referer_and_amounts_as_strings(owner, instance_a, shop):
    response = post(owner, "/api/orders/", order_body(shop))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "accepted" and body["source"] == "api"
    assert body["referer"] == shop.referer and body["referer_code"] == "partner1"
    assert body["referer_source"] == "staff"
    assert [(i["product_code"], i["unit_price"]) for i in body["items"]] == [
        ("basic", "10.00"),
        ("backups", "2.00"),
    ]
    assert all(isinstance(i["service"], int) for i in body["items"])
    [invoice] = body["invoices"]
    assert invoice["total"] == "14.40" and invoice["status"] == "issued" and invoice["number"]
    with schema_context(instance_a.schema_name):
        assert Order.objects.get().referer_id == shop.referer
        assert Service.objects.filter(status="active").count() == 2
    assert disk_used() == 10


def test_create_without_activation_leaves_services_pending(owner, instance_a, shop):
    response = post(owner, "/api/orders/", order_body(shop, activate=False, referer_code=""))

    assert response.status_code == 201
    assert response.json()["referer"] is None
    with schema_context(instance_a.schema_name):
        assert set(Service.objects.values_list("status", flat=True)) == {"pending"}


def test_create_beyond_the_allocation_is_a_409_and_leaves_nothing(owner, instance_a, shop):
    body = order_body(shop, items=[{"product": shop.huge, "cycle": "monthly"}])

    response = post(owner, "/api/orders/", body)

    assert response.status_code == 409 and response.json()["code"] == "quota_exceeded"
    assert "Disk space: needs 110 GB, 100 left" in response.json()["detail"]
    assert counts(instance_a) == (0, 0, 0)
    assert disk_used() == 0


def test_create_with_an_unknown_referer_code_is_a_field_error(owner, instance_a, shop):
    response = post(owner, "/api/orders/", order_body(shop, referer_code="nobody"))

    assert response.status_code == 400
    assert "nobody" in response.json()["referer_code"][0]
    assert counts(instance_a) == (0, 0, 0)


def test_create_for_a_cycle_without_price_is_a_field_error(owner, instance_a, shop):
    body = order_body(shop, items=[{"product": shop.pro, "cycle": "annual"}])

    response = post(owner, "/api/orders/", body)

    assert response.status_code == 400
    assert "has no annually price in EUR" in response.json()["cycle"][0]
    assert counts(instance_a) == (0, 0, 0)


def test_list_filters_and_retrieve_shows_invoices(owner, instance_a, shop):
    accepted = place_order(instance_a, shop)
    pending = place_order(instance_a, shop, accept=False)

    listed = owner.get("/api/orders/", {"status": "pending"}).json()
    assert [o["id"] for o in listed["results"]] == [pending]
    assert {o["id"] for o in owner.get("/api/orders/").json()["results"]} == {accepted, pending}

    detail = owner.get(f"/api/orders/{accepted}/").json()
    assert detail["customer_name"] == "Alice Martin" and len(detail["invoices"]) == 1


def test_accept_and_cancel_pending_orders_and_refuse_twice(owner, instance_a, shop):
    first = place_order(instance_a, shop, accept=False)
    second = place_order(instance_a, shop, accept=False)

    accepted = post(owner, f"/api/orders/{first}/accept/", {"activate": False})
    cancelled = post(owner, f"/api/orders/{second}/cancel/")
    again = post(owner, f"/api/orders/{second}/accept/")

    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # An illegal move of the order pipeline: 409, like every other refused transition.
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"Order #{second} is cancelled already.",
        "code": "invalid_transition",
    }
    assert service_of(instance_a, first).status == "pending"


def test_add_on_service_belongs_to_the_service_of_its_plan(owner, shop):
    plan_item, addon_item = post(owner, "/api/orders/", order_body(shop)).json()["items"]

    addon = owner.get(f"/api/services/{addon_item['service']}/").json()

    assert addon["parent"] == plan_item["service"]


# --------------------------------------------------------------------------------------
# Services


def test_service_list_and_retrieve(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop, label="one.test"))
    place_order(instance_a, shop, product=shop.pro, activate=False, label="two.test")

    active = owner.get("/api/services/", {"status": "active"}).json()["results"]
    assert [s["label"] for s in active] == ["one.test"]
    assert [s["label"] for s in owner.get("/api/services/", {"q": "two"}).json()["results"]] == [
        "two.test"
    ]

    body = owner.get(f"/api/services/{service.pk}/").json()
    assert body["recurring_amount"] == "10.00" and body["currency"] == "EUR"
    assert body["product_code"] == "basic" and body["resources"] == {"disk_gb": 10}
    assert isinstance(body["order"], int)


def test_suspend_unsuspend_terminate_through_the_api(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))
    url = f"/api/services/{service.pk}"

    suspended = post(owner, f"{url}/suspend/", {"reason": "Abuse"})
    assert suspended.status_code == 200
    assert (
        suspended.json()["status"] == "suspended" and suspended.json()["status_reason"] == "Abuse"
    )
    assert post(owner, f"{url}/unsuspend/").json()["status"] == "active"
    assert post(owner, f"{url}/terminate/").json()["status"] == "terminated"
    assert disk_used() == 0


def test_illegal_transition_is_a_409_json(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))

    response = post(owner, f"/api/services/{service.pk}/unsuspend/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "The service is active; it cannot become active.",
        "code": "invalid_transition",
    }


def test_cancel_at_end_of_term_or_immediately(owner, instance_a, shop):
    first = service_of(instance_a, place_order(instance_a, shop))
    second = service_of(instance_a, place_order(instance_a, shop))

    at_term = post(owner, f"/api/services/{first.pk}/cancel/", {"immediately": False}).json()
    now = post(owner, f"/api/services/{second.pk}/cancel/", {"immediately": True}).json()

    assert at_term["status"] == "active" and at_term["cancel_at_period_end"] is True
    assert now["status"] == "cancelled"
    assert disk_used() == 10


def test_change_plan_returns_the_prorated_invoice(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))

    response = post(owner, f"/api/services/{service.pk}/change-plan/", {"product": shop.pro})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["service"]["product_code"] == "pro"
    assert body["service"]["recurring_amount"] == "20.00"
    assert body["document"]["kind"] == "invoice" and body["document"]["total"] == "12.00"
    assert disk_used() == 20


def test_change_plan_beyond_the_allocation_is_a_409(owner, instance_a, shop):
    order_id = place_order(instance_a, shop)
    service = service_of(instance_a, order_id)

    response = post(owner, f"/api/services/{service.pk}/change-plan/", {"product": shop.huge})

    assert response.status_code == 409 and response.json()["code"] == "quota_exceeded"
    assert service_of(instance_a, order_id).product_id == shop.basic


# --------------------------------------------------------------------------------------
# Roles and isolation


def test_support_reads_but_every_write_is_403(instance_a, shop):
    order_id = place_order(instance_a, shop)
    service = service_of(instance_a, order_id)
    support = client_for(instance_a, instance_a.support)

    assert support.get("/api/orders/").status_code == 200
    assert support.get(f"/api/services/{service.pk}/").status_code == 200
    assert post(support, "/api/orders/", order_body(shop)).status_code == 403
    assert post(support, f"/api/orders/{order_id}/cancel/").status_code == 403
    for action in ("suspend", "unsuspend", "terminate", "cancel"):
        assert post(support, f"/api/services/{service.pk}/{action}/").status_code == 403
    assert (
        post(support, f"/api/services/{service.pk}/change-plan/", {"product": shop.pro}).status_code
        == 403
    )
    assert service_of(instance_a, order_id).status == "active"


def test_customers_and_anonymous_callers_are_refused(instance_a, shop):
    assert client_for(instance_a, instance_a.customer).get("/api/orders/").status_code == 403
    assert client_for(instance_a).get("/api/services/").status_code in (401, 403)


def test_instance_b_cannot_see_or_change_orders_and_services_of_instance_a(
    instance_a, instance_b, shop
):
    order_id = place_order(instance_a, shop, label="secret-a.test")
    service = service_of(instance_a, order_id)
    owner_b = client_for(instance_b, instance_b.owner)

    assert owner_b.get(f"/api/orders/{order_id}/").status_code == 404
    assert owner_b.get(f"/api/services/{service.pk}/").status_code == 404
    assert post(owner_b, f"/api/services/{service.pk}/terminate/").status_code == 404
    assert owner_b.get("/api/services/").json()["results"] == []
    assert service_of(instance_a, order_id).status == "active"


def test_schema_documents_the_order_and_service_routes(owner):
    schema = owner.get("/api/schema/").content.decode()
    for route in (
        "/api/orders/",
        "/api/orders/{id}/accept/",
        "/api/services/{id}/change-plan/",
        "/api/services/{id}/cancel/",
    ):
        assert route in schema
