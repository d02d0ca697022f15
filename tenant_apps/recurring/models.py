"""What the recurring runs did: one row per renewal or dunning run, for staff to read."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy


class BillingRun(models.Model):
    """What one renewal or dunning run did, for staff to read."""

    class Kind(models.TextChoices):
        RENEWALS = "renewals", gettext_lazy("Renewal invoices")
        DUNNING = "dunning", gettext_lazy("Dunning")

    class Status(models.TextChoices):
        RUNNING = "running", gettext_lazy("Running")
        DONE = "done", gettext_lazy("Done")
        FAILED = "failed", gettext_lazy("Failed")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    run_date = models.DateField()
    triggered_by = models.CharField(
        max_length=254, blank=True, help_text=gettext_lazy("user e-mail or “schedule”")
    )
    invoices_created = models.PositiveIntegerField(default=0)
    reminders_sent = models.PositiveIntegerField(default=0)
    late_fees = models.PositiveIntegerField(default=0)
    services_suspended = models.PositiveIntegerField(default=0)
    services_terminated = models.PositiveIntegerField(default=0)
    log = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.run_date}"
