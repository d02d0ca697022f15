"""Public-schema tables of the Stripe webhooks: the route from a connected account to its
instance, and each event received (its id unique, so a replay does nothing)."""

from __future__ import annotations

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
