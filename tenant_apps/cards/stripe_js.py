"""The Content-Security-Policy of a page that takes a card with Stripe.js.

Only such a page loads Stripe.js; it widens its own policy by Stripe's origins and no other
page does. Shared by every card form (the customer portal's invoice payment, a reseller
paying its supplier bills from its staff area).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def stripe_origins() -> list[str]:
    """Where Stripe.js comes from, talks to and frames 3-D Secure from."""
    parts = urlsplit(settings.UPLINE_STRIPE_JS_URL)
    origins = [f"{parts.scheme}://{parts.netloc}"]
    if origins == ["https://js.stripe.com"]:
        origins += ["https://api.stripe.com", "https://hooks.stripe.com"]
    return origins


def allow_stripe_js(response):
    """Widen one card page's Content-Security-Policy by Stripe's origins."""
    origins = stripe_origins()
    # django-csp reads this per response (what its csp_update decorator sets).
    response._csp_update = {
        "script-src": origins,
        "connect-src": origins,
        "frame-src": ["'self'", *origins],
    }
    return response
