"""The console's Platform fee screen: the percentage the platform takes, through Stripe, from
each card payment a reseller takes on its connected account (0 = off, the default).

Every operator staff member reads it; the owner and administrators change it. Resellers
have no route to it: the console lives on the operator's domain only.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import FormView

from shared_apps.stripe_webhooks.models import PlatformFee
from shared_apps.stripe_webhooks.platform_fee import platform_fee_get, platform_fee_set
from tenant_apps.cards.gateway import from_minor_units, to_minor_units
from tenant_apps.cards.platform_fee import fee_minor_units
from tenant_apps.instance.forms import form_add_service_errors as apply_errors
from tenant_apps.instance.money import format_money

from .views import OperatorManagerMixin

EXAMPLE = (Decimal("100.00"), "EUR")


class PlatformFeeForm(forms.Form):
    percent = forms.DecimalField(
        label=PlatformFee._meta.get_field("percent").verbose_name,
        min_value=Decimal("0"),
        max_value=PlatformFee.MAX_PERCENT,
        max_digits=4,
        decimal_places=2,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set per form, in the reader's language (the maximum is a number to fill in).
        self.fields["percent"].help_text = _(
            "From 0 to %(MAX_PERCENT)s %%; 0 turns the fee off. Taken on card payments made "
            "on resellers' own Stripe accounts, never on your own instance's."
        ) % {"MAX_PERCENT": PlatformFee.MAX_PERCENT}


class PlatformFeeView(OperatorManagerMixin, FormView):
    """Set the platform fee (owners and administrators; other operator staff read it)."""

    template_name = "console/platform_fee.html"
    form_class = PlatformFeeForm

    def get_initial(self):
        return {"percent": platform_fee_get().percent}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        row = platform_fee_get()
        amount, currency = EXAMPLE
        fee = from_minor_units(
            fee_minor_units(to_minor_units(amount, currency), row.percent), currency
        )
        context.update(
            can_manage=self.request.user.can_manage_instance,
            fee=row,
            example_amount=format_money(amount, currency),
            example_fee=format_money(fee, currency),
        )
        return context

    def form_valid(self, form):
        self.check_manager()
        try:
            row = platform_fee_set(percent=form.cleaned_data["percent"], actor=self.request.user)
        except ValidationError as exc:
            apply_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("The platform now takes %(percent)s %% of each card payment on resellers' accounts.")
            % {"percent": row.percent}
            if row.percent
            else _("The platform takes no fee on card payments."),
        )
        return redirect("console:platform_fee")
