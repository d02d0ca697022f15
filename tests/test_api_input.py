"""What the API answers to input it cannot use: a 400 with a sentence, never a 500, and
every refusal documented in the schema it serves (see also tests/test_api_fuzz.py)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from shared_apps.bridge import inbox
from shared_apps.tenancy.models import Allocation, Reseller
from shared_apps.tenancy.services import reseller_suspend
from tenant_apps.catalog.models import Product
from tenant_apps.clients.models import Customer
from tests.conftest import client_for
from tests.test_orders_screens import build_shop, place_order

NUL_MESSAGE = "Remove the NUL character (\\x00): text cannot contain it."
CUSTOMER = {"name": "Alice Martin", "email": "alice@example.com", "country": "FR"}


@pytest.fixture
def api(instance_a):
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        key = Token.objects.create(user=owner).key
    return client_for(instance_a), {"HTTP_AUTHORIZATION": f"Token {key}"}


def _customers(info) -> int:
    with schema_context(info.schema_name):
        return Customer.objects.count()


# --------------------------------------------------------------------------------------
# Bodies: JSON, form and multipart alike


def test_a_nul_byte_in_a_json_field_is_a_400_naming_the_field(api, instance_a):
    client, auth = api
    body = json.dumps({**CUSTOMER, "name": "Alice\x00Martin"})

    response = client.post("/api/customers/", body, content_type="application/json", **auth)

    assert response.status_code == 400
    assert response.json() == {"name": [NUL_MESSAGE]}
    assert _customers(instance_a) == 0


def test_a_nul_byte_in_a_form_or_multipart_field_is_refused_the_same_way(api, instance_a):
    client, auth = api
    data = {**CUSTOMER, "city": "Pa\x00ris"}

    multipart = client.post("/api/customers/", data, **auth)  # the test client's default
    form = client.post(
        "/api/customers/",
        "name=Alice&email=alice%40example.com&country=FR&city=Pa%00ris",
        content_type="application/x-www-form-urlencoded",
        **auth,
    )

    assert multipart.status_code == form.status_code == 400
    assert multipart.json() == form.json() == {"city": [NUL_MESSAGE]}
    assert _customers(instance_a) == 0


def test_a_nul_byte_in_a_key_nested_in_the_body_is_refused(api, instance_a):
    client, auth = api
    body = {"code": "web", "name": "Web", "tax_class": "standard", "resources": {"disk\x00": 1}}

    response = client.post(
        "/api/products/", json.dumps(body), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert response.json() == {"resources": [NUL_MESSAGE]}


def test_a_lone_surrogate_is_refused_like_a_nul(api):
    client, auth = api
    body = '{"name": "\\ud800", "email": "alice@example.com", "country": "FR"}'

    response = client.post("/api/customers/", body, content_type="application/json", **auth)

    assert response.status_code == 400
    assert "lone UTF-16 surrogate" in response.json()["name"][0]


def test_a_json_body_nested_too_deeply_is_a_400(api):
    client, auth = api

    response = client.post(
        "/api/customers/", "[" * 50_000 + "]" * 50_000, content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "The JSON body nests too deeply to be read."}


def test_a_body_past_the_upload_cap_is_a_400_whatever_its_format(api, instance_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    client, auth = api
    notes = "n" * 2_000

    as_json = client.post(
        "/api/customers/",
        json.dumps({**CUSTOMER, "notes": notes}),
        content_type="application/json",
        **auth,
    )
    as_form = client.post(
        "/api/customers/",
        f"name=Alice&email=alice%40example.com&country=FR&notes={notes}",
        content_type="application/x-www-form-urlencoded",
        **auth,
    )
    as_multipart = client.post("/api/customers/", {**CUSTOMER, "notes": notes}, **auth)

    message = "The body is larger than the 1,000 bytes an API call may send."
    assert as_json.status_code == as_form.status_code == as_multipart.status_code == 400
    assert as_json.json() == as_form.json() == {"detail": message}
    assert as_multipart.json() == {
        "detail": "The body, files apart, is larger than the 1,000 bytes an API call may send."
    }
    assert _customers(instance_a) == 0


def test_a_10000_character_name_is_a_400_and_creates_nothing(api, instance_a):
    client, auth = api
    body = json.dumps({**CUSTOMER, "name": "x" * 10_000})

    response = client.post("/api/customers/", body, content_type="application/json", **auth)

    assert response.status_code == 400
    assert response.json() == {"name": ["Ensure this field has no more than 200 characters."]}
    assert _customers(instance_a) == 0


def test_a_customer_without_name_email_or_country_is_a_400_not_a_500(api):
    client, auth = api

    response = client.post("/api/customers/", "{}", content_type="application/json", **auth)

    assert response.status_code == 400
    assert set(response.json()) == {"name", "email", "country"}


@pytest.mark.parametrize(
    "amount, message",
    [
        ("12,3.4", "A valid number is required."),
        ("12.345.6", "A valid number is required."),
        ("NaN", "A valid number is required."),
        ("1e400", "Ensure that there are no more than 14 digits in total."),
    ],
)
def test_a_malformed_money_amount_is_a_400(api, instance_a, amount, message):
    client, auth = api
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.create(**CUSTOMER)
    body = {"customer": customer.pk, "amount": amount, "method": "bank_transfer"}

    response = client.post(
        "/api/payments/", json.dumps(body), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert response.json() == {"amount": [message]}


def test_an_invoice_too_large_to_store_is_a_400_with_a_sentence(api, instance_a):
    client, auth = api
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.create(**CUSTOMER)
    line = {"description": "Everything", "unit_price": "9999999999.99", "quantity": "9999.00"}
    body = {"customer": customer.pk, "lines": [line]}

    response = client.post(
        "/api/invoices/", json.dumps(body), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert response.json()["lines"] == [
        "A document cannot come to 1,000,000,000,000 EUR or more: split it into several."
    ]


def test_a_product_position_beyond_the_column_is_a_400(api, instance_a):
    client, auth = api
    body = {"code": "web", "name": "Web", "tax_class": "standard", "position": 10**30}

    response = client.post(
        "/api/products/", json.dumps(body), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert "position" in response.json()
    with schema_context(instance_a.schema_name):
        assert not Product.objects.filter(code="web").exists()


# --------------------------------------------------------------------------------------
# Query strings


@pytest.mark.parametrize("path", ["/api/customers/?q=a%00b", "/api/me/?anything=%00"])
def test_a_nul_byte_in_a_query_parameter_is_a_400(api, path):
    client, auth = api

    response = client.get(path, **auth)

    assert response.status_code == 400
    assert NUL_MESSAGE in next(iter(response.json().values()))


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/orders/?customer=abc", "customer"),
        ("/api/orders/?customer=%C2%B2", "customer"),  # "²" is a digit to str.isdigit()
        ("/api/services/?product=1.5", "product"),
        ("/api/tickets/?status=nope", "status"),
        ("/api/tickets/?assignee=someone", "assignee"),
        ("/api/products/?active=maybe", "active"),
        ("/api/invoices/?customer=x", "customer"),
        ("/api/customers/?page=abc", "page"),
        ("/api/customers/?page=0", "page"),
    ],
)
def test_a_query_parameter_that_is_not_what_it_should_be_is_a_400_naming_it(api, path, field):
    client, auth = api

    response = client.get(path, **auth)

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/orders/?q=%23%C2%B2",  # "#²": a digit to str.isdigit(), not to int()
        "/api/tickets/?q=%23%C2%B2",
        "/staff/orders/new/?customer=%C2%B2",
        "/staff/billing/invoices/new/?customer=%C2%B2",
        "/staff/helpdesk/tickets/new/?customer=%C2%B2",
    ],
)
def test_a_superscript_digit_where_an_id_may_go_is_just_text(instance_a, path):
    response = client_for(instance_a, instance_a.owner).get(path)

    assert response.status_code == 200


def test_filters_still_filter_and_blank_ones_are_ignored(api, instance_a):
    client, auth = api
    shop = build_shop(instance_a)
    place_order(instance_a, shop)

    mine = client.get(f"/api/orders/?customer={shop.customer}&status=", **auth).json()
    other = client.get(f"/api/orders/?customer={shop.customer + 1000}", **auth).json()
    active = client.get("/api/products/?active=true", **auth).json()
    every = client.get("/api/products/", **auth).json()

    assert mine["count"] == 1 and other["count"] == 0
    assert active["count"] == every["count"] == 4


def test_a_page_past_the_last_is_a_404(api):
    client, auth = api

    response = client.get("/api/customers/?page=99999999999999999999", **auth)

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_an_api_address_that_matches_no_route_answers_json_and_a_page_answers_html(api):
    client, auth = api

    api_miss = client.get("/api/customers/not-a-number/", **auth)
    page_miss = client.get("/staff/no-such-page/")

    assert api_miss.status_code == page_miss.status_code == 404
    assert api_miss.json() == {"detail": "Not found."}
    assert page_miss["Content-Type"].startswith("text/html")


def test_an_inbox_time_with_an_offset_postgresql_refuses_is_read_in_utc(operator, instance_a):
    reseller = Reseller.objects.get(slug=instance_a.slug)
    key = inbox.inbox_token_create(reseller=reseller)[1]
    escalation = inbox.external_escalation_open(
        reseller=reseller, external_ref="T-1", subject="Mail", body="Bounces."
    )
    client = client_for(operator)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    url = f"/api/bridge/escalations/{escalation.pk}/"

    odd_offset = client.get(url, {"since": "2026-01-01T00:00:00+16:54"}, **auth)
    before_year_one = client.get(url, {"since": "0001-01-01T00:00:00+01:00"}, **auth)

    assert odd_offset.status_code == 200
    assert before_year_one.status_code == 400
    assert list(before_year_one.json()) == ["since"]


def test_an_allocation_beyond_a_bigint_is_a_400_and_changes_nothing(operator, instance_a):
    console = client_for(operator, operator.owner)

    response = console.put(
        f"/api/console/resellers/{instance_a.slug}/allocations/",
        json.dumps({"allocations": {"disk_gb": 10**30}}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "allocations" in response.json()
    assert (
        Allocation.objects.get(reseller__slug=instance_a.slug, resource_id="disk_gb").quantity
        == 100
    )


def test_a_suspended_instance_answers_api_calls_with_json(
    api, instance_a, django_capture_on_commit_callbacks
):
    client, auth = api
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=instance_a.reseller(), reason="unpaid")

    response = client.get("/api/customers/", **auth)
    page = client.get("/portal/")

    assert response.status_code == page.status_code == 503
    assert response["Retry-After"] == "3600"
    assert response.json() == {"detail": "This instance is suspended for now: try again later."}
    assert b"temporarily unavailable" in page.content


# --------------------------------------------------------------------------------------
# The schema documents the refusals


@pytest.fixture
def schema(api):
    client, auth = api
    return client.get("/api/schema/", {"format": "json"}, **auth).json()


def test_the_schema_documents_403_and_404_for_a_detail_route(schema):
    responses = schema["paths"]["/api/customers/{id}/"]["get"]["responses"]

    assert {"200", "400", "401", "403", "404", "429"} <= set(responses)
    for code in ("403", "404"):
        body = responses[code]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]


def test_the_schema_documents_bad_input_conflicts_and_rate_limits(schema):
    create = schema["paths"]["/api/invoices/"]["post"]["responses"]
    listing = schema["paths"]["/api/invoices/"]["get"]["responses"]

    assert create["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"
    }
    assert {"409", "415"} <= set(create)
    assert "409" not in listing  # reading never conflicts
    assert "404" in listing  # a page past the last
    assert "Retry-After" in listing["429"]["headers"]


def test_only_a_resellers_schema_documents_suspension_and_closing(schema, operator):
    console = client_for(operator, operator.owner)
    operators = console.get("/api/schema/", {"format": "json"}).json()

    acme_me = schema["paths"]["/api/me/"]["get"]["responses"]
    operator_me = operators["paths"]["/api/me/"]["get"]["responses"]

    assert {"410", "503"} <= set(acme_me)
    assert not {"410", "503"} & set(operator_me)


def test_refusals_a_view_declares_keep_their_words_and_get_the_shared_body(schema):
    issue = schema["paths"]["/api/invoices/{id}/issue/"]["post"]["responses"]["409"]

    assert issue["description"].startswith("Refused: bad input (400)")
    assert issue["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
