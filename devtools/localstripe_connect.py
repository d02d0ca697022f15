"""Teach localstripe the one Connect parameter Upline sends on a PaymentIntent:
`application_fee_amount` (the platform's fee on a direct charge on a connected account).

localstripe refuses any parameter it does not know ("Unexpected application_fee_amount"),
so without this a reseller's card payment fails as soon as the operator sets a platform
fee. Stripe's own rules are kept: an integer in the currency's minor unit, not negative,
not above the amount; the intent then reports it back, as Stripe's does. Used by the test
suite's localstripe (tests/stripe_fixtures.py) and anything else that starts one.
"""

from __future__ import annotations

from typing import Any


def teach_application_fees(resources: Any) -> None:
    """Patch localstripe's `resources` module in place (idempotent)."""
    intent_class = resources.PaymentIntent
    if getattr(intent_class, "_upline_application_fees", False):
        return
    original_init = intent_class.__init__

    def __init__(self, application_fee_amount=None, **kwargs):
        fee = None
        if application_fee_amount is not None:
            fee = resources.try_convert_to_int(application_fee_amount)
            amount = resources.try_convert_to_int(kwargs.get("amount"))
            # Checked before the intent exists: localstripe stores an object as it is made.
            if type(fee) is not int or fee < 0 or (type(amount) is int and fee > amount):
                raise resources.UserError(400, "Bad request: application_fee_amount")
        original_init(self, **kwargs)
        self.application_fee_amount = fee

    intent_class.__init__ = __init__
    intent_class._upline_application_fees = True
