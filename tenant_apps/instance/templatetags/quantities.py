"""`{{ amount|with_unit:unit }}`: a quantity with its unit, read as a person would write it
("1 account", "3 accounts", "60 GB"); units are stored in the plural."""

from __future__ import annotations

from django import template

register = template.Library()


def singular(unit: str) -> str:
    """The singular of a plural unit word ("mailboxes" → "mailbox"); abbreviations such as
    "GB" and anything not a plural stay as they are."""
    if not unit.islower() or not unit.endswith("s") or unit.endswith("ss"):
        return unit
    if unit.endswith(("xes", "ches", "shes", "sses")):
        return unit[:-2]
    return unit[:-1]


@register.filter
def with_unit(amount, unit) -> str:
    unit = str(unit or "")
    if not unit:
        return f"{amount}"
    return f"{amount} {singular(unit) if str(amount).strip() == '1' else unit}"
