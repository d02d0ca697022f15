"""Creating instances: template replay, warm pool, plain migrate, rollback, duplicates."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from provisioning import schemas
from provisioning.models import PoolSchema
from shared_apps.tenancy.models import Allocation, Domain, Reseller
from shared_apps.tenancy.services import reseller_create
from tenant_apps.instance.models import IssuerIdentity


def _create(slug, **extra):
    defaults = dict(
        name=slug.title(),
        legal_name=f"{slug.title()} Ltd",
        owner_email=f"owner@{slug}.test",
        owner_password="pw-12345-abc",
    )
    defaults.update(extra)
    return reseller_create(slug=slug, **defaults)


@pytest.mark.parametrize("method", ["template", "migrate"])
def test_new_instance_is_complete_when_built_by(db, method):
    reseller = _create("newco", method=method, allocations={"disk_gb": 50})

    assert reseller.provisioned_by == method
    assert schema_exists("r_newco")
    assert Domain.objects.get(tenant=reseller, is_primary=True).domain == "newco.upline.localhost"
    assert Allocation.objects.get(reseller=reseller, resource_id="disk_gb").quantity == 50
    with schema_context("r_newco"):
        owner = get_user_model().objects.get()
        assert owner.email == "owner@newco.test" and owner.role == "owner"
        assert owner.check_password("pw-12345-abc")
        assert IssuerIdentity.objects.get().legal_name == "Newco Ltd"


def test_new_instance_claims_a_pool_schema_when_one_is_ready(db):
    pooled = schemas.pool_schema_build()

    reseller = _create("pooled")

    assert reseller.provisioned_by == "pool"
    assert not schema_exists(pooled)
    assert not PoolSchema.objects.filter(schema_name=pooled).exists()
    with schema_context("r_pooled"):
        assert get_user_model().objects.filter(email="owner@pooled.test").exists()


def test_pool_schema_numbering_continues_after_seed_rows(db):
    """Sequences are restored, so the first rows inserted in a new instance get fresh ids."""
    _create("seqco", method="template")
    with schema_context("r_seqco"):
        from django.contrib.auth.models import Permission
        from django.contrib.contenttypes.models import ContentType

        ct = ContentType.objects.create(app_label="x", model="y")
        Permission.objects.create(name="p", codename="p", content_type=ct)


def test_nothing_is_left_behind_when_creation_fails(db, monkeypatch):
    from tenant_apps.billing import services as billing_services

    def boom(**kwargs):
        raise RuntimeError("identity service down")

    monkeypatch.setattr("shared_apps.tenancy.services.issuer_identity_set", boom)
    with pytest.raises(RuntimeError):
        _create("failco", method="template")

    assert not Reseller.objects.filter(slug="failco").exists()
    assert not schema_exists("r_failco")
    assert billing_services  # imported module is intact


def test_duplicate_slug_is_refused_with_a_field_error(instance_a):
    with pytest.raises(ValidationError) as exc:
        _create("acme")
    assert "slug" in exc.value.message_dict


def test_duplicate_custom_domain_is_refused_with_a_field_error(db):
    _create("first", custom_domains=["billing.first.example"], method="template")
    with pytest.raises(ValidationError) as exc:
        _create("second", custom_domains=["billing.first.example"], method="template")
    assert "custom_domains" in exc.value.message_dict
    assert not schema_exists("r_second")


def test_invalid_input_is_refused_before_anything_is_built(db):
    with pytest.raises(ValidationError) as exc:
        reseller_create(
            slug="Bad Slug",
            name="",
            legal_name="",
            owner_email="nope",
            allocations={"disk_gb": -1, "unicorns": 3},
        )
    errors = exc.value.message_dict
    assert set(errors) >= {"slug", "name", "legal_name", "owner_email", "allocations"}
    assert Reseller.objects.count() == 2


def test_cli_creates_a_reseller(db, capsys):
    call_command(
        "reseller_create",
        "cli-co",
        "--name",
        "CLI Co",
        "--legal-name",
        "CLI Co SA",
        "--owner-email",
        "o@cli.test",
        "--alloc",
        "disk_gb=5",
        "--domain",
        "portal.cli.example",
    )
    out = capsys.readouterr().out
    assert "Created CLI Co at cli-co.upline.localhost" in out
    reseller = Reseller.objects.get(slug="cli-co")
    assert sorted(d.domain for d in reseller.domains.all()) == [
        "cli-co.upline.localhost",
        "portal.cli.example",
    ]


def test_cli_reports_bad_input_as_a_sentence(db):
    with pytest.raises(CommandError, match="slug"):
        call_command(
            "reseller_create",
            "public",
            "--name",
            "X",
            "--legal-name",
            "X",
            "--owner-email",
            "o@x.test",
        )
    with pytest.raises(CommandError, match="RESOURCE=QUANTITY"):
        call_command(
            "reseller_create",
            "okslug",
            "--name",
            "X",
            "--legal-name",
            "X",
            "--owner-email",
            "o@x.test",
            "--alloc",
            "disk_gb=lots",
        )


def test_owner_without_password_gets_a_link_to_choose_one(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reseller = _create("linkco", owner_password=None, method="template")
    with schema_context(reseller.schema_name):
        assert not get_user_model().objects.get().has_usable_password()
    assert connection.schema_name == "public"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["owner@linkco.test"]
    assert "http://linkco.upline.localhost/accounts/reset/" in mailoutbox[0].body


def test_pool_refill_tops_up_to_the_target_and_no_further(db):
    assert schemas.pool_refill(3) == 3
    assert schemas.pool_refill(3) == 0
    assert PoolSchema.objects.count() == 3


def test_pool_refill_skips_while_another_refill_holds_the_lock(db):
    import psycopg
    from django.conf import settings as django_settings

    db_settings = django_settings.DATABASES["default"]
    other = psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        host=db_settings.get("HOST") or None,
        port=db_settings.get("PORT") or None,
        user=db_settings.get("USER") or None,
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [schemas.POOL_LOCK_KEY])
        assert schemas.pool_refill(2) == 0
    finally:
        other.close()
    assert PoolSchema.objects.count() == 0


def test_stale_pool_schemas_are_dropped_on_refill(db):
    name = schemas.pool_schema_build()
    PoolSchema.objects.filter(schema_name=name).update(version="old")
    schemas.pool_refill(1)
    assert not schema_exists(name)
    assert PoolSchema.objects.get().version == schemas.migration_version()
