"""Test fixtures: instances are built ONCE per session; each test runs in a rolled-back transaction.

Two reseller instances (A = acme, B = bluebird) and the operator's own instance (public
schema) are committed when the test database is created, each with an owner, a support
agent and a customer. Tests get fresh ORM objects for them and run inside a transaction
that is rolled back, so nothing a test writes survives it — schemas included, since
PostgreSQL DDL is transactional.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from provisioning import schemas
from shared_apps.tenancy import routing
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import reseller_create
from tenant_apps.accounts.models import Role
from tenant_apps.instance.services import issuer_identity_set

PASSWORD = "correct-horse-battery"
# What Art. 226 of the VAT Directive requires of an issuer (billing refuses to issue without).
ISSUER_ADDRESS = {"address_line1": "1 rue de la Paix", "postal_code": "75001", "city": "Paris"}
ISSUER_VAT_IDS = {None: "FR40303265045", "acme": "FR64443061841", "bluebird": "FR76512879438"}
OPERATOR_HOST = settings.UPLINE_BASE_DOMAIN


@dataclass
class InstanceInfo:
    """Handles on one committed test instance (users are e-mails: fetch in the schema)."""

    schema_name: str
    host: str
    owner: str
    support: str
    customer: str
    slug: str = ""

    def reseller(self) -> Reseller | None:
        return Reseller.objects.get(slug=self.slug) if self.slug else None


def _seed_users(domain_part: str) -> None:
    User = get_user_model()
    User.objects.create_user(email=f"owner@{domain_part}", password=PASSWORD, role=Role.OWNER)
    User.objects.create_user(email=f"support@{domain_part}", password=PASSWORD, role=Role.SUPPORT)
    User.objects.create_user(email=f"customer@{domain_part}", password=PASSWORD, role=Role.CUSTOMER)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        # pytest-django sets up no database when no collected test asks for one; never seed
        # a real database by accident.
        assert connection.settings_dict["NAME"].startswith("test_"), "not a test database"
        schemas.template_rebuild()
        _seed_users("operator.test")
        get_user_model().objects.filter(email="owner@operator.test").update(
            is_superuser=True, is_django_admin=True
        )
        issuer_identity_set(
            legal_name="Operator SAS", country="FR", tax_id=ISSUER_VAT_IDS[None], **ISSUER_ADDRESS
        )
        for slug in ("acme", "bluebird"):
            reseller_create(
                slug=slug,
                name=slug.title(),
                legal_name=f"{slug.title()} Ltd",
                owner_email=f"boss@{slug}.test",
                owner_password=PASSWORD,
                method="template",
                allocations={"disk_gb": 100, "hosting_accounts": 10},
            )
            with schema_context(f"r_{slug}"):
                _seed_users(f"{slug}.test")
                issuer_identity_set(
                    legal_name=f"{slug.title()} Ltd",
                    country="FR",
                    tax_id=ISSUER_VAT_IDS[slug],
                    **ISSUER_ADDRESS,
                )
        connection.set_schema_to_public()
    yield


def _info(slug: str | None) -> InstanceInfo:
    if slug is None:
        part = "operator.test"
        return InstanceInfo(
            "public", OPERATOR_HOST, f"owner@{part}", f"support@{part}", f"customer@{part}"
        )
    part = f"{slug}.test"
    return InstanceInfo(
        f"r_{slug}",
        f"{slug}.{OPERATOR_HOST}",
        f"owner@{part}",
        f"support@{part}",
        f"customer@{part}",
        slug=slug,
    )


@pytest.fixture
def instance_a(db) -> InstanceInfo:
    return _info("acme")


@pytest.fixture
def instance_b(db) -> InstanceInfo:
    return _info("bluebird")


@pytest.fixture
def operator(db) -> InstanceInfo:
    return _info(None)


@pytest.fixture(scope="session", autouse=True)
def _media_in_a_temporary_folder(tmp_path_factory):
    """Stored PDFs and uploads of the test run never land in the project's .var/media."""
    from django.conf import settings as django_settings

    django_settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True)
def _no_network_vat_registry():
    """No network in tests: the VAT registry is "down" unless a test plugs another checker."""
    from tenant_apps.clients.ports import vat_checker
    from tests.test_clients_vies import UnreachableChecker

    vat_checker.plug(UnreachableChecker)
    yield
    vat_checker.plug(UnreachableChecker)


@pytest.fixture(autouse=True)
def _empty_default_cache():
    """API throttles and password-mail limits count in the default cache, which the
    rolled-back transaction does not undo: each test starts with every allowance whole."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _clean_routing_and_schema():
    routing.invalidate()
    yield
    connection.set_schema_to_public()


def client_for(info: InstanceInfo, email: str | None = None) -> Client:
    """A browser on `info`'s host, signed in as `email` (a session of that instance).

    Signed in fully: where the user owes a second factor (the operator's staff, the Django
    admin, anyone who set one up) they get an app and the session has passed that step, as
    after typing its code (tests/test_two_factor.py signs in step by step instead).
    """
    client = Client(HTTP_HOST=info.host)
    if email:
        with schema_context(info.schema_name):
            user = get_user_model().objects.get(email=email)
            client.force_login(user)
            pass_second_step(client, user)
    return client


def pass_second_step(client: Client, user) -> None:
    """Mark `client`'s session (in the current schema) as having passed the second step."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenant_apps.accounts import selectors

    device = selectors.two_factor_device(user)
    if device is None:
        if not (selectors.two_factor_required(user) or user.is_staff):
            return
        device = TOTPDevice.objects.create(user=user, name="test app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.fixture
def make_client():
    return client_for
