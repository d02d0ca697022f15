"""Staff forms of commissions: rules (with tiers), payouts, an order's referer, and the
programme's settings."""

from __future__ import annotations

from django import forms

from tenant_apps.catalog.models import Product
from tenant_apps.referrals.models import ProgrammeSettings, Referer

from .models import CommissionRule, Payout


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120)
    product = forms.ModelChoiceField(
        queryset=Product.objects.order_by("name"),
        required=False,
        empty_label="Every product without a rule of its own",
    )
    kind = forms.ChoiceField(choices=CommissionRule.Kind.choices, label="Commission")
    rate = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=100,
        label="Percentage",
        help_text="For percentage rules",
    )
    amount = forms.DecimalField(
        required=False, min_value=0, label="Fixed amount", help_text="For fixed-amount rules"
    )
    currency = forms.CharField(
        required=False, max_length=3, help_text="Of the fixed amount (e.g. EUR)"
    )
    duration = forms.ChoiceField(choices=CommissionRule.Duration.choices, label="Paid on")
    months = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Recurring: for this many months from the first invoice; empty for always",
    )
    second_level_rate = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=100,
        label="Second level (%)",
        help_text="Percentage of the net amount for the partner's own referer; empty for none",
    )
    tiers = forms.CharField(
        required=False,
        label="Volume tiers",
        help_text="One per line: “orders value”, e.g. “10 15” pays 15 from a partner's 10th "
        "credited order on",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_tiers(self) -> list[dict]:
        tiers = []
        for number, raw in enumerate(self.cleaned_data["tiers"].splitlines(), start=1):
            parts = raw.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise forms.ValidationError(f"Line {number}: write the volume and the value.")
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
    referer = forms.ModelChoiceField(queryset=Referer.objects.order_by("name"), label="Partner")
    currency = forms.CharField(max_length=3, initial="EUR")
    method = forms.ChoiceField(choices=Payout.Method.choices)
    reference = forms.CharField(
        max_length=200, required=False, help_text="e.g. the bank transfer's reference"
    )
    paid_on = forms.DateField(
        required=False, label="Paid on", widget=forms.DateInput(attrs={"type": "date"})
    )


class OrderRefererForm(forms.Form):
    referer = forms.ModelChoiceField(
        queryset=Referer.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label="No referer",
    )
    reason = forms.CharField(max_length=300, help_text="Kept in the order's history")


class ProgrammeForm(forms.ModelForm):
    class Meta:
        model = ProgrammeSettings
        fields = ["cookie_days", "attribution", "maturity_days"]
        labels = {
            "cookie_days": "Remember a link visit for (days)",
            "maturity_days": "Commission pending for (days)",
        }
