"""Public-schema tables of the Stripe webhooks: the route from a connected account to its
instance, each event received (its id unique, so a replay does nothing), and the fee the
platform takes on card payments made on resellers' connected accounts."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class StripeAccountRoute(models.Model):
    """Events for `account_id` belong to `reseller`'s instance and no other."""

    account_id = models.CharField(max_length=255, unique=True)
    reseller = models.ForeignKey(
        "tenancy.Reseller", related_name="stripe_accounts", on_delete=models.CASCADE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Stripe account route"

    def __str__(self) -> str:
        return f"{self.account_id} → {self.reseller_id}"


class StripeEvent(models.Model):
    """One Stripe event as received, and what processing it in its instance gave."""

    class Endpoint(models.TextChoices):
        PLATFORM = "platform", "Platform"
        CONNECT = "connect", "Connect"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=8, choices=Endpoint.choices)
    account_id = models.CharField(max_length=255, blank=True)
    schema_name = models.CharField(max_length=63)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="stripe_event_unprocessed_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PlatformFee(models.Model):
    """The operator's fee on each card payment a reseller takes on its connected account,
    in percent (one row, id 1; absent means no fee). Sent to Stripe as the intent's
    `application_fee_amount`; never taken on the operator's own instance."""

    SINGLETON_ID = 1
    MAX_PERCENT = Decimal("20")

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    percent = models.DecimalField(
        "Platform fee (% of each card payment)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_PERCENT)],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "platform fee"
        verbose_name_plural = "platform fee"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="one_platform_fee"),
            models.CheckConstraint(
                condition=models.Q(percent__gte=0, percent__lte=20),
                name="platform_fee_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Platform fee of {self.percent} %" if self.percent else "No platform fee"
