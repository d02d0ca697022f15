"""Forms of e-invoicing screens; each hands its cleaned data to one service."""

from __future__ import annotations

import datetime

from django import forms
from django.utils.translation import gettext, gettext_lazy

from .export import EXPORT_CHOICES, MAX_DAYS
from .formats import Format
from .models import ADDRESS_SCHEMES, CustomerEInvoicing, IssuerEInvoicing


class IssuerEInvoicingForm(forms.ModelForm):
    class Meta:
        model = IssuerEInvoicing
        fields = ["endpoint_scheme", "endpoint_id", "contact_name", "facturx_default_pdf"]


class CustomerEInvoicingForm(forms.ModelForm):
    class Meta:
        model = CustomerEInvoicing
        fields = ["format", "buyer_reference", "order_reference", "endpoint_scheme", "endpoint_id"]
        widgets = {"format": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = Format.choices
        self.fields["endpoint_scheme"].choices = [("", "—"), *ADDRESS_SCHEMES]

    def _post_clean(self):
        # The service validates (it knows what each format needs); the form only parses.
        pass


class ExportForm(forms.Form):
    start = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(
        label=gettext_lazy("Format"), choices=EXPORT_CHOICES, initial=Format.FACTURX
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("The period ends before it starts."))
            elif end - start > datetime.timedelta(days=MAX_DAYS):
                self.add_error(
                    "end",
                    gettext("Export at most %(days)s days at a time.") % {"days": MAX_DAYS},
                )
        return data
