"""Staff form of referers."""

from __future__ import annotations

from django import forms
from django_countries.fields import CountryField

from tenant_apps.clients.models import Customer

from .models import Referer, RefererCode


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Customer) -> str:
        return f"{obj.display_name} <{obj.email}>"


class RefererForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="The business or person sending customers.")
    code = forms.CharField(
        max_length=40,
        help_text="Letters, digits and hyphens; used in ?ref= links and typed at checkout. "
        "Codes ignore case.",
    )
    email = forms.EmailField(required=False, label="E-mail")
    customer = CustomerChoiceField(
        queryset=Customer.objects.order_by("name", "id"),
        required=False,
        empty_label="Not one of our customers",
        help_text="When the referer is also one of your customers.",
    )
    referred_by = forms.ModelChoiceField(
        queryset=Referer.objects.order_by("name", "id"),
        required=False,
        empty_label="Nobody",
        label="Referred by",
        help_text="The partner who brought this partner in earns the second level.",
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
    code = forms.CharField(max_length=40, label="New code")
    kind = forms.ChoiceField(choices=RefererCode.Kind.choices, label="Kind")


class RefererInviteForm(forms.Form):
    country = CountryField(blank=True).formfield(
        required=False,
        label="Partner's country",
        help_text="For a partner that is not yet a customer: its customer record is created.",
    )
