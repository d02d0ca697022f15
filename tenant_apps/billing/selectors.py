"""Reads of billing data shared by screens and the API."""

from __future__ import annotations

from .models import IssuerIdentity


def issuer_identity_get() -> IssuerIdentity | None:
    """The current instance's issuer identity (None before set-up)."""
    return IssuerIdentity.objects.first()
