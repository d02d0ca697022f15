"""The first-steps checklist of a new instance's dashboard: what must be set before the
instance can sell (issuer identity, tax rates, a first product, card payments)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from tenant_apps.billing.issuer import issuer_missing_sentence
from tenant_apps.billing.models import TaxRate
from tenant_apps.cards.selectors import card_setup
from tenant_apps.catalog.models import Product
from tenant_apps.instance.models import IssuerIdentity


@dataclass(frozen=True)
class Step:
    title: str
    done: bool
    url: str
    hint: str


def first_steps(identity: IssuerIdentity | None) -> list[Step]:
    """The checklist, in the order to do it; `done` read from the instance's own data."""
    return [
        Step(
            _("Issuer identity"),
            not issuer_missing_sentence(identity),
            reverse("dashboard:identity"),
            _("Your legal name, address and tax number: printed on every invoice."),
        ),
        Step(
            _("Tax rates"),
            TaxRate.objects.exists(),
            reverse("billing:taxrate_list"),
            _("The rates you charge, per country and tax class."),
        ),
        Step(
            _("First product"),
            Product.objects.filter(is_active=True, kind=Product.Kind.PLAN).exists(),
            reverse("catalog:product_create"),
            _("A plan with a price: your shop lists it at once."),
        ),
        Step(
            _("Stripe connection"),
            card_setup().ready,
            reverse("cards:settings"),
            _("Connect your own Stripe account so customers pay you by card."),
        ),
    ]
