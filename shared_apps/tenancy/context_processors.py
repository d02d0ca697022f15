"""Template context: which instance is serving this page."""

from django.conf import settings


def instance(request) -> dict:
    current = getattr(request, "tenant", None)
    return {
        "instance": current,
        "is_operator": bool(current and current.is_operator),
        "operator_name": settings.UPLINE_OPERATOR_NAME,
        "base_domain": settings.UPLINE_BASE_DOMAIN,
    }
