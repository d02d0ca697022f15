"""Remembers the referer of a visitor who arrived through a `?ref=CODE` link."""

from __future__ import annotations

from .selectors import COOKIE_MAX_AGE, COOKIE_NAME, referer_by_code


class RefererCookieMiddleware:
    """On a GET with `?ref=CODE` naming an active referer of THIS instance, set `upline_ref`.

    Runs after the routing middleware, so the lookup is in the serving instance's schema and
    a code of another instance is unknown here. The cookie is host-only (no Domain), so it is
    never sent to another instance. Unknown codes are ignored and never overwrite a cookie.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        code = request.GET.get("ref") if request.method == "GET" else None
        if code and getattr(request, "tenant", None) is not None:
            referer = referer_by_code(code)
            if referer is not None:
                response.set_cookie(
                    COOKIE_NAME,
                    referer.code,
                    max_age=COOKIE_MAX_AGE,
                    domain=None,
                    secure=request.is_secure(),
                    httponly=True,
                    samesite="Lax",
                )
        return response
