"""Staff forms of commissions: rules (with tiers), payouts, an order's referer, and the
programme's settings."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.catalog.models import Product
from tenant_apps.referrals.models import ProgrammeSettings, Referer

from .models import CommissionRule, Payout


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120, label=gettext_lazy("Name"))
    product = forms.ModelChoiceField(
        queryset=Product.objects.order_by("name"),
        required=False,
        empty_label=gettext_lazy("Every product without a rule of its own"),
        label=gettext_lazy("Product"),
    )
    kind = forms.ChoiceField(choices=CommissionRule.Kind.choices, label=gettext_lazy("Commission"))
    rate = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=100,
        label=gettext_lazy("Percentage"),
        help_text=gettext_lazy("For percentage rules"),
    )
    amount = forms.DecimalField(
        required=False,
        min_value=0,
        label=gettext_lazy("Fixed amount"),
        help_text=gettext_lazy("For fixed-amount rules"),
    )
    currency = forms.CharField(
        required=False,
        max_length=3,
        help_text=gettext_lazy("Of the fixed amount (e.g. EUR)"),
        label=gettext_lazy("Currency"),
    )
    duration = forms.ChoiceField(
        choices=CommissionRule.Duration.choices, label=gettext_lazy("Paid on")
    )
    months = forms.IntegerField(
        required=False,
        min_value=1,
        help_text=gettext_lazy(
            "Recurring: for this many months from the first invoice; empty for always"
        ),
        label=gettext_lazy("Months"),
    )
    second_level_rate = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=100,
        label=gettext_lazy("Second level (%)"),
        help_text=gettext_lazy(
            "Percentage of the net amount for the partner's own referer; empty for none"
        ),
    )
    tiers = forms.CharField(
        required=False,
        label=gettext_lazy("Volume tiers"),
        help_text=gettext_lazy(
            "One per line: “orders value”, e.g. “10 15” pays 15 from a partner's 10th "
            "credited order on"
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    is_active = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Active"))

    def clean_tiers(self) -> list[dict]:
        tiers = []
        for number, raw in enumerate(self.cleaned_data["tiers"].splitlines(), start=1):
            parts = raw.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise forms.ValidationError(
                    _("Line %(number)s: write the volume and the value.") % {"number": number}
                )
            tiers.append({"min_conversions": parts[0], "value": parts[1]})
        return tiers

    @classmethod
    def for_rule(cls, rule: CommissionRule) -> RuleForm:
        field = "rate" if rule.kind == CommissionRule.Kind.PERCENT else "amount"
        return cls(
            initial={
                "name": rule.name,
                "product": rule.product_id,
                "kind": rule.kind,
                "rate": rule.rate,
                "amount": rule.amount,
                "currency": rule.currency,
                "duration": rule.duration,
                "months": rule.months,
                "second_level_rate": rule.second_level_rate,
                "is_active": rule.is_active,
                "tiers": "\n".join(
                    f"{tier.min_conversions} {getattr(tier, field)}" for tier in rule.tiers.all()
                ),
            }
        )


class PayoutForm(forms.Form):
    referer = forms.ModelChoiceField(
        queryset=Referer.objects.order_by("name"), label=gettext_lazy("Partner")
    )
    currency = forms.CharField(max_length=3, initial="EUR", label=gettext_lazy("Currency"))
    method = forms.ChoiceField(choices=Payout.Method.choices, label=gettext_lazy("Method"))
    reference = forms.CharField(
        max_length=200,
        required=False,
        help_text=gettext_lazy("e.g. the bank transfer's reference"),
        label=gettext_lazy("Reference"),
    )
    paid_on = forms.DateField(
        required=False,
        label=gettext_lazy("Paid on"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class OrderRefererForm(forms.Form):
    referer = forms.ModelChoiceField(
        queryset=Referer.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label=gettext_lazy("No referer"),
        label=gettext_lazy("Referer"),
    )
    reason = forms.CharField(
        max_length=300,
        help_text=gettext_lazy("Kept in the order's history"),
        label=gettext_lazy("Reason"),
    )


class ProgrammeForm(forms.ModelForm):
    class Meta:
        model = ProgrammeSettings
        fields = ["cookie_days", "attribution", "maturity_days"]
        labels = {
            "cookie_days": gettext_lazy("Remember a link visit for (days)"),
            "maturity_days": gettext_lazy("Commission pending for (days)"),
            "attribution": gettext_lazy("Attribution"),
        }
