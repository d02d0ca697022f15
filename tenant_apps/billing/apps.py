"""App config for billing."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "tenant_apps.billing"
    label = "billing"
    verbose_name = "Billing"
