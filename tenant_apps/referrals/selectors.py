"""Reads of referers: lists for staff, the programme's settings, and the partner a visitor
arrived with (`attribution_for`, which sign-up and checkout call)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from .models import Click, ProgrammeSettings, Referer, RefererCode, SignUp

# The cookie a ?ref= link leaves in the visitor's browser (host-only: one instance's).
COOKIE_NAME = "upline_ref"
# The default lifetime; each instance sets its own (`ProgrammeSettings.cookie_days`).
COOKIE_MAX_AGE = 30 * 24 * 3600


def programme_settings() -> ProgrammeSettings:
    """This instance's programme settings (defaults, unsaved, when never changed)."""
    return ProgrammeSettings.objects.first() or ProgrammeSettings()


_CODE_MAX_LENGTH = Referer._meta.get_field("code").max_length


def referer_list(*, search: str | None = None, active: bool | None = None) -> QuerySet[Referer]:
    """Referers with their customer and how many orders each brought (`orders_count`)."""
    # Aggregation drops Meta.ordering, so order explicitly (stable pagination).
    referers = (
        Referer.objects.select_related("customer", "referred_by")
        .prefetch_related("codes")
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
        raise PermissionDenied(_("Only staff can see referers."))
    return referer_list().get(pk=referer_id)


def referer_by_code(code: str | None, *, kind: str | None = None) -> Referer | None:
    """The active referer with this code, whatever its case; None for unknown or inactive.

    The main code works everywhere; a further code only for its `kind` ("link" for ?ref=
    links, "checkout" for codes typed at checkout), or for any kind when none is given.
    """
    code = (code or "").strip()
    if not code or len(code) > _CODE_MAX_LENGTH:
        return None  # never a query for input that cannot be a code
    referer = Referer.objects.filter(code__iexact=code, is_active=True).first()
    if referer is not None:
        return referer
    extra = RefererCode.objects.filter(code__iexact=code, referer__is_active=True)
    if kind is not None:
        extra = extra.filter(kind=kind)
    found = extra.select_related("referer").first()
    return found.referer if found else None


def referer_from_request(request) -> Referer | None:
    """The referer whose ?ref= link this visitor followed (within the cookie's lifetime),
    if still active."""
    return referer_by_code(request.COOKIES.get(COOKIE_NAME), kind=RefererCode.Kind.LINK)


@dataclass(frozen=True)
class Attribution:
    """Who a sign-up or an order is credited to, and how that became known."""

    referer: Referer
    source: str  # "link" (the ?ref= cookie) or "code" (typed by the visitor)
    code: str


def attribution_for(request, *, typed_code: str | None = None) -> Attribution | None:
    """The partner a sign-up or order made in `request` is attributed to, or None.

    A checkout code the visitor typed (`typed_code`) wins over the link they followed: they
    chose it. Otherwise the ?ref= cookie, which the middleware set according to the
    programme's first- or last-click rule. Codes of another instance are unknown here
    (every look-up is in this instance's schema). Raises nothing: an unknown or inactive
    code is no attribution (a form that takes a code checks it with `referer_by_code`).
    """
    if typed_code:
        referer = referer_by_code(typed_code, kind=RefererCode.Kind.CHECKOUT)
        if referer is not None:
            via_link = referer_from_request(request)
            source = "link" if via_link is not None and via_link.pk == referer.pk else "code"
            return Attribution(referer=referer, source=source, code=typed_code.strip())
    referer = referer_from_request(request)
    if referer is None:
        return None
    return Attribution(referer=referer, source="link", code=request.COOKIES.get(COOKIE_NAME, ""))


def partner_referers_for(user) -> QuerySet[Referer]:
    """The partners a portal user is (through their customer record); none for anyone else."""
    if not (user and user.is_authenticated and getattr(user, "is_customer", False)):
        return Referer.objects.none()
    return Referer.objects.filter(customer__user=user).order_by("name", "pk")


def partner_activity(referers) -> dict[str, int]:
    """Clicks on their links, sign-ups and orders credited to the given partners."""
    ids = [referer.pk for referer in referers]
    return {
        "clicks": Click.objects.filter(referer_id__in=ids).count(),
        "signups": SignUp.objects.filter(referer_id__in=ids).count(),
        "orders": Referer.objects.filter(pk__in=ids).aggregate(n=Count("orders"))["n"] or 0,
    }
