"""Links between a reseller's ticket and the operator's ticket it was escalated to, and the
inbox of resellers on other software (API keys, their escalations, signed callbacks).

Lives in the public schema; it names tickets by (reseller, id) pairs, never by foreign key
across schemas.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from .callback_transport import url_problem


class EscalationLink(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        CLOSED = "closed", gettext_lazy("Closed")

    reseller = models.ForeignKey(
        "tenancy.Reseller", related_name="escalations", on_delete=models.CASCADE
    )
    reseller_ticket_id = models.BigIntegerField()
    operator_ticket_id = models.BigIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # What the reseller chose to share, e.g. {"customer_name": false, "attachments": [3]}.
    shared = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    escalated_by = models.CharField(max_length=254)
    reseller_ticket_opened_at = models.DateTimeField()
    escalated_at = models.DateTimeField(default=timezone.now)
    first_operator_reply_at = models.DateTimeField(null=True, blank=True)
    last_operator_reply_at = models.DateTimeField(null=True, blank=True)
    last_reseller_reply_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-escalated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "reseller_ticket_id"], name="one_escalation_per_ticket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reseller_id}#{self.reseller_ticket_id} → #{self.operator_ticket_id}"

    @property
    def time_with_reseller(self):
        """How long the reseller had the ticket before escalating it."""
        return self.escalated_at - self.reseller_ticket_opened_at

    @property
    def time_upstream(self):
        return (self.closed_at or timezone.now()) - self.escalated_at

    @property
    def operator_first_response(self):
        return (
            self.first_operator_reply_at - self.escalated_at
            if self.first_operator_reply_at
            else None
        )


# --------------------------------------------------------------------------------------
# Inbox for resellers on other billing software: keys, their escalations, signed callbacks.


def validate_callback_url(url: str) -> None:
    """https on port 443 only: the signed payloads carry the operator's answers, and the
    address is the reseller's choice (no private or loopback address; see
    `callback_transport`, which checks again at send time after resolving the name)."""
    problem = url_problem(url)
    if problem:
        raise ValidationError(problem)


class InboxToken(models.Model):
    """An API key of one reseller for the inbox API. Only a hash is stored: the key itself
    is shown once, when it is created."""

    reseller = models.ForeignKey(
        "tenancy.Reseller", related_name="inbox_tokens", on_delete=models.CASCADE
    )
    # The key's first characters: lets people tell keys apart and revoke one by name.
    key_prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.reseller_id})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ExternalEscalation(models.Model):
    """A ticket of a reseller's own (non-Upline) helpdesk, escalated through the inbox API.

    Kept apart from EscalationLink: the reseller's reference is free text from its software
    and must never collide with the ticket ids of an Upline instance.
    """

    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        CLOSED = "closed", gettext_lazy("Closed")

    reseller = models.ForeignKey(
        "tenancy.Reseller", related_name="external_escalations", on_delete=models.CASCADE
    )
    external_ref = models.CharField(max_length=100)
    operator_ticket_id = models.BigIntegerField(unique=True)
    subject = models.CharField(max_length=200)
    customer_label = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    last_operator_reply_at = models.DateTimeField(null=True, blank=True)
    last_reseller_reply_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "external_ref"], name="one_external_escalation_per_ref"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reseller_id}:{self.external_ref} → #{self.operator_ticket_id}"


class CallbackEndpoint(models.Model):
    """Where the operator's answers to a reseller's external escalations are POSTed."""

    reseller = models.OneToOneField(
        "tenancy.Reseller", related_name="callback_endpoint", on_delete=models.CASCADE
    )
    url = models.URLField(max_length=500, validators=[validate_callback_url])
    # Signs each body (HMAC-SHA256); the reseller's software checks it with the same secret.
    secret = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.url


class CallbackDelivery(models.Model):
    """One callback to send: the outbox row, written in the transaction of the change.

    `next_attempt_at` is None once the delivery succeeded or was given up.
    """

    endpoint = models.ForeignKey(
        CallbackEndpoint, related_name="deliveries", on_delete=models.CASCADE
    )
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = gettext_lazy("callback deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="bridge_callback_due",
                condition=models.Q(delivered_at__isnull=True, next_attempt_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"
