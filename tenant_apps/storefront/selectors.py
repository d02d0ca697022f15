"""Reads of the storefront: its settings, the catalog as the shop shows it, a cart priced
in one currency, and the instance's look (name, colour, logo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from tenant_apps.catalog.models import BillingCycle, Price, Product
from tenant_apps.catalog.selectors import resource_choices
from tenant_apps.instance import branding as instance_branding
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.money import ZERO
from tenant_apps.instance.selectors import issuer_identity_get

from .models import ShopGroup, StorefrontSettings, TermsAcceptance

CYCLE_RANK = {cycle: n for n, cycle in enumerate(BillingCycle.values)}


def storefront_settings_get() -> StorefrontSettings:
    """This instance's settings, or the defaults (unsaved) before anyone changed them."""
    return StorefrontSettings.objects.first() or StorefrontSettings()


@dataclass(frozen=True)
class Branding:
    """How the shop looks: the instance's own name, accent colour and logo."""

    name: str
    color: str
    has_logo: bool


def branding(identity: IssuerIdentity | None, fallback_name: str) -> Branding:
    """The shop's look, named by the same rule as every other page of the instance."""
    row = (
        {"trading_name": identity.trading_name, "legal_name": identity.legal_name}
        if identity is not None
        else {}
    )
    return Branding(
        instance_branding.display_name(row, fallback_name),
        instance_branding.palette_for(identity.brand_color if identity else "").accent,
        bool(identity is not None and identity.logo),
    )


def shop_identity() -> IssuerIdentity | None:
    return issuer_identity_get()


def shop_plans_all() -> list[Product]:
    """Every active plan with all its prices and its active add-ons (with theirs): four
    queries, whatever the catalog holds; the currency is picked in Python."""
    addons = (
        Product.objects.filter(is_active=True, kind=Product.Kind.ADDON)
        .prefetch_related("prices")
        .order_by("position", "name")
    )
    return list(
        Product.objects.filter(is_active=True, kind=Product.Kind.PLAN)
        .prefetch_related("prices", Prefetch("addons", queryset=addons))
        .order_by("position", "name")
    )


def currencies_of(plans: list[Product], own: str) -> list[str]:
    """Currencies `plans` are sold in, the instance's own first (or alone if none)."""
    found = {price.currency for plan in plans for price in plan.prices.all()}
    if not found:
        return [own]
    return ([own] if own in found else []) + sorted(found - {own})


def plans_in(plans: list[Product], currency: str) -> list[Product]:
    return [plan for plan in plans if any(p.currency == currency for p in plan.prices.all())]


def addons_in(plan: Product, currency: str) -> list[Product]:
    return [a for a in plan.addons.all() if any(p.currency == currency for p in a.prices.all())]


def plan_features(plan: Product, resources: list[tuple[str, str, str]]) -> list[str]:
    """e.g. ["Disk space: 10 GB", "Hosting accounts: 1"], in the platform's order."""
    amounts = plan.resources or {}
    return [
        f"{name}: {amounts[code]}" + ("" if unit.lower() in name.lower() else f" {unit}")
        for code, name, unit in resources
        if amounts.get(code)
    ]


def plan_resources() -> list[tuple[str, str, str]]:
    return resource_choices()


def prices_in(product: Product, currency: str) -> list[Price]:
    return sorted(
        (p for p in product.prices.all() if p.currency == currency),
        key=lambda p: CYCLE_RANK.get(p.cycle, 99),
    )


# --------------------------------------------------------------------------------------
# Cart


@dataclass
class CartLine:
    """One plan in the cart, priced in the checkout currency; `problem` says why it cannot
    be ordered as it is (no longer sold, no price in this currency…)."""

    index: int
    plan: Product | None
    price: Price | None
    addons: list[tuple[Product, Price]] = field(default_factory=list)
    label: str = ""
    problem: str = ""

    @property
    def total(self) -> Decimal:
        if self.price is None:
            return ZERO
        return (
            self.price.amount
            + self.price.setup_fee
            + sum((p.amount + p.setup_fee for _a, p in self.addons), ZERO)
        )

    @property
    def is_reseller_plan(self) -> bool:
        return bool(self.plan and self.plan.is_reseller_plan)


def cart_lines(items: list[dict], currency: str) -> list[CartLine]:
    """The session cart's items (`{"plan", "cycle", "addons", "label"}`) priced in
    `currency`, with two queries whatever the cart holds."""
    plan_ids = {item.get("plan") for item in items}
    addon_ids = {a for item in items for a in item.get("addons", [])}
    products = {
        p.pk: p
        for p in Product.objects.filter(pk__in=plan_ids | addon_ids).prefetch_related(
            "prices", "addons"
        )
    }
    lines = []
    for index, item in enumerate(items):
        plan = products.get(item.get("plan"))
        line = CartLine(index=index, plan=plan, price=None, label=item.get("label", ""))
        lines.append(line)
        if plan is None or not plan.is_active or plan.kind != Product.Kind.PLAN:
            line.problem = _("This plan is no longer sold; remove it.")
            continue
        line.price = next(
            (p for p in prices_in(plan, currency) if p.cycle == item.get("cycle")), None
        )
        if line.price is None:
            line.problem = _("%(name)s is not sold in %(currency)s on this billing cycle.") % {
                "name": plan.name,
                "currency": currency,
            }
            continue
        allowed = {a.pk for a in plan.addons.all()}
        for addon_id in item.get("addons", []):
            addon = products.get(addon_id)
            price = (
                next((p for p in prices_in(addon, currency) if p.cycle == line.price.cycle), None)
                if addon is not None and addon.is_active and addon.pk in allowed
                else None
            )
            if price is None:
                line.problem = _(
                    "An add-on of this plan is no longer offered; remove the plan and add it again."
                )
                break
            line.addons.append((addon, price))
    return lines


def accepted_terms_version(customer) -> str:
    """The version of the terms the customer accepted last ("" if never)."""
    latest = TermsAcceptance.objects.filter(customer=customer).order_by("-accepted_at", "-id")
    return latest.values_list("version", flat=True).first() or ""


def shop_groups() -> list[ShopGroup]:
    """The shop's sections with their plans' ids (two queries)."""
    return list(ShopGroup.objects.prefetch_related("plans").order_by("position", "name", "id"))


def catalog_sections(groups: list[ShopGroup], plans: list[Product]) -> list[dict]:
    """`plans` (already in shop order) under their sections' headings; plans in no section
    last, under "Other plans" (no heading at all when the shop has no sections)."""
    sections, grouped = [], set()
    for group in groups:
        ids = {plan.pk for plan in group.plans.all()}
        members = [plan for plan in plans if plan.pk in ids]
        grouped |= ids
        if members:
            sections.append({"group": group, "name": group.name, "plans": members})
    rest = [plan for plan in plans if plan.pk not in grouped]
    if rest:
        sections.append(
            {"group": None, "name": _("Other plans") if sections else "", "plans": rest}
        )
    return sections
