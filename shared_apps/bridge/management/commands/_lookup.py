"""Shared bits of the bridge's management commands: reseller lookup and readable errors."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from shared_apps.tenancy.models import Reseller
from tenant_apps.instance.errors import DomainError


def get_reseller(slug: str) -> Reseller:
    try:
        return Reseller.objects.get(slug=slug)
    except Reseller.DoesNotExist as exc:
        raise CommandError(f"No reseller with the slug “{slug}”.") from exc


@contextmanager
def readable_errors():
    """Service errors become one-sentence CommandErrors (exit code 1, no traceback)."""
    try:
        yield
    except ValidationError as exc:
        messages = (
            [m for msgs in exc.message_dict.values() for m in msgs]
            if hasattr(exc, "error_dict")
            else exc.messages
        )
        raise CommandError(" ".join(messages)) from exc
    except DomainError as exc:
        raise CommandError(str(exc)) from exc
