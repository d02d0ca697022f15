"""Referer staff screens: list with share links and order counts, create, edit, deactivate."""

import pytest
from django_tenants.utils import schema_context

from tenant_apps.clients.models import Customer
from tenant_apps.orders.models import Order
from tenant_apps.referrals import services
from tenant_apps.referrals.models import Referer
from tests.conftest import client_for


@pytest.fixture
def owner(instance_a):
    return client_for(instance_a, instance_a.owner)


def make_referer(info, **fields):
    with schema_context(info.schema_name):
        return services.referer_create(**{"code": "partner", "name": "Partner", **fields})


def test_owner_creates_a_referer_and_sees_its_share_link(owner, instance_a):
    response = owner.post(
        "/staff/referrals/new/", {"name": "Partner", "code": "partner", "email": "", "customer": ""}
    )
    assert response.status_code == 302
    page = owner.get("/staff/referrals/").content.decode()
    assert "Partner" in page
    assert f"http://{instance_a.host}/?ref=partner" in page


def test_list_shows_how_many_orders_each_referer_brought(owner, instance_a):
    referer = make_referer(instance_a)
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.create(name="Alice", email="a@example.com", country="FR")
        for _ in range(3):
            Order.objects.create(customer=customer, referer=referer, currency="EUR")
    page = owner.get("/staff/referrals/").content.decode()
    assert '<td class="num">3</td>' in page


def test_owner_edits_a_referer_and_links_a_customer(owner, instance_a):
    referer = make_referer(instance_a)
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.create(name="Alice", email="a@example.com", country="FR")
    page = owner.get(f"/staff/referrals/{referer.pk}/edit/").content.decode()
    assert f"http://{instance_a.host}/?ref=partner" in page
    response = owner.post(
        f"/staff/referrals/{referer.pk}/edit/",
        {"name": "Partner Ltd", "code": "partner", "email": "", "customer": str(customer.pk)},
    )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        referer.refresh_from_db()
        assert (referer.name, referer.customer_id) == ("Partner Ltd", customer.pk)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"code": "PARTNER"}, "already taken"),
        ({"code": "no spaces"}, "letters, digits"),
        ({"email": "nope"}, "valid email"),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(owner, instance_a, data, message):
    make_referer(instance_a)
    body = {"name": "Other", "code": "other", "email": "", "customer": "", **data}
    response = owner.post("/staff/referrals/new/", body)
    assert response.status_code == 200
    assert message in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert Referer.objects.count() == 1


def test_deactivate_and_reactivate(owner, instance_a):
    referer = make_referer(instance_a)
    assert owner.post(f"/staff/referrals/{referer.pk}/deactivate/").status_code == 302
    with schema_context(instance_a.schema_name):
        assert not Referer.objects.get(pk=referer.pk).is_active
    assert "Inactive" in owner.get("/staff/referrals/").content.decode()
    owner.post(f"/staff/referrals/{referer.pk}/reactivate/")
    with schema_context(instance_a.schema_name):
        assert Referer.objects.get(pk=referer.pk).is_active


def test_support_staff_read_but_cannot_change_referers(instance_a):
    referer = make_referer(instance_a)
    support = client_for(instance_a, instance_a.support)
    page = support.get("/staff/referrals/")
    assert page.status_code == 200 and b"/staff/referrals/new/" not in page.content
    assert support.get("/staff/referrals/new/").status_code == 403
    assert support.post(f"/staff/referrals/{referer.pk}/deactivate/").status_code == 403
    body = {"name": "X", "code": "partner", "email": "", "customer": ""}
    assert support.post(f"/staff/referrals/{referer.pk}/edit/", body).status_code == 403
    with schema_context(instance_a.schema_name):
        assert Referer.objects.get(pk=referer.pk).is_active


def test_customers_are_refused(instance_a):
    assert client_for(instance_a, instance_a.customer).get("/staff/referrals/").status_code == 403


def test_referer_of_instance_a_is_not_found_from_instance_b(instance_a, instance_b):
    referer = make_referer(instance_a, name="Acme secret partner")
    with schema_context(instance_b.schema_name):
        assert not Referer.objects.filter(pk=referer.pk).exists()
    owner_b = client_for(instance_b, instance_b.owner)
    assert owner_b.get(f"/staff/referrals/{referer.pk}/edit/").status_code == 404
    assert owner_b.post(f"/staff/referrals/{referer.pk}/deactivate/").status_code == 404
    assert "Acme secret partner" not in owner_b.get("/staff/referrals/").content.decode()


def test_empty_list_invites_to_create_a_referer(owner):
    page = owner.get("/staff/referrals/").content.decode()
    assert "No referers yet" in page
    assert 'class="nav-item active" aria-current="page" href="/staff/referrals/"' in page
