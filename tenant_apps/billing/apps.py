"""App config for billing: refuses a customer's currency change while an invoice is open."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "tenant_apps.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from tenant_apps.clients import ports as client_ports

        from . import services

        client_ports.currency_changing.connect(
            services.on_customer_currency_changing, dispatch_uid="billing-open-invoices"
        )
