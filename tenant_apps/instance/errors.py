"""Domain errors: what a user did that the rules refuse, said in a sentence they can act on.

Services raise subclasses (QuotaExceeded, InvalidTransition …); screens show them as
messages, the API as 4xx JSON (`config.errors.api_exception_handler`)."""

from __future__ import annotations

from rest_framework import status


class DomainError(Exception):
    """Base for errors a user can read and fix (quota exceeded, illegal transition…)."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"
