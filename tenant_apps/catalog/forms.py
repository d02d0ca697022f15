"""Staff forms of the catalog: product, its prices (a formset), tax classes."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.instance.money import BILLABLE_CURRENCIES

from .models import BillingCycle, Product, TaxClass
from .selectors import resource_choices, sorted_prices

RESOURCE_PREFIX = "resource_"


def add_service_errors(form: forms.Form, exc: ValidationError) -> dict[str, list[str]]:
    """Put a service's errors on the form fields they name; return those naming no field."""
    leftover: dict[str, list[str]] = {}
    items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
    for field, messages in items:
        if field in form.fields or field is None:
            for message in messages:
                form.add_error(field, message)
        else:
            leftover.setdefault(field, []).extend(messages)
    return leftover


class AddonChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Product) -> str:
        return obj.name if obj.is_active else f"{obj.name} (archived)"


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    code = forms.CharField(
        max_length=60,
        help_text=gettext_lazy("Letters, digits and hyphens; used in the API and on orders."),
        label=gettext_lazy("Code"),
    )
    kind = forms.ChoiceField(
        choices=Product.Kind.choices, initial=Product.Kind.PLAN, label=gettext_lazy("Kind")
    )
    tax_class = forms.ModelChoiceField(
        queryset=TaxClass.objects.all(), empty_label=None, label=gettext_lazy("Tax class")
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Shown to customers when they order."),
        label=gettext_lazy("Description"),
    )
    position = forms.IntegerField(
        min_value=0,
        initial=0,
        help_text=gettext_lazy("Lower numbers are listed first."),
        label=gettext_lazy("Position"),
    )
    is_reseller_plan = forms.BooleanField(
        required=False,
        label=gettext_lazy("Reseller plan"),
        help_text=gettext_lazy(
            "Ordering it creates a reseller instance with the resources below as its allocation."
        ),
    )
    once_per_service = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("Once per service"),
        help_text=gettext_lazy(
            "Add-ons: a service can have it only once (untick for add-ons sold by the "
            "unit, such as extra addresses)."
        ),
    )
    addons = AddonChoiceField(
        queryset=Product.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Add-ons"),
        help_text=gettext_lazy("Add-ons customers can order together with this plan."),
    )

    def __init__(self, *args, product: Product | None = None, is_operator: bool = False, **kw):
        super().__init__(*args, **kw)
        addons = Product.objects.filter(kind=Product.Kind.ADDON).order_by("position", "name")
        if product is not None:
            addons = addons.exclude(pk=product.pk)
        self.fields["addons"].queryset = addons
        self.has_addon_choices = addons.exists()
        if not is_operator:
            # Only the operator sells reseller instances; resellers never see the switch.
            del self.fields["is_reseller_plan"]
        self.resources = resource_choices()
        for code, name, unit in self.resources:
            self.fields[f"{RESOURCE_PREFIX}{code}"] = forms.IntegerField(
                label=_("%(name)s (%(unit)s)") % {"name": name, "unit": unit},
                min_value=0,
                initial=0,
                required=False,
            )
        if product is not None:
            self.initial.update(
                name=product.name,
                code=product.code,
                kind=product.kind,
                tax_class=product.tax_class_id,
                description=product.description,
                position=product.position,
                is_reseller_plan=product.is_reseller_plan,
                once_per_service=product.once_per_service,
                addons=[a.pk for a in product.addons.all()],
                **{
                    f"{RESOURCE_PREFIX}{code}": product.resources.get(code, 0)
                    for code, _name, _unit in self.resources
                },
            )
        elif "tax_class" not in self.initial:
            self.initial["tax_class"] = TaxClass.objects.filter(code="standard").first()

    def main_fields(self):
        names = ["name", "code", "kind", "tax_class", "position", "description"]
        if "is_reseller_plan" in self.fields:
            names.append("is_reseller_plan")
        names.append("once_per_service")
        return [self[name] for name in names]

    def resource_fields(self):
        return [self[f"{RESOURCE_PREFIX}{code}"] for code, _name, _unit in self.resources]

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "code": data["code"],
            "kind": data["kind"],
            "tax_class": data["tax_class"],
            "description": data["description"],
            "position": data["position"],
            "is_reseller_plan": data.get("is_reseller_plan", False),
            "once_per_service": data.get("once_per_service", False),
            "addons": list(data["addons"]),
            "resources": {
                code: data.get(f"{RESOURCE_PREFIX}{code}") or 0
                for code, _name, _unit in self.resources
            },
        }


class PriceForm(forms.Form):
    """One price row. Only shapes are checked here; the service judges the values."""

    # Rows sit in a table without <label>s: aria-label names each input.
    currency = forms.CharField(
        max_length=3,
        widget=forms.TextInput(
            attrs={
                "list": "currency-codes",
                "autocomplete": "off",
                "size": "5",
                "aria-label": gettext_lazy("Currency"),
            }
        ),
        label=gettext_lazy("Currency"),
    )
    cycle = forms.ChoiceField(
        choices=BillingCycle.choices,
        initial=BillingCycle.MONTHLY,
        widget=forms.Select(attrs={"aria-label": gettext_lazy("Billing cycle")}),
        label=gettext_lazy("Cycle"),
    )
    amount = forms.DecimalField(
        label=gettext_lazy("Price"),
        widget=forms.TextInput(
            attrs={"class": "input-sm", "inputmode": "decimal", "aria-label": gettext_lazy("Price")}
        ),
    )
    setup_fee = forms.DecimalField(
        required=False,
        widget=forms.TextInput(
            attrs={
                "class": "input-sm",
                "inputmode": "decimal",
                "aria-label": gettext_lazy("Setup fee"),
            }
        ),
        label=gettext_lazy("Setup fee"),
    )

    def __init__(self, *args, default_currency: str = "EUR", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].initial = default_currency


class BasePriceFormSet(forms.BaseFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        form.fields["DELETE"].label = _("Remove")
        form.fields["DELETE"].widget.attrs["aria-label"] = _("Remove this price")

    def price_rows(self) -> list[dict]:
        """Rows to save: filled in and not marked for removal (blank extra rows are skipped)."""
        return [
            {
                "currency": row["currency"],
                "cycle": row["cycle"],
                "amount": row["amount"],
                "setup_fee": row.get("setup_fee"),
            }
            for row in self.cleaned_data
            if row and not row.get("DELETE")
        ]


PriceFormSet = forms.formset_factory(
    PriceForm, formset=BasePriceFormSet, extra=1, can_delete=True, max_num=60, validate_max=True
)


def price_formset(*, data=None, product: Product | None, default_currency: str) -> BasePriceFormSet:
    initial = (
        [
            {
                "currency": p.currency,
                "cycle": p.cycle,
                "amount": p.amount,
                "setup_fee": p.setup_fee,
            }
            for p in sorted_prices(product.prices.all())
        ]
        if product is not None
        else []
    )
    return PriceFormSet(
        data,
        initial=initial,
        prefix="prices",
        form_kwargs={"default_currency": default_currency},
    )


class TaxClassForm(forms.Form):
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"))
    code = forms.CharField(
        max_length=40,
        help_text=gettext_lazy("e.g. standard, reduced, digital-services."),
        label=gettext_lazy("Code"),
    )


def currency_codes() -> list[str]:
    return sorted(BILLABLE_CURRENCIES)
