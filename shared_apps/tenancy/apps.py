"""App config for tenancy: plugs the platform's answers into the instance apps' ports."""

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "shared_apps.tenancy"
    label = "tenancy"
    verbose_name = "Resellers"

    def ready(self) -> None:
        from tenant_apps.cards import ports as card_ports
        from tenant_apps.catalog import ports as catalog_ports
        from tenant_apps.dashboard import ports as dashboard_ports
        from tenant_apps.einvoice import ports as einvoice_ports
        from tenant_apps.instance import ports as instance_ports
        from tenant_apps.orders import ports as order_ports

        from . import (  # noqa: F401 (signals)
            reseller_plans,
            selectors,
            services,
            signals,
            supplier_cards,
            supplier_einvoices,
        )

        instance_ports.public_url.plug(selectors.instance_base_url)
        instance_ports.reseller_schemas.plug(selectors.active_reseller_schema_names)
        instance_ports.allocations.plug(selectors.allocations_for_schema)
        instance_ports.supplier_bills.plug(selectors.supplier_invoices_for)
        einvoice_ports.supplier_bill_einvoice.plug(supplier_einvoices.supplier_bill_einvoice_for)
        dashboard_ports.supplier_cards.plug(supplier_cards.SupplierCardPayments())
        card_ports.reseller_pay_links.plug(selectors.reseller_pay_links)
        catalog_ports.resource_choices.plug(selectors.resource_choices)
        order_ports.capacity_reserve.plug(services.allocation_reserve)
        order_ports.capacity_release.plug(services.allocation_release)
        order_ports.service_changed.connect(
            reseller_plans.on_service_changed, dispatch_uid="tenancy-reseller-plans"
        )
        order_ports.order_item_checked.connect(
            reseller_plans.on_order_item_checked, dispatch_uid="tenancy-reseller-plan-names"
        )
