"""App config for the bridge: subscribes to the helpdesk's ticket events and answers its
escalation-panel port."""

from django.apps import AppConfig


class BridgeConfig(AppConfig):
    name = "shared_apps.bridge"
    label = "bridge"
    verbose_name = "Upstream bridge"

    def ready(self) -> None:
        from tenant_apps.helpdesk import ports as helpdesk_ports

        from . import selectors, services

        helpdesk_ports.ticket_changed.connect(
            services.on_ticket_changed, dispatch_uid="bridge-relay"
        )
        helpdesk_ports.escalation_panel.plug(selectors.escalation_panel)
