"""App config for portal."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "tenant_apps.portal"
    label = "portal"
