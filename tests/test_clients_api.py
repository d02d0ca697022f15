"""Customers API: list, create, read, update, close, VIES re-check, contacts, isolation.

Bad input is a 400 keyed by field; other instances and customer users get 404 / 403.
"""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.clients.models import Customer
from tests.conftest import client_for
from tests.test_clients_services import CustomerFactory
from tests.test_clients_vies import UNREACHABLE, VALID, ValidChecker, use_vat_checker

API = "/api/customers/"


@pytest.fixture(autouse=True)
def vies_confirms(settings):
    use_vat_checker(VALID)
    ValidChecker.calls = []


@pytest.fixture
def api(instance_a):
    return client_for(instance_a, instance_a.owner)


def in_schema(info, make):
    with schema_context(info.schema_name):
        return make()


COMPANY = {
    "kind": "company",
    "name": "Jeanne Martin",
    "company_name": "Odigo SA",
    "email": "billing@odigo.example",
    "country": "FR",
    "currency": "EUR",
    "tax_id": "FR 40 303 265 045",
    "contacts": [{"name": "Paul", "email": "paul@odigo.example", "receives_invoices": True}],
}


def test_create_returns_the_customer_with_its_checked_vat_id(api, instance_a):
    response = api.post(API, COMPANY, content_type="application/json")

    assert response.status_code == 201
    body = response.json()
    assert body["tax_id"] == "FR40303265045"
    assert body["tax_id_status"] == "valid"
    assert "ODIGO SA" in body["tax_id_check_detail"]
    assert body["contacts"][0]["email"] == "paul@odigo.example"
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=body["id"]).display_name == "Odigo SA"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"currency": "XYZ"}, "currency"),
        ({"tax_id": "FR123"}, "tax_id"),
        ({"company_name": ""}, "company_name"),
        ({"country": ""}, "country"),
    ],
)
def test_bad_input_is_a_400_keyed_by_field_and_writes_nothing(api, instance_a, change, field):
    response = api.post(API, {**COMPANY, **change}, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()
    with schema_context(instance_a.schema_name):
        assert not Customer.objects.exists()


def test_create_with_unreachable_vies_is_201_and_unverified(api, settings):
    use_vat_checker(UNREACHABLE)
    body = api.post(API, COMPANY, content_type="application/json").json()

    assert body["tax_id_status"] == "unverified"
    assert body["tax_id_check_detail"].startswith("VIES unreachable at")
    assert body["tax_id_checked_at"]


def test_list_is_paginated_and_filtered(api, instance_a):
    def arrange():
        CustomerFactory(name="Alpha", country="BE")
        CustomerFactory(name="Bravo", country="FR", kind="company", company_name="Bravo SARL")

    in_schema(instance_a, arrange)
    everyone = api.get(API).json()
    assert everyone["count"] == 2 and len(everyone["results"]) == 2
    assert [c["name"] for c in api.get(API, {"q": "brav"}).json()["results"]] == ["Bravo"]
    assert [c["name"] for c in api.get(API, {"country": "BE"}).json()["results"]] == ["Alpha"]
    assert api.get(API, {"kind": "company", "status": "closed"}).json()["count"] == 0
    assert api.get(API, {"country": "DE"}).json()["count"] == 0


def test_unknown_filter_value_is_a_400(api):
    response = api.get(API, {"status": "sleeping"})
    assert response.status_code == 400 and "status" in response.json()


def test_patch_changes_fields_and_rechecks_a_new_vat_id(api, instance_a):
    customer = in_schema(instance_a, lambda: CustomerFactory(city="Paris"))
    response = api.patch(
        f"{API}{customer.pk}/",
        {"city": "Lyon", "tax_id": "40303265045"},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["city"] == "Lyon"
    assert response.json()["tax_id"] == "FR40303265045"
    assert ValidChecker.calls == [("FR", "40303265045")]


def test_patch_with_bad_input_is_a_400_and_changes_nothing(api, instance_a):
    customer = in_schema(instance_a, lambda: CustomerFactory(city="Paris"))
    response = api.patch(
        f"{API}{customer.pk}/", {"city": "Lyon", "currency": "XYZ"}, content_type="application/json"
    )
    assert response.status_code == 400 and "currency" in response.json()
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).city == "Paris"


def test_put_requires_the_identifying_fields(api, instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    response = api.put(f"{API}{customer.pk}/", {"city": "Lyon"}, content_type="application/json")
    assert response.status_code == 400
    assert {"name", "email", "country"} <= set(response.json())


def test_credit_balance_cannot_be_written_through_the_api(api, instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    api.patch(f"{API}{customer.pk}/", {"credit_balance": "999"}, content_type="application/json")
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).credit_balance == 0


def test_close_and_verify_tax_id_actions(api, instance_a):
    customer = in_schema(
        instance_a, lambda: CustomerFactory(tax_id="FR40303265045", tax_id_status="unverified")
    )
    verified = api.post(f"{API}{customer.pk}/verify-tax-id/")
    assert verified.status_code == 200 and verified.json()["tax_id_status"] == "valid"

    closed = api.post(f"{API}{customer.pk}/close/")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = api.post(f"{API}{customer.pk}/close/")
    assert again.status_code == 400 and "status" in again.json()


def test_verify_without_a_tax_id_is_a_400(api, instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    response = api.post(f"{API}{customer.pk}/verify-tax-id/")
    assert response.status_code == 400 and "tax_id" in response.json()


def test_contacts_are_listed_and_added(api, instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    url = f"{API}{customer.pk}/contacts/"

    added = api.post(
        url, {"name": "Tina", "email": "tina@x.example"}, content_type="application/json"
    )
    assert added.status_code == 201
    assert [c["email"] for c in api.get(url).json()] == ["tina@x.example"]
    bad = api.post(url, {"name": "Tina", "email": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and "email" in bad.json()


def test_customer_of_a_is_a_404_on_b(instance_a, instance_b):
    customer = in_schema(instance_a, CustomerFactory)
    b_api = client_for(instance_b, instance_b.owner)

    assert b_api.get(f"{API}{customer.pk}/").status_code == 404
    assert (
        b_api.patch(f"{API}{customer.pk}/", {}, content_type="application/json").status_code == 404
    )
    assert b_api.post(f"{API}{customer.pk}/close/").status_code == 404
    assert b_api.get(API).json()["count"] == 0


def test_customer_users_get_403_on_the_customers_api(instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    client = client_for(instance_a, instance_a.customer)

    assert client.get(API).status_code == 403
    assert client.get(f"{API}{customer.pk}/").status_code == 403
    assert client.post(API, COMPANY, content_type="application/json").status_code == 403


def test_anonymous_calls_are_refused(instance_a):
    assert client_for(instance_a).get(API).status_code in (401, 403)


def test_schema_documents_the_customer_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]

    assert {"get", "post"} <= set(paths["/api/customers/"])
    assert {"get", "put", "patch"} <= set(paths["/api/customers/{id}/"])
    assert "post" in paths["/api/customers/{id}/close/"]
    assert "post" in paths["/api/customers/{id}/verify-tax-id/"]
    assert {"get", "post"} <= set(paths["/api/customers/{id}/contacts/"])
    parameters = {p["name"] for p in paths["/api/customers/"]["get"]["parameters"]}
    assert {"q", "status", "kind", "country", "page"} <= parameters
