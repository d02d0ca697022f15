"""The instance's legal identity as issuer of its own invoices (one row per instance)."""

from __future__ import annotations

from django.db import models


class IssuerIdentity(models.Model):
    """Who issues this instance's invoices: every instance is its own issuer of record."""

    legal_name = models.CharField(max_length=200)
    trading_name = models.CharField(max_length=200, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    tax_id = models.CharField("tax / VAT id", max_length=40, blank=True)
    registration_number = models.CharField(max_length=60, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    bank_details = models.TextField(blank=True)
    invoice_footer = models.TextField(blank=True)
    logo = models.FileField(upload_to="identity/", blank=True)
    # Always true and unique (see Meta): at most one identity row per instance.
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "issuer identity"
        verbose_name_plural = "issuer identity"
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_issuer_identity"),
        ]

    def __str__(self) -> str:
        return self.legal_name
