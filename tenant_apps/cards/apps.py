"""App config of card payments (Stripe Connect)."""

from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "tenant_apps.cards"
    label = "cards"
    verbose_name = "Card payments"
    default_auto_field = "django.db.models.BigAutoField"
