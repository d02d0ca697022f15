"""Customers of one instance (people or companies), their contacts, tax ids and credit.

What was done to a customer, and by whom, is in the instance's audit trail
(`tenant_apps.instance`), written by `services`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_countries.fields import CountryField

from tenant_apps.instance.money import validate_currency
from tenant_apps.instance.pipelines import InvalidTransition, Pipeline


class InvalidCustomerTransition(InvalidTransition):
    """Closing a closed customer or reopening an open one (services show it on the form)."""


def _customer_refusal(noun: str, current: str, target: str) -> str:
    if target == "closed":
        return _("This customer is already closed.")
    return _("This customer is not closed.")


def _currency_validator(value: str) -> None:
    validate_currency(value)


class Customer(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", gettext_lazy("Person")
        COMPANY = "company", gettext_lazy("Company")

    class Status(models.TextChoices):
        ACTIVE = "active", gettext_lazy("Active")
        CLOSED = "closed", gettext_lazy("Closed")

    class TaxIdStatus(models.TextChoices):
        NONE = "none", gettext_lazy("No tax id")
        UNVERIFIED = (
            "unverified",
            gettext_lazy("Not verified"),
        )  # format valid; registry not reachable yet
        VALID = "valid", gettext_lazy("Valid")
        INVALID = "invalid", gettext_lazy("Invalid")

    pipeline = Pipeline(
        Status,
        {Status.ACTIVE: {Status.CLOSED}, Status.CLOSED: {Status.ACTIVE}},
        error=InvalidCustomerTransition,
        message=_customer_refusal,
    )

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(
        max_length=200, help_text=gettext_lazy("Person's full name, or the company's name")
    )
    company_name = models.CharField(gettext_lazy("legal company name"), max_length=200, blank=True)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = CountryField()
    currency = models.CharField(max_length=3, default="EUR", validators=[_currency_validator])
    language = models.CharField(max_length=10, default="en", choices=settings.LANGUAGES)
    tax_id = models.CharField(gettext_lazy("tax / VAT id"), max_length=40, blank=True)
    tax_id_status = models.CharField(
        max_length=12, choices=TaxIdStatus.choices, default=TaxIdStatus.NONE
    )
    tax_id_checked_at = models.DateTimeField(null=True, blank=True)
    tax_id_check_detail = models.TextField(blank=True)
    tax_exempt = models.BooleanField(default=False)
    tax_exempt_reason = models.CharField(max_length=200, blank=True)
    # Changed only by billing's credit services, under a row lock.
    credit_balance = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="customer",
        on_delete=models.SET_NULL,
        help_text=gettext_lazy("The portal login of this customer"),
    )
    # Operator instance only: the tenancy.Reseller (public schema) this customer is.
    reseller_id = models.BigIntegerField(null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["email"]), models.Index(fields=["status", "name"])]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.company_name or self.name

    @property
    def is_business(self) -> bool:
        """A company whose VAT id the registry confirmed (reverse charge applies in the EU)."""
        return self.kind == self.Kind.COMPANY and self.tax_id_status == self.TaxIdStatus.VALID

    def billing_snapshot(self) -> dict:
        """The customer's identity as printed on an invoice (frozen at issue)."""
        return {
            "name": self.name,
            "company_name": self.company_name,
            "email": self.email,
            "address_line1": self.address_line1,
            "address_line2": self.address_line2,
            "postal_code": self.postal_code,
            "city": self.city,
            "region": self.region,
            "country": str(self.country),
            "tax_id": self.tax_id,
            "tax_id_status": self.tax_id_status,
            **({"tax_id_check": self.tax_id_evidence()} if self.is_business else {}),
        }

    def tax_id_evidence(self) -> dict | None:
        """The registry's latest confirmation of the current VAT id (reverse-charge proof)."""
        check = (
            self.tax_id_checks.filter(tax_id=self.tax_id, outcome=TaxIdCheck.Outcome.VALID)
            .order_by("-checked_at", "-id")
            .first()
        )
        return check.as_evidence() if check else None


class TaxIdCheck(models.Model):
    """One answer of the VAT registry (VIES) about a customer's VAT id, kept as proof: the
    check an invoice's reverse charge relied on is frozen into the invoice as well."""

    class Outcome(models.TextChoices):
        VALID = "valid", gettext_lazy("Valid")
        INVALID = "invalid", gettext_lazy("Not valid")
        UNREACHABLE = "unreachable", gettext_lazy("Registry unreachable")

    customer = models.ForeignKey("Customer", related_name="tax_id_checks", on_delete=models.CASCADE)
    tax_id = models.CharField(max_length=40)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    checked_at = models.DateTimeField()
    request_date = models.DateField(null=True, blank=True)
    request_id = models.CharField(
        gettext_lazy("consultation number"),
        max_length=60,
        blank=True,
        help_text=gettext_lazy("VIES's proof of the check"),
    )
    name = models.CharField(max_length=300, blank=True)
    address = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.tax_id}: {self.get_outcome_display()} ({self.checked_at:%Y-%m-%d})"

    def as_evidence(self) -> dict:
        return {
            "tax_id": self.tax_id,
            "outcome": self.outcome,
            "checked_at": self.checked_at.isoformat(),
            "request_date": self.request_date.isoformat() if self.request_date else None,
            "consultation_number": self.request_id,
        }


class Contact(models.Model):
    customer = models.ForeignKey(Customer, related_name="contacts", on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(
        max_length=100, blank=True, help_text=gettext_lazy("e.g. Accounts, Technical")
    )
    receives_invoices = models.BooleanField(default=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
