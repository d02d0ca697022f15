"""The second sign-in step, enforced for every page of the instance.

After the password a user is signed in, but while they owe a second factor (they set one
up, their instance requires one of its staff, or the page is the Django admin) and have
not given it, this session reaches only the views marked `second_step_exempt` (the code
page, the set-up page, sign-out). Every other page redirects there, and API views see an
anonymous caller, so the session cannot be used for API calls (tokens still work: they
are checked by the API itself). Denying by default means a new page is covered without
anyone remembering to.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from rest_framework.views import APIView

from . import selectors


def second_step_exempt(view):
    """Mark a view as reachable before the second step (the step itself, sign-out)."""
    view.second_step_exempt = True
    return view


def _is_api_view(view_func) -> bool:
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class SecondStepMiddleware:
    """Installed after django-otp's OTPMiddleware (which gives `user.is_verified()`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "second_step_exempt", False):
            return None
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = getattr(request, "resolver_match", None)
        step = selectors.second_step_pending(
            user, verified=False, for_admin=bool(match and match.app_name == "admin")
        )
        if step is None:
            return None
        if _is_api_view(view_func):
            # The API never redirects: without the second step the session is no one.
            request.user = AnonymousUser()
            return None
        target = reverse(
            "accounts:two_factor_verify"
            if step == selectors.SECOND_STEP_VERIFY
            else "accounts:two_factor_setup"
        )
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return redirect(target)


class LanguageMiddleware:
    """Screens in the reader's language: a signed-in user's own choice, else the
    language cookie the switch sets, else the browser's Accept-Language, else English.

    Installed after authentication (it reads `request.user`), instead of Django's
    LocaleMiddleware, which knows nothing of users; there are no language prefixes in
    URLs, so a page's language depends on who asks and the response says it varies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = _language_of(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response


def _language_of(request) -> str:
    user = getattr(request, "user", None)
    chosen = getattr(user, "language", "") if user is not None else ""
    if chosen and chosen in _supported():
        return chosen
    return translation.get_language_from_request(request, check_path=False)


def _supported() -> dict:
    return dict(settings.LANGUAGES)
