"""Views that keep working in full while an instance is held for non-payment.

When the operator's billing suspends a reseller for an unpaid bill, the platform keeps the
instance reachable but read-only (shared_apps.tenancy.payment_hold): its staff may still
sign in, read every page and pay their supplier bills; every other write is refused. The
few views a held instance must still accept writes on (signing in and out, the second
sign-in step, paying the supplier) are marked here, next to the view, so the platform's
rule denies by default and a new page is covered without anyone remembering to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

V = TypeVar("V", bound=Callable)

ATTRIBUTE = "payment_hold_exempt"


def payment_hold_exempt(view: V) -> V:
    """Mark a view as accepting writes while its instance is held for non-payment (its own
    permission checks still decide who may use it)."""
    setattr(view, ATTRIBUTE, True)
    return view


def is_payment_hold_exempt(view) -> bool:
    return bool(getattr(view, ATTRIBUTE, False))
