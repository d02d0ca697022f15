"""Forms of card payments: a staff refund, and a customer's card settings."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from .models import CardSettings


class CardRefundForm(forms.Form):
    amount = forms.DecimalField(
        label=gettext_lazy("Amount to refund"), max_digits=14, decimal_places=2
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class CardSettingsForm(forms.Form):
    auto_charge_renewals = forms.BooleanField(
        label=CardSettings._meta.get_field("auto_charge_renewals").verbose_name,
        required=False,
        help_text=gettext_lazy(
            "This applies to renewal invoices only, and charges your default card; "
            "other invoices you pay yourself."
        ),
    )
