"""Console forms: creating resellers, allocations, domains, status changes, the suspension
policy."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shared_apps.tenancy.models import Resource, SuspensionPolicy
from shared_apps.tenancy.naming import MAX_SLUG_LENGTH


class ResellerCreateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Trading name"), max_length=200)
    legal_name = forms.CharField(
        max_length=200,
        help_text=gettext_lazy("Appears on the invoices the reseller issues."),
        label=gettext_lazy("Legal name"),
    )
    slug = forms.CharField(
        max_length=MAX_SLUG_LENGTH,
        help_text=gettext_lazy(
            "Lowercase letters, digits and hyphens; the instance answers at <slug>.<base domain>."
        ),
        label=gettext_lazy("Slug"),
    )
    owner_email = forms.EmailField(label=gettext_lazy("Owner's e-mail"))
    owner_name = forms.CharField(label=gettext_lazy("Owner's name"), max_length=200, required=False)
    owner_password = forms.CharField(
        label=gettext_lazy("Owner's password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Leave empty to e-mail the owner a link to choose one."),
    )
    custom_domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Optional: the reseller's own domains, one per line."),
        label=gettext_lazy("Custom domains"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.resources = list(Resource.objects.all())
        for resource in self.resources:
            self.fields[f"alloc_{resource.code}"] = forms.IntegerField(
                label=_("%(name)s (%(unit)s)") % {"name": resource.name, "unit": resource.unit},
                min_value=0,
                initial=0,
            )

    def allocation_fields(self):
        return [self[f"alloc_{r.code}"] for r in self.resources]

    def identity_fields(self):
        return [
            self[n]
            for n in (
                "name",
                "legal_name",
                "slug",
                "owner_email",
                "owner_name",
                "owner_password",
                "custom_domains",
            )
        ]

    def clean_custom_domains(self) -> list[str]:
        raw = self.cleaned_data.get("custom_domains") or ""
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def allocations(self) -> dict[str, int]:
        return {r.code: self.cleaned_data[f"alloc_{r.code}"] for r in self.resources}


class AllocationForm(forms.Form):
    def __init__(self, *args, reseller, **kwargs):
        super().__init__(*args, **kwargs)
        current = {a.resource_id: a for a in reseller.allocations.all()}
        self.resources = list(Resource.objects.all())
        for resource in self.resources:
            allocation = current.get(resource.code)
            self.fields[resource.code] = forms.IntegerField(
                label=_("%(name)s (%(unit)s)") % {"name": resource.name, "unit": resource.unit},
                min_value=0,
                initial=allocation.quantity if allocation else 0,
                help_text=_("In use: %(value)s") % {"value": allocation.used if allocation else 0},
            )


class DomainForm(forms.Form):
    domain = forms.CharField(
        max_length=253,
        help_text=gettext_lazy("e.g. billing.reseller-example.com"),
        label=gettext_lazy("Domain"),
    )


class StatusForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, label=gettext_lazy("Reason"))


class DeleteForm(forms.Form):
    confirm_slug = forms.CharField(label=gettext_lazy("Type the slug to confirm"), max_length=40)


class SuspensionPolicyForm(forms.Form):
    customers_see = forms.ChoiceField(
        label=SuspensionPolicy._meta.get_field("customers_see").verbose_name,
        choices=SuspensionPolicy.CustomerView.choices,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "The reseller's own staff can always sign in, read their staff area and pay "
            "their supplier bills. A suspension you make by hand shows everyone the suspension "
            "page."
        ),
    )
