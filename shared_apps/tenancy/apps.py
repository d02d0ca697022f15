"""App config for tenancy."""

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "shared_apps.tenancy"
    label = "tenancy"
    verbose_name = "Resellers"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (routing cache invalidation)
