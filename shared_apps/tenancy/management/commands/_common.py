"""Shared bits of the reseller management commands: lookup, actor and error translation."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from provisioning.schemas import ProvisioningError
from shared_apps.tenancy.models import Reseller
from tenant_apps.instance.errors import DomainError

# How the operator's audit trail names whoever ran a command on the server.
COMMAND_ACTOR = "command"


def get_reseller(slug: str) -> Reseller:
    try:
        return Reseller.objects.get(slug=slug)
    except Reseller.DoesNotExist as exc:
        raise CommandError(f"No reseller with the slug “{slug}”.") from exc


@contextmanager
def readable_errors():
    """Turn service errors into one-sentence CommandErrors (exit code 1, no traceback)."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            text = " ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )
        else:
            text = " ".join(exc.messages)
        raise CommandError(text) from exc
    except (DomainError, ProvisioningError) as exc:
        raise CommandError(str(exc)) from exc
