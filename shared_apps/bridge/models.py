"""Links between a reseller's ticket and the operator's ticket it was escalated to.

Lives in the public schema; it names tickets by (reseller, id) pairs, never by foreign key
across schemas.
"""

from django.db import models
from django.utils import timezone


class EscalationLink(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

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
