"""Slugs and schema names: only safe, non-reserved names ever reach SQL."""

import pytest
from django.core.exceptions import ValidationError

from shared_apps.tenancy.naming import (
    schema_name_for_slug,
    validate_custom_domain,
    validate_schema_name,
    validate_slug,
)


@pytest.mark.parametrize(
    "name",
    [
        "public",
        "_template",
        "information_schema",
        "pg_catalog",
        "pg_anything",
        "_pool_abc123",
        "r_acme; DROP SCHEMA public CASCADE",
        'r_acme"; --',
        "acme'--",
        "R_Upper",
        "r acme",
        "r_" + "x" * 62,
        "",
        "1starts_with_digit",
    ],
)
def test_schema_name_is_rejected_when_reserved_or_unsafe(name):
    with pytest.raises(ValidationError):
        validate_schema_name(name)


def test_schema_name_of_63_bytes_is_accepted_and_64_is_not():
    validate_schema_name("r_" + "a" * 61)
    with pytest.raises(ValidationError):
        validate_schema_name("r_" + "a" * 62)


@pytest.mark.parametrize(
    "slug",
    [
        "www",
        "admin",
        "-acme",
        "acme-",
        "ac_me",
        "Acme",
        "acme.test",
        "a" * 41,
        "",
        "pg_x",
        "x'; drop table",
        "ünicode",
    ],
)
def test_slug_is_rejected_when_not_a_safe_dns_label(slug):
    with pytest.raises(ValidationError):
        validate_slug(slug)


def test_slug_maps_to_prefixed_schema_with_underscores():
    assert schema_name_for_slug("acme-hosting") == "r_acme_hosting"
    assert schema_name_for_slug("pg") == "r_pg"


@pytest.mark.parametrize(
    "domain",
    [
        "localhost",
        "10.0.0.1",
        "acme.upline.localhost",
        "upline.localhost",
        "bad_domain.com",
        "-x.com",
        "a..b.com",
    ],
)
def test_custom_domain_is_rejected_when_invalid_or_under_base_domain(domain):
    with pytest.raises(ValidationError):
        validate_custom_domain(domain)


def test_custom_domain_is_normalised():
    assert validate_custom_domain("Billing.Example.COM.") == "billing.example.com"
