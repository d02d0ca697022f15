"""The API face of errors: domain errors (`tenant_apps.instance.errors`) as 4xx JSON, never
a 500, and JSON rather than the HTML page when an /api/ address matches no route."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseServerError, JsonResponse
from django.template import loader
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.api_input import too_big_message, too_many_message
from tenant_apps.dashboard.views import page_not_found as html_page_not_found
from tenant_apps.instance.errors import DomainError


def api_exception_handler(exc, context):
    # Django's own caps, when something read the body before DRF's parsers (see api_input).
    if isinstance(exc, RequestDataTooBig):
        exc = exceptions.ParseError(too_big_message())
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError(too_many_message())
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    if isinstance(exc, DomainError):
        return Response(
            {"detail": str(exc), "code": exc.code}, status=getattr(exc, "status_code", 400)
        )
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # `ValidationError("…")` raised outside a serializer: the same object shape as every
        # other refusal, so a client reads `detail` whatever went wrong.
        response.data = {"detail": response.data}
    return response


def page_not_found(request, exception=None):
    """handler404: an API client gets the JSON the schema documents, a browser the page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return html_page_not_found(request, exception)


def server_error(request):
    """handler500: the page, named for the instance the routing chose. Read from the route
    only (no query, no context processor): the database may be what failed."""
    tenant = getattr(request, "tenant", None)
    html = loader.get_template("500.html").render({"instance": tenant})
    return HttpResponseServerError(html)
