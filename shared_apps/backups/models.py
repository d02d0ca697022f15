"""One row per backup: a whole-database dump (with the media files) or one instance's archive.

The row says what was asked, whether it worked (and, in plain words, why not) and where
its files are in the backup storage. The files themselves carry their own manifest, so a
restore never needs these rows (after a disaster the database that held them is gone).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from tenant_apps.instance.pipelines import Pipeline


class Backup(models.Model):
    class Kind(models.TextChoices):
        DATABASE = "database", gettext_lazy("Whole database")
        INSTANCE = "instance", gettext_lazy("Instance archive")

    class Status(models.TextChoices):
        QUEUED = "queued", gettext_lazy("Queued")
        RUNNING = "running", gettext_lazy("Running")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        FAILED = "failed", gettext_lazy("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", gettext_lazy("Schedule")
        OPERATOR = "operator", gettext_lazy("Operator")
        COMMAND = "command", gettext_lazy("Command")

    pipeline = Pipeline(
        Status,
        {
            Status.QUEUED: {Status.RUNNING, Status.FAILED},
            Status.RUNNING: {Status.SUCCEEDED, Status.FAILED},
        },
    )

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.CharField(max_length=200, blank=True)
    # Instance archives only: which instance (kept as text: the reseller may be deleted).
    reseller_slug = models.CharField(max_length=40, blank=True, db_index=True)
    schema_name = models.CharField(max_length=63, blank=True)
    # Where its files are: a folder of the backup storage ("file" or "s3").
    storage = models.CharField(max_length=10, blank=True)
    location = models.CharField(max_length=500, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "reseller_slug", "status", "-created_at"])]

    def __str__(self) -> str:
        what = self.get_kind_display()
        if self.reseller_slug:
            what += f" of {self.reseller_slug}"
        return f"{what} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
