"""Template context of the referral programme: whether the signed-in portal user is a
partner (the portal menu then links its partner page). Lazy: no query unless a template
asks."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from .selectors import partner_referers_for


def partner(request) -> dict:
    user = getattr(request, "user", None)
    return {"is_partner": SimpleLazyObject(lambda: partner_referers_for(user).exists())}
