"""Sign-ins, failed sign-ins and sign-outs in the instance's audit trail, with the address
they came from. Receivers of Django's auth signals, connected in `AccountsConfig.ready`.

The events are written in the schema of the request, so a failed sign-in on one instance
is recorded there and nowhere else. A failed attempt records the e-mail that was tried
(never the password).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils.translation import gettext_noop

from tenant_apps.instance import audit

from .models import User

USER_SIGNED_IN = audit.event_type("user.signed_in", gettext_noop("Signed in"))
USER_SIGN_IN_FAILED = audit.event_type("user.sign_in_failed", gettext_noop("Sign-in failed"))
USER_SIGNED_OUT = audit.event_type("user.signed_out", gettext_noop("Signed out"))

# Who tried a failed sign-in is not known: the e-mail typed is the claim, not the actor.
ANONYMOUS = "anonymous"


def client_ip(request) -> str | None:
    """The address the request came from.

    REMOTE_ADDR, unless `UPLINE_TRUSTED_PROXY_COUNT` proxies are declared in front of
    Upline: then the X-Forwarded-For entry the outermost of them appended (the entries
    left of it are written by the client and never trusted). Sign-in lockouts, mail limits
    and API throttles all count by this address.
    """
    meta = getattr(request, "META", None) or {}
    value = meta.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "UPLINE_TRUSTED_PROXY_COUNT", 0)
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if proxies > 0 and forwarded:
        value = forwarded[-min(proxies, len(forwarded))]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def on_signed_in(sender, request=None, user=None, **kwargs) -> None:
    if user is not None and user.pk:
        audit.audit_record(USER_SIGNED_IN, actor=user, obj=user, ip_address=client_ip(request))


def on_sign_in_failed(sender, credentials=None, request=None, **kwargs) -> None:
    credentials = credentials or {}
    email = str(credentials.get(User.USERNAME_FIELD) or credentials.get("username") or "")
    email = email.strip()[:254]
    user = User.objects.filter(email__iexact=email).first() if email else None
    audit.audit_record(
        USER_SIGN_IN_FAILED,
        actor=ANONYMOUS,
        obj=user,
        object_label=email,
        detail={"email": email},
        ip_address=client_ip(request),
    )


def on_signed_out(sender, request=None, user=None, **kwargs) -> None:
    if user is not None and getattr(user, "pk", None):
        audit.audit_record(USER_SIGNED_OUT, actor=user, obj=user, ip_address=client_ip(request))
