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

from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django.urls import reverse
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
