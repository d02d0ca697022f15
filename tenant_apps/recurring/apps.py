"""App config for recurring billing."""

from django.apps import AppConfig


class RecurringConfig(AppConfig):
    name = "tenant_apps.recurring"
    label = "recurring"
    verbose_name = "Recurring billing"
