"""App config for the bridge."""

from django.apps import AppConfig


class BridgeConfig(AppConfig):
    name = "shared_apps.bridge"
    label = "bridge"
    verbose_name = "Upstream bridge"
