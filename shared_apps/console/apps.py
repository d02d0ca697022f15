"""App config for the operator console."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "shared_apps.console"
    label = "console"
    verbose_name = "Operator console"
