"""What the storefront keeps: its settings (terms, payment choices), sign-ups waiting for
their e-mail to be confirmed, and which terms each customer accepted.

A sign-up writes no user and no customer until its e-mail address is confirmed: until then
it is one `PendingSignup` row (replaced, not added to, when the same address signs up
again), so abuse of the form leaves no half-made account behind.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy


class StorefrontSettings(models.Model):
    """How this instance's shop sells: its terms and whether customers may pay by invoice."""

    terms_version = models.CharField(
        max_length=40,
        default="1",
        help_text=gettext_lazy(
            "Raise it when the terms change: each customer's accepted version is kept"
        ),
    )
    terms_url = models.URLField(
        blank=True, help_text=gettext_lazy("Where the terms are published, if anywhere")
    )
    terms_text = models.TextField(
        blank=True, help_text=gettext_lazy("The terms, shown on the shop's terms page")
    )
    allow_invoice_payment = models.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Customers may choose to pay the first invoice by bank transfer instead of by card"
        ),
    )
    headline = models.CharField(
        max_length=200,
        blank=True,
        help_text=gettext_lazy("One line above the catalog, e.g. what you sell"),
    )
    # Always true and unique: at most one settings row per instance.
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("storefront settings")
        verbose_name_plural = gettext_lazy("storefront settings")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_storefront_settings"),
        ]

    def __str__(self) -> str:
        return f"Storefront (terms v{self.terms_version})"


class PendingSignup(models.Model):
    """A sign-up whose e-mail address is not confirmed yet: no login, no customer.

    Only a hash of the link's token is stored, and the password only as Django's hash.
    """

    email = models.EmailField(unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    password_hash = models.CharField(max_length=128)
    full_name = models.CharField(max_length=200)
    # The billing details as the customer services take them (validated at sign-up).
    billing = models.JSONField(default=dict)
    terms_version = models.CharField(max_length=40)
    # The partner whose link or code brought the visitor, kept with the sign-up so the
    # confirmation link credits it even when opened in another browser (no cookie there).
    referer = models.ForeignKey(
        "referrals.Referer", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    referer_source = models.CharField(max_length=8, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Sign-up of {self.email} (unconfirmed)"


class TermsAcceptance(models.Model):
    """A customer accepted this version of the terms at this time (one row per acceptance)."""

    customer = models.ForeignKey(
        "clients.Customer", related_name="terms_acceptances", on_delete=models.CASCADE
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, related_name="+", on_delete=models.SET_NULL
    )
    version = models.CharField(max_length=40)
    accepted_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-accepted_at", "-id"]

    def __str__(self) -> str:
        return f"Terms v{self.version} accepted {self.accepted_at:%Y-%m-%d}"


class ShopGroup(models.Model):
    """A section of the shop's catalog (e.g. "Web hosting", "Servers"): plans listed under
    one heading. A plan may be in several groups; plans in none are listed after them."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    plans = models.ManyToManyField(
        "catalog.Product",
        blank=True,
        related_name="+",
        limit_choices_to={"kind": "plan"},
    )

    class Meta:
        ordering = ["position", "name", "id"]

    def __str__(self) -> str:
        return self.name
