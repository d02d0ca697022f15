"""Catalog API: products with nested prices, archive, tax classes, permissions, isolation."""

import factory
import pytest
from django_tenants.utils import schema_context

from tenant_apps.catalog.models import Price, Product, TaxClass
from tests.conftest import client_for

MONTHLY = {"currency": "EUR", "cycle": "monthly", "amount": "9.90"}
ANNUAL = {"currency": "EUR", "cycle": "annual", "amount": "99.00", "setup_fee": "5.00"}
PRODUCT = {
    "code": "web-s",
    "name": "Web S",
    "tax_class": "standard",
    "resources": {"disk_gb": 10},
    "prices": [MONTHLY, ANNUAL],
}


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    tax_class = factory.LazyFunction(lambda: TaxClass.objects.get(code="standard"))


@pytest.fixture
def owner(instance_a):
    return client_for(instance_a, instance_a.owner)


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_owner_creates_a_product_with_nested_prices(owner, instance_a):
    response = post(owner, "/api/products/", PRODUCT)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "web-s" and body["kind"] == "plan" and body["is_active"] is True
    assert body["tax_class"] == "standard" and body["resources"] == {"disk_gb": 10}
    assert sorted((p["cycle"], p["amount"], p["setup_fee"]) for p in body["prices"]) == [
        ("annual", "99.00", "5.00"),
        ("monthly", "9.90", "0.00"),
    ]
    with schema_context(instance_a.schema_name):
        assert Price.objects.filter(product__code="web-s").count() == 2


def test_list_and_retrieve(owner, instance_a):
    with schema_context(instance_a.schema_name):
        product = ProductFactory(name="Web S")
        ProductFactory(name="Backup", kind=Product.Kind.ADDON)
    listed = owner.get("/api/products/", {"kind": "plan"}).json()
    assert [p["name"] for p in listed["results"]] == ["Web S"]
    assert owner.get(f"/api/products/{product.pk}/").json()["name"] == "Web S"


def test_put_replaces_prices_and_patch_changes_one_field(owner, instance_a):
    product_id = post(owner, "/api/products/", PRODUCT).json()["id"]
    replaced = owner.put(
        f"/api/products/{product_id}/",
        {**PRODUCT, "prices": [{"currency": "USD", "cycle": "monthly", "amount": "11"}]},
        content_type="application/json",
    )
    assert replaced.status_code == 200, replaced.content
    assert [(p["currency"], p["amount"]) for p in replaced.json()["prices"]] == [("USD", "11.00")]
    patched = owner.patch(
        f"/api/products/{product_id}/", {"name": "Web Small"}, content_type="application/json"
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Web Small" and len(patched.json()["prices"]) == 1


def test_addons_are_given_by_code(owner, instance_a):
    with schema_context(instance_a.schema_name):
        ProductFactory(code="backup", kind=Product.Kind.ADDON)
    response = post(owner, "/api/products/", {**PRODUCT, "addons": ["backup"]})
    assert response.status_code == 201 and response.json()["addons"] == ["backup"]


def test_archive_and_restore(owner, instance_a):
    with schema_context(instance_a.schema_name):
        product = ProductFactory()
    archived = owner.post(f"/api/products/{product.pk}/archive/")
    assert archived.status_code == 200 and archived.json()["is_active"] is False
    assert owner.post(f"/api/products/{product.pk}/restore/").json()["is_active"] is True


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"prices": [{**MONTHLY, "currency": "XYZ"}]}, "prices"),
        ({"prices": [{**MONTHLY, "amount": "-1"}]}, "prices"),
        ({"prices": [{**MONTHLY, "setup_fee": "-1"}]}, "prices"),
        ({"prices": [MONTHLY, MONTHLY]}, "prices"),
        ({"resources": {"unicorns": 2}}, "resources"),
        ({"resources": {"disk_gb": -2}}, "resources"),
        ({"addons": ["no-such-product"]}, "addons"),
        ({"code": "bad code"}, "code"),
        ({"tax_class": "nope"}, "tax_class"),
        ({"is_reseller_plan": True}, "is_reseller_plan"),
    ],
)
def test_bad_input_is_a_400_keyed_by_field_and_writes_nothing(owner, instance_a, changes, field):
    response = post(owner, "/api/products/", {**PRODUCT, **changes})
    assert response.status_code == 400, response.content
    assert field in response.json()
    with schema_context(instance_a.schema_name):
        assert not Product.objects.exists() and not Price.objects.exists()


def test_plan_as_addon_and_self_as_addon_are_400(owner, instance_a):
    with schema_context(instance_a.schema_name):
        ProductFactory(code="other-plan")
        addon = ProductFactory(code="backup", kind=Product.Kind.ADDON)
    response = post(owner, "/api/products/", {**PRODUCT, "addons": ["other-plan"]})
    assert response.status_code == 400 and "not an add-on" in response.json()["addons"][0]
    itself = owner.patch(
        f"/api/products/{addon.pk}/",
        {"kind": "plan", "addons": ["backup"]},
        content_type="application/json",
    )
    assert itself.status_code == 400 and "itself" in itself.json()["addons"][0]
    with schema_context(instance_a.schema_name):
        assert Product.objects.get(pk=addon.pk).kind == Product.Kind.ADDON


def test_duplicate_code_is_a_400(owner, instance_a):
    with schema_context(instance_a.schema_name):
        ProductFactory(code="web-s")
    response = post(owner, "/api/products/", PRODUCT)
    assert response.status_code == 400 and "already exists" in response.json()["code"][0]


def test_support_staff_read_but_cannot_write(instance_a):
    with schema_context(instance_a.schema_name):
        product = ProductFactory()
    support = client_for(instance_a, instance_a.support)
    assert support.get("/api/products/").status_code == 200
    assert post(support, "/api/products/", PRODUCT).status_code == 403
    assert support.patch(
        f"/api/products/{product.pk}/", {"name": "x"}, content_type="application/json"
    ).status_code == (403)
    assert support.post(f"/api/products/{product.pk}/archive/").status_code == 403
    assert post(support, "/api/tax-classes/", {"code": "x", "name": "X"}).status_code == 403
    with schema_context(instance_a.schema_name):
        assert Product.objects.get(pk=product.pk).is_active


def test_customers_get_403(instance_a):
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get("/api/products/").status_code == 403
    assert customer.get("/api/tax-classes/").status_code == 403


def test_product_of_instance_a_is_404_from_instance_b(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        product = ProductFactory(name="Acme secret plan")
    with schema_context(instance_b.schema_name):
        assert not Product.objects.filter(pk=product.pk).exists()
    owner_b = client_for(instance_b, instance_b.owner)
    assert owner_b.get(f"/api/products/{product.pk}/").status_code == 404
    assert owner_b.post(f"/api/products/{product.pk}/archive/").status_code == 404
    assert "Acme secret plan" not in owner_b.get("/api/products/").content.decode()


def test_unknown_or_malformed_id_is_404_json(owner):
    assert owner.get("/api/products/999999/").status_code == 404
    assert owner.get("/api/products/abc/").status_code == 404


def test_tax_classes_are_listed_created_and_renamed(owner):
    listed = owner.get("/api/tax-classes/").json()
    assert "standard" in [t["code"] for t in listed["results"]]
    created = post(owner, "/api/tax-classes/", {"code": "reduced", "name": "Reduced"})
    assert created.status_code == 201, created.content
    renamed = owner.patch(
        f"/api/tax-classes/{created.json()['id']}/",
        {"name": "Reduced 5.5"},
        content_type="application/json",
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Reduced 5.5"
    same_code = owner.put(
        f"/api/tax-classes/{created.json()['id']}/",
        {"code": "reduced", "name": "Reduced rate"},
        content_type="application/json",
    )
    assert same_code.status_code == 200


def test_duplicate_tax_class_code_is_a_400(owner):
    response = post(owner, "/api/tax-classes/", {"code": "STANDARD", "name": "Again"})
    assert response.status_code == 400 and "code" in response.json()


def test_openapi_schema_documents_catalog_endpoints(owner):
    body = owner.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/products/" in body and "/api/products/{id}/archive/" in body
    assert "/api/tax-classes/" in body and "ProductWrite" in body
