"""Support staff read customers but cannot change their tax terms (tax status, tax id,
exemption reason, currency): one rule (`clients.services.tax_terms_guard`) refuses it on
the API with a 403 and writes nothing, and the staff form shows those fields read-only and
ignores them in a crafted POST. Billing roles keep changing them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from tenant_apps.accounts.models import Role
from tenant_apps.clients import services
from tenant_apps.clients.models import Customer
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import PASSWORD, client_for
from tests.test_clients_services import CustomerFactory
from tests.test_clients_vies import VALID, ValidChecker, use_vat_checker
from tests.test_clients_views import create_form, edit_form

API = "/api/customers/"
TAX_TERMS = ("currency", "tax_id", "tax_id_status", "tax_exempt", "tax_exempt_reason")


@pytest.fixture(autouse=True)
def vies_confirms():
    use_vat_checker(VALID)
    ValidChecker.calls = []


@pytest.fixture
def customer(instance_a) -> Customer:
    with schema_context(instance_a.schema_name):
        return CustomerFactory(kind="company", company_name="Odigo SA", phone="+33 1")


def terms_of(info, customer: Customer) -> dict:
    with schema_context(info.schema_name):
        fresh = Customer.objects.get(pk=customer.pk)
        return {field: getattr(fresh, field) for field in (*TAX_TERMS, "phone")}


def updates_of(info, customer: Customer) -> int:
    with schema_context(info.schema_name):
        return audit_event_list(action="customer.updated", customer_id=customer.pk).count()


def billing_client(info):
    with schema_context(info.schema_name):
        get_user_model().objects.create_user(
            email="billing@acme.test", password=PASSWORD, role=Role.BILLING
        )
    return client_for(info, "billing@acme.test")


@pytest.mark.parametrize(
    "change",
    [
        {"tax_exempt": True},
        {"tax_id": "FR 40 303 265 045"},
        {"tax_id_status": "valid"},
        {"tax_exempt_reason": "Article 151 VAT Directive"},
        {"currency": "USD"},
        {"tax_exempt": True, "phone": "+33 2"},  # the allowed part is not written either
    ],
)
def test_support_patch_of_a_tax_term_answers_403_and_writes_nothing(instance_a, customer, change):
    before = terms_of(instance_a, customer)
    support = client_for(instance_a, instance_a.support)

    response = support.patch(f"{API}{customer.pk}/", change, content_type="application/json")

    assert response.status_code == 403
    assert "billing staff" in response.json()["detail"]
    assert terms_of(instance_a, customer) == before
    assert updates_of(instance_a, customer) == 0
    assert ValidChecker.calls == []  # refused before the registry was even asked


def test_support_patch_with_an_api_token_is_refused_the_same_way(instance_a, customer):
    with schema_context(instance_a.schema_name):
        token = Token.objects.create(
            user=get_user_model().objects.get(email=instance_a.support)
        ).key
    response = client_for(instance_a).patch(
        f"{API}{customer.pk}/",
        {"tax_exempt": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 403
    assert terms_of(instance_a, customer)["tax_exempt"] is False


def test_support_still_reads_customers_and_changes_their_contact_details(instance_a, customer):
    support = client_for(instance_a, instance_a.support)
    assert support.get(f"{API}{customer.pk}/").json()["tax_exempt"] is False

    response = support.patch(
        f"{API}{customer.pk}/", {"phone": "+33 9"}, content_type="application/json"
    )

    assert response.status_code == 200
    assert terms_of(instance_a, customer)["phone"] == "+33 9"


def test_support_put_that_repeats_the_current_tax_terms_is_accepted(instance_a, customer):
    support = client_for(instance_a, instance_a.support)
    body = support.get(f"{API}{customer.pk}/").json()
    del body["contacts"]  # changed through their own route
    body.update(phone="+33 7")

    response = support.put(f"{API}{customer.pk}/", body, content_type="application/json")

    assert response.status_code == 200
    assert terms_of(instance_a, customer)["phone"] == "+33 7"


def test_support_cannot_create_a_customer_with_tax_terms_set(instance_a):
    support = client_for(instance_a, instance_a.support)
    response = support.post(
        API,
        {"name": "Ex", "email": "ex@example.com", "country": "FR", "tax_exempt": True},
        content_type="application/json",
    )
    assert response.status_code == 403
    with schema_context(instance_a.schema_name):
        assert not Customer.objects.filter(email="ex@example.com").exists()


def test_billing_staff_change_tax_terms_through_the_api(instance_a, customer):
    response = billing_client(instance_a).patch(
        f"{API}{customer.pk}/",
        {"tax_exempt": True, "tax_exempt_reason": "Embassy", "currency": "USD"},
        content_type="application/json",
    )
    assert response.status_code == 200
    terms = terms_of(instance_a, customer)
    assert (terms["tax_exempt"], terms["tax_exempt_reason"], terms["currency"]) == (
        True,
        "Embassy",
        "USD",
    )


def test_the_service_itself_refuses_a_support_actor(instance_a, customer):
    with schema_context(instance_a.schema_name):
        support = get_user_model().objects.get(email=instance_a.support)
        with pytest.raises(PermissionDenied):
            services.customer_update(customer=customer, actor=support, tax_exempt=True)
        assert Customer.objects.get(pk=customer.pk).tax_exempt is False


def test_support_edit_form_shows_the_tax_terms_read_only(instance_a, customer):
    page = client_for(instance_a, instance_a.support).get(f"/staff/customers/{customer.pk}/edit/")

    form = page.context["form"]
    assert all(form.fields[name].disabled for name in ("currency", "tax_id", "tax_exempt"))
    assert not form.fields["phone"].disabled
    html = page.content.decode()
    assert 'name="tax_exempt_reason"' in html and "disabled" in html


def test_owner_edit_form_keeps_the_tax_terms_editable(instance_a, customer):
    page = client_for(instance_a, instance_a.owner).get(f"/staff/customers/{customer.pk}/edit/")
    assert not page.context["form"].fields["tax_exempt"].disabled


def test_support_crafted_edit_post_saves_the_rest_and_changes_no_tax_term(instance_a, customer):
    before = terms_of(instance_a, customer)
    data = edit_form(
        customer,
        [],
        phone="+33 5",
        currency="USD",
        tax_id="FR 40 303 265 045",
        tax_exempt="on",
        tax_exempt_reason="Because I said so",
    )

    response = client_for(instance_a, instance_a.support).post(
        f"/staff/customers/{customer.pk}/edit/", data
    )

    assert response.status_code == 302
    after = terms_of(instance_a, customer)
    assert after["phone"] == "+33 5"
    assert {k: after[k] for k in TAX_TERMS} == {k: before[k] for k in TAX_TERMS}


def test_support_crafted_create_post_adds_the_customer_without_tax_terms(instance_a):
    data = create_form(
        email="crafted@example.com", currency="USD", tax_exempt="on", tax_exempt_reason="x"
    )
    response = client_for(instance_a, instance_a.support).post("/staff/customers/new/", data)

    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        created = Customer.objects.get(email="crafted@example.com")
        assert (created.currency, created.tax_id, created.tax_exempt) == ("EUR", "", False)
        assert created.tax_exempt_reason == ""
