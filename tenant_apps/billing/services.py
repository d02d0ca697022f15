"""Writes of billing data; for now the issuer identity."""

from __future__ import annotations

from django.db import transaction

from .models import IssuerIdentity


@transaction.atomic
def issuer_identity_set(*, legal_name: str, **fields) -> IssuerIdentity:
    """Create or update the current instance's issuer identity."""
    identity = IssuerIdentity.objects.select_for_update().first()
    if identity is None:
        identity = IssuerIdentity(legal_name=legal_name)
    identity.legal_name = legal_name
    for name, value in fields.items():
        setattr(identity, name, value)
    identity.full_clean()
    identity.save()
    return identity
