"""Validation of reseller slugs, schema names and host names.

Schema names reach SQL (CREATE/ALTER SCHEMA, SET search_path), so they are validated by a
strict allow-list, not by escaping: lowercase ASCII letters, digits and underscores, 63
bytes at most, never a name PostgreSQL or Upline reserves for itself.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError

SCHEMA_PREFIX = "r_"
TEMPLATE_SCHEMA = "_template"
POOL_SCHEMA_PREFIX = "_pool_"
MAX_SCHEMA_LENGTH = 63
MAX_SLUG_LENGTH = 40

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]*\Z")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")
_HOST_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")

RESERVED_SCHEMAS = {"public", "information_schema", TEMPLATE_SCHEMA}
# Sub-domains of the base domain that must never be handed to a reseller.
RESERVED_SLUGS = {
    "www",
    "api",
    "admin",
    "console",
    "operator",
    "static",
    "media",
    "mail",
    "smtp",
    "imap",
    "ftp",
    "ns1",
    "ns2",
    "public",
    "template",
    "pool",
    "support",
    "status",
    "billing",
    "app",
}


def validate_schema_name(name: str, *, allow_internal: bool = False) -> str:
    """Return `name` if it is a schema an instance may live in, else raise ValidationError."""
    if not isinstance(name, str) or not name:
        raise ValidationError("A schema name is required.", code="schema_required")
    if len(name.encode()) > MAX_SCHEMA_LENGTH:
        raise ValidationError(
            f"Schema names are at most {MAX_SCHEMA_LENGTH} characters.", code="schema_too_long"
        )
    if not _SCHEMA_RE.match(name):
        raise ValidationError(
            "Schema names use lowercase letters, digits and underscores only.",
            code="schema_invalid",
        )
    if name.startswith("pg_"):
        raise ValidationError("Names starting with pg_ belong to PostgreSQL.", code="schema_pg")
    if not allow_internal and (name in RESERVED_SCHEMAS or name.startswith(POOL_SCHEMA_PREFIX)):
        raise ValidationError(f"“{name}” is reserved by Upline.", code="schema_reserved")
    return name


def validate_slug(slug: str) -> str:
    """A reseller slug is a DNS label: it names both the sub-domain and the schema."""
    if not isinstance(slug, str) or not slug:
        raise ValidationError("Choose a short name (slug) for the reseller.", code="slug_required")
    if len(slug) > MAX_SLUG_LENGTH:
        raise ValidationError(
            f"The slug is at most {MAX_SLUG_LENGTH} characters.", code="slug_too_long"
        )
    if not _SLUG_RE.match(slug):
        raise ValidationError(
            "Use lowercase letters, digits and inner hyphens only (e.g. “acme-hosting”).",
            code="slug_invalid",
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"“{slug}” is reserved; choose another slug.", code="slug_reserved")
    return slug


def schema_name_for_slug(slug: str) -> str:
    validate_slug(slug)
    return validate_schema_name(SCHEMA_PREFIX + slug.replace("-", "_"))


def primary_domain_for_slug(slug: str) -> str:
    return f"{slug}.{settings.UPLINE_BASE_DOMAIN}"


def normalize_host(host: str) -> str:
    """Lowercase, strip the port and a trailing dot; does not validate."""
    host = (host or "").strip().lower()
    if host.startswith("["):  # IPv6 literal: never an instance host
        return host
    return host.split(":", 1)[0].rstrip(".")


def validate_custom_domain(domain: str) -> str:
    """A reseller's own domain (e.g. billing.acme.com); must not sit under the base domain."""
    domain = normalize_host(domain)
    if not domain or len(domain) > 253:
        raise ValidationError("Enter a domain name such as billing.example.com.", code="domain")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise ValidationError(
            f"“{domain}” is not a valid domain name (e.g. billing.example.com).", code="domain"
        )
    if labels[-1].isdigit():
        raise ValidationError("Use a domain name, not an IP address.", code="domain_ip")
    base = settings.UPLINE_BASE_DOMAIN
    if domain == base or domain.endswith("." + base):
        raise ValidationError(
            f"Domains under {base} are assigned by Upline; enter your own domain.",
            code="domain_reserved",
        )
    return domain
