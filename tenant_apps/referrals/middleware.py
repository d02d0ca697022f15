"""Remembers the partner of a visitor who arrived through a `?ref=CODE` link, and counts
the click."""

from __future__ import annotations

from .models import ProgrammeSettings, RefererCode
from .selectors import COOKIE_NAME, programme_settings, referer_by_code, referer_from_request
from .services import click_record


class RefererCookieMiddleware:
    """On a GET with `?ref=CODE` naming an active referer of THIS instance, count a click
    and set `upline_ref` for the programme's cookie lifetime.

    Runs after the routing middleware, so the lookup is in the serving instance's schema and
    a code of another instance is unknown here. The cookie is host-only (no Domain), so it is
    never sent to another instance. Unknown codes are ignored and never overwrite a cookie.
    Under first-click attribution a cookie naming an active partner is kept; under last
    click the newest link wins.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        code = request.GET.get("ref") if request.method == "GET" else None
        if code and getattr(request, "tenant", None) is not None:
            referer = referer_by_code(code, kind=RefererCode.Kind.LINK)
            if referer is not None:
                click_record(referer=referer, code=code, path=request.path)
                settings_row = programme_settings()
                keep = (
                    settings_row.attribution == ProgrammeSettings.Attribution.FIRST_CLICK
                    and referer_from_request(request) is not None
                )
                if not keep:
                    response.set_cookie(
                        COOKIE_NAME,
                        referer.code,  # its main code: valid for as long as the partner is
                        max_age=settings_row.cookie_days * 24 * 3600,
                        domain=None,
                        secure=request.is_secure(),
                        httponly=True,
                        samesite="Lax",
                    )
        return response
