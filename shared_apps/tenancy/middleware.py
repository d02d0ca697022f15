"""Routes each request to its instance's schema and URL map, or to a friendly error page."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.template.response import SimpleTemplateResponse
from django.urls import set_urlconf
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from tenant_apps.instance import branding

from . import payment_hold, routing
from .naming import normalize_host


def _page(
    request, template: str, status: int, context: dict, detail: str
) -> SimpleTemplateResponse | JsonResponse:
    """The page for a browser; for an API call, the JSON body its schema documents."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": detail}, status=status)
    response = SimpleTemplateResponse(template, context, status=status)
    response.render()
    return response


def _branding(instance):
    """The suspended instance's own name, logo and colours (its data is kept); the plain
    page if they cannot be read, never an error instead of it."""
    try:
        return branding.branding_for_schema(instance.schema_name, instance.name)
    except DatabaseError:
        return None


def _suspended(request, instance) -> SimpleTemplateResponse | JsonResponse:
    response = _page(
        request,
        "errors/suspended.html",
        503,
        # Lazy: an API caller gets JSON, and no branding is read for it.
        {"instance": instance, "branding": SimpleLazyObject(lambda: _branding(instance))},
        _("This instance is suspended for now: try again later."),
    )
    response["Retry-After"] = "3600"
    return response


class InstanceRoutingMiddleware:
    """Replaces django-tenants' TenantMainMiddleware (see `routing` for why).

    An instance suspended for non-payment is routed like an active one, read-only: once
    the view is known (and the user, after the authentication middleware), `process_view`
    applies `payment_hold`'s rules. Any other suspension answers the suspension page here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            host = normalize_host(request.get_host())
        except DisallowedHost:
            host = ""
        instance = routing.resolve(host) if host else None
        if instance is None:
            return _page(
                request,
                "errors/unknown_host.html",
                404,
                {"host": host, "base_domain": settings.UPLINE_BASE_DOMAIN},
                _("No instance answers at this address."),
            )
        if (
            instance.status == "suspended"
            and not instance.held_by_billing
            # The suspension page links the instance's brand files: they still answer.
            and request.path_info not in branding.ASSET_PATHS
        ):
            return _suspended(request, instance)
        if instance.status == "terminated":
            return _page(
                request,
                "errors/terminated.html",
                410,
                {"instance": instance},
                _("This instance was closed."),
            )

        request.tenant = instance
        if connection.schema_name != instance.schema_name:
            # Only a real change of instance costs a SET search_path, on the next query.
            connection.set_tenant(instance)
        if instance.is_operator:
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        instance = getattr(request, "tenant", None)
        if instance is None or not instance.is_held_for_payment:
            return None  # every active instance: one attribute read
        return payment_hold.refusal(
            request, view_func, suspension_page=lambda: _suspended(request, instance)
        )
