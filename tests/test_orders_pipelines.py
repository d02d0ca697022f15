"""Order and service pipelines: every illegal move is refused with a sentence, changes
nothing (status, capacity, audit trail), and is a 409 JSON in the API; accepting an order
takes capacity before the invoice takes its number (the documented lock order)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.billing.models import Invoice
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.pipelines import InvalidTransition
from tenant_apps.orders import ports, services
from tenant_apps.orders.models import Order, Service
from tests.conftest import client_for
from tests.test_orders_screens import build_shop, disk_used, place_order, service_of

S = Service.Status


@pytest.fixture
def shop(instance_a):
    return build_shop(instance_a)


def _service_in(instance_a, shop, status: str) -> Service:
    """A Basic service (10 GB) brought to `status` through the services."""
    service = service_of(instance_a, place_order(instance_a, shop, activate=status != S.PENDING))
    with schema_context(instance_a.schema_name):
        if status == S.SUSPENDED:
            services.service_suspend(service=service)
        elif status in (S.TERMINATED, S.CANCELLED):
            services.service_transition(service=service, to=status)
        return Service.objects.get(pk=service.pk)


ILLEGAL_SERVICE_MOVES = [
    (current, target)
    for current in S.values
    for target in S.values
    if not Service.pipeline.allows(current, target)
]


@pytest.mark.parametrize(("current", "target"), ILLEGAL_SERVICE_MOVES)
def test_an_illegal_service_move_is_refused_with_a_sentence_and_changes_nothing_when_asked(
    instance_a, shop, current, target
):
    service = _service_in(instance_a, shop, current)
    used = disk_used()
    with schema_context(instance_a.schema_name):
        events = AuditEvent.objects.count()

        with pytest.raises(services.InvalidServiceTransition) as refused:
            services.service_transition(service=service, to=target)

        assert str(refused.value) == (
            f"The service is {S(current).label.lower()}; it cannot become "
            f"{S(target).label.lower()}."
        )
        assert isinstance(refused.value, InvalidTransition)
        assert Service.objects.get(pk=service.pk).status == current
        assert AuditEvent.objects.count() == events
    assert disk_used() == used


@pytest.mark.parametrize(
    ("first", "then", "sentence"),
    [
        ("accept", "accept", "Order #{pk} is accepted already."),
        ("cancel", "accept", "Order #{pk} is cancelled already."),
        ("cancel", "cancel", "Order #{pk} is cancelled already."),
    ],
)
def test_an_illegal_order_move_is_refused_with_a_sentence_and_changes_nothing_when_asked(
    instance_a, shop, first, then, sentence
):
    pk = place_order(instance_a, shop, accept=False)
    with schema_context(instance_a.schema_name):
        order = Order.objects.get(pk=pk)
        getattr(services, f"order_{first}")(order=order)
        status = Order.objects.get(pk=pk).status
        before = (Service.objects.count(), Invoice.objects.count(), AuditEvent.objects.count())

        with pytest.raises(services.InvalidOrderTransition) as refused:
            getattr(services, f"order_{then}")(order=order)

        assert str(refused.value) == sentence.format(pk=pk)
        assert isinstance(refused.value, InvalidTransition)
        assert Order.objects.get(pk=pk).status == status
        after = (Service.objects.count(), Invoice.objects.count(), AuditEvent.objects.count())
        assert after == before


def test_an_illegal_order_move_is_a_409_json_when_asked_through_the_api(instance_a, shop):
    owner = client_for(instance_a, instance_a.owner)
    pk = place_order(instance_a, shop, accept=False)
    first = owner.post(f"/api/orders/{pk}/cancel/", {}, content_type="application/json")
    assert first.status_code == 200

    response = owner.post(f"/api/orders/{pk}/cancel/", {}, content_type="application/json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Order #{pk} is cancelled already.",
        "code": "invalid_transition",
    }
    with schema_context(instance_a.schema_name):
        assert Order.objects.get(pk=pk).status == "cancelled"


def test_an_illegal_service_move_is_a_message_on_the_service_page_when_asked(instance_a, shop):
    owner = client_for(instance_a, instance_a.owner)
    service = _service_in(instance_a, shop, S.TERMINATED)

    page = owner.post(f"/staff/orders/services/{service.pk}/suspend/", follow=True)

    assert "The service is terminated; it cannot become suspended." in page.content.decode()
    with schema_context(instance_a.schema_name):
        assert Service.objects.get(pk=service.pk).status == S.TERMINATED


def test_accepting_takes_capacity_before_the_invoice_is_numbered_when_services_start(
    instance_a, shop
):
    pk = place_order(instance_a, shop, accept=False)
    issued_when_reserving = []
    original = ports.capacity_reserve.implementation

    def reserve(*, schema_name, demands):
        issued_when_reserving.append(Invoice.objects.exclude(status=Invoice.Status.DRAFT).count())
        return original(schema_name=schema_name, demands=demands)

    with schema_context(instance_a.schema_name), ports.capacity_reserve.plugged(reserve):
        invoice = services.order_accept(order=Order.objects.get(pk=pk))

        assert issued_when_reserving == [0]
        assert invoice.number
    assert disk_used() == 10
