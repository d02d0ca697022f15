"""The platform fee on card payments (public schema): read by every instance's card
payments through `tenant_apps.cards.ports.platform_fee_percent`, set by the operator in
its console with one audited write.

Off by default: no row, or a row at 0 %, means no fee. A percentage only, no fixed part:
each reseller bills in its own currency, and one fixed amount would mean 0.30 EUR to one
and 0.30 JPY to another.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from tenant_apps.instance import audit
from tenant_apps.instance.money import to_decimal

from .models import PlatformFee

PLATFORM_FEE_SET = audit.event_type("platformfee.updated", "Platform fee on card payments changed")


def platform_fee_get() -> PlatformFee:
    """The fee row (an unsaved one at 0 % when never set), read from the public schema
    whichever instance asks."""
    with schema_context(get_public_schema_name()):
        return PlatformFee.objects.filter(pk=PlatformFee.SINGLETON_ID).first() or PlatformFee()


def platform_fee_percent() -> Decimal:
    """The fee in percent of each card payment on a connected account (0: none)."""
    return platform_fee_get().percent


def _validated(percent: Any) -> Decimal:
    value = to_decimal(percent, field="percent")
    if value < 0 or value > PlatformFee.MAX_PERCENT:
        raise ValidationError({"percent": [f"Enter a fee from 0 to {PlatformFee.MAX_PERCENT} %."]})
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError({"percent": ["Enter the fee to the hundredth of a percent."]})
    return value.quantize(Decimal("0.01"))


def platform_fee_set(*, percent: Any, actor: Any = None) -> PlatformFee:
    """Set the fee the platform takes on resellers' card payments (0 turns it off). Card
    payments opened from now on carry it; an intent already made keeps the fee it was made
    with. Recorded in the operator's audit trail when it changes."""
    value = _validated(percent)
    with transaction.atomic(), schema_context(get_public_schema_name()):
        row, _ = PlatformFee.objects.select_for_update().get_or_create(pk=PlatformFee.SINGLETON_ID)
        before = row.percent
        if before != value:
            row.percent = value
            row.save(update_fields=["percent", "updated_at"])
            audit.audit_record(
                PLATFORM_FEE_SET, actor=actor, obj=row, changes={"percent": [before, value]}
            )
    return row
