"""App config for outgoing e-mail."""

from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "tenant_apps.mail"
    label = "mail"
    verbose_name = "E-mail"
