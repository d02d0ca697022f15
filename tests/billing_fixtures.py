"""Builders for billing tests: an issuer, tax rates, customers and products inside an instance."""

from __future__ import annotations

from decimal import Decimal

from tenant_apps.billing.models import TaxRate
from tenant_apps.billing.services import billing_settings_update
from tenant_apps.catalog.models import Price, Product, TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance.services import issuer_identity_set


def setup_issuer(country: str = "FR") -> None:
    issuer_identity_set(
        legal_name="Acme Hosting SARL",
        country=country,
        tax_id="FR40303265045",
        address_line1="1 rue de la Paix",
        city="Paris",
        postal_code="75001",
    )
    standard = TaxClass.objects.get(code="standard")
    for code, rate in (("FR", "20"), ("DE", "19"), ("IT", "22")):
        TaxRate.objects.update_or_create(
            country=code, tax_class=standard, defaults={"rate": Decimal(rate)}
        )


def make_customer(name: str = "Alice Martin", country: str = "FR", **extra) -> Customer:
    fields = {
        "kind": "person",
        "name": name,
        "email": f"{name.split()[0].lower()}@example.com",
        "country": country,
        "currency": "EUR",
    }
    fields.update(extra)
    return Customer.objects.create(**fields)


def make_product(
    code: str = "web-s",
    amount: str = "10.00",
    setup: str = "0",
    resources=None,
    cycle: str = "monthly",
    **extra,
) -> Product:
    product = Product.objects.create(
        code=code,
        name=code.upper(),
        tax_class=TaxClass.objects.get(code="standard"),
        resources=resources or {},
        **extra,
    )
    Price.objects.create(
        product=product,
        currency="EUR",
        cycle=cycle,
        amount=Decimal(amount),
        setup_fee=Decimal(setup),
    )
    return product


def dunning_settings(**overrides) -> None:
    values = {
        "reminder_days": [3, 10],
        "late_fee_amount": Decimal("5.00"),
        "late_fee_after_days": 14,
        "suspend_after_days": 21,
        "terminate_after_days": 60,
        "renewal_lead_days": 14,
        "payment_terms_days": 14,
    }
    values.update(overrides)
    billing_settings_update(**values)
