"""Two-factor sign-in screens: the second step after the password, setting up an app,
recovery codes, and the user's security page (two-factor, API token, password).

The code page and the set-up page are the only ones a session that owes its second step
can reach (`second_step_exempt` in urls); everything here writes through `services`.
"""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenant_apps.instance.forms import form_add_service_errors

from . import selectors, services, throttling
from .forms import SecondFactorForm, TwoFactorDisableForm, TwoFactorSetupForm
from .signins import client_ip


def _next_url(request) -> str:
    """Where to go once signed in: `next` when it stays on this site, else home."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(url: str, request) -> str:
    next_url = request.POST.get("next") or request.GET.get("next")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _second_step_passed(request, device) -> None:
    """Mark the session as having passed the second step, under a new session key (the
    key that was known before the step is worth nothing after it)."""
    otp_login(request, device)
    request.session.cycle_key()


def _issuer(request) -> str:
    """The name the authenticator app shows beside the code: this instance's."""
    tenant = getattr(request, "tenant", None)
    name = getattr(tenant, "name", "") or settings.UPLINE_OPERATOR_NAME
    return name.replace(":", "")


def provisioning_uri(device: TOTPDevice, *, issuer: str) -> str:
    """The otpauth:// address the QR code carries (Key Uri Format, issuer first)."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    label = quote(f"{issuer}:{device.user.email}")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def _grouped(text: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(text[i : i + size] for i in range(0, len(text), size))


def recovery_codes_page(request, codes: list[str], *, next_url: str | None = None):
    """Show new recovery codes, once: they are rendered in this response and kept nowhere
    else (the devices store them for checking, never for showing again)."""
    response = render(
        request,
        "accounts/recovery_codes.html",
        {
            "codes": [_grouped(code, 4, "-") for code in codes],
            "next": next_url or reverse("accounts:security"),
        },
    )
    add_never_cache_headers(response)
    return response


class TwoFactorVerifyView(FormView):
    """The second step: the app's current code, or a recovery code (used up)."""

    template_name = "accounts/two_factor_verify.html"
    form_class = SecondFactorForm

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(_with_next(reverse("accounts:login"), request))
        if user.is_verified():
            return redirect(_next_url(request))
        if selectors.two_factor_device(user) is None:
            # Nothing to check: set one up if they must, else carry on.
            if selectors.second_step_pending(user, verified=False, for_admin=False):
                return redirect(_with_next(reverse("accounts:two_factor_setup"), request))
            return redirect(_next_url(request))
        if throttling.second_step_locked_out(request, user):
            return self._locked_out()
        return super().dispatch(request, *args, **kwargs)

    def _locked_out(self):
        # Signed out too: the password step refuses this account until the cool-off ends.
        logout(self.request)
        return throttling.lockout_response(self.request)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["next"] = self.request.POST.get("next") or self.request.GET.get("next") or ""
        return context

    def form_valid(self, form):
        request = self.request
        user = request.user
        try:
            device = services.two_factor_verify(
                user=user, code=form.cleaned_data["code"], ip_address=client_ip(request)
            )
        except services.SecondFactorThrottled as exc:
            form.add_error("code", str(exc))
            return self.form_invalid(form)
        except services.SecondFactorRefused as exc:
            if throttling.second_step_failed(request, user):
                return self._locked_out()
            form.add_error("code", str(exc))
            return self.form_invalid(form)
        _second_step_passed(request, device)
        if isinstance(device, StaticDevice):
            left = device.token_set.count()
            messages.warning(
                request,
                _(
                    "You signed in with a recovery code; %(left)s left. Make new ones on "
                    "your security page if you are running low."
                )
                % {"left": left},
            )
        return redirect(_next_url(request))


@method_decorator(never_cache, name="dispatch")  # the page carries the app's secret
class TwoFactorSetupView(FormView):
    """Set up an authenticator app: a QR code (inline SVG, drawn here) and the secret as
    text, then a first code to prove the app works. Also how a user moves to a new phone."""

    template_name = "accounts/two_factor_setup.html"
    form_class = TwoFactorSetupForm

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(_with_next(reverse("accounts:login"), request))
        self.enrolled = selectors.two_factor_device(user) is not None
        if self.enrolled and not user.is_verified():
            # A new app is added only by someone who passed the current one.
            return redirect(_with_next(reverse("accounts:two_factor_verify"), request))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        device = services.two_factor_setup_begin(user=self.request.user)
        uri = provisioning_uri(device, issuer=_issuer(self.request))
        qr = segno.make(uri, micro=False, error="m")
        context.update(
            # segno draws paths only (no script, nothing fetched): safe under the CSP.
            qr_svg=mark_safe(
                qr.svg_inline(scale=4, border=2, title="QR code for your authenticator app")
            ),
            secret=_grouped(b32encode(device.bin_key).decode().rstrip("=")),
            issuer=_issuer(self.request),
            replacing=self.enrolled,
            required=selectors.two_factor_required(self.request.user),
            next=self.request.POST.get("next") or self.request.GET.get("next") or "",
        )
        return context

    def form_valid(self, form):
        request = self.request
        device = services.two_factor_setup_begin(user=request.user)
        try:
            device, codes = services.two_factor_enable(
                user=request.user,
                device=device,
                code=form.cleaned_data["code"],
                ip_address=client_ip(request),
            )
        except (services.SecondFactorRefused, services.SecondFactorThrottled) as exc:
            form.add_error("code", str(exc))
            return self.form_invalid(form)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
            return self.form_invalid(form)
        _second_step_passed(request, device)
        messages.success(request, _("Two-factor sign-in is on."))
        return recovery_codes_page(request, codes, next_url=_next_url(request))


class RecoveryCodesRenewView(LoginRequiredMixin, View):
    """POST: ten new recovery codes, shown once; the previous ones stop working."""

    http_method_names = ["post"]

    def post(self, request):
        try:
            codes = services.recovery_codes_renew(user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("accounts:security")
        return recovery_codes_page(request, codes)


class SecurityMixin(LoginRequiredMixin):
    """The user's security page: the staff layout for staff, the portal's for customers."""

    template_name = "accounts/security.html"

    def security_context(self, **kwargs) -> dict:
        user = self.request.user
        token = selectors.api_token_for(user)
        return {
            "layout": "layouts/staff.html" if user.is_instance_staff else "layouts/portal.html",
            "two_factor": selectors.two_factor_status(user),
            "token": token,
            "token_last_used": selectors.api_token_last_used(token),
            "disable_form": kwargs.get("disable_form") or TwoFactorDisableForm(),
        }


class SecurityView(SecurityMixin, TemplateView):
    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **self.security_context()}


class TwoFactorDisableView(SecurityMixin, TemplateView):
    """POST: turn two-factor off with the password or a current code (where allowed)."""

    http_method_names = ["post"]

    def post(self, request):
        form = TwoFactorDisableForm(request.POST)
        if form.is_valid():
            try:
                services.two_factor_disable(
                    user=request.user,
                    proof=form.cleaned_data["proof"],
                    ip_address=client_ip(request),
                )
            except services.SecondFactorThrottled as exc:
                form.add_error("proof", str(exc))
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Two-factor sign-in is off."))
                return redirect("accounts:security")
        return self.render_to_response(self.security_context(disable_form=form))


class ApiTokenRevokeView(LoginRequiredMixin, View):
    """POST: revoke the user's own API token from their security page."""

    http_method_names = ["post"]

    def post(self, request):
        services.api_token_revoke(user=request.user)
        messages.success(request, _("Your API token was revoked."))
        return redirect("accounts:security")


@method_decorator(never_cache, name="dispatch")
class LanguageSetView(View):
    """The language switch: kept on the user when signed in, and in a cookie for
    everyone (visitors, and the sign-in page after signing out); back to the same page."""

    http_method_names = ["post"]

    def post(self, request):
        language = request.POST.get("language", "")
        next_url = request.POST.get("next") or request.headers.get("referer") or "/"
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = "/"
        if language not in dict(settings.LANGUAGES):
            messages.error(request, _("Choose one of the languages offered."))
            return redirect(next_url)
        if request.user.is_authenticated:
            services.user_language_set(user=request.user, language=language)
        translation.activate(language)
        response = redirect(next_url)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=request.is_secure(),
            httponly=True,
        )
        return response
