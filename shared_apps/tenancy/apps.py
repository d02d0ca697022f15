"""App config for tenancy."""

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "shared_apps.tenancy"
    label = "tenancy"
    verbose_name = "Resellers"

    def ready(self) -> None:
        from tenant_apps.instance import ports

        from . import selectors, signals  # noqa: F401  (signals: routing cache invalidation)

        ports.public_url.plug(selectors.instance_base_url)
