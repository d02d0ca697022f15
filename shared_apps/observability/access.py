"""Who may read health details and metrics: a caller with the operations token, or a
process on this machine talking to the app directly.

Anyone may ask whether the app is live or ready and gets the status alone. The detail of
each check and the metrics need either `Authorization: Bearer <UPLINE_OPS_TOKEN>` (when a
token is set) or a request from the loopback address that no proxy forwarded: nginx on the
same host connects from 127.0.0.1 too, but always adds X-Forwarded-For (deploy/nginx), so
public traffic through it is never taken for local. UPLINE_OPS_LOCALHOST=off turns the
loopback rule off.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings

_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _has_token(request) -> bool:
    expected = settings.UPLINE_OPS_TOKEN
    if not expected:
        return False
    given = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _is_direct_local(request) -> bool:
    if not settings.UPLINE_OPS_LOCALHOST:
        return False
    if any(request.META.get(header) for header in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def may_read_details(request) -> bool:
    return _has_token(request) or _is_direct_local(request)
