"""App config for the helpdesk."""

from django.apps import AppConfig


class HelpdeskConfig(AppConfig):
    name = "tenant_apps.helpdesk"
    label = "helpdesk"
    verbose_name = "Helpdesk"
