"""Catalog services and selectors: products, prices, add-ons, resources, tax classes."""

from decimal import Decimal

import factory
import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from tenant_apps.catalog import selectors, services
from tenant_apps.catalog.models import Price, Product, TaxClass

EUR_MONTHLY = {"currency": "EUR", "cycle": "monthly", "amount": "9.90", "setup_fee": "0"}
EUR_ANNUAL = {"currency": "EUR", "cycle": "annual", "amount": "99", "setup_fee": "5"}


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    tax_class = factory.LazyFunction(lambda: TaxClass.objects.get(code="standard"))


class AddonFactory(ProductFactory):
    kind = Product.Kind.ADDON
    code = factory.Sequence(lambda n: f"addon-{n}")


@pytest.fixture
def in_a(instance_a):
    """Run the test inside instance A's schema."""
    with schema_context(instance_a.schema_name):
        yield


@pytest.fixture
def standard(in_a):
    return TaxClass.objects.get(code="standard")


def create(standard, **changes):
    arguments = {"code": "web-s", "name": "Web S", "kind": "plan", "tax_class": standard}
    return services.product_create(**{**arguments, **changes})


def test_product_is_created_with_prices_resources_and_addons(standard):
    backup = AddonFactory(name="Backup")
    product = create(
        standard,
        prices=[EUR_MONTHLY, EUR_ANNUAL],
        resources={"disk_gb": 10, "hosting_accounts": 1, "domains": 0},
        addons=[backup],
        description="  Small site  ",
    )
    product.refresh_from_db()
    assert product.description == "Small site"
    assert product.resources == {"disk_gb": 10, "hosting_accounts": 1}
    assert list(product.addons.all()) == [backup]
    assert sorted((p.cycle, p.amount, p.setup_fee) for p in product.prices.all()) == [
        ("annual", Decimal("99.00"), Decimal("5.00")),
        ("monthly", Decimal("9.90"), Decimal("0.00")),
    ]


def test_one_time_and_recurring_prices_can_be_mixed(standard):
    product = create(
        standard, prices=[EUR_MONTHLY, {"currency": "EUR", "cycle": "one_time", "amount": "50"}]
    )
    assert product.prices.count() == 2


def test_currency_codes_are_stored_upper_case(standard):
    product = create(standard, prices=[{**EUR_MONTHLY, "currency": "usd"}])
    assert product.prices.get().currency == "USD"


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"prices": [{**EUR_MONTHLY, "currency": "XYZ"}]}, "prices", "not a currency code"),
        ({"prices": [{**EUR_MONTHLY, "amount": "-1"}]}, "prices", "cannot be negative"),
        ({"prices": [{**EUR_MONTHLY, "setup_fee": "-0.01"}]}, "prices", "cannot be negative"),
        ({"prices": [{**EUR_MONTHLY, "amount": "abc"}]}, "prices", "not a number"),
        ({"prices": [{**EUR_MONTHLY, "amount": "9.999"}]}, "prices", "more decimals"),
        ({"prices": [{**EUR_MONTHLY, "currency": "JPY"}]}, "prices", "more decimals"),
        ({"prices": [{**EUR_MONTHLY, "cycle": "weekly"}]}, "prices", "billing cycle"),
        ({"prices": [EUR_MONTHLY, {**EUR_MONTHLY, "amount": "8"}]}, "prices", "already a monthly"),
        ({"resources": {"unicorns": 1}}, "resources", "not a resource we sell"),
        ({"resources": {"disk_gb": -5}}, "resources", "cannot be negative"),
        ({"resources": {"disk_gb": "lots"}}, "resources", "not a whole number"),
        ({"code": "Not a slug!"}, "code", "letters, digits"),
        ({"code": ""}, "code", "Enter a code"),
        ({"name": "  "}, "name", "Enter a name"),
        ({"kind": "bundle"}, "kind", "plan or add-on"),
        ({"position": -1}, "position", "0 or more"),
        ({"is_reseller_plan": True}, "is_reseller_plan", "operator's own catalog"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_written(standard, changes, field, words):
    with pytest.raises(ValidationError) as caught:
        create(standard, **changes)
    assert field in caught.value.message_dict
    assert any(words in message for message in caught.value.message_dict[field])
    assert not Product.objects.filter(code="web-s").exists()
    assert not Price.objects.exists()


def test_an_addon_that_is_a_plan_is_refused(standard):
    plan = ProductFactory(name="Other plan")
    with pytest.raises(ValidationError) as caught:
        create(standard, addons=[plan])
    assert "not an add-on" in caught.value.message_dict["addons"][0]
    assert not Product.objects.filter(code="web-s").exists()


def test_a_product_cannot_list_itself_as_addon(standard):
    addon = AddonFactory(name="Backup")
    plan = create(standard)
    before = list(Product.objects.values_list("kind", "name"))
    with pytest.raises(ValidationError) as caught:
        services.product_update(product=addon, kind="plan", addons=[addon, plan])
    assert "add-on of itself" in " ".join(caught.value.message_dict["addons"])
    assert list(Product.objects.values_list("kind", "name")) == before


def test_duplicate_code_is_refused_whatever_the_case(standard):
    create(standard)
    with pytest.raises(ValidationError) as caught:
        create(standard, code="WEB-S", name="Copy")
    assert "already exists" in caught.value.message_dict["code"][0]
    assert Product.objects.count() == 1


def test_every_problem_is_reported_at_once(standard):
    with pytest.raises(ValidationError) as caught:
        create(standard, code="", prices=[{**EUR_MONTHLY, "currency": "??"}], resources={"x": 1})
    assert {"code", "prices", "resources"} <= set(caught.value.message_dict)


def test_reseller_plans_are_allowed_in_the_operator_catalog(operator):
    with schema_context(operator.schema_name):
        product = services.product_create(
            code="reseller-m",
            name="Reseller M",
            kind="plan",
            tax_class=TaxClass.objects.get(code="standard"),
            is_reseller_plan=True,
            resources={"disk_gb": 500},
        )
        assert product.is_reseller_plan


def test_update_changes_only_what_is_given(standard):
    product = create(standard, prices=[EUR_MONTHLY], resources={"disk_gb": 10})
    services.product_update(product=product, name="Web Small")
    product.refresh_from_db()
    assert (product.name, product.code, product.resources) == (
        "Web Small",
        "web-s",
        {"disk_gb": 10},
    )
    assert product.prices.count() == 1


def test_failed_update_leaves_product_and_prices_untouched(standard):
    product = create(standard, prices=[EUR_MONTHLY])
    with pytest.raises(ValidationError):
        services.product_update(
            product=product, name="Renamed", prices=[{**EUR_MONTHLY, "amount": "-3"}]
        )
    product.refresh_from_db()
    assert product.name == "Web S"
    assert [p.amount for p in product.prices.all()] == [Decimal("9.90")]


def test_set_prices_replaces_the_whole_set(standard):
    product = create(standard, prices=[EUR_MONTHLY, EUR_ANNUAL])
    services.product_set_prices(
        product=product, prices=[{"currency": "USD", "cycle": "monthly", "amount": "11"}]
    )
    assert [(p.currency, p.cycle) for p in product.prices.all()] == [("USD", "monthly")]


def test_set_prices_with_a_bad_row_keeps_the_old_prices(standard):
    product = create(standard, prices=[EUR_MONTHLY])
    with pytest.raises(ValidationError):
        services.product_set_prices(product=product, prices=[EUR_ANNUAL, EUR_ANNUAL])
    assert [(p.currency, p.cycle) for p in product.prices.all()] == [("EUR", "monthly")]


def test_an_addon_used_by_a_plan_cannot_become_a_plan(standard):
    addon = AddonFactory(name="Backup")
    create(standard, addons=[addon])
    with pytest.raises(ValidationError) as caught:
        services.product_update(product=addon, kind="plan")
    assert "add-on of Web S" in caught.value.message_dict["kind"][0]


def test_archive_and_restore_switch_whether_it_can_be_ordered(standard):
    product = create(standard, prices=[EUR_MONTHLY])
    services.product_archive(product=product)
    assert not Product.objects.get(pk=product.pk).is_active
    assert list(selectors.orderable_products(currency="EUR")) == []
    services.product_archive(product=product)  # archiving twice is harmless
    services.product_restore(product=product)
    assert list(selectors.orderable_products(currency="EUR")) == [product]


def test_orderable_products_are_active_plans_priced_in_the_currency(standard):
    priced = create(standard, prices=[EUR_MONTHLY])
    create(standard, code="usd-only", name="USD only", prices=[{**EUR_MONTHLY, "currency": "USD"}])
    create(standard, code="unpriced", name="Unpriced")
    addon = AddonFactory(name="Backup")
    Price.objects.create(product=addon, currency="EUR", cycle="monthly", amount=2)
    assert list(selectors.orderable_products(currency="eur")) == [priced]


def test_orderable_products_prefetch_addons_priced_in_the_currency(
    standard, django_assert_num_queries
):
    usable = AddonFactory(name="Backup")
    Price.objects.create(product=usable, currency="EUR", cycle="monthly", amount=2)
    unpriced = AddonFactory(name="Unpriced add-on")
    archived = AddonFactory(name="Archived add-on", is_active=False)
    Price.objects.create(product=archived, currency="EUR", cycle="monthly", amount=2)
    create(standard, prices=[EUR_MONTHLY], addons=[usable, unpriced, archived])
    products = list(selectors.orderable_products(currency="EUR"))
    with django_assert_num_queries(0):
        addons = list(products[0].addons.all())
        price = selectors.product_price(product=products[0], currency="EUR", cycle="monthly")
        addon_price = selectors.product_price(product=addons[0], currency="EUR", cycle="monthly")
    assert addons == [usable]
    assert price.amount == Decimal("9.90") and addon_price.amount == Decimal("2")


def test_product_price_is_none_when_not_sold_that_way(standard):
    product = create(standard, prices=[EUR_MONTHLY])
    assert selectors.product_price(product=product, currency="EUR", cycle="annual") is None
    assert selectors.product_price(product=product, currency="eur", cycle="monthly").amount == (
        Decimal("9.90")
    )


def test_resource_choices_come_from_the_platform(in_a):
    codes = [code for code, _name, _unit in selectors.resource_choices()]
    assert "disk_gb" in codes and "hosting_accounts" in codes


def test_product_list_searches_and_filters(standard):
    create(standard)
    AddonFactory(name="Backup", code="backup")
    assert [p.code for p in selectors.product_list(search="web")] == ["web-s"]
    assert [p.code for p in selectors.product_list(kind="addon")] == ["backup"]
    assert list(selectors.product_list(active=False)) == []


def test_tax_class_is_created_and_renamed(in_a):
    reduced = services.tax_class_create(code="reduced", name="Reduced rate")
    services.tax_class_update(tax_class=reduced, name="Reduced (5.5 %)")
    assert TaxClass.objects.get(code="reduced").name == "Reduced (5.5 %)"


@pytest.mark.parametrize(
    "code, name, field",
    [("STANDARD", "Again", "code"), ("bad code", "X", "code"), ("ok", "", "name")],
)
def test_bad_tax_class_is_refused(in_a, code, name, field):
    count = TaxClass.objects.count()
    with pytest.raises(ValidationError) as caught:
        services.tax_class_create(code=code, name=name)
    assert field in caught.value.message_dict
    assert TaxClass.objects.count() == count
