"""The API face of domain errors (`tenant_apps.instance.errors`): 4xx JSON, never a 500."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from tenant_apps.instance.errors import DomainError


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    if isinstance(exc, DomainError):
        return Response(
            {"detail": str(exc), "code": exc.code}, status=getattr(exc, "status_code", 400)
        )
    return exception_handler(exc, context)
