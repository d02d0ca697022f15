"""The inbox API's throttle: `bridge_inbox` calls per reseller (per inbox client), keyed
in the operator's schema; calls without a valid key count per client address."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class InboxThrottle(SimpleRateThrottle):
    scope = "bridge_inbox"

    def get_cache_key(self, request, view) -> str:
        reseller = getattr(request.user, "reseller", None)
        ident = f"reseller-{reseller.pk}" if reseller is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
