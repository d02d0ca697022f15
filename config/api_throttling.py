"""API throttles: how many calls one caller may make per instance, with rates in settings.

The counters live in the default cache, whose KEY_FUNCTION prefixes every key with the
schema of the request, so a caller's allowance on one instance is its own: a busy client
of one reseller never slows another reseller's API. A throttled call answers 429 with
Retry-After.
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class InstanceApiThrottle(SimpleRateThrottle):
    """Every API view: `api` per signed-in user (token or session), `api_anonymous` per
    client address for calls without credentials."""

    scope = "api"

    def allow_request(self, request, view):
        user = getattr(request, "user", None)
        self.scope = "api" if user is not None and user.is_authenticated else "api_anonymous"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        user = request.user
        pk = getattr(user, "pk", None) if user.is_authenticated else None
        ident = f"user-{pk}" if pk is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
