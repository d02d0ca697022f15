"""First run of a new installation: the operator's first owner and its issuer identity.

An empty database (migrated by `upline_migrate`) has no one who can sign in and no issuer
to print on the operator's invoices. `operator_first_run` creates both in the public
schema (the operator's own instance) in one transaction, and only once: when the
operator's instance already has an owner or an issuer identity it refuses with a sentence
and writes nothing. `manage.py upline_first_run` asks for the details (or takes them from
flags) and calls it; the field cleaners below are what it checks each answer with, so a
prompt can ask again at once instead of failing at the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django_countries import countries
from django_tenants.utils import get_public_schema_name, schema_context

from tenant_apps.accounts.models import Role, User
from tenant_apps.billing.issuer import missing_issuer_details
from tenant_apps.billing.taxes import EU_COUNTRIES
from tenant_apps.clients.tax_ids import normalise_tax_id
from tenant_apps.instance import audit
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.models import IssuerIdentity, validate_time_zone
from tenant_apps.instance.money import validate_currency
from tenant_apps.instance.services import issuer_identity_set

INSTALLATION_SET_UP = audit.event_type("installation.set_up", "Installation set up")
# Any constant both runs agree on: two first runs at once queue here, the second refuses.
_FIRST_RUN_LOCK = 0x55504C4E  # "UPLN"


class AlreadySetUp(DomainError):
    """The operator's instance has an owner or an issuer identity: first run is over."""

    code = "already_set_up"
    status_code = 409


class NotMigrated(DomainError):
    """The public schema has no tables yet."""

    code = "not_migrated"
    status_code = 409


@dataclass(frozen=True)
class FirstRunDetails:
    """What the first run needs; `tax_id` may be empty outside the EU."""

    owner_email: str
    password: str
    legal_name: str
    address_line1: str
    postal_code: str
    city: str
    country: str
    owner_name: str = ""
    trading_name: str = ""
    address_line2: str = ""
    tax_id: str = ""
    registration_number: str = ""
    email: str = ""  # where customers write about invoices; the owner's e-mail when empty
    currency: str = "EUR"
    time_zone: str = ""


# ---------------------------------------------------------------------------------------
# Field cleaners: each returns the stored form or raises ValidationError with one sentence.


def clean_required(value: str, label: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"Enter the {label}.")
    return value


def clean_email(value: str, label: str = "e-mail address") -> str:
    value = (value or "").strip().lower()
    if not value:
        raise ValidationError(f"Enter the {label}.")
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValidationError(f"“{value}” is not an e-mail address.") from exc
    return value


def clean_country(value: str) -> str:
    """An ISO 3166 code ("FR", "fr") or an English name ("France") → "FR"."""
    value = (value or "").strip()
    if not value:
        raise ValidationError("Enter the country (a two-letter code such as FR).")
    code = countries.alpha2(value) or countries.by_name(value)
    if not code:
        raise ValidationError(
            f"“{value}” is not a country we know: use a two-letter ISO code such as FR or DE."
        )
    return code


def clean_tax_id(value: str, country: str) -> str:
    """The stored form of the issuer's VAT id; required for an issuer in the EU."""
    value = (value or "").strip()
    if not value:
        if country in EU_COUNTRIES:
            raise ValidationError(
                f"Enter the VAT identification number: every invoice of an issuer in "
                f"{countries.name(country)} must show it."
            )
        return ""
    normalised = normalise_tax_id(value, country)
    if country in EU_COUNTRIES and not normalised.is_eu_vat:
        raise ValidationError(f"“{value}” is not an EU VAT identification number.")
    return normalised.value


def clean_currency(value: str) -> str:
    return validate_currency(value or "EUR")


def clean_time_zone(value: str) -> str:
    value = (value or "").strip()
    validate_time_zone(value)
    return value


def clean_password(password: str, *, email: str, full_name: str = "") -> str:
    """Django's password validators (length, common, numeric, similar to the e-mail)."""
    if not password:
        raise ValidationError("Enter a password.")
    password_validation.validate_password(password, User(email=email, full_name=full_name))
    return password


def clean_details(details: FirstRunDetails) -> FirstRunDetails:
    """Every field cleaned; a ValidationError maps each wrong field to its sentences."""
    problems: dict[str, list[str]] = {}
    values = asdict(details)

    def attempt(field: str, cleaner, *args, **kwargs) -> None:
        try:
            values[field] = cleaner(values[field], *args, **kwargs)
        except ValidationError as exc:
            problems[field] = exc.messages

    attempt("owner_email", clean_email, "owner's e-mail address")
    values["owner_name"] = (values["owner_name"] or "").strip()
    attempt("legal_name", clean_required, "full legal name")
    attempt("address_line1", clean_required, "street address")
    attempt("postal_code", clean_required, "postal code")
    attempt("city", clean_required, "city")
    attempt("country", clean_country)
    if "country" not in problems:
        attempt("tax_id", clean_tax_id, values["country"])
    if values["email"]:
        attempt("email", clean_email, "billing e-mail address")
    elif "owner_email" not in problems:
        values["email"] = values["owner_email"]
    attempt("currency", clean_currency)
    attempt("time_zone", clean_time_zone)
    if "owner_email" not in problems:
        attempt("password", clean_password, email=values["owner_email"])
    for field in ("trading_name", "address_line2", "registration_number"):
        values[field] = (values[field] or "").strip()
    if problems:
        raise ValidationError(problems)
    return FirstRunDetails(**values)


# ---------------------------------------------------------------------------------------


def first_run_refusal() -> DomainError | None:
    """Why the first run cannot run here (its sentence is the message), or None."""
    with schema_context(get_public_schema_name()):
        if "accounts_user" not in connection.introspection.table_names():
            return NotMigrated(
                "The database is not set up yet: run `python manage.py upline_migrate` first, "
                "then run upline_first_run again."
            )
        owner = User.objects.filter(role=Role.OWNER).order_by("pk").first()
        if owner is not None:
            return AlreadySetUp(
                f"Upline is already set up: the operator's owner is {owner.email}. "
                "upline_first_run only sets up an empty installation; add staff from the "
                "console's Team screen."
            )
        if IssuerIdentity.objects.exists():
            return AlreadySetUp(
                "Upline is already set up: the operator's issuer identity exists. "
                "upline_first_run only sets up an empty installation."
            )
    return None


@dataclass(frozen=True)
class FirstRunResult:
    owner_email: str
    legal_name: str
    country: str


def operator_first_run(*, details: FirstRunDetails, actor: str = "command") -> FirstRunResult:
    """Create the operator's first owner and issuer identity, both or neither.

    Raises AlreadySetUp or NotMigrated (nothing written), or ValidationError naming each
    wrong field (nothing written).
    """
    cleaned = clean_details(details)
    with schema_context(get_public_schema_name()), transaction.atomic():
        with connection.cursor() as cursor:
            # Held until commit: a second run started meanwhile waits, then refuses below.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FIRST_RUN_LOCK])
        refusal = first_run_refusal()
        if refusal is not None:
            raise refusal
        owner = User.objects.create_user(
            email=cleaned.owner_email,
            password=cleaned.password,
            full_name=cleaned.owner_name,
            role=Role.OWNER,
        )
        identity_fields = {
            name: getattr(cleaned, name)
            for name in (
                "trading_name",
                "address_line1",
                "address_line2",
                "postal_code",
                "city",
                "country",
                "tax_id",
                "registration_number",
                "email",
                "currency",
                "time_zone",
            )
        }
        identity = issuer_identity_set(
            legal_name=cleaned.legal_name, actor=actor, **identity_fields
        )
        # The same rules billing applies before every invoice: the operator can invoice
        # from the first minute, or the run writes nothing.
        missing = missing_issuer_details(identity)
        if missing:
            raise ValidationError(
                {"legal_name": [f"The issuer identity still lacks: {', '.join(missing)}."]}
            )
        audit.audit_record(
            INSTALLATION_SET_UP,
            actor=actor,
            obj=owner,
            detail={"owner": owner.email, "issuer": identity.legal_name},
        )
    return FirstRunResult(
        owner_email=owner.email, legal_name=identity.legal_name, country=identity.country
    )
