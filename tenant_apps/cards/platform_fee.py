"""The platform's fee on a card payment: what the operator takes, as Stripe's
`application_fee_amount`, from each payment made on a reseller's connected account.

The operator sets a percentage in its console (0 = off, the default); this instance asks
for it through `ports.platform_fee_percent`. The fee is computed once, when a card payment
is opened, and kept on its row (`CardPayment.application_fee`): the PaymentIntent is made
with that fee, so a retried create (same idempotency key, same parameters) sends the same
fee even if the operator changed the rate in between.

Rounding follows the project's rule (half up), applied to Stripe's minor unit — the unit
the fee is sent in: 2.5 % of 0.30 EUR (0.75 cent) is 1 cent; 2.5 % of 99 JPY (2.475 yen)
is 2 yen. The fee is never above the amount, and never taken on the operator's own
instance (it charges on the platform account itself: there is nobody to take a fee from).
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

from tenant_apps.instance.money import ZERO

from .gateway import from_minor_units, to_minor_units
from .ports import platform_fee_percent

logger = logging.getLogger(__name__)

#: The highest fee the console accepts, in percent of a card payment.
MAX_PERCENT = Decimal("20")


def current_percent() -> Decimal:
    """The operator's rate now, in percent (0: no fee). The console keeps it within
    0–MAX_PERCENT; a value outside (a plug gone wrong) is bounded rather than let a
    customer's payment fail."""
    percent = Decimal(platform_fee_percent())
    bounded = min(max(percent, ZERO), MAX_PERCENT)
    if bounded != percent:
        logger.warning("Platform fee of %s %% is out of bounds; %s %% is used", percent, bounded)
    return bounded


def fee_minor_units(amount_minor: int, percent: Decimal) -> int:
    """`percent` of an amount in minor units, rounded half up to a whole unit, at most the
    amount itself."""
    if percent <= 0 or amount_minor <= 0:
        return 0
    fee = (Decimal(amount_minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(min(fee, Decimal(amount_minor)))


def application_fee_for(*, amount: Decimal, currency: str, account_id: str | None) -> Decimal:
    """The fee to take from a card payment of `amount` made on `account_id` (None: the
    platform account, which pays no fee), in the payment's currency."""
    if not account_id:
        return ZERO
    percent = current_percent()
    if percent <= 0:
        return ZERO
    return from_minor_units(fee_minor_units(to_minor_units(amount, currency), percent), currency)
