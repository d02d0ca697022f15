"""What orders announces and asks of the platform, declared once.

Announcements (Django signals; receivers connect in their `AppConfig.ready()`):

`service_changed(sender=Service, event=str, service=Service)`
    Sent inside the transaction of the change, after the row is saved. `event` is one of
    "activated" (pending → active), "resumed" (suspended → active), "suspended",
    "terminated", "cancelled" or "changed" (another plan). A receiver that raises rolls the
    change back. The operator's instance provisions and suspends reseller instances here.

`order_item_checked(sender=Product, product=Product, label=str, customer=Customer)`
    Sent for each ordered plan while an order is placed; a receiver raises ValidationError
    to refuse the line with a message (e.g. a reseller plan needs a free instance name).

Questions (ports, one answer plugged in by the platform):

`capacity_reserve(schema_name=str, demands={resource code: amount})`
    Take capacity out of what the operator allocated to the instance, or raise a
    DomainError saying what is missing. Unlimited by default (the operator's own instance).
`capacity_release(schema_name=str, demands=...)`
    Give capacity back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.dispatch import Signal

from tenant_apps.instance.ports import Port

service_changed = Signal()
order_item_checked = Signal()


def _unlimited(*, schema_name: str, demands: Mapping[str, int]) -> None:
    return None


capacity_reserve: Port[Callable[..., None]] = Port("capacity_reserve", _unlimited)
capacity_release: Port[Callable[..., None]] = Port("capacity_release", _unlimited)
