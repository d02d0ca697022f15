"""What a web process loads when it boots, not on its first request.

Django imports a URL configuration, and through it every view module (WeasyPrint,
openpyxl, the API schema: seconds of imports), on the first request that resolves a URL.
Gunicorn recycles its workers every `max_requests`, so without this every new worker's
first request — a Stripe webhook as likely as a page — paid those seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import get_resolver


def urlconfs_load() -> None:
    """Import both URL configurations (instances' and the base domain's) into the
    resolvers requests use (`get_resolver` is cached per URL configuration)."""
    for urlconf in (settings.ROOT_URLCONF, settings.PUBLIC_SCHEMA_URLCONF):
        get_resolver(urlconf).url_patterns  # noqa: B018  (imports every view module)
