"""Customer portal: the client area each instance offers its own customers."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.views.generic import FormView, TemplateView

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.accounts.services import user_profile_update


class PortalHomeView(CustomerRequiredMixin, TemplateView):
    template_name = "portal/home.html"


class ProfileForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200)


class ProfileView(CustomerRequiredMixin, FormView):
    template_name = "portal/profile.html"
    form_class = ProfileForm

    def get_initial(self):
        return {"full_name": self.request.user.full_name}

    def form_valid(self, form):
        user_profile_update(user=self.request.user, full_name=form.cleaned_data["full_name"])
        messages.success(self.request, "Your profile was saved.")
        return redirect("portal:profile")
