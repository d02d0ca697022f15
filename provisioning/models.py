"""Bookkeeping for building instance schemas: template snapshots, the warm pool, exports."""

from django.db import models


class TemplateSnapshot(models.Model):
    """The `_template` schema as replayable SQL, taken once per migration state.

    `pre_data`/`post_data` are pg_dump's sections with the schema name replaced by a
    placeholder; `data` holds the few seed rows (migrations, content types, permissions)
    as COPY text, and `sequences` the values their sequences must continue from.
    """

    version = models.CharField(max_length=64, unique=True)
    pre_data = models.TextField()
    post_data = models.TextField()
    data = models.JSONField(default=list)
    sequences = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"template {self.version[:12]}"


class PoolSchema(models.Model):
    """An empty, fully built instance schema waiting to be renamed into a new reseller's."""

    schema_name = models.CharField(max_length=63, unique=True)
    version = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.schema_name


class ExportRecord(models.Model):
    """An archive written by `instance_export`; deleting a reseller requires one."""

    reseller_slug = models.CharField(max_length=40, db_index=True)
    schema_name = models.CharField(max_length=63)
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.path
