"""App config of backups (public schema only: the records of what was backed up, and where)."""

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "shared_apps.backups"
    label = "backups"
    verbose_name = "Backups"
    default_auto_field = "django.db.models.BigAutoField"
