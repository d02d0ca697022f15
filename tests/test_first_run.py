"""`manage.py upline_first_run`: the operator's first owner and issuer identity, once.

The test database is already set up (conftest commits an owner and an identity in the
public schema), so each test that needs an empty installation removes them inside its own
rolled-back transaction.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from tenant_apps.accounts.models import Role
from tenant_apps.instance.models import AuditEvent, IssuerIdentity

PASSWORD = "a-long-and-unusual-passphrase-7"
FLAGS = [
    "--no-input",
    "--owner-email=Olivia@Example.com",
    "--owner-name=Olivia Operator",
    "--legal-name=Example Hosting SAS",
    "--address=12 quai Perrache",
    "--postal-code=69002",
    "--city=Lyon",
    "--country=fr",
    "--vat-id=FR 40 303 265 045",
    "--currency=eur",
]


@pytest.fixture
def empty_installation(operator, monkeypatch):
    """The operator's instance as a fresh database has it: no owner, no identity."""
    with schema_context("public"):
        get_user_model().objects.filter(role=Role.OWNER).delete()
        IssuerIdentity.objects.all().delete()
    monkeypatch.setenv("UPLINE_OWNER_PASSWORD", PASSWORD)


def _run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    options = {"stdout": out, "stderr": out}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command("upline_first_run", *args, **options)
    return out.getvalue()


def _owner():
    with schema_context("public"):
        return get_user_model().objects.get(role=Role.OWNER)


def _identity() -> IssuerIdentity:
    with schema_context("public"):
        return IssuerIdentity.objects.get()


def test_flags_create_a_signed_in_able_owner_and_a_complete_identity(empty_installation):
    output = _run(*FLAGS)

    owner = _owner()
    assert owner.email == "olivia@example.com"
    assert owner.full_name == "Olivia Operator"
    assert owner.is_instance_staff and owner.check_password(PASSWORD)
    identity = _identity()
    assert (identity.legal_name, identity.country, identity.tax_id, identity.currency) == (
        "Example Hosting SAS",
        "FR",
        "FR40303265045",
        "EUR",
    )
    assert identity.email == "olivia@example.com"  # billing e-mail defaults to the owner's
    with schema_context("public"):
        assert AuditEvent.objects.filter(action="installation.set_up").count() == 1
    assert "Upline is set up" in output
    login = f"://{settings.UPLINE_BASE_DOMAIN}/accounts/login/"
    assert login in output
    assert "two-factor" in output and "Mail" in output and "UPLINE_STRIPE_SECRET_KEY" in output


def test_the_owner_can_sign_in_on_the_base_domain_after_the_first_run(empty_installation):
    _run(*FLAGS)
    client = Client(HTTP_HOST=settings.UPLINE_BASE_DOMAIN)
    response = client.post(
        "/accounts/login/", {"username": "olivia@example.com", "password": PASSWORD}, follow=True
    )
    # The operator's staff owe a second factor: the first sign-in ends at its set-up.
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith("/accounts/two-factor/set-up/")


def test_answers_typed_at_the_prompts_set_up_the_installation(empty_installation):
    answers = "\n".join(
        [
            "owner@example.com",  # e-mail
            PASSWORD,
            PASSWORD,  # password, twice
            "Olivia Operator",
            "Example Hosting GmbH",
            "",  # trading name (optional)
            "Hafenstraße 3",
            "",  # address line 2
            "20457",
            "Hamburg",
            "Germany",  # a country's name works too
            "DE136695976",
            "",  # registration number
            "",  # billing e-mail: the owner's
            "",  # currency: EUR
            "Europe/Berlin",
        ]
    )
    output = _run(stdin=answers + "\n")

    assert _owner().email == "owner@example.com"
    identity = _identity()
    assert (identity.country, identity.tax_id, identity.time_zone) == (
        "DE",
        "DE136695976",
        "Europe/Berlin",
    )
    assert "Owner's password:" in output and "Upline is set up" in output


def test_a_wrong_answer_is_explained_and_asked_again(empty_installation):
    answers = "\n".join(
        [
            "not-an-email",
            "owner@example.com",
            "123",  # too short, too common, numeric
            PASSWORD,
            "different",  # confirmation differs: both asked again
            PASSWORD,
            PASSWORD,
            "",
            "Example Hosting SAS",
            "",
            "12 quai Perrache",
            "",
            "69002",
            "Lyon",
            "ZZ",
            "FR",
            "FR00000000000",
            "FR40303265045",
            "",
            "",
            "ABC",
            "EUR",
            "Mars/Olympus",
            "",
        ]
    )
    output = _run(stdin=answers + "\n")

    assert "“not-an-email” is not an e-mail address." in output
    assert "This password is too short" in output
    assert "The two passwords differ" in output
    assert "“ZZ” is not a country we know" in output
    assert "is not a valid VAT id for France" in output
    assert "“ABC” is not a currency code we know" in output
    assert "“Mars/Olympus” is not a time zone we know" in output
    assert _identity().tax_id == "FR40303265045"
    assert _owner().check_password(PASSWORD)


def test_a_second_run_is_refused_with_a_sentence_and_exit_code_3(empty_installation):
    _run(*FLAGS)

    with pytest.raises(CommandError) as refused:
        _run(*[flag.replace("Olivia@", "someone-else@") for flag in FLAGS])

    assert refused.value.returncode == 3
    assert "already set up" in str(refused.value) and "olivia@example.com" in str(refused.value)
    with schema_context("public"):
        assert get_user_model().objects.filter(role=Role.OWNER).count() == 1


def test_an_installation_with_only_an_identity_is_refused_too(empty_installation):
    with schema_context("public"):
        IssuerIdentity.objects.create(legal_name="Set up by hand")

    with pytest.raises(CommandError) as refused:
        _run(*FLAGS)

    assert refused.value.returncode == 3
    with schema_context("public"):
        assert not get_user_model().objects.filter(email="olivia@example.com").exists()


@pytest.mark.parametrize(
    "flag, sentence",
    [
        ("--owner-email=olivia-at-example", "--owner-email: “olivia-at-example” is not an e-mail"),
        ("--country=Atlantis", "--country: “Atlantis” is not a country we know"),
        ("--vat-id=FR123", "--vat-id: “FR123” is not a valid VAT id for France"),
        ("--vat-id=", "--vat-id: Enter the VAT identification number"),
        ("--billing-email=billing@", "--billing-email: “billing@” is not an e-mail address."),
    ],
)
def test_bad_flags_name_the_flag_exit_2_and_create_nothing(empty_installation, flag, sentence):
    name = flag.split("=")[0]
    args = [f for f in FLAGS if not f.startswith(name + "=")] + [flag]

    with pytest.raises(CommandError) as refused:
        _run(*args)

    assert refused.value.returncode == 2
    assert sentence in str(refused.value)
    assert "Nothing was created." in str(refused.value)
    with schema_context("public"):
        assert not get_user_model().objects.filter(role=Role.OWNER).exists()
        assert not IssuerIdentity.objects.exists()


def test_no_input_without_the_password_variable_is_refused(empty_installation, monkeypatch):
    monkeypatch.delenv("UPLINE_OWNER_PASSWORD")

    with pytest.raises(CommandError) as refused:
        _run(*FLAGS)

    assert refused.value.returncode == 2
    assert "UPLINE_OWNER_PASSWORD" in str(refused.value)


def test_no_input_names_every_missing_flag(empty_installation):
    with pytest.raises(CommandError) as refused:
        _run("--no-input", "--owner-email=o@example.com")

    assert refused.value.returncode == 2
    assert "--legal-name, --address, --postal-code, --city, --country" in str(refused.value)


def test_a_failure_after_the_owner_is_written_leaves_neither_behind(
    empty_installation, monkeypatch
):
    """The identity write fails after the owner row exists: the transaction takes both."""
    from shared_apps.tenancy import first_run

    def broken_identity(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(first_run, "issuer_identity_set", broken_identity)

    with pytest.raises(RuntimeError):
        _run(*FLAGS)

    with schema_context("public"):
        assert not get_user_model().objects.filter(email="olivia@example.com").exists()
        assert not IssuerIdentity.objects.exists()


def test_input_that_ends_early_creates_nothing(empty_installation):
    with pytest.raises(CommandError) as refused:
        _run(stdin="owner@example.com\n")

    assert refused.value.returncode == 2
    assert "nothing was created" in str(refused.value)
    with schema_context("public"):
        assert not get_user_model().objects.filter(role=Role.OWNER).exists()


def test_the_real_process_exits_3_on_a_database_already_set_up(db):
    """The committed test database has its owner: a real run says so and exits 3."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "UPLINE_OWNER_PASSWORD": PASSWORD,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "upline_first_run", *FLAGS],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=120,
    )

    assert done.returncode == 3
    assert "Upline is already set up: the operator's owner is owner@operator.test" in done.stderr
