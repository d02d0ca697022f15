"""The "forgot your password" page: Django's, with the request handed to the form so the
number of reset e-mails is limited per address and per client address (see throttling)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from .forms import LimitedPasswordResetForm


class LimitedPasswordResetView(auth_views.PasswordResetView):
    form_class = LimitedPasswordResetForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}
