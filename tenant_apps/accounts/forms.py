"""Forms for signing in, setting passwords and managing the instance's team."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy

from tenant_apps.instance.addresses import scheme_and_host
from tenant_apps.mail.services import email_send

from . import services, throttling
from .models import STAFF_ROLES, Role
from .signins import client_ip


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label=gettext_lazy("E-mail"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class LimitedPasswordResetForm(PasswordResetForm):
    """Ask for a reset link; limited per address and per client address on this instance.

    The limit counts every request, whether or not an account has the address, so being
    refused says nothing about who has an account here.
    """

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self):
        email = self.cleaned_data["email"]
        try:
            throttling.password_mail_reserve(
                kind=throttling.RESET, email=email, ip_address=client_ip(self.request)
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["email"], code="throttled") from exc
        return email

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """Send the reset link like every e-mail of the instance: from its own name,
        recorded in its outbox (retried if it fails), the link on its public address."""
        protocol, host = scheme_and_host(
            fallback_host=context["domain"], fallback_https=context["protocol"] == "https"
        )
        context = {**context, "protocol": protocol, "domain": host}
        subject = render_to_string(subject_template_name, context)
        email_send(
            to=[to_email],
            key="password_reset",
            subject="".join(subject.splitlines()),
            body=render_to_string(email_template_name, context),
        )


class ResetPasswordForm(SetPasswordForm):
    """The new password from an e-mailed link, set through the service (audited)."""

    def save(self, commit=True):
        return services.user_password_set(
            user=self.user, password=self.cleaned_data["new_password1"], reset=True
        )


class ChangePasswordForm(PasswordChangeForm):
    """A signed-in user's new password, set through the service (audited)."""

    def save(self, commit=True):
        return services.user_password_set(
            user=self.user, password=self.cleaned_data["new_password1"]
        )


def _staff_role_choices(*, with_owner: bool) -> list[tuple[str, str]]:
    return [
        (r.value, r.label) for r in Role if r in STAFF_ROLES and (with_owner or r != Role.OWNER)
    ]


class StaffInviteForm(forms.Form):
    """Invite a staff member; only owners are offered the owner role (the service decides)."""

    email = forms.EmailField(label=gettext_lazy("E-mail"))
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=200, required=False)
    role = forms.ChoiceField(
        choices=_staff_role_choices(with_owner=False), label=gettext_lazy("Role")
    )

    def __init__(self, *args, offer_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _staff_role_choices(with_owner=offer_owner)


class StaffRoleForm(forms.Form):
    role = forms.ChoiceField(
        label=gettext_lazy("Role"), choices=_staff_role_choices(with_owner=True)
    )

    def __init__(self, *args, offer_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _staff_role_choices(with_owner=offer_owner)


class SecondFactorForm(forms.Form):
    """The second sign-in step: the app's current code or one recovery code."""

    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        help_text=gettext_lazy(
            "The 6-digit code from your authenticator app, or one of your recovery codes."
        ),
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "spellcheck": "false"}
        ),
    )


class TwoFactorSetupForm(forms.Form):
    """Confirm a new authenticator app with the first code it shows."""

    code = forms.CharField(
        label=gettext_lazy("Code from the app"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class TwoFactorDisableForm(forms.Form):
    proof = forms.CharField(
        label=gettext_lazy("Your password or a current code"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SignInPolicyForm(forms.Form):
    require_staff_two_factor = forms.BooleanField(
        label=gettext_lazy("Require two-factor sign-in for staff"), required=False
    )
