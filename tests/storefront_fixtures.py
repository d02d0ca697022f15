"""A small shop for storefront tests: plans with prices in two currencies and an add-on,
a tax rate, and (optionally) card payments ready; built inside one instance's schema."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tenant_apps.billing.models import TaxRate
from tenant_apps.catalog.models import Price, Product, TaxClass

SIGNUP = {
    "email": "new.buyer@example.com",
    "password1": "blue-kettle-orbit-71",
    "password2": "blue-kettle-orbit-71",
    "name": "New Buyer",
    "company_name": "",
    "address_line1": "2 rue du Bac",
    "postal_code": "75007",
    "city": "Paris",
    "country": "FR",
    "tax_id": "",
    "accept_terms": "on",
    "terms_version": "1",
    "website": "",
}


@dataclass
class ShopIds:
    starter: int
    starter_monthly: int
    starter_annual: int
    backups: int
    reseller: int | None = None
    reseller_monthly: int | None = None


def build_catalog(*, reseller_plan: bool = False) -> ShopIds:
    standard, _ = TaxClass.objects.get_or_create(code="standard", defaults={"name": "Standard"})
    TaxRate.objects.update_or_create(
        country="FR", tax_class=standard, defaults={"rate": Decimal("20")}
    )
    starter = Product.objects.create(
        code="shop-starter",
        name="Starter hosting",
        description="For a first website.",
        tax_class=standard,
        resources={"disk_gb": 5},
        position=1,
    )
    monthly = Price.objects.create(
        product=starter, currency="EUR", cycle="monthly", amount=Decimal("10.00")
    )
    annual = Price.objects.create(
        product=starter, currency="EUR", cycle="annual", amount=Decimal("100.00")
    )
    Price.objects.create(product=starter, currency="USD", cycle="monthly", amount=Decimal("12.00"))
    backups = Product.objects.create(
        code="shop-backups", name="Daily backups", kind=Product.Kind.ADDON, tax_class=standard
    )
    Price.objects.create(product=backups, currency="EUR", cycle="monthly", amount=Decimal("2.00"))
    starter.addons.add(backups)
    ids = ShopIds(starter.pk, monthly.pk, annual.pk, backups.pk)
    if reseller_plan:
        plan = Product.objects.create(
            code="shop-reseller",
            name="Reseller S",
            tax_class=standard,
            resources={"disk_gb": 50, "hosting_accounts": 5},
            is_reseller_plan=True,
            position=2,
        )
        price = Price.objects.create(
            product=plan, currency="EUR", cycle="monthly", amount=Decimal("49.00")
        )
        ids.reseller, ids.reseller_monthly = plan.pk, price.pk
    return ids
