"""Forms of the e-mail settings screen: how the instance sends, and the test e-mail."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from .models import MailSettings


class MailSettingsForm(forms.Form):
    """Secrets are write-only: the fields start empty and empty keeps the saved value."""

    transport = forms.ChoiceField(
        label=gettext_lazy("Send our e-mail through"),
        choices=MailSettings.Transport.choices,
        widget=forms.RadioSelect,
    )
    from_email = forms.EmailField(
        label=gettext_lazy("Sender address"),
        required=False,
        help_text=gettext_lazy(
            "Our e-mails come from this address (empty: the e-mail of the issuer "
            "identity). Through the platform's relay it becomes the Reply-To address."
        ),
    )
    smtp_host = forms.CharField(label=gettext_lazy("SMTP host"), required=False, max_length=255)
    smtp_port = forms.IntegerField(
        label=gettext_lazy("SMTP port"), required=False, min_value=1, max_value=65535
    )
    smtp_security = forms.ChoiceField(
        label=gettext_lazy("Encryption"), choices=MailSettings.Security.choices, required=False
    )
    smtp_username = forms.CharField(
        label=gettext_lazy("SMTP user name"), required=False, max_length=255
    )
    smtp_password = forms.CharField(
        label=gettext_lazy("SMTP password"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "Stored encrypted and never shown again; leave empty to keep the saved one."
        ),
    )
    provider = forms.ChoiceField(
        label=gettext_lazy("Provider"),
        required=False,
        choices=[("", gettext_lazy("Choose a provider")), *MailSettings.Provider.choices],
    )
    provider_api_key = forms.CharField(
        label=gettext_lazy("Provider API key"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy(
            "Stored encrypted and never shown again; leave empty to keep the saved one."
        ),
    )

    @classmethod
    def initial_for(cls, row: MailSettings) -> dict:
        return {
            "transport": row.transport,
            "from_email": row.from_email,
            "smtp_host": row.smtp_host,
            "smtp_port": row.smtp_port,
            "smtp_security": row.smtp_security,
            "smtp_username": row.smtp_username,
            "provider": row.provider,
        }

    def service_arguments(self) -> dict:
        data = dict(self.cleaned_data)
        data["smtp_security"] = data["smtp_security"] or MailSettings.Security.STARTTLS
        data["smtp_password"] = data["smtp_password"] or None
        data["provider_api_key"] = data["provider_api_key"] or None
        return data


class TestEmailForm(forms.Form):
    to = forms.EmailField(label=gettext_lazy("Send a test e-mail to"))
