"""App config of the Stripe webhooks: records account → instance when an instance
connects its Stripe account (a signal card payments declare), and answers card payments'
question of the platform fee (a port they declare)."""

from django.apps import AppConfig


class StripeWebhooksConfig(AppConfig):
    name = "shared_apps.stripe_webhooks"
    label = "stripe_webhooks"
    verbose_name = "Stripe webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenant_apps.cards import ports as card_ports

        from . import platform_fee, services

        card_ports.account_connected.connect(
            services.on_account_connected, dispatch_uid="stripe-webhooks-account-route"
        )
        card_ports.platform_fee_percent.plug(platform_fee.platform_fee_percent)
