"""Validation of reseller slugs and host names (schema names: `provisioning.schema_names`)."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from provisioning.schema_names import (  # noqa: F401  (re-exported for tenancy's callers)
    MAX_SCHEMA_LENGTH,
    POOL_SCHEMA_PREFIX,
    RESERVED_SCHEMAS,
    SCHEMA_PREFIX,
    TEMPLATE_SCHEMA,
    validate_schema_name,
)

MAX_SLUG_LENGTH = 40

_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")
_HOST_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")

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


def validate_slug(slug: str) -> str:
    """A reseller slug is a DNS label: it names both the sub-domain and the schema."""
    if not isinstance(slug, str) or not slug:
        raise ValidationError(
            _("Choose a short name (slug) for the reseller."), code="slug_required"
        )
    if len(slug) > MAX_SLUG_LENGTH:
        raise ValidationError(
            _("The slug is at most %(MAX_SLUG_LENGTH)s characters.")
            % {"MAX_SLUG_LENGTH": MAX_SLUG_LENGTH},
            code="slug_too_long",
        )
    if not _SLUG_RE.match(slug):
        raise ValidationError(
            _("Use lowercase letters, digits and inner hyphens only (e.g. “acme-hosting”)."),
            code="slug_invalid",
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError(
            _("“%(slug)s” is reserved; choose another slug.") % {"slug": slug}, code="slug_reserved"
        )
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
        raise ValidationError(_("Enter a domain name such as billing.example.com."), code="domain")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise ValidationError(
            _("“%(domain)s” is not a valid domain name (e.g. billing.example.com).")
            % {"domain": domain},
            code="domain",
        )
    if labels[-1].isdigit():
        raise ValidationError(_("Use a domain name, not an IP address."), code="domain_ip")
    base = settings.UPLINE_BASE_DOMAIN
    if domain == base or domain.endswith("." + base):
        raise ValidationError(
            _("Domains under %(base)s are assigned by Upline; enter your own domain.")
            % {"base": base},
            code="domain_reserved",
        )
    return domain
