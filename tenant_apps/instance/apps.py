"""App config for the instance core."""

from django.apps import AppConfig


class InstanceConfig(AppConfig):
    name = "tenant_apps.instance"
    label = "instance"
    verbose_name = "Instance"
