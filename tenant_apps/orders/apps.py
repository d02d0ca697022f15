"""App config for orders: renews services when billing reports an invoice settled, and
bills again or waives periods whose invoice lines were credited or voided unpaid."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "tenant_apps.orders"
    label = "orders"

    def ready(self) -> None:
        from django_tenants.utils import schema_context

        from tenant_apps.billing.signals import invoice_settled, service_periods_cancelled

        from . import services

        def on_settled(sender, *, invoice_id: int, schema_name: str, **kwargs) -> None:
            with schema_context(schema_name):
                services.services_on_invoice_settled(invoice_id=invoice_id)

        invoice_settled.connect(on_settled, dispatch_uid="orders-on-invoice-settled", weak=False)

        def on_cancelled(sender, *, line_ids, waive: bool, schema_name: str, actor=None, **kw):
            with schema_context(schema_name):
                services.service_periods_rebill_or_waive(
                    line_ids=line_ids, waive=waive, actor=actor
                )

        service_periods_cancelled.connect(
            on_cancelled, dispatch_uid="orders-on-periods-cancelled", weak=False
        )
