"""App config of the test-only migration probe."""

from django.apps import AppConfig


class MigrateProbeConfig(AppConfig):
    name = "tests.migrate_probe"
    label = "migrate_probe"
    default_auto_field = "django.db.models.BigAutoField"
