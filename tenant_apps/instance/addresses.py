"""Where an instance is reached: the one way to build an absolute URL on it."""

from __future__ import annotations

from django.db import connection

from . import ports


def instance_url(schema_name: str | None = None) -> str:
    """Scheme and primary domain of the instance (the current one by default)."""
    return ports.public_url(schema_name or connection.schema_name)


def absolute_url(path: str, schema_name: str | None = None) -> str:
    """`path` on the instance's public address (relative when no address is known)."""
    base = instance_url(schema_name)
    return f"{base.rstrip('/')}{path}" if base else path


def scheme_and_host(
    schema_name: str | None = None, *, fallback_host: str = "", fallback_https: bool = True
) -> tuple[str, str]:
    """("https", "acme.example.com:8443") of the instance's public address, for templates
    that build links as `{{ protocol }}://{{ domain }}…` (Django's password e-mails); the
    fallback (a request's host) only when the instance has no known address."""
    base = instance_url(schema_name)
    if base:
        scheme, _, host = base.partition("://")
        return scheme, host.rstrip("/")
    return ("https" if fallback_https else "http"), fallback_host
