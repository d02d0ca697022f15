"""Forms of the storefront: adding a plan to the cart, signing up, checking out."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_countries import countries

from tenant_apps.catalog.models import Product
from tenant_apps.clients.tax_ids import normalise_tax_id

from .addresses import normalised_email, signup_email_problem


class AddToCartForm(forms.Form):
    """One plan on one billing cycle (a price of the plan), with some of its add-ons."""

    price = forms.IntegerField(widget=forms.HiddenInput)
    addons = forms.TypedMultipleChoiceField(
        coerce=int, required=False, label=gettext_lazy("Addons")
    )

    def __init__(self, *args, plan: Product, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.currency = currency
        self.fields["addons"].choices = [(a.pk, a.name) for a in plan.addons.all()]

    def clean(self):
        data = super().clean()
        price_id = data.get("price")
        price = next(
            (p for p in self.plan.prices.all() if p.pk == price_id and p.currency == self.currency),
            None,
        )
        if price is None:
            raise ValidationError(_("Choose one of the billing cycles offered for this plan."))
        for addon in self.plan.addons.all():
            if addon.pk in data.get("addons", []) and not any(
                p.currency == self.currency and p.cycle == price.cycle for p in addon.prices.all()
            ):
                raise ValidationError(
                    _(
                        "%(name)s is not sold %(cycle)s; choose another billing cycle or leave "
                        "it out."
                    )
                    % {"name": addon.name, "cycle": price.get_cycle_display().lower()}
                )
        data["cycle"] = price.cycle
        return data


class SignupForm(forms.Form):
    """A new customer's account and billing details. Nothing is written from it until the
    e-mail address is confirmed (see services.signup_start)."""

    email = forms.CharField(
        label=gettext_lazy("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("At least 8 characters, not only digits, not a common password."),
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    name = forms.CharField(label=gettext_lazy("Your name"), max_length=200)
    company_name = forms.CharField(
        label=gettext_lazy("Company"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Leave empty if you buy as a private person."),
    )
    address_line1 = forms.CharField(label=gettext_lazy("Address"), max_length=200)
    postal_code = forms.CharField(label=gettext_lazy("Postal code"), max_length=20)
    city = forms.CharField(max_length=100, label=gettext_lazy("City"))
    country = forms.ChoiceField(
        choices=[("", gettext_lazy("Choose…")), *countries], label=gettext_lazy("Country")
    )
    tax_id = forms.CharField(
        label=gettext_lazy("VAT / tax id"),
        max_length=40,
        required=False,
        help_text=gettext_lazy(
            "Businesses in the EU: your VAT id, checked with the EU's VIES registry."
        ),
    )
    accept_terms = forms.BooleanField(label=gettext_lazy("I accept the terms of service"))
    terms_version = forms.CharField(widget=forms.HiddenInput)
    # Left empty by people (the field is hidden from them); form-filling bots fill it.
    website = forms.CharField(
        required=False, label=gettext_lazy("Leave this empty"), max_length=200
    )

    def clean_email(self) -> str:
        email = normalised_email(self.cleaned_data.get("email", ""))
        problem = signup_email_problem(email)
        if problem:
            raise ValidationError(problem)
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise ValidationError(
                _("An account with this e-mail address already exists: sign in instead.")
            )
        return email

    def clean_website(self) -> str:
        if self.cleaned_data.get("website"):
            raise ValidationError(_("This sign-up looks automated and was refused."))
        return ""

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            user = get_user_model()(email=data.get("email", ""), full_name=data.get("name", ""))
            try:
                validate_password(first, user=user)
            except ValidationError as exc:
                self.add_error("password1", exc)
        if data.get("country"):
            try:
                data["tax_id"] = normalise_tax_id(data.get("tax_id", ""), data["country"]).value
            except ValidationError as exc:
                self.add_error("tax_id", exc)
        return data

    def billing(self, currency: str) -> dict:
        """The customer's details as `customer_create` takes them."""
        data = self.cleaned_data
        company = data["company_name"].strip()
        return {
            "kind": "company" if company else "person",
            "name": data["name"].strip(),
            "company_name": company,
            "address_line1": data["address_line1"].strip(),
            "postal_code": data["postal_code"].strip(),
            "city": data["city"].strip(),
            "country": data["country"],
            "tax_id": data["tax_id"],
            "currency": currency,
        }


class CheckoutForm(forms.Form):
    """How to pay, and the name of each reseller instance the cart's reseller plans create."""

    payment = forms.ChoiceField(
        label=gettext_lazy("Payment"),
        widget=forms.RadioSelect,
        choices=[("card", gettext_lazy("Card"))],
        initial="card",
    )

    def __init__(
        self, *args, reseller_lines: list, allow_invoice: bool, terms_version: str = "", **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.terms_version = terms_version
        if terms_version:
            # The customer's last accepted terms are older than the ones in force.
            self.fields["accept_terms"] = forms.BooleanField(
                label=_("I accept the terms of service (version %(terms_version)s)")
                % {"terms_version": terms_version}
            )
        if allow_invoice:
            self.fields["payment"].choices = [
                ("card", _("Card")),
                ("invoice", _("Invoice (bank transfer)")),
            ]
        for line in reseller_lines:
            self.fields[f"instance_{line.index}"] = forms.SlugField(
                label=_("Name of your instance (%(name)s)") % {"name": line.plan.name},
                max_length=40,
                initial=line.label,
                help_text=_(
                    "Your instance's address will be <name>.<this domain>: lower-case "
                    "letters, digits and hyphens."
                ),
            )

    def labels(self) -> dict[int, str]:
        return {
            int(name.split("_", 1)[1]): value.strip().lower()
            for name, value in self.cleaned_data.items()
            if name.startswith("instance_")
        }

    def accepted_terms(self) -> str:
        return self.terms_version if self.cleaned_data.get("accept_terms") else ""


class StorefrontSettingsForm(forms.Form):
    headline = forms.CharField(max_length=200, required=False, label=gettext_lazy("Headline"))
    terms_version = forms.CharField(
        max_length=40,
        help_text=gettext_lazy("Raise it when the terms change; each acceptance keeps it."),
        label=gettext_lazy("Terms version"),
    )
    terms_url = forms.URLField(
        required=False, label=gettext_lazy("Terms URL"), assume_scheme="https"
    )
    terms_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8}), label=gettext_lazy("Terms text")
    )
    allow_invoice_payment = forms.BooleanField(
        required=False, label=gettext_lazy("Customers may pay the first invoice by bank transfer")
    )


class ShopGroupForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text=gettext_lazy('e.g. "Web hosting" or "Servers".'),
        label=gettext_lazy("Name"),
    )
    description = forms.CharField(max_length=300, required=False, label=gettext_lazy("Description"))
    position = forms.IntegerField(
        min_value=0,
        initial=0,
        help_text=gettext_lazy("Lower numbers come first."),
        label=gettext_lazy("Position"),
    )
    plans = forms.ModelMultipleChoiceField(
        queryset=Product.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Plans"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plans"].queryset = Product.objects.filter(
            kind=Product.Kind.PLAN, is_active=True
        ).order_by("position", "name")
