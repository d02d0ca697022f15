"""Forms for signing in, setting passwords and managing the instance's team."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm

from . import services
from .models import STAFF_ROLES, Role


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
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


class StaffInviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    full_name = forms.CharField(label="Full name", max_length=200, required=False)
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES and r != Role.OWNER]
    )
