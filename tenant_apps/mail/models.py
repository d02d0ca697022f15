"""How an instance sends e-mail, and the record of every message it sent or will send."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class MailSettings(models.Model):
    """One row per instance (at most): which road its mail takes and as whom.

    Without a row, or with the relay chosen, the operator's relay sends: the From shows the
    instance's name with an address on the operator's sending domain and Reply-To is the
    instance's own address. With its own SMTP server or a provider, the From is the
    instance's own address. Secrets are stored encrypted (`mail.credentials`) and never
    shown back.
    """

    class Transport(models.TextChoices):
        RELAY = "relay", gettext_lazy("The platform's mail relay")
        SMTP = "smtp", gettext_lazy("Our own SMTP server")
        PROVIDER = "provider", gettext_lazy("An e-mail provider (API key)")

    class Security(models.TextChoices):
        STARTTLS = "starttls", gettext_lazy("STARTTLS (usually port 587)")
        TLS = "tls", gettext_lazy("TLS from the first byte (usually port 465)")
        NONE = "none", gettext_lazy("None (only inside a private network)")

    class Provider(models.TextChoices):
        POSTMARK = "postmark", "Postmark"
        MAILGUN = "mailgun", "Mailgun"
        SENDGRID = "sendgrid", "SendGrid"
        BREVO = "brevo", "Brevo"

    transport = models.CharField(max_length=10, choices=Transport.choices, default=Transport.RELAY)
    from_email = models.EmailField(
        gettext_lazy("sender address"),
        blank=True,
        help_text=gettext_lazy(
            "The address our e-mails come from (empty: the issuer identity's e-mail)"
        ),
    )
    smtp_host = models.CharField(gettext_lazy("SMTP host"), max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(gettext_lazy("SMTP port"), null=True, blank=True)
    smtp_security = models.CharField(
        gettext_lazy("encryption"),
        max_length=10,
        choices=Security.choices,
        default=Security.STARTTLS,
    )
    smtp_username = models.CharField(gettext_lazy("SMTP user name"), max_length=255, blank=True)
    smtp_password_encrypted = models.TextField(blank=True, editable=False)
    provider = models.CharField(max_length=20, choices=Provider.choices, blank=True)
    provider_api_key_encrypted = models.TextField(blank=True, editable=False)
    # Always true and unique (see Meta): at most one settings row per instance.
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("mail settings")
        verbose_name_plural = gettext_lazy("mail settings")
        constraints = [models.UniqueConstraint(fields=["singleton"], name="one_mail_settings")]

    def __str__(self) -> str:
        return self.get_transport_display()

    @property
    def has_smtp_password(self) -> bool:
        return bool(self.smtp_password_encrypted)

    @property
    def has_provider_api_key(self) -> bool:
        return bool(self.provider_api_key_encrypted)


class OutgoingEmail(models.Model):
    """One message of this instance: what it says, to whom, and how sending it went.

    Written by `mail.services` in the caller's transaction, so a message is recorded
    exactly when the change it reports commits; a worker sends it and a beat sweep sends
    whatever a lost broker message or a failure left (`next_attempt_at`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", gettext_lazy("Queued")
        SENT = "sent", gettext_lazy("Sent")
        FAILED = "failed", gettext_lazy("Failed")

    template_key = models.CharField(
        max_length=40, blank=True, db_index=True, help_text=gettext_lazy("Which e-mail this is")
    )
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    reply_to = models.JSONField(default=list, blank=True)
    from_email = models.CharField(
        max_length=320, blank=True, help_text=gettext_lazy("As last sent")
    )
    subject = models.CharField(max_length=998)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    # [{"filename", "storage_name", "mimetype"}]: files already stored by their app (PDFs),
    # read when sending, so a retry attaches exactly the same document.
    attachments = models.JSONField(default=list, blank=True)
    customer_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text=gettext_lazy("The customer the e-mail concerns"),
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    transport = models.CharField(
        max_length=30, blank=True, help_text=gettext_lazy("How it was last sent")
    )
    provider_message_id = models.CharField(max_length=255, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    body_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="mail_outgoing_due",
                condition=models.Q(status__in=["queued", "failed"]),
            )
        ]
        verbose_name = gettext_lazy("outgoing e-mail")

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"

    @property
    def recipients_label(self) -> str:
        return ", ".join([*self.to, *self.cc])

    @property
    def will_retry(self) -> bool:
        return self.status != self.Status.SENT and self.next_attempt_at is not None
