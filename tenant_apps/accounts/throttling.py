"""Limits on what an anonymous or careless caller can make an instance do over and over:
how django-axes names a sign-in attempt (the e-mail, the client address), wrong two-factor
codes counted as failed sign-ins, and how many password e-mails (reset links, invitations)
go out per address and per client address.

Everything here is per instance by construction: the attempts table is in the instance's
schema, and the default cache prefixes every key with the schema (`KEY_FUNCTION`), so a
lockout or a spent mail allowance on one instance is invisible on every other.
"""

from __future__ import annotations

import hashlib
import math

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from .signins import client_ip

RESET = "reset"
INVITATION = "invitation"

_TOO_MANY = {
    RESET: (
        gettext_lazy(
            "Too many password reset requests for this address or from your network in the "
            "last hour. Please try again later."
        )
    ),
    INVITATION: (
        gettext_lazy(
            "Too many invitations were sent to this address or from your network in the last "
            "hour. Please try again later."
        )
    ),
}


def signin_username(request, credentials) -> str | None:
    """The e-mail of a sign-in attempt as axes counts it: `Alice@X` and `alice@x ` are
    the same account, so changing the case never buys ten more guesses."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        value = getattr(request, "POST", {}).get("username")
    if value is None:
        return None
    return str(value).strip().lower()[:254]


def signin_client_ip(request) -> str | None:
    return client_ip(request)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """The page shown instead of signing in while locked out: 429 with Retry-After."""
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60))
    response = render(
        request,
        "registration/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def _key(kind: str, what: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"password-mail:{kind}:{what}:{digest}"


def password_mail_reserve(*, kind: str, email: str, ip_address: str | None) -> None:
    """Count one password e-mail of `kind` to `email` asked from `ip_address`, or refuse.

    Raises ValidationError({"email": [...]}) once the address or the client address has
    had its allowance for the hour. The count does not depend on whether an account with
    that e-mail exists, so the answer reveals nothing about who has one.
    """
    limits = settings.UPLINE_PASSWORD_MAIL_LIMITS[kind]
    window = settings.UPLINE_PASSWORD_MAIL_WINDOW_SECONDS
    counters = [(_key(kind, "address", email.strip().lower()), limits["per_address"])]
    if ip_address:
        counters.append((_key(kind, "ip", ip_address), limits["per_ip"]))
    for key, limit in counters:
        if (cache.get(key) or 0) >= limit:
            raise ValidationError({"email": [_TOO_MANY[kind]]}, code="throttled")
    for key, _limit in counters:
        # add() starts the hour on the first e-mail; incr() never moves its end.
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: this e-mail starts a new hour
            cache.set(key, 1, timeout=window)


# The second sign-in step counts wrong codes in the same django-axes attempts as wrong
# passwords (the account's e-mail and the client address): ten in a row lock both steps
# out for the cool-off. A correct password clears the count (AXES_RESET_ON_SUCCESS), so
# what keeps guessing slow across sessions is the device's own doubling wait (services).


def _second_step_credentials(user) -> dict:
    return {"username": user.email}


def second_step_locked_out(request, user) -> bool:
    return not AxesProxyHandler.is_allowed(request, _second_step_credentials(user))


def second_step_failed(request, user) -> bool:
    """Count a wrong code against the account and the address; True once locked out."""
    AxesProxyHandler.user_login_failed(
        sender=__name__, credentials=_second_step_credentials(user), request=request
    )
    return bool(getattr(request, "axes_locked_out", False))
