"""App config of e-invoicing: answers billing's ports (stored PDF, e-mail attachments)."""

from django.apps import AppConfig


class EInvoiceConfig(AppConfig):
    name = "tenant_apps.einvoice"
    label = "einvoice"
    verbose_name = "E-invoicing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenant_apps.billing import ports as billing_ports

        from . import billing_hooks

        billing_ports.stored_pdf.plug(billing_hooks.facturx_as_stored_pdf)
        billing_ports.mail_attachments.plug(billing_hooks.customer_einvoice_attachments)
