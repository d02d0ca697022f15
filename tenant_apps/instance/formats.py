"""Dates and numbers as the reader writes them ("2 Mar 2026", "2 mars 2026", "2. März 2026";
"2.5", "2,5"), in the active language: a screen activates its user's, an e-mail or a
document its customer's. Money is `money.format_money`, on the same rule."""

from __future__ import annotations

import datetime
from decimal import Decimal

from babel.core import UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal
from django.conf import settings
from django.utils import translation

# The short date of documents and lists, per language (others: babel's medium date).
DATE_PATTERNS = {"en": "d MMM y", "fr": "d MMM y", "de": "d. MMM y"}
# No grouping and no exponent: 1000 stays "1000", 2.50 reads "2.5" (or "2,5").
NUMBER_PATTERN = "0.##########"


def reader_locale() -> str:
    """The active language as a babel locale ("en", "fr", "de", "pt_BR")."""
    return (translation.get_language() or settings.LANGUAGE_CODE).replace("-", "_")


def format_date(value: datetime.date | None) -> str:
    """2026-03-02 → "2 Mar 2026" / "2 mars 2026" / "2. März 2026" ("" for no date)."""
    if not value:
        return ""
    locale = reader_locale()
    pattern = DATE_PATTERNS.get(locale.split("_")[0], "medium")
    try:
        return babel_format_date(value, pattern, locale=locale)
    except (UnknownLocaleError, ValueError):
        return babel_format_date(value, DATE_PATTERNS["en"], locale="en")


def format_number(value: Decimal) -> str:
    """2.50 → "2.5" (or "2,5"), 1.00 → "1", 20.000 → "20": never an exponent, no grouping."""
    try:
        return format_decimal(value, format=NUMBER_PATTERN, locale=reader_locale())
    except (UnknownLocaleError, ValueError):
        return format_decimal(value, format=NUMBER_PATTERN, locale="en")
