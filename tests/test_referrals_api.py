"""Referers API: list, create, update, deactivate; permissions and isolation."""

import pytest
from django_tenants.utils import schema_context

from tenant_apps.referrals import services
from tenant_apps.referrals.models import Referer
from tests.conftest import client_for


@pytest.fixture
def owner(instance_a):
    return client_for(instance_a, instance_a.owner)


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def test_owner_creates_and_lists_referers_with_share_links(owner, instance_a):
    created = post(owner, "/api/referers/", {"code": "partner", "name": "Partner"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["share_link"] == f"http://{instance_a.host}/?ref=partner"
    assert body["orders_count"] == 0 and body["is_active"] is True and body["customer"] is None
    listed = owner.get("/api/referers/").json()["results"]
    assert [r["code"] for r in listed] == ["partner"]


def test_patch_and_deactivate(owner, instance_a):
    referer_id = post(owner, "/api/referers/", {"code": "partner", "name": "Partner"}).json()["id"]
    patched = owner.patch(
        f"/api/referers/{referer_id}/", {"name": "Partner Ltd"}, content_type="application/json"
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Partner Ltd"
    deactivated = post(owner, f"/api/referers/{referer_id}/deactivate/")
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False


@pytest.mark.parametrize(
    "body, field",
    [
        ({"code": "PARTNER", "name": "Copy"}, "code"),
        ({"code": "bad code", "name": "X"}, "code"),
        ({"code": "new", "name": ""}, "name"),
        ({"code": "new", "name": "X", "customer": 999999}, "customer"),
    ],
)
def test_bad_input_is_a_400_keyed_by_field(owner, instance_a, body, field):
    with schema_context(instance_a.schema_name):
        services.referer_create(code="partner", name="Partner")
    response = post(owner, "/api/referers/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    with schema_context(instance_a.schema_name):
        assert Referer.objects.count() == 1


def test_support_reads_but_cannot_write_and_customers_are_refused(instance_a):
    with schema_context(instance_a.schema_name):
        referer = services.referer_create(code="partner", name="Partner")
    support = client_for(instance_a, instance_a.support)
    assert support.get("/api/referers/").status_code == 200
    assert post(support, "/api/referers/", {"code": "x", "name": "X"}).status_code == 403
    assert post(support, f"/api/referers/{referer.pk}/deactivate/").status_code == 403
    assert client_for(instance_a, instance_a.customer).get("/api/referers/").status_code == 403


def test_referer_of_instance_a_is_404_from_instance_b(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        referer = services.referer_create(code="partner", name="Acme secret partner")
    with schema_context(instance_b.schema_name):
        assert not Referer.objects.filter(pk=referer.pk).exists()
    owner_b = client_for(instance_b, instance_b.owner)
    assert owner_b.get(f"/api/referers/{referer.pk}/").status_code == 404
    assert "Acme secret partner" not in owner_b.get("/api/referers/").content.decode()


def test_openapi_schema_documents_referers(owner):
    body = owner.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/referers/" in body and "/api/referers/{id}/deactivate/" in body
