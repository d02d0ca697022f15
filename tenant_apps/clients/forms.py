"""Forms for customers (staff), their contacts and a customer's own billing details (portal).

The forms only shape input; `services` decides what is valid and writes. They are bound to
throw-away model instances so that form validation never alters the customer being edited.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.instance.money import BILLABLE_CURRENCIES

from .models import Contact, Customer

# Ordered in pairs: the staff form lays them out on a two-column grid.
CUSTOMER_FORM_FIELDS = [
    "name",
    "email",
    "kind",
    "company_name",
    "phone",
    "language",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "currency",
    "tax_id",
    "tax_exempt",
    "tax_exempt_reason",
    "notes",
]
BILLING_DETAILS_FIELDS = [
    "name",
    "company_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "tax_id",
]
# The customer's tax terms on the staff form (services.TAX_TERMS_FIELDS decides who writes).
TAX_TERMS_FORM_FIELDS = ("currency", "tax_id", "tax_exempt", "tax_exempt_reason")
# A tuple: Django's inline formset appends the foreign key to a form's `fields` list.
CONTACT_FORM_FIELDS = ("name", "email", "phone", "role", "receives_invoices")


class CustomerForm(forms.ModelForm):
    currency = forms.ChoiceField(
        choices=[(code, code) for code in sorted(BILLABLE_CURRENCIES)],
        label=gettext_lazy("Currency"),
    )

    class Meta:
        model = Customer
        fields = CUSTOMER_FORM_FIELDS
        labels = {
            "kind": gettext_lazy("Kind"),
            "name": gettext_lazy("Name"),
            "email": gettext_lazy("Email"),
            "phone": gettext_lazy("Phone"),
            "language": gettext_lazy("Language"),
            "address_line1": gettext_lazy("Address"),
            "address_line2": gettext_lazy("Address line 2"),
            "postal_code": gettext_lazy("Postal code"),
            "city": gettext_lazy("City"),
            "region": gettext_lazy("Region"),
            "country": gettext_lazy("Country"),
            "tax_id": gettext_lazy("Tax / VAT id"),
            "tax_exempt": gettext_lazy("Tax exempt"),
            "tax_exempt_reason": gettext_lazy("Tax exempt reason"),
            "notes": gettext_lazy("Notes"),
        }
        help_texts = {
            "tax_id": gettext_lazy(
                "EU VAT ids are checked with VIES when saved, e.g. FR 40 303 265 045."
            ),
            "company_name": gettext_lazy("Required for companies; printed on invoices."),
        }
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 3}),
            "kind": forms.RadioSelect,
        }

    def __init__(self, *args, tax_terms_locked: bool = False, **kwargs):
        kwargs.pop("instance", None)  # never bind the real customer (see module docstring)
        super().__init__(*args, **kwargs)
        if tax_terms_locked:
            # Disabled fields keep their initial value whatever a crafted POST sends.
            for name in TAX_TERMS_FORM_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Changed by the owner, administrators or billing.")


class BillingDetailsForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = BILLING_DETAILS_FIELDS
        labels = {
            "name": gettext_lazy("Your name"),
            "company_name": gettext_lazy("Company"),
            "tax_id": gettext_lazy("VAT / tax id"),
            "address_line1": gettext_lazy("Address"),
            "address_line2": gettext_lazy("Address line 2"),
            "postal_code": gettext_lazy("Postal code"),
            "city": gettext_lazy("City"),
            "region": gettext_lazy("Region"),
            "country": gettext_lazy("Country"),
        }
        help_texts = {
            "name": "",
            "company_name": gettext_lazy("Leave empty if you buy as a private person."),
            "tax_id": gettext_lazy(
                "Businesses in the EU: your VAT id, checked with the EU's VIES registry."
            ),
        }

    def __init__(self, *args, **kwargs):
        kwargs.pop("instance", None)
        super().__init__(*args, **kwargs)


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = list(CONTACT_FORM_FIELDS)
        labels = {
            "name": gettext_lazy("Name"),
            "email": gettext_lazy("Email"),
            "phone": gettext_lazy("Phone"),
            "role": gettext_lazy("Role"),
            "receives_invoices": gettext_lazy("Gets invoices"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The formset is a table: column headers are the only visible labels.
        for field in self.fields.values():
            field.widget.attrs.setdefault("aria-label", field.label)


ContactFormSet = forms.inlineformset_factory(
    Customer,
    Contact,
    form=ContactForm,
    fields=list(CONTACT_FORM_FIELDS),
    extra=1,
    can_delete=True,
)
