"""App config for the instance core."""

from django.apps import AppConfig


class InstanceConfig(AppConfig):
    name = "tenant_apps.instance"
    label = "instance"
    verbose_name = "Instance"

    def ready(self) -> None:
        # Every save of the issuer identity forgets the cached branding of its instance.
        from .branding import connect_signals

        connect_signals()
