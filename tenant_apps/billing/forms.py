"""Staff forms of billing: drafts and their lines, payments, credit, credit notes, settings.

Forms check what a person can get wrong while typing (a negative quantity, an unknown
currency, "3, x" as reminder days) so the page can point at the field; the services check
everything again and stay the only place that writes. Tax rates and e-mail templates have no
service yet: their ModelForms save directly (see `TaxRateForm`, `EmailTemplateForm`).
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance.email_sandbox import template_problem
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.instance.money import BILLABLE_CURRENCIES, validate_currency

from .models import BillingSettings, Invoice, Payment, TaxRate
from .selectors import open_invoice_q

MONEY = {"max_digits": 12, "decimal_places": 2}
POSITIVE_QUANTITY = gettext_lazy("The quantity must be more than 0.")
NEGATIVE_PRICE = gettext_lazy("Prices cannot be negative; issue a credit note to give money back.")


def currency_codes() -> list[str]:
    return sorted(BILLABLE_CURRENCIES)


def tax_class_choices() -> list[tuple[str, str]]:
    choices = [(code, name) for code, name in TaxClass.objects.values_list("code", "name")]
    # A fresh instance may have no tax class yet: lines still need one (no tax is charged).
    return choices or [("standard", gettext("Standard"))]


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Customer) -> str:
        return f"{obj.display_name} · {obj.email} ({obj.currency})"


# --------------------------------------------------------------------------------------
# Drafts and lines


class InvoiceLineForm(forms.Form):
    description = forms.CharField(max_length=300, label=gettext_lazy("Description"))
    quantity = forms.DecimalField(
        max_digits=10, decimal_places=2, initial=Decimal("1"), label=gettext_lazy("Quantity")
    )
    unit_price = forms.DecimalField(label=gettext_lazy("Unit price"), **MONEY)
    tax_class_code = forms.ChoiceField(label=gettext_lazy("Tax class"), choices=())

    def __init__(self, *args, tax_choices: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = tax_choices if tax_choices is not None else tax_class_choices()
        field = self.fields["tax_class_code"]
        field.choices = choices
        codes = [code for code, _ in choices]
        field.initial = "standard" if "standard" in codes else codes[0]
        self.fields["description"].widget.attrs["placeholder"] = "e.g. Web hosting, March"
        self.fields["quantity"].widget.attrs.update(min="0.01", step="0.01")
        self.fields["unit_price"].widget.attrs.update(min="0", step="0.01")

    def clean_quantity(self) -> Decimal:
        quantity = self.cleaned_data["quantity"]
        if quantity <= 0:
            raise ValidationError(POSITIVE_QUANTITY)
        return quantity

    def clean_unit_price(self) -> Decimal:
        price = self.cleaned_data["unit_price"]
        if price < 0:
            raise ValidationError(NEGATIVE_PRICE)
        return price

    def line(self) -> dict:
        """The line as `services.LineSpec.parse` reads it."""
        return {
            "description": self.cleaned_data["description"],
            "quantity": self.cleaned_data["quantity"],
            "unit_price": self.cleaned_data["unit_price"],
            "tax_class_code": self.cleaned_data["tax_class_code"],
        }


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args, **kwargs):
        # One query for every row's tax class choices, not one per row.
        self.tax_choices = tax_class_choices()
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "tax_choices": self.tax_choices}

    def lines(self) -> list[dict]:
        """Filled rows only: rows left as they were offered are not lines."""
        return [form.line() for form in self.forms if form.has_changed() and form.cleaned_data]


LineFormSet = forms.formset_factory(InvoiceLineForm, formset=BaseLineFormSet, extra=3)


class InvoiceCreateForm(forms.Form):
    customer = CustomerChoiceField(
        queryset=Customer.objects.none(),
        empty_label=gettext_lazy("Choose…"),
        label=gettext_lazy("Customer"),
    )
    currency = forms.CharField(
        max_length=3,
        required=False,
        help_text=gettext_lazy("Leave empty to invoice in the customer's currency."),
        widget=forms.TextInput(
            attrs={"list": "currency-codes", "placeholder": gettext_lazy("e.g. EUR")}
        ),
        label=gettext_lazy("Currency"),
    )
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Printed on the invoice for the customer."),
        label=gettext_lazy("Notes"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Customer.objects.filter(
            status=Customer.Status.ACTIVE
        ).order_by("name", "id")

    def clean_currency(self) -> str:
        value = self.cleaned_data["currency"].strip()
        return validate_currency(value) if value else ""


# --------------------------------------------------------------------------------------
# Settlement


class PaymentForm(forms.Form):
    amount = forms.DecimalField(min_value=Decimal("0.01"), **MONEY, label=gettext_lazy("Amount"))
    method = forms.ChoiceField(
        choices=Payment.Method.choices,
        initial=Payment.Method.BANK_TRANSFER,
        label=gettext_lazy("Method"),
    )
    received_on = forms.DateField(
        label=gettext_lazy("Received on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reference = forms.CharField(
        max_length=200,
        required=False,
        help_text=gettext_lazy("Bank reference, cheque number…"),
        label=gettext_lazy("Reference"),
    )
    notes = forms.CharField(max_length=300, required=False, label=gettext_lazy("Notes"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received_on"].initial = timezone.localdate

    def arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "amount": data["amount"],
            "method": data["method"],
            "received_on": data["received_on"],
            "reference": data["reference"],
            "notes": data["notes"],
        }


class OpenInvoiceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Invoice) -> str:
        return f"{obj.number} · {obj.customer} · {obj.amount_due} {obj.currency} due"


class PaymentRecordForm(PaymentForm):
    """A payment received outside an invoice page: on account, or against an open invoice."""

    customer = CustomerChoiceField(
        queryset=Customer.objects.none(),
        empty_label=gettext_lazy("Choose…"),
        label=gettext_lazy("Customer"),
    )
    invoice = OpenInvoiceChoiceField(
        queryset=Invoice.objects.none(),
        required=False,
        empty_label=gettext_lazy("None: add it to the customer's credit"),
        label=gettext_lazy("Invoice"),
    )
    oldest_first = forms.BooleanField(
        required=False,
        label=gettext_lazy("Settle open invoices, oldest due first"),
        help_text=gettext_lazy(
            "Without an invoice chosen: the payment settles the customer's open invoices "
            "by due date; what is left becomes credit."
        ),
    )
    field_order = ["customer", "invoice", "amount", "method", "received_on", "reference"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Customer.objects.order_by("name", "id")
        self.fields["invoice"].queryset = (
            Invoice.objects.filter(open_invoice_q())
            .select_related("customer")
            .order_by("due_date", "id")
        )


class RefundForm(forms.Form):
    """Pay back part or all of a payment (the credit notes it needs are issued with it)."""

    amount = forms.DecimalField(min_value=Decimal("0.01"), **MONEY, label=gettext_lazy("Amount"))
    reason = forms.CharField(
        max_length=300,
        help_text=gettext_lazy("Printed on the credit notes."),
        label=gettext_lazy("Reason"),
    )
    method = forms.ChoiceField(
        choices=Payment.Method.choices,
        label=gettext_lazy("Paid back by"),
        initial=Payment.Method.BANK_TRANSFER,
        help_text=gettext_lazy(
            "A card payment taken online goes back to the card through Stripe; choose "
            "another method only if you pay it back yourself."
        ),
    )
    reference = forms.CharField(
        max_length=200,
        required=False,
        help_text=gettext_lazy("Bank reference…"),
        label=gettext_lazy("Reference"),
    )
    waive_periods = forms.BooleanField(
        required=False,
        label=gettext_lazy("Waive the service periods"),
        help_text=gettext_lazy(
            "Service periods wholly refunded are given away instead of billed again by "
            "the next renewal run (cancel the service if it should stop)."
        ),
    )


class ReverseForm(forms.Form):
    """Undo a payment recorded by mistake."""

    reason = forms.CharField(
        max_length=300,
        help_text=gettext_lazy("E.g. the bank line belonged to another customer."),
        label=gettext_lazy("Reason"),
    )


class ApplyCreditForm(forms.Form):
    amount = forms.DecimalField(
        min_value=Decimal("0.01"),
        required=False,
        help_text=gettext_lazy(
            "Leave empty to apply as much as the balance and the amount due allow."
        ),
        **MONEY,
        label=gettext_lazy("Amount"),
    )


WAIVE_HELP = gettext_lazy(
    "Unpaid service periods on this invoice are given away (recorded on the service) "
    "instead of being billed again by the next renewal run."
)


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, label=gettext_lazy("Reason"))
    waive_periods = forms.BooleanField(
        required=False, label=gettext_lazy("Waive the service periods"), help_text=WAIVE_HELP
    )


class CreditNoteForm(forms.Form):
    """The whole invoice, or chosen lines and quantities (one field per line)."""

    WHOLE, LINES = "whole", "lines"
    scope = forms.ChoiceField(
        choices=[(WHOLE, gettext_lazy("The whole invoice")), (LINES, gettext_lazy("Chosen lines"))],
        initial=WHOLE,
        widget=forms.RadioSelect,
        label=gettext_lazy("Scope"),
    )
    reason = forms.CharField(
        max_length=300,
        help_text=gettext_lazy("Printed on the credit note, e.g. “Service cancelled”."),
        label=gettext_lazy("Reason"),
    )
    waive_periods = forms.BooleanField(
        required=False, label=gettext_lazy("Waive the service periods"), help_text=WAIVE_HELP
    )

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.invoice_lines = list(invoice.lines.all())
        for line in self.invoice_lines:
            self.fields[f"line_{line.pk}"] = forms.DecimalField(
                label=line.description,
                required=False,
                min_value=Decimal("0"),
                max_value=line.quantity,
                max_digits=10,
                decimal_places=2,
                widget=forms.NumberInput(attrs={"step": "0.01", "placeholder": gettext("0")}),
            )

    def line_fields(self):
        return [(line, self[f"line_{line.pk}"]) for line in self.invoice_lines]

    def clean(self):
        data = super().clean()
        if data.get("scope") == self.LINES and not self.chosen_lines():
            raise ValidationError(gettext("Enter the quantity to credit on at least one line."))
        return data

    def chosen_lines(self) -> list[dict]:
        chosen = []
        for line in self.invoice_lines:
            quantity = self.cleaned_data.get(f"line_{line.pk}")
            if quantity:
                chosen.append({"line_id": line.pk, "quantity": quantity})
        return chosen

    def service_lines(self) -> list[dict] | None:
        """None credits every line in full (what `credit_note_create` expects)."""
        return self.chosen_lines() if self.cleaned_data["scope"] == self.LINES else None


class CustomerCreditForm(forms.Form):
    amount = forms.DecimalField(
        help_text=gettext_lazy("Positive adds credit, negative removes it."),
        **MONEY,
        label=gettext_lazy("Amount"),
    )
    note = forms.CharField(
        max_length=300,
        help_text=gettext_lazy("Why the credit changes (kept in the ledger)."),
        label=gettext_lazy("Note"),
    )

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise ValidationError(gettext("Enter a non-zero amount."))
        return amount


# --------------------------------------------------------------------------------------
# Settings, tax rates, e-mail templates


class BillingSettingsForm(forms.Form):
    prices_include_tax = forms.BooleanField(
        required=False,
        label=gettext_lazy("Prices include tax"),
        help_text=gettext_lazy(
            "Catalog prices already include tax (typical when you sell to consumers)."
        ),
    )
    payment_terms_days = forms.IntegerField(
        label=gettext_lazy("Payment terms (days)"), min_value=0, max_value=365
    )
    renewal_lead_days = forms.IntegerField(
        label=gettext_lazy("Renewal lead time (days)"),
        min_value=0,
        max_value=365,
        help_text=gettext_lazy(
            "Renewal invoices are issued this many days before a service is due."
        ),
    )
    invoice_number_format = forms.CharField(
        max_length=60,
        help_text=gettext_lazy(
            "Placeholders: <code>{year}</code> and <code>{number}</code>; "
            "<code>{number:06d}</code> pads to six digits (up to 12). Around them: letters, "
            "digits, spaces and - _ / . #"
        ),
        label=gettext_lazy("Invoice number format"),
    )
    credit_note_number_format = forms.CharField(
        max_length=60, label=gettext_lazy("Credit note number format")
    )
    reminder_days = forms.CharField(
        required=False,
        label=gettext_lazy("Reminders (days after due date)"),
        help_text=gettext_lazy(
            "Comma-separated, e.g. 3, 10, 20. Leave empty to send no reminders."
        ),
    )
    late_fee_amount = forms.DecimalField(
        label=gettext_lazy("Late fee (fixed amount)"), min_value=Decimal("0"), **MONEY
    )
    late_fee_percent = forms.DecimalField(
        # xgettext:no-python-format
        label=gettext_lazy("Late fee (% of amount due)"),
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
    )
    late_fee_after_days = forms.IntegerField(
        label=gettext_lazy("Charge the late fee after (days overdue)"), min_value=0, max_value=365
    )
    late_fee_vat = forms.ChoiceField(
        label=gettext_lazy("VAT on late fees"),
        choices=BillingSettings.LateFeeVat.choices,
        help_text=gettext_lazy(
            "A late fee compensates late payment rather than paying for a supply: "
            "usually outside the scope of VAT. Choose the other option where your tax office "
            "treats it as part of the price."
        ),
    )
    suspend_after_days = forms.IntegerField(
        label=gettext_lazy("Suspend services after (days overdue)"),
        min_value=0,
        max_value=3650,
        required=False,
        help_text=gettext_lazy("Leave empty to never suspend automatically."),
    )
    terminate_after_days = forms.IntegerField(
        label=gettext_lazy("Terminate services after (days overdue)"),
        min_value=0,
        max_value=3650,
        required=False,
        help_text=gettext_lazy("Leave empty to never terminate automatically."),
    )
    void_issued_invoices = forms.BooleanField(
        required=False,
        label=gettext_lazy("Allow voiding issued invoices"),
        help_text=gettext_lazy(
            "Only where EU invoicing rules do not apply. Under EU rules an issued "
            "invoice is corrected by a credit note, and this stays off."
        ),
    )
    checkout_expiry_days = forms.IntegerField(
        label=gettext_lazy("Cancel unpaid portal checkouts after (days)"),
        min_value=1,
        max_value=365,
        required=False,
        help_text=gettext_lazy(
            "Orders placed in the portal and never paid: no reminders or fees; after "
            "this many days the order is cancelled and its invoice credited. Empty: never."
        ),
    )

    apply_credit_automatically = forms.BooleanField(
        required=False,
        label=gettext_lazy("Apply account credit automatically"),
        help_text=gettext_lazy(
            "Credit settles open invoices as soon as both exist, oldest due date first. "
            "Off: staff apply credit invoice by invoice."
        ),
    )

    # Two columns, filled row by row: the longer sections side by side, then the short ones.
    SECTIONS = {
        "Invoices": [
            "prices_include_tax",
            "payment_terms_days",
            "invoice_number_format",
            "credit_note_number_format",
            "void_issued_invoices",
        ],
        "Reminders and late fees": [
            "reminder_days",
            "late_fee_amount",
            "late_fee_percent",
            "late_fee_after_days",
            "late_fee_vat",
        ],
        "Renewals": ["renewal_lead_days"],
        "Payments and credit": ["apply_credit_automatically"],
        "Suspension and termination": [
            "suspend_after_days",
            "terminate_after_days",
            "checkout_expiry_days",
        ],
    }

    @classmethod
    def initial_from(cls, row) -> dict:
        initial = {name: getattr(row, name) for name in cls.base_fields}
        initial["reminder_days"] = ", ".join(str(day) for day in row.reminder_days or [])
        return initial

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS.items()]

    def clean_reminder_days(self) -> list[int]:
        raw = self.cleaned_data["reminder_days"]
        parts = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
        try:
            days = [int(part) for part in parts]
        except ValueError as exc:
            raise ValidationError(
                gettext("Give reminder days as whole numbers of days, e.g. 3, 10.")
            ) from exc
        if any(day < 0 for day in days):
            raise ValidationError(gettext("Reminder days count from the due date: 0 or more."))
        return sorted(set(days))


class TaxRateForm(forms.ModelForm):
    """Saved directly: billing has no tax-rate service yet (reported to the lead)."""

    class Meta:
        model = TaxRate
        fields = ["country", "tax_class", "rate", "name"]
        labels = {
            "country": gettext_lazy("Country"),
            "tax_class": gettext_lazy("Tax class"),
            "rate": gettext_lazy("Rate"),
            "name": gettext_lazy("Name"),
        }
        help_texts = {"name": gettext_lazy("Printed next to the amount, e.g. VAT, TVA, MwSt, GST.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tax_class"].empty_label = None
        self.fields["rate"].widget.attrs.update(step="0.001", min="0", max="100")


class EmailTemplateForm(forms.ModelForm):
    """Saved directly: billing has no e-mail template service yet (reported to the lead)."""

    class Meta:
        model = EmailTemplate
        fields = ["subject", "body"]
        labels = {"subject": gettext_lazy("Subject"), "body": gettext_lazy("Body")}
        widgets = {"body": forms.Textarea(attrs={"rows": 14, "class": "mono"})}

    def _compiles(self, name: str) -> str:
        value = self.cleaned_data[name]
        # The sandbox the e-mail renders in: allowed tags and filters only, sizes capped.
        problem = template_problem(value)
        if problem:
            raise ValidationError(problem)
        return value

    def clean_subject(self) -> str:
        return self._compiles("subject")

    def clean_body(self) -> str:
        return self._compiles("body")
