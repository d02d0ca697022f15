"""Forms for signing in and for managing the instance's team."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .models import STAFF_ROLES, Role


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class StaffInviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    full_name = forms.CharField(label="Full name", max_length=200, required=False)
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES and r != Role.OWNER]
    )
