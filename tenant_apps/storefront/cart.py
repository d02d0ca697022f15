"""The visitor's cart, kept in their session (so it works without JavaScript and survives
signing in): a short list of plans, each with its billing cycle, add-ons and label, and
the currency the visitor shops in. Prices are never stored here: they are read from the
catalog when the cart is shown and when the order is placed.

The session is per instance (its table is in the instance's schema), so a cart never
crosses instances.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

CART_KEY = "storefront_cart"
CURRENCY_KEY = "storefront_currency"
MAX_ITEMS = 10


class CartFull(Exception):
    """The cart already holds MAX_ITEMS plans."""


def cart_items(session) -> list[dict]:
    items = session.get(CART_KEY) or []
    return [item for item in items if isinstance(item, dict)]


def cart_add(session, *, plan_id: int, cycle: str, addon_ids: list[int], label: str = "") -> None:
    items = cart_items(session)
    if len(items) >= MAX_ITEMS:
        raise CartFull(
            _("A cart holds at most %(MAX_ITEMS)s plans; check out first.")
            % {"MAX_ITEMS": MAX_ITEMS}
        )
    items.append(
        {"plan": plan_id, "cycle": cycle, "addons": sorted(set(addon_ids)), "label": label}
    )
    session[CART_KEY] = items


def cart_set_label(session, *, index: int, label: str) -> None:
    items = cart_items(session)
    if 0 <= index < len(items):
        items[index]["label"] = label
        session[CART_KEY] = items


def cart_remove(session, *, index: int) -> None:
    items = cart_items(session)
    if 0 <= index < len(items):
        del items[index]
        session[CART_KEY] = items


def cart_clear(session) -> None:
    session.pop(CART_KEY, None)


def cart_count(session) -> int:
    return len(cart_items(session))
