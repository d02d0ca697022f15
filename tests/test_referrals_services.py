"""Referer services and selectors: create, update, deactivate, look-up by code."""

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django_tenants.utils import schema_context

from tenant_apps.clients.models import Customer
from tenant_apps.referrals import selectors, services
from tenant_apps.referrals.models import Referer


@pytest.fixture
def in_a(instance_a):
    with schema_context(instance_a.schema_name):
        yield


def test_referer_is_created_with_its_customer(in_a):
    customer = Customer.objects.create(name="Alice", email="alice@example.com", country="FR")
    referer = services.referer_create(
        code="alice", name="Alice M", email="alice@example.com", customer=customer
    )
    assert Referer.objects.get(pk=referer.pk).customer == customer


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"code": ""}, "code"),
        ({"code": "has space"}, "code"),
        ({"code": "x" * 41}, "code"),
        ({"code": "PARTNER"}, "code"),  # taken as "partner": codes ignore case
        ({"name": ""}, "name"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_written(in_a, changes, field):
    services.referer_create(code="partner", name="Partner")
    with pytest.raises(ValidationError) as caught:
        services.referer_create(**{"code": "newcomer", "name": "Newcomer", **changes})
    assert field in caught.value.message_dict
    assert list(Referer.objects.values_list("code", flat=True)) == ["partner"]


def test_update_changes_only_what_is_given(in_a):
    referer = services.referer_create(code="partner", name="Partner", email="p@example.com")
    services.referer_update(referer=referer, name="Partner Ltd")
    referer.refresh_from_db()
    assert (referer.code, referer.name, referer.email) == (
        "partner",
        "Partner Ltd",
        "p@example.com",
    )


def test_update_may_keep_its_own_code_in_another_case(in_a):
    referer = services.referer_create(code="partner", name="Partner")
    services.referer_update(referer=referer, code="Partner")
    assert Referer.objects.get(pk=referer.pk).code == "Partner"


def test_code_lookup_ignores_case_and_skips_inactive_referers(in_a):
    referer = services.referer_create(code="Partner", name="Partner")
    assert selectors.referer_by_code("PARTNER") == referer
    assert selectors.referer_by_code(" partner ") == referer
    assert selectors.referer_by_code("nobody") is None
    assert selectors.referer_by_code("") is None
    services.referer_deactivate(referer=referer)
    assert selectors.referer_by_code("partner") is None
    services.referer_reactivate(referer=referer)
    assert selectors.referer_by_code("partner") == referer


def test_referer_from_request_reads_the_cookie(in_a):
    referer = services.referer_create(code="partner", name="Partner")
    request = RequestFactory().get("/")
    assert selectors.referer_from_request(request) is None
    request.COOKIES["upline_ref"] = "partner"
    assert selectors.referer_from_request(request) == referer


def test_referer_list_counts_orders_and_filters(in_a):
    services.referer_create(code="alpha", name="Alpha")
    beta = services.referer_create(code="beta", name="Beta")
    services.referer_deactivate(referer=beta)
    assert [r.orders_count for r in selectors.referer_list()] == [0, 0]
    assert [r.code for r in selectors.referer_list(active=True)] == ["alpha"]
    assert [r.code for r in selectors.referer_list(search="bet")] == ["beta"]
