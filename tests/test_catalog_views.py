"""Catalog staff screens: product list, create/edit with prices, archive, tax classes, access."""

from decimal import Decimal

import factory
import pytest
from django_tenants.utils import schema_context

from tenant_apps.catalog.models import Price, Product, TaxClass
from tests.conftest import client_for


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    tax_class = factory.LazyFunction(lambda: TaxClass.objects.get(code="standard"))


def form_data(tax_class_id, prices=(), **changes):
    """What the product form posts: fields, one number per resource, the prices formset."""
    data = {
        "name": "Web S",
        "code": "web-s",
        "kind": "plan",
        "tax_class": str(tax_class_id),
        "description": "",
        "position": "0",
        "resource_disk_gb": "10",
        "resource_hosting_accounts": "1",
        "prices-TOTAL_FORMS": str(len(prices)),
        "prices-INITIAL_FORMS": "0",
        "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(prices):
        for key, value in row.items():
            data[f"prices-{index}-{key}"] = value
    data.update(changes)
    return data


MONTHLY = {"currency": "EUR", "cycle": "monthly", "amount": "9.90", "setup_fee": ""}
ANNUAL = {"currency": "EUR", "cycle": "annual", "amount": "99", "setup_fee": "5"}


@pytest.fixture
def standard_id(instance_a):
    with schema_context(instance_a.schema_name):
        return TaxClass.objects.get(code="standard").pk


@pytest.fixture
def owner(instance_a):
    return client_for(instance_a, instance_a.owner)


def in_a(instance_a):
    return schema_context(instance_a.schema_name)


def test_owner_creates_a_product_with_prices_and_resources(owner, instance_a, standard_id):
    response = owner.post("/staff/catalog/products/new/", form_data(standard_id, [MONTHLY, ANNUAL]))
    assert response.status_code == 302
    with in_a(instance_a):
        product = Product.objects.get(code="web-s")
        assert response["Location"] == f"/staff/catalog/products/{product.pk}/"
        assert product.resources == {"disk_gb": 10, "hosting_accounts": 1}
        assert sorted(p.cycle for p in product.prices.all()) == ["annual", "monthly"]
    page = owner.get(response["Location"]).content.decode()
    assert "Web S" in page and "€9.90" in page and "€99.00" in page and "Disk space" in page


def test_owner_edits_prices_removing_one_and_adding_another(owner, instance_a, standard_id):
    owner.post("/staff/catalog/products/new/", form_data(standard_id, [MONTHLY, ANNUAL]))
    with in_a(instance_a):
        product = Product.objects.get(code="web-s")
    edit_url = f"/staff/catalog/products/{product.pk}/edit/"
    page = owner.get(edit_url)
    assert page.status_code == 200 and b'name="prices-0-amount"' in page.content
    # Rows read monthly before annual, not alphabetically.
    html = page.content.decode()
    assert html.index('value="monthly" selected') < html.index('value="annual" selected')
    data = form_data(
        standard_id,
        [
            {**MONTHLY, "amount": "10.50"},
            {**ANNUAL, "DELETE": "on"},
            {"currency": "USD", "cycle": "one_time", "amount": "30", "setup_fee": ""},
        ],
        name="Web Small",
        **{"prices-INITIAL_FORMS": "2"},
    )
    assert owner.post(edit_url, data).status_code == 302
    with in_a(instance_a):
        product.refresh_from_db()
        assert product.name == "Web Small"
        assert sorted((p.currency, p.cycle, p.amount) for p in product.prices.all()) == [
            ("EUR", "monthly", Decimal("10.50")),
            ("USD", "one_time", Decimal("30.00")),
        ]


def test_untouched_blank_price_row_adds_nothing(owner, instance_a, standard_id):
    blank = {"currency": "EUR", "cycle": "monthly", "amount": "", "setup_fee": ""}
    response = owner.post("/staff/catalog/products/new/", form_data(standard_id, [MONTHLY, blank]))
    assert response.status_code == 302
    with in_a(instance_a):
        assert Price.objects.filter(product__code="web-s").count() == 1


@pytest.mark.parametrize(
    "prices, changes, message",
    [
        ([{**MONTHLY, "currency": "XYZ"}], {}, "not a currency code we know"),
        ([{**MONTHLY, "amount": "-2"}], {}, "the price cannot be negative"),
        ([{**MONTHLY, "setup_fee": "-2"}], {}, "the setup fee cannot be negative"),
        ([MONTHLY, {**MONTHLY, "amount": "5"}], {}, "already a monthly price in EUR"),
        ([MONTHLY], {"resource_disk_gb": "-1"}, "greater than or equal to 0"),
        ([MONTHLY], {"code": "no spaces allowed"}, "letters, digits"),
    ],
)
def test_bad_input_redisplays_the_form_with_the_error_and_writes_nothing(
    owner, instance_a, standard_id, prices, changes, message
):
    response = owner.post("/staff/catalog/products/new/", form_data(standard_id, prices, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    with in_a(instance_a):
        assert not Product.objects.exists()
        assert not Price.objects.exists()


def test_duplicate_code_is_shown_on_the_code_field(owner, instance_a, standard_id):
    with in_a(instance_a):
        ProductFactory(code="web-s")
    response = owner.post("/staff/catalog/products/new/", form_data(standard_id, [MONTHLY]))
    assert response.status_code == 200
    assert "A product with the code “web-s” already exists." in response.content.decode()
    with in_a(instance_a):
        assert Product.objects.count() == 1


def test_plans_cannot_be_picked_as_addons_nor_the_product_itself(owner, instance_a, standard_id):
    with in_a(instance_a):
        plan = ProductFactory(name="Other plan")
        addon = ProductFactory(name="Backup", kind=Product.Kind.ADDON)
    response = owner.post(
        f"/staff/catalog/products/{addon.pk}/edit/",
        form_data(standard_id, [], kind="addon", code=addon.code, addons=[str(plan.pk)]),
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    page = owner.get(f"/staff/catalog/products/{addon.pk}/edit/").content.decode()
    assert f'value="{addon.pk}"' not in page.split('id="addons-title"')[1]


def test_addons_are_saved_from_the_multi_select(owner, instance_a, standard_id):
    with in_a(instance_a):
        addon = ProductFactory(name="Backup", kind=Product.Kind.ADDON)
    data = form_data(standard_id, [MONTHLY], addons=[str(addon.pk)])
    assert owner.post("/staff/catalog/products/new/", data).status_code == 302
    with in_a(instance_a):
        assert list(Product.objects.get(code="web-s").addons.all()) == [addon]


def test_product_list_shows_prices_and_resources_summaries(owner, instance_a, standard_id):
    owner.post("/staff/catalog/products/new/", form_data(standard_id, [MONTHLY, ANNUAL]))
    page = owner.get("/staff/catalog/").content.decode()
    assert "€9.90/mo · €99/yr" in page
    assert "Disk space 10 GB" in page
    assert 'class="badge badge-active"' in page


def test_product_list_filters_and_sorts(owner, instance_a):
    with in_a(instance_a):
        ProductFactory(name="Alpha hosting", code="alpha")
        ProductFactory(name="Zulu backup", code="zulu", kind=Product.Kind.ADDON, is_active=False)
    assert "Zulu" not in owner.get("/staff/catalog/", {"q": "alpha"}).content.decode()
    assert "Alpha" not in owner.get("/staff/catalog/", {"kind": "addon"}).content.decode()
    assert "Zulu" not in owner.get("/staff/catalog/", {"active": "1"}).content.decode()
    by_name = owner.get("/staff/catalog/", {"sort": "-name"}).content.decode()
    assert by_name.index("Zulu backup") < by_name.index("Alpha hosting")
    assert "No products match" in owner.get("/staff/catalog/", {"q": "nothing"}).content.decode()


def test_product_list_paginates_by_25(owner, instance_a):
    with in_a(instance_a):
        for n in range(30):
            ProductFactory(name=f"Plan {n:02d}", code=f"plan-{n:02d}")
    first = owner.get("/staff/catalog/", {"sort": "name"}).content.decode()
    second = owner.get("/staff/catalog/", {"sort": "name", "page": 2}).content.decode()
    assert "Plan 24" in first and "Plan 25" not in first
    assert "Plan 25" in second


def test_empty_catalog_invites_to_create_a_product(owner):
    page = owner.get("/staff/catalog/").content.decode()
    assert "No products yet" in page and "/staff/catalog/products/new/" in page


def test_archive_and_restore_from_the_detail_page(owner, instance_a):
    with in_a(instance_a):
        product = ProductFactory(name="Web S")
    response = owner.post(f"/staff/catalog/products/{product.pk}/archive/")
    assert response.status_code == 302
    with in_a(instance_a):
        assert not Product.objects.get(pk=product.pk).is_active
    page = owner.get(f"/staff/catalog/products/{product.pk}/").content.decode()
    assert "Archived" in page and "/restore/" in page
    owner.post(f"/staff/catalog/products/{product.pk}/restore/")
    with in_a(instance_a):
        assert Product.objects.get(pk=product.pk).is_active


def test_archive_needs_a_post(owner, instance_a):
    with in_a(instance_a):
        product = ProductFactory()
    assert owner.get(f"/staff/catalog/products/{product.pk}/archive/").status_code == 405


def test_support_staff_can_read_but_not_change_the_catalog(instance_a, standard_id):
    with in_a(instance_a):
        product = ProductFactory(name="Web S")
    support = client_for(instance_a, instance_a.support)
    assert support.get("/staff/catalog/").status_code == 200
    detail = support.get(f"/staff/catalog/products/{product.pk}/")
    assert detail.status_code == 200 and b"/archive/" not in detail.content
    assert support.get("/staff/catalog/products/new/").status_code == 403
    assert support.get(f"/staff/catalog/products/{product.pk}/edit/").status_code == 403
    created = support.post("/staff/catalog/products/new/", form_data(standard_id, [MONTHLY]))
    assert created.status_code == 403
    assert support.post(f"/staff/catalog/products/{product.pk}/archive/").status_code == 403
    assert support.post(
        "/staff/catalog/tax-classes/new/", {"code": "x", "name": "X"}
    ).status_code == (403)
    with in_a(instance_a):
        assert Product.objects.get(pk=product.pk).is_active
        assert list(Product.objects.values_list("code", flat=True)) == [product.code]


@pytest.mark.parametrize(
    "path",
    ["/staff/catalog/", "/staff/catalog/products/new/", "/staff/catalog/tax-classes/"],
)
def test_customers_are_refused(instance_a, path):
    assert client_for(instance_a, instance_a.customer).get(path).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(instance_a):
    response = client_for(instance_a).get("/staff/catalog/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_product_of_instance_a_is_not_found_from_instance_b(instance_a, instance_b):
    with in_a(instance_a):
        product = ProductFactory(name="Acme secret plan")
    with schema_context(instance_b.schema_name):
        assert not Product.objects.filter(pk=product.pk).exists()
    owner_b = client_for(instance_b, instance_b.owner)
    assert owner_b.get(f"/staff/catalog/products/{product.pk}/").status_code == 404
    assert owner_b.get(f"/staff/catalog/products/{product.pk}/edit/").status_code == 404
    assert owner_b.post(f"/staff/catalog/products/{product.pk}/archive/").status_code == 404
    assert "Acme secret plan" not in owner_b.get("/staff/catalog/").content.decode()


def test_nav_links_to_the_catalog_and_marks_it_active(owner):
    page = owner.get("/staff/catalog/").content.decode()
    assert 'class="nav-item active" aria-current="page" href="/staff/catalog/"' in page


def test_tax_class_is_created_and_renamed(owner, instance_a):
    response = owner.post("/staff/catalog/tax-classes/new/", {"code": "reduced", "name": "Reduced"})
    assert response.status_code == 302
    with in_a(instance_a):
        reduced = TaxClass.objects.get(code="reduced")
    owner.post(
        f"/staff/catalog/tax-classes/{reduced.pk}/edit/", {"code": "reduced", "name": "Reduced 5.5"}
    )
    page = owner.get("/staff/catalog/tax-classes/").content.decode()
    assert "Reduced 5.5" in page and "Standard rate" in page


def test_duplicate_tax_class_code_is_a_field_error(owner, instance_a):
    response = owner.post("/staff/catalog/tax-classes/new/", {"code": "standard", "name": "Again"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    with in_a(instance_a):
        assert TaxClass.objects.filter(name="Again").count() == 0


def test_reseller_plan_switch_only_on_the_operator(operator, owner):
    assert b"is_reseller_plan" not in owner.get("/staff/catalog/products/new/").content
    console = client_for(operator, operator.owner)
    assert b"is_reseller_plan" in console.get("/staff/catalog/products/new/").content
