"""Forms of orders and services: the staff order form, the portal checkout, service actions."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.catalog.models import CYCLE_MONTHS, BillingCycle, Price, Product
from tenant_apps.catalog.selectors import resource_choices
from tenant_apps.clients.models import Customer
from tenant_apps.instance.money import format_money, round_money
from tenant_apps.referrals.models import Referer
from tenant_apps.referrals.selectors import referer_by_code

from .models import Order, Service

CYCLE_ORDER = {cycle: n for n, cycle in enumerate(BillingCycle.values)}
CYCLE_SUFFIX = {
    BillingCycle.MONTHLY: "/month",
    BillingCycle.QUARTERLY: "/quarter",
    BillingCycle.SEMIANNUAL: "/6 months",
    BillingCycle.ANNUAL: "/year",
    BillingCycle.ONE_TIME: " once",
}


def price_text(price: Price) -> str:
    """e.g. "€9.90/month" or "€90.00/year + €5.00 setup"."""
    text = f"{format_money(price.amount, price.currency)}{CYCLE_SUFFIX.get(price.cycle, '')}"
    if price.setup_fee:
        text += f" + {format_money(price.setup_fee, price.currency)} setup"
    return text


def prices_text(prices: Iterable[Price], currency: str | None = None) -> str:
    """Every price of a product (in `currency` if given), shortest cycle first."""
    chosen = sorted(
        (p for p in prices if currency is None or p.currency == currency),
        key=lambda p: (p.currency, CYCLE_ORDER.get(p.cycle, 99)),
    )
    return " · ".join(price_text(p) for p in chosen)


class AddonCheckboxes(forms.CheckboxSelectMultiple):
    """Add-on checkboxes that say which plans each add-on goes with (`data-plans`), so the
    page can show only the chosen plan's add-ons; without script every add-on is listed."""

    def __init__(self, *args, plans_by_addon: dict[int, list[int]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.plans_by_addon = plans_by_addon or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        key = getattr(value, "value", value)
        try:
            plans = self.plans_by_addon.get(int(key), [])
        except (TypeError, ValueError):
            plans = []
        option["attrs"]["data-plans"] = " ".join(str(pk) for pk in plans)
        return option


class PlanRadios(forms.RadioSelect):
    """Plan-and-cycle radios that carry their plan's id (`data-plan`) for the add-on filter."""

    plan_by_value: dict[str, int] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"]["data-plan"] = self.plan_by_value.get(str(value), "")
        return option


def _addon_plans(plans: Iterable[Product]) -> dict[int, list[int]]:
    by_addon: dict[int, list[int]] = {}
    for plan in plans:
        for addon in plan.addons.all():
            by_addon.setdefault(addon.pk, []).append(plan.pk)
    return by_addon


# --------------------------------------------------------------------------------------
# Staff


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Customer) -> str:
        return f"{obj.display_name} <{obj.email}> · {obj.currency}"


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Product) -> str:
        prices = prices_text(obj.prices.all())
        return (
            f"{obj.name} — {prices}"
            if prices
            else (_("%(name)s (no price yet)") % {"name": obj.name})
        )


class AddonChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Product) -> str:
        prices = prices_text(obj.prices.all())
        return f"{obj.name} ({prices})" if prices else obj.name


class StaffOrderForm(forms.Form):
    """One plan (with add-ons) for one customer, placed by staff."""

    customer = CustomerChoiceField(
        queryset=Customer.objects.none(),
        empty_label=gettext_lazy("Choose…"),
        label=gettext_lazy("Customer"),
    )
    product = PlanChoiceField(
        queryset=Product.objects.none(),
        label=gettext_lazy("Plan"),
        empty_label=gettext_lazy("Choose a plan…"),
    )
    cycle = forms.ChoiceField(
        choices=BillingCycle.choices,
        initial=BillingCycle.MONTHLY,
        label=gettext_lazy("Billing cycle"),
    )
    quantity = forms.IntegerField(
        min_value=1, max_value=1000, initial=1, label=gettext_lazy("Quantity")
    )
    label = forms.CharField(
        max_length=200,
        required=False,
        help_text=gettext_lazy("e.g. the domain it is for; shown on invoices."),
        label=gettext_lazy("Label"),
    )
    addons = AddonChoiceField(
        queryset=Product.objects.none(),
        required=False,
        label=gettext_lazy("Add-ons"),
        widget=AddonCheckboxes,
    )
    referer = forms.ModelChoiceField(
        queryset=Referer.objects.none(),
        required=False,
        empty_label=gettext_lazy("No referer"),
        help_text=gettext_lazy("Who sent this customer; recorded on the order for commissions."),
        label=gettext_lazy("Referer"),
    )
    activate = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("Activate now"),
        help_text=gettext_lazy(
            "Start the services at once, within your allocated capacity. Otherwise they "
            "start when the first invoice is paid."
        ),
    )
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Internal note."),
        label=gettext_lazy("Notes"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Customer.objects.filter(
            status=Customer.Status.ACTIVE
        ).order_by("name", "id")
        plans = list(
            Product.objects.filter(is_active=True, kind=Product.Kind.PLAN)
            .prefetch_related("prices", "addons")
            .order_by("position", "name")
        )
        self.plans = plans
        # Prefetched prices: the option labels show them without a query per option.
        self.fields["product"].queryset = (
            Product.objects.filter(is_active=True, kind=Product.Kind.PLAN)
            .prefetch_related("prices", "addons")
            .order_by("position", "name")
        )
        self.fields["addons"].queryset = (
            Product.objects.filter(is_active=True, kind=Product.Kind.ADDON)
            .prefetch_related("prices")
            .order_by("position", "name")
        )
        self.fields["addons"].widget.plans_by_addon = _addon_plans(plans)
        self.has_addons = self.fields["addons"].queryset.exists()
        self.fields["referer"].queryset = Referer.objects.filter(is_active=True).order_by("name")
        # One select attribute the add-on filter reads (the plan the add-ons depend on).
        self.fields["product"].widget.attrs["data-plan-select"] = ""

    def clean(self):
        data = super().clean()
        product, addons = data.get("product"), data.get("addons")
        if product and addons:
            allowed = {a.pk for a in product.addons.all()}
            wrong = [a.name for a in addons if a.pk not in allowed]
            if wrong:
                self.add_error(
                    "addons",
                    _("Not available with %(name)s: %(wrong)s.")
                    % {"name": product.name, "wrong": ", ".join(wrong)},
                )
        return data

    def items(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {
                "product": data["product"],
                "cycle": data["cycle"],
                "quantity": data["quantity"],
                "label": data["label"],
                "addons": list(data["addons"]),
            }
        ]


class OrderAcceptForm(forms.Form):
    activate = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Activate now"))


# --------------------------------------------------------------------------------------
# Portal checkout


class CheckoutForm(forms.Form):
    """A customer orders one plan in their own currency, with add-ons and a referral code.

    `cookie_referer` is the referer whose ?ref= link the visitor followed (if any): the code
    field starts with it, and the order records "link" when it is submitted unchanged, "code"
    when the customer typed one.
    """

    price = forms.ChoiceField(label=gettext_lazy("Plan and billing cycle"), widget=PlanRadios)
    addons = forms.MultipleChoiceField(
        required=False, label=gettext_lazy("Add-ons"), widget=AddonCheckboxes
    )
    label = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("Domain or name"),
        help_text=gettext_lazy("e.g. example.com — the name this service has on your invoices."),
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("example.com")}),
    )
    referral_code = forms.CharField(
        max_length=40,
        required=False,
        label=gettext_lazy("Referral code"),
        help_text=gettext_lazy("If someone recommended us, enter their code."),
    )

    def __init__(
        self,
        *args,
        plans: list[Product],
        currency: str,
        cookie_referer: Referer | None = None,
        initial_plan_code: str = "",
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.plans = plans
        self.cookie_referer = cookie_referer
        self.referer: Referer | None = None
        self.referer_source = ""
        self._price_by_value: dict[str, Price] = {}
        self._plan_by_value: dict[str, Product] = {}
        choices = []
        for plan in plans:
            for price in sorted(
                (p for p in plan.prices.all() if p.currency == currency),
                key=lambda p: CYCLE_ORDER.get(p.cycle, 99),
            ):
                value = str(price.pk)
                self._price_by_value[value] = price
                self._plan_by_value[value] = plan
                choices.append((value, f"{plan.name} — {price_text(price)}"))
        self.fields["price"].choices = choices
        if initial_plan_code and not self.is_bound:
            self.initial.setdefault(
                "price",
                next(
                    (
                        v
                        for v, plan in self._plan_by_value.items()
                        if plan.code == initial_plan_code
                    ),
                    None,
                ),
            )
        self.fields["price"].widget.plan_by_value = {
            value: plan.pk for value, plan in self._plan_by_value.items()
        }

        addons: dict[int, Product] = {}
        for plan in plans:
            for addon in plan.addons.all():
                addons.setdefault(addon.pk, addon)
        self.addons = list(addons.values())
        self.fields["addons"].choices = [
            (str(a.pk), f"{a.name} ({prices_text(a.prices.all(), currency)})") for a in self.addons
        ]
        self.fields["addons"].widget.plans_by_addon = _addon_plans(plans)
        if cookie_referer is not None and not self.is_bound:
            self.initial.setdefault("referral_code", cookie_referer.code)

    # -- presentation ------------------------------------------------------------------

    def plan_groups(self) -> list[dict]:
        """The plans as cards: each with its radio options (one per cycle) and resources."""
        groups: dict[int, dict] = {}
        for option in self["price"]:
            plan = self._plan_by_value.get(str(option.data["value"]))
            if plan is None:
                continue
            price = self._price_by_value[str(option.data["value"])]
            group = groups.setdefault(
                plan.pk, {"plan": plan, "options": [], "features": self._features(plan)}
            )
            group["options"].append(
                {
                    "widget": option,
                    "cycle": price.get_cycle_display(),
                    "amount": format_money(price.amount, price.currency),
                    "suffix": CYCLE_SUFFIX.get(price.cycle, ""),
                    "setup_fee": (
                        format_money(price.setup_fee, price.currency) if price.setup_fee else ""
                    ),
                    "monthly": _monthly_equivalent(price),
                }
            )
        return list(groups.values())

    def _features(self, plan: Product) -> list[str]:
        """e.g. ["Disk space: 10 GB", "Hosting accounts: 1"], in the platform's order."""
        if not hasattr(self, "_resources"):
            self._resources = resource_choices()
        amounts = plan.resources or {}
        return [
            # The unit is left out where the name already says it ("Domains: 3").
            f"{name}: {amounts[code]}" + ("" if unit.lower() in name.lower() else f" {unit}")
            for code, name, unit in self._resources
            if amounts.get(code)
        ]

    # -- validation --------------------------------------------------------------------

    def clean_referral_code(self) -> str:
        code = self.cleaned_data.get("referral_code", "").strip()
        if not code:
            return ""
        # A partner's main code or one of its checkout codes (campaign link codes are for links).
        referer = referer_by_code(code, kind="checkout")
        if referer is None:
            raise ValidationError(
                _("We don't know the referral code “%(code)s”. Check it, or leave the field empty.")
                % {"code": code}
            )
        self.referer = referer
        from_link = self.cookie_referer is not None and referer.pk == self.cookie_referer.pk
        self.referer_source = Order.RefererSource.LINK if from_link else Order.RefererSource.CODE
        return referer.code

    def clean(self):
        data = super().clean()
        value = data.get("price")
        if not value:
            return data
        plan, price = self._plan_by_value[value], self._price_by_value[value]
        allowed = {str(a.pk): a for a in plan.addons.all()}
        for addon_id in data.get("addons", []):
            addon = allowed.get(addon_id)
            if addon is None:
                self.add_error("addons", _("Choose only add-ons offered with the plan you chose."))
                break
            if not any(
                p.currency == self.currency and p.cycle == price.cycle for p in addon.prices.all()
            ):
                self.add_error(
                    "addons",
                    _(
                        "%(name)s is not sold %(cycle)s; choose another billing cycle or leave "
                        "it out."
                    )
                    % {"name": addon.name, "cycle": price.get_cycle_display().lower()},
                )
                break
        return data

    def chosen_plan(self) -> Product:
        return self._plan_by_value[self.cleaned_data["price"]]

    def items(self) -> list[dict]:
        value = self.cleaned_data["price"]
        return [
            {
                "product": self._plan_by_value[value],
                "cycle": self._price_by_value[value].cycle,
                "quantity": 1,
                "label": self.cleaned_data["label"],
                "addons": [int(pk) for pk in self.cleaned_data["addons"]],
            }
        ]


def _monthly_equivalent(price: Price) -> str:
    """The "€7.50/month" equivalent of a €90 annual price (only for cycles longer than a month)."""
    months = CYCLE_MONTHS.get(BillingCycle(price.cycle), 0)
    if months <= 1:
        return ""
    return (
        f"{format_money(round_money(price.amount / months, price.currency), price.currency)}/month"
    )


# --------------------------------------------------------------------------------------
# Service actions


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, label=gettext_lazy("Reason"))


class CancelForm(forms.Form):
    immediately = forms.BooleanField(required=False, label=gettext_lazy("Immediately"))
    reason = forms.CharField(max_length=300, required=False, label=gettext_lazy("Reason"))


class ChangePlanForm(forms.Form):
    product = PlanChoiceField(
        queryset=Product.objects.none(), label=gettext_lazy("New plan"), empty_label=None
    )

    def __init__(self, *args, service: Service, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.fields["product"].queryset = choices
        self.fields["product"].label_from_instance = self.plan_label

    def plan_label(self, plan: Product) -> str:
        """The plan with its price in the service's currency and cycle (what it would cost)."""
        same_terms = [
            p
            for p in plan.prices.all()
            if p.currency == self.service.currency and p.cycle == self.service.cycle
        ]
        return f"{plan.name} — {prices_text(same_terms)}"


class AddonAddForm(forms.Form):
    """Put an add-on on an existing service. The choices shown are what can go on it now;
    any add-on is accepted as input so that the service says why one cannot (not offered
    with this plan, already there, no price in the service's currency)."""

    addon = forms.ModelChoiceField(
        queryset=Product.objects.filter(kind=Product.Kind.ADDON),
        label=gettext_lazy("Add-on"),
        empty_label=None,
        help_text=gettext_lazy(
            "Charged now for the days left until the service's next due date, then renewed with it."
        ),
    )

    def __init__(self, *args, service: Service, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        if not self.is_bound:
            self.fields["addon"].queryset = choices
        self.fields["addon"].label_from_instance = self.addon_label

    def addon_label(self, addon: Product) -> str:
        same_terms = [
            p
            for p in addon.prices.all()
            if p.currency == self.service.currency and p.cycle == self.service.cycle
        ]
        return f"{addon.name} — {prices_text(same_terms)}" if same_terms else addon.name
