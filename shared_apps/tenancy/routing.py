"""Host name → instance lookup, cached per process with cross-process invalidation.

django-tenants' stock middleware queries the domain table and issues two `SET search_path`
statements on every request. Here a host is looked up once per process; the answer is kept
until a domain or reseller changes. Changes made in this process clear the cache at once;
other processes notice within `UPLINE_ROUTING_CACHE_SECONDS` through a generation counter
kept in the shared cache (one cache read per process per interval, not per request).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django_tenants.utils import get_public_schema_name

from .models import SuspensionPolicy

GENERATION_KEY = "upline:routing:generation"
MAX_ENTRIES = 20_000  # bounds memory when clients send random Host headers


@dataclass(frozen=True)
class Instance:
    """What a request needs to know about the instance it is served by."""

    schema_name: str
    name: str
    slug: str = ""
    reseller_id: int | None = None
    status: str = "active"
    domain_url: str = ""
    # Suspended by the operator's billing, not by hand: staff may still sign in and pay.
    held_by_billing: bool = False
    # What its customers see meanwhile (the operator's SuspensionPolicy, read with the route).
    customers_while_held: str = "page"

    @property
    def is_operator(self) -> bool:
        return self.reseller_id is None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_held_for_payment(self) -> bool:
        """Suspended for non-payment: read-only, and paying its supplier bills lifts it."""
        return self.status == "suspended" and self.held_by_billing

    def get_tenant_type(self) -> None:  # django-tenants asks tenants for their type
        return None


_lock = threading.Lock()
_entries: OrderedDict[str, Instance | None] = OrderedDict()
_state = {"generation": None, "checked_at": 0.0}


def _generation_cache():
    return caches["routing"]


def _operator_instance(host: str) -> Instance:
    return Instance(
        schema_name=get_public_schema_name(), name=settings.UPLINE_OPERATOR_NAME, domain_url=host
    )


def _query(host: str) -> Instance | None:
    # Schema-qualified so it runs correctly whatever search_path the connection has now,
    # without a SET round trip. The operator's suspension policy (one row, or none: the
    # default) rides along, so a held instance's requests cost no query either.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.id, r.schema_name, r.name, r.slug, r.status, r.held_by_billing, "
            "COALESCE((SELECT p.customers_see FROM public.tenancy_suspensionpolicy p "
            "WHERE p.id = %s), %s) "
            "FROM public.tenancy_domain d JOIN public.tenancy_reseller r ON r.id = d.tenant_id "
            "WHERE d.domain = %s",
            [SuspensionPolicy.SINGLETON_ID, SuspensionPolicy.CustomerView.PAGE, host],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    reseller_id, schema_name, name, slug, status, held_by_billing, customers_while_held = row
    return Instance(
        schema_name=schema_name,
        name=name,
        slug=slug,
        reseller_id=reseller_id,
        status=status,
        domain_url=host,
        held_by_billing=held_by_billing,
        customers_while_held=customers_while_held,
    )


def _check_generation() -> None:
    now = time.monotonic()
    if now - _state["checked_at"] < settings.UPLINE_ROUTING_CACHE_SECONDS:
        return
    generation = _generation_cache().get(GENERATION_KEY, 0)
    with _lock:
        if generation != _state["generation"]:
            _entries.clear()
            _state["generation"] = generation
        _state["checked_at"] = now


def resolve(host: str) -> Instance | None:
    """The instance serving `host` (already normalised), or None when no instance does."""
    if host == settings.UPLINE_BASE_DOMAIN or host in settings.UPLINE_OPERATOR_HOSTS:
        return _operator_instance(host)
    _check_generation()
    try:
        return _entries[host]
    except KeyError:
        pass
    found = _query(host)
    with _lock:
        _entries[host] = found
        if len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return found


def invalidate() -> None:
    """Forget every cached route, here and (within the interval) in every other process."""
    with _lock:
        _entries.clear()
    cache = _generation_cache()
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, 1, timeout=None)
