"""Isolation: data, sessions, tokens and logins of one instance mean nothing on another."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from shared_apps.tenancy.models import Reseller
from tenant_apps.accounts.models import Role
from tests.conftest import PASSWORD, client_for


def test_user_created_in_a_is_invisible_from_b_and_the_operator(instance_a, instance_b, operator):
    with schema_context(instance_a.schema_name):
        get_user_model().objects.create_user(email="secret@customer.test", role=Role.CUSTOMER)
    for schema in (instance_b.schema_name, operator.schema_name):
        with schema_context(schema):
            assert not get_user_model().objects.filter(email="secret@customer.test").exists()
    with schema_context(instance_a.schema_name):
        assert get_user_model().objects.filter(email="secret@customer.test").exists()


def test_each_instance_sees_only_its_own_users(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        a_emails = set(get_user_model().objects.values_list("email", flat=True))
    with schema_context(instance_b.schema_name):
        b_emails = set(get_user_model().objects.values_list("email", flat=True))
    assert instance_a.owner in a_emails and instance_a.owner not in b_emails
    assert instance_b.owner in b_emails and instance_b.owner not in a_emails


def test_login_of_a_does_not_work_on_b(instance_a, instance_b):
    client = client_for(instance_b)
    response = client.post("/accounts/login/", {"username": instance_a.owner, "password": PASSWORD})
    assert response.status_code == 200  # form redisplayed with an error
    assert b"correct" in response.content.lower() or b"enter a correct" in response.content.lower()
    assert "_auth_user_id" not in client.session


def test_login_works_on_its_own_instance(instance_a):
    client = client_for(instance_a)
    response = client.post("/accounts/login/", {"username": instance_a.owner, "password": PASSWORD})
    assert response.status_code == 302


def test_session_cookie_from_a_is_worthless_on_b(instance_a, instance_b):
    client = client_for(instance_a, instance_a.owner)
    assert client.get("/staff/").status_code == 200
    # Same cookie jar, other instance's host: not signed in there.
    response = client.get("/staff/", HTTP_HOST=instance_b.host)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_session_cookie_from_a_is_worthless_on_the_operator_console(instance_a, operator):
    client = client_for(instance_a, instance_a.owner)
    response = client.get("/console/", HTTP_HOST=operator.host)
    assert response.status_code == 302


def test_api_token_of_a_is_rejected_on_b(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        token = Token.objects.create(user=get_user_model().objects.get(email=instance_a.owner))
    headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    assert client_for(instance_a).get("/api/me/", **headers).status_code == 200
    assert client_for(instance_b).get("/api/me/", **headers).status_code == 401


def test_staff_api_lists_only_this_instances_staff(instance_a, instance_b):
    response = client_for(instance_a, instance_a.owner).get("/api/staff/")
    emails = {row["email"] for row in response.json()["results"]}
    assert instance_a.support in emails
    assert not any(e.endswith("bluebird.test") or e.endswith("operator.test") for e in emails)


def test_customer_cannot_use_the_staff_api_or_area(instance_a):
    client = client_for(instance_a, instance_a.customer)
    assert client.get("/api/staff/").status_code == 403
    assert client.get("/staff/").status_code == 403


def test_reseller_staff_cannot_use_the_console_api(instance_a):
    response = client_for(instance_a, instance_a.owner).get("/api/console/resellers/")
    assert response.status_code == 404


def test_reseller_superuser_admin_does_not_show_operator_tables(instance_a):
    with schema_context(instance_a.schema_name):
        get_user_model().objects.filter(email=instance_a.owner).update(
            is_superuser=True, is_django_admin=True
        )
    client = client_for(instance_a, instance_a.owner)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/tenancy/reseller/").status_code in (403, 404)


def test_dashboard_shows_only_this_resellers_allocation(instance_a, instance_b):
    from shared_apps.tenancy.services import allocation_set

    allocation_set(reseller=instance_b.reseller(), resource_code="disk_gb", quantity=777)
    page = client_for(instance_a, instance_a.owner).get("/staff/").content.decode()
    assert "100 GB" in page and "777" not in page


@pytest.mark.parametrize(
    "path", ["/staff/", "/staff/team/", "/staff/identity/", "/staff/api-tokens/", "/portal/"]
)
def test_every_area_page_requires_login(instance_a, path):
    response = client_for(instance_a).get(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_connection_returns_to_public_after_tests(db):
    assert connection.schema_name == "public"
    assert Reseller.objects.count() == 2
