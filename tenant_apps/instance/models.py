"""Data every app of an instance shares: who issues its documents, the wording of its
e-mails, and its audit trail."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


def identity_upload_path(instance, filename: str) -> str:
    """Files live under the instance's own schema folder, never shared between instances."""
    from django.db import connection

    return f"{connection.schema_name}/identity/{filename}"


def validate_time_zone(name: str) -> None:
    from zoneinfo import available_timezones

    from django.core.exceptions import ValidationError

    if name and name not in available_timezones():
        raise ValidationError(
            _("“%(name)s” is not a time zone we know; use a name like Europe/Paris.")
            % {"name": name}
        )


class IssuerIdentity(models.Model):
    """Who issues this instance's invoices: every instance is its own issuer of record."""

    legal_name = models.CharField(max_length=200)
    trading_name = models.CharField(max_length=200, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(
        max_length=2, blank=True, help_text=gettext_lazy("ISO 3166-1 alpha-2")
    )
    tax_id = models.CharField(gettext_lazy("tax / VAT id"), max_length=40, blank=True)
    registration_number = models.CharField(max_length=60, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    bank_details = models.TextField(blank=True)
    invoice_footer = models.TextField(blank=True)
    logo = models.FileField(upload_to=identity_upload_path, blank=True)
    brand_color = models.CharField(
        max_length=7,
        default="#4f46e5",
        help_text=gettext_lazy("Accent colour of invoices and e-mails (#rrggbb)"),
        validators=[
            RegexValidator(r"^#[0-9a-fA-F]{6}$", gettext_lazy("Use a colour like #4f46e5."))
        ],
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=gettext_lazy(
            "Where this instance does business, e.g. Europe/Paris: invoice dates and "
            "the year in invoice numbers follow it (empty: the server's time zone)"
        ),
    )
    # Always true and unique (see Meta): at most one identity row per instance.
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("issuer identity")
        verbose_name_plural = gettext_lazy("issuer identity")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_issuer_identity"),
        ]

    def __str__(self) -> str:
        return self.legal_name


class EmailTemplate(models.Model):
    """This instance's wording of one e-mail; without a row the built-in text is used."""

    class Key(models.TextChoices):
        INVOICE_ISSUED = "invoice_issued", gettext_lazy("Invoice issued")
        CREDIT_NOTE_ISSUED = "credit_note_issued", gettext_lazy("Credit note issued")
        PAYMENT_RECEIPT = "payment_receipt", gettext_lazy("Payment receipt")
        INVOICE_REMINDER = "invoice_reminder", gettext_lazy("Payment reminder")
        SERVICE_SUSPENDED = "service_suspended", gettext_lazy("Service suspended")
        HELPDESK_OPENED = "helpdesk_opened", gettext_lazy("Helpdesk: ticket opened (to staff)")
        HELPDESK_OPENED_FOR_CUSTOMER = (
            "helpdesk_opened_for_customer",
            gettext_lazy("Helpdesk: ticket opened for you (to the customer)"),
        )
        HELPDESK_STAFF_REPLIED = (
            "helpdesk_staff_replied",
            gettext_lazy("Helpdesk: staff replied (to the customer)"),
        )
        HELPDESK_CUSTOMER_REPLIED = (
            "helpdesk_customer_replied",
            gettext_lazy("Helpdesk: customer replied (to staff)"),
        )
        HELPDESK_SLA_BREACHED = (
            "helpdesk_sla_breached",
            gettext_lazy("Helpdesk: SLA target missed (to staff)"),
        )
        CARD_CHARGE_FAILED = "card_charge_failed", gettext_lazy("Automatic card payment failed")

    key = models.CharField(max_length=30, choices=Key.choices, unique=True)
    subject = models.CharField(
        max_length=200, help_text=gettext_lazy("Django template syntax, e.g. {{ invoice.number }}")
    )
    body = models.TextField(help_text=gettext_lazy("Plain text, Django template syntax"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.get_key_display()


class AuditEvent(models.Model):
    """One row of the instance's audit trail: who did what to which object, and when.

    Written only through `tenant_apps.instance.audit.audit_record`. `action` is the code of a
    registered `EventType` ("invoice.issued"); the actor is a user of this instance when
    there is one, and always a label (the e-mail at the time, "system", "schedule",
    "API key …"), so the row still reads right after the user is deleted.
    """

    action = models.CharField(max_length=64, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    actor_label = models.CharField(max_length=254, blank=True)
    object_type = models.CharField(max_length=40, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    customer_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text=gettext_lazy("The customer the event concerns"),
    )
    changes = models.JSONField(
        default=dict, blank=True, help_text=gettext_lazy('{"field": [old, new]}')
    )
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or 'system'}"
