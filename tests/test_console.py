"""Operator console: reseller table, create form, detail, lifecycle actions, API."""

import pytest
from django_tenants.utils import schema_exists

from shared_apps.tenancy.models import Allocation, Reseller
from tests.conftest import client_for

CREATE = {
    "name": "Cedar Cloud",
    "legal_name": "Cedar Cloud BV",
    "slug": "cedar",
    "owner_email": "owner@cedar.test",
    "owner_name": "Cee",
    "owner_password": "",
    "custom_domains": "",
    "alloc_disk_gb": "250",
    "alloc_bandwidth_gb": "0",
    "alloc_hosting_accounts": "25",
    "alloc_domains": "0",
    "alloc_email_accounts": "0",
}


@pytest.fixture
def console(operator):
    return client_for(operator, operator.owner)


def test_reseller_table_lists_filters_and_sorts(console):
    page = console.get("/console/resellers/")
    assert page.status_code == 200
    assert b"Acme" in page.content and b"Bluebird" in page.content

    filtered = console.get("/console/resellers/", {"q": "blue"})
    assert b"Bluebird" in filtered.content and b"acme.upline.localhost" not in filtered.content

    by_name_desc = console.get("/console/resellers/", {"sort": "-name"}).content.decode()
    assert by_name_desc.index("Bluebird") < by_name_desc.index("Acme")


def test_reseller_table_paginates(console):
    for i in range(30):
        Reseller.objects.create(
            schema_name=f"r_page{i}",
            slug=f"page{i}",
            name=f"Page {i:02d}",
            legal_name="x",
            contact_email="x@x.test",
        )
    first = console.get("/console/resellers/", {"sort": "name"}).content.decode()
    second = console.get("/console/resellers/", {"sort": "name", "page": 2}).content.decode()
    assert "Page 00" in first and "Page 29" not in first
    assert "Page 29" in second


def test_filter_with_no_match_shows_empty_state(console):
    page = console.get("/console/resellers/", {"q": "zzz-none"})
    assert b"No resellers match" in page.content


def test_create_form_builds_a_working_instance(console, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post("/console/resellers/new/", CREATE)
    assert response.status_code == 302
    assert response["Location"] == "/console/resellers/cedar/"
    assert schema_exists("r_cedar")
    assert Allocation.objects.get(reseller__slug="cedar", resource_id="disk_gb").quantity == 250
    # The new instance answers on its own domain right away.
    assert console.get("/accounts/login/", HTTP_HOST="cedar.upline.localhost").status_code == 200


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"slug": "acme"}, "slug", "already exists"),
        ({"slug": "Not A Slug"}, "slug", "lowercase"),
        ({"slug": "www"}, "slug", "reserved"),
        ({"custom_domains": "acme.upline.localhost"}, "custom_domains", "assigned by Upline"),
        ({"alloc_disk_gb": "-5"}, "alloc_disk_gb", "greater than or equal to 0"),
        ({"owner_email": "not-an-email"}, "owner_email", "valid email"),
    ],
)
def test_create_form_shows_field_errors(console, change, field, message):
    response = console.post("/console/resellers/new/", {**CREATE, **change})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message.lower() in " ".join(errors[field]).lower()
    assert not schema_exists("r_cedar")


def test_duplicate_custom_domain_is_a_form_error(console, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/console/resellers/new/", {**CREATE, "custom_domains": "my.cedar.example"})
    response = console.post(
        "/console/resellers/new/",
        {**CREATE, "slug": "cedar2", "custom_domains": "my.cedar.example"},
    )
    assert "already in use" in " ".join(response.context["form"].errors["custom_domains"])


def test_detail_shows_allocations_and_usage(console, instance_a):
    Allocation.objects.filter(reseller__slug="acme", resource_id="disk_gb").update(used=80)
    page = console.get("/console/resellers/acme/").content.decode()
    assert "Disk space" in page and "80 GB" in page and 'value="100"' in page


def test_unknown_reseller_detail_is_404(console):
    assert console.get("/console/resellers/nope/").status_code == 404


def test_suspend_and_resume_from_the_detail_page(
    console, instance_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/console/resellers/acme/suspend/", {"reason": "unpaid invoice"})
    assert Reseller.objects.get(slug="acme").status == "suspended"
    assert client_for(instance_a).get("/").status_code == 503
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/console/resellers/acme/resume/")
    assert Reseller.objects.get(slug="acme").status == "active"


def test_resuming_an_active_reseller_is_a_message_not_an_error(console, instance_a):
    response = console.post("/console/resellers/acme/resume/", follow=True)
    assert response.status_code == 200
    assert b"cannot become active" in response.content


def test_allocation_below_usage_is_refused_with_a_message(console, instance_a):
    Allocation.objects.filter(reseller__slug="acme", resource_id="disk_gb").update(used=80)
    data = {
        "disk_gb": "50",
        "bandwidth_gb": "0",
        "hosting_accounts": "10",
        "domains": "0",
        "email_accounts": "0",
    }
    response = console.post("/console/resellers/acme/allocations/", data, follow=True)
    assert b"cannot go below" in response.content
    assert Allocation.objects.get(reseller__slug="acme", resource_id="disk_gb").quantity == 100


def test_support_staff_cannot_create_resellers(operator):
    client = client_for(operator, operator.support)
    response = client.post("/console/resellers/new/", CREATE)
    assert response.status_code == 403
    assert not Reseller.objects.filter(slug="cedar").exists()


def test_customer_cannot_see_the_console(operator):
    assert client_for(operator, operator.customer).get("/console/").status_code == 403


def test_api_creates_lists_and_suspends(console, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = console.post(
            "/api/console/resellers/",
            {
                "slug": "apico",
                "name": "API Co",
                "legal_name": "API Co Ltd",
                "owner_email": "o@apico.test",
                "allocations": {"disk_gb": 10},
            },
            content_type="application/json",
        )
    assert created.status_code == 201, created.content
    assert created.json()["domains"] == ["apico.upline.localhost"]
    slugs = [r["slug"] for r in console.get("/api/console/resellers/").json()["results"]]
    assert (
        slugs == sorted(slugs, key=lambda s: Reseller.objects.get(slug=s).name) and "apico" in slugs
    )
    suspended = console.post(
        "/api/console/resellers/apico/suspend/", {"reason": "test"}, content_type="application/json"
    )
    assert suspended.json()["status"] == "suspended"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"slug": "acme"}, "slug"),
        ({"slug": "pg_x"}, "slug"),
        ({"allocations": {"disk_gb": -1}}, "allocations"),
        ({"allocations": {"unicorns": 1}}, "allocations"),
        ({"owner_email": "x"}, "owner_email"),
    ],
)
def test_api_bad_input_is_a_400_with_the_field(console, payload, field):
    body = {
        "slug": "apico",
        "name": "API Co",
        "legal_name": "API Co Ltd",
        "owner_email": "o@apico.test",
        **payload,
    }
    response = console.post("/api/console/resellers/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_api_illegal_transition_is_a_409(console, instance_a):
    response = console.post("/api/console/resellers/acme/resume/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_api_unknown_reseller_is_404_json(console):
    response = console.get("/api/console/resellers/nope/")
    assert response.status_code == 404 and "detail" in response.json()


def test_openapi_schema_lists_console_and_account_endpoints(console):
    response = console.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.content.decode()
    assert "/api/console/resellers/" in body and "/api/me/" in body


def test_api_docs_page_renders(console):
    assert console.get("/api/docs/").status_code == 200
