"""Domain errors users can read and fix, and their translation to 4xx JSON in the API."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """Base for errors a user can read and fix (quota exceeded, illegal transition…)."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    if isinstance(exc, DomainError):
        return Response(
            {"detail": str(exc), "code": exc.code}, status=getattr(exc, "status_code", 400)
        )
    return exception_handler(exc, context)
