"""Ports: the questions an instance asks the platform it runs on, answered by a plug.

Tenant apps never import shared apps. Where a tenant app needs something only the
platform knows (its own public address, the capacity the operator allocated, the bills its
supplier sent), it declares a `Port` here or in its own `ports.py`, with a safe default; a
shared app plugs its answer in from `AppConfig.ready()`. What a tenant app *announces*
(a service changed, a ticket moved) is a Django signal in that app's `ports.py` instead.

Every plug is visible in code (`<port>.plug(...)` in an AppConfig), never wired from
settings or the environment; tests swap one with `port.plugged(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Port(Generic[F]):
    """One answer, plugged in by a higher layer; the default serves when nothing is."""

    def __init__(self, name: str, default: F) -> None:
        self.name = name
        self._default = default
        self._plug: F | None = None

    def plug(self, implementation: F) -> None:
        self._plug = implementation

    @property
    def implementation(self) -> F:
        return self._plug if self._plug is not None else self._default

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.implementation(*args, **kwargs)

    @contextmanager
    def plugged(self, implementation: F) -> Iterator[None]:
        """Answer with `implementation` for the duration of a block (tests)."""
        previous, self._plug = self._plug, implementation
        try:
            yield
        finally:
            self._plug = previous

    def __repr__(self) -> str:
        return f"<Port {self.name}: {getattr(self.implementation, '__qualname__', '?')}>"


def _no_address(schema_name: str) -> str:
    return ""


def _nothing(schema_name: str, **kwargs: Any) -> Sequence:
    return []


def _no_resellers() -> Sequence[str]:
    return []


#: `https://<primary domain>[:<UPLINE_PUBLIC_PORT>]` of the instance in `schema_name` ("" when
#: unknown): the one base of every absolute link in e-mails, whichever process sends them.
public_url: Port[Callable[[str], str]] = Port("public_url", _no_address)

#: The capacity the operator allocated to the instance in `schema_name`, with usage:
#: a list of dicts (code, name, unit, quantity, used) — empty for the operator itself.
allocations: Port[Callable[..., Sequence]] = Port("allocations", _nothing)

#: The invoices the operator issued to the reseller running `schema_name` ("supplier
#: bills"), as plain dicts; `invoice_id=` narrows to one.
supplier_bills: Port[Callable[..., Sequence]] = Port("supplier_bills", _nothing)

#: The schemas of every active reseller instance (the fan-out of per-instance tasks).
reseller_schemas: Port[Callable[[], Sequence[str]]] = Port("reseller_schemas", _no_resellers)
