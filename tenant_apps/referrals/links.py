"""The share link of a referer: this instance's home page with `?ref=<code>`."""

from __future__ import annotations

from django.conf import settings


def base_url(request) -> str:
    """This instance's address as visitors use it (https in production, see UPLINE_HTTPS)."""
    scheme = "https" if settings.UPLINE_HTTPS or request.is_secure() else "http"
    return f"{scheme}://{request.get_host()}"


def share_link(base: str, code: str) -> str:
    return f"{base}/?ref={code}"
