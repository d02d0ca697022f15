"""Staff form of referers."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy
from django_countries.fields import CountryField

from tenant_apps.clients.models import Customer

from .models import Referer, RefererCode


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Customer) -> str:
        return f"{obj.display_name} <{obj.email}>"


class RefererForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        help_text=gettext_lazy("The business or person sending customers."),
        label=gettext_lazy("Name"),
    )
    code = forms.CharField(
        max_length=40,
        help_text=gettext_lazy(
            "Letters, digits and hyphens; used in ?ref= links and typed at checkout. "
            "Codes ignore case."
        ),
        label=gettext_lazy("Code"),
    )
    email = forms.EmailField(required=False, label=gettext_lazy("E-mail"))
    customer = CustomerChoiceField(
        queryset=Customer.objects.order_by("name", "id"),
        required=False,
        empty_label=gettext_lazy("Not one of our customers"),
        help_text=gettext_lazy("When the referer is also one of your customers."),
        label=gettext_lazy("Customer"),
    )
    referred_by = forms.ModelChoiceField(
        queryset=Referer.objects.order_by("name", "id"),
        required=False,
        empty_label=gettext_lazy("Nobody"),
        label=gettext_lazy("Referred by"),
        help_text=gettext_lazy("The partner who brought this partner in earns the second level."),
    )

    @classmethod
    def for_referer(cls, referer: Referer) -> RefererForm:
        return cls(
            initial={
                "name": referer.name,
                "code": referer.code,
                "email": referer.email,
                "customer": referer.customer_id,
                "referred_by": referer.referred_by_id,
            }
        )


class RefererCodeForm(forms.Form):
    code = forms.CharField(max_length=40, label=gettext_lazy("New code"))
    kind = forms.ChoiceField(choices=RefererCode.Kind.choices, label=gettext_lazy("Kind"))


class RefererInviteForm(forms.Form):
    country = CountryField(blank=True).formfield(
        required=False,
        label=gettext_lazy("Partner's country"),
        help_text=gettext_lazy(
            "For a partner that is not yet a customer: its customer record is created."
        ),
    )
