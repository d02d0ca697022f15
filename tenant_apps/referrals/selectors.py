"""Reads of referers: lists for staff, and the referer a visitor arrived with."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet

from .models import Referer

# The cookie a ?ref= link leaves in the visitor's browser (host-only: one instance's).
COOKIE_NAME = "upline_ref"
COOKIE_MAX_AGE = 30 * 24 * 3600
_CODE_MAX_LENGTH = Referer._meta.get_field("code").max_length


def referer_list(*, search: str | None = None, active: bool | None = None) -> QuerySet[Referer]:
    """Referers with their customer and how many orders each brought (`orders_count`)."""
    # Aggregation drops Meta.ordering, so order explicitly (stable pagination).
    referers = (
        Referer.objects.select_related("customer")
        .annotate(orders_count=Count("orders"))
        .order_by("name", "pk")
    )
    if search:
        referers = referers.filter(
            Q(name__icontains=search) | Q(code__icontains=search) | Q(email__icontains=search)
        )
    if active is not None:
        referers = referers.filter(is_active=active)
    return referers


def get_referer_for(user, referer_id: int) -> Referer:
    """The referer if `user` is staff of this instance; raises PermissionDenied or DoesNotExist."""
    if not (user and user.is_authenticated and user.is_instance_staff):
        raise PermissionDenied("Only staff can see referers.")
    return referer_list().get(pk=referer_id)


def referer_by_code(code: str | None) -> Referer | None:
    """The active referer with this code, whatever its case; None for unknown or inactive."""
    code = (code or "").strip()
    if not code or len(code) > _CODE_MAX_LENGTH:
        return None  # never a query for input that cannot be a code
    return Referer.objects.filter(code__iexact=code, is_active=True).first()


def referer_from_request(request) -> Referer | None:
    """The referer whose ?ref= link this visitor followed in the last 30 days, if still active."""
    return referer_by_code(request.COOKIES.get(COOKIE_NAME))
