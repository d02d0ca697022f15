"""Money: Decimal amounts, currency codes and the project's ONE rounding rule.

Every amount is a `Decimal` in a currency's minor-unit precision. Lines are rounded once,
with `round_money`, when a line's net and tax are computed; totals are sums of rounded
lines, so an invoice always reconciles to the cent. Never use float for money.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

ZERO = Decimal("0")
# ISO 4217 codes babel knows (includes historic ones we never want on an invoice).
_KNOWN = frozenset(list_currencies())
_RETIRED = frozenset(
    {
        "DEM",
        "FRF",
        "ITL",
        "ESP",
        "NLG",
        "BEF",
        "ATS",
        "PTE",
        "FIM",
        "IEP",
        "GRD",
        "LUF",
        "XEU",
        "VEF",
        "ZWD",
        "ZWL",
        "HRK",
        "BGL",
        "SIT",
        "SKK",
    }
)
CURRENCIES = frozenset(c for c in _KNOWN if c not in _RETIRED and len(c) == 3)
# What staff can pick in forms: the currencies amounts can be stored in.
BILLABLE_CURRENCIES = frozenset(c for c in CURRENCIES if get_currency_precision(c) <= 2)


# Amounts are stored with two decimals: a currency with a finer minor unit (KWD, BHD, OMR,
# JOD, TND …: 3 decimals) would be rounded wrongly, so it is refused until it is stored right.
STORED_DECIMALS = 2


def validate_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise ValidationError with a sentence."""
    normalised = (code or "").strip().upper()
    if normalised not in CURRENCIES:
        raise ValidationError(
            _("“%(code)s” is not a currency code we know (use ISO 4217, e.g. EUR).")
            % {"code": code},
            code="currency",
        )
    if currency_exponent(normalised) > STORED_DECIMALS:
        raise ValidationError(
            _(
                "%(normalised)s counts in thousandths (%(currency_exponent)s decimals); "
                "Upline stores amounts to the hundredth, so it cannot bill in it yet."
            )
            % {"normalised": normalised, "currency_exponent": currency_exponent(normalised)},
            code="currency_precision",
        )
    return normalised


def currency_exponent(currency: str) -> int:
    return get_currency_precision(currency)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (cents for EUR, none for JPY)."""
    quantum = Decimal(1).scaleb(-currency_exponent(currency))
    return Decimal(amount).quantize(quantum, rounding=ROUND_HALF_UP)


def to_decimal(value, *, field: str = "amount") -> Decimal:
    """Parse user input into a Decimal (never via float); raises ValidationError."""
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError(
            {field: [_("“%(value)s” is not a number.") % {"value": value}]}
        ) from exc
    if not result.is_finite():
        raise ValidationError({field: [_("Enter a finite number.")]})
    return result


def format_money(amount: Decimal, currency: str, locale: str | None = None) -> str:
    """`amount` as the reader writes money: "€1,234.50", "1 234,50 €", "1.234,50 €" (the
    active language unless `locale` is given; an e-mail or invoice activates its
    customer's)."""
    return format_currency(amount, currency, locale=locale or _babel_locale())


def _babel_locale() -> str:
    return (translation.get_language() or settings.LANGUAGE_CODE).replace("-", "_")
