"""App config of card payments (Stripe Connect): answers billing's ports, so a card payment
refunded from any billing screen or the API goes back through Stripe, and an invoice can
point to its card page."""

from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "tenant_apps.cards"
    label = "cards"
    verbose_name = "Card payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenant_apps.billing import ports as billing_ports

        from . import billing_ports as answers

        billing_ports.gateway_refund.plug(answers.refund_through_stripe)
        billing_ports.online_payment_url.plug(answers.card_pay_url)
