"""Every write to customers and their contacts: create, update, close, tax id checks, invites.

Rules kept here and nowhere else:
- all input is validated before anything is written; errors are
  `ValidationError({field: [sentence]})` and leave the database untouched;
- a tax id is stored normalised (EU VAT ids compact, with their VIES prefix); a changed EU
  VAT id is checked with the VIES registry before the row is written, outside any row lock,
  so a slow registry never blocks billing; an unreachable registry leaves it `unverified`
  (the `tax_ids_recheck` task asks again later);
- `credit_balance` belongs to billing: these services never write it (updates save only the
  fields they change, under the customer's row lock);
- every write records one event in the instance's audit trail (`instance.audit`), on the
  customer (or the contact) with the customer's id, so the customer page lists them all;
- the customer's status moves only along `Customer.pipeline` (active ⇄ closed);
- a customer's tax terms (`TAX_TERMS_FIELDS`) are changed only by users who
  `can_change_tax_terms` (the billing roles), or the customer's own tax id by the customer:
  `tax_terms_guard` is the one rule, for screens and API alike.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext
from django_countries import countries

from tenant_apps.accounts.models import Role, User
from tenant_apps.accounts.permissions import NOT_TAX_TERMS
from tenant_apps.accounts.services import user_send_password_link
from tenant_apps.accounts.throttling import INVITATION, password_mail_reserve
from tenant_apps.instance import audit
from tenant_apps.instance.money import validate_currency
from tenant_apps.instance.pipelines import InvalidTransition, transition
from tenant_apps.instance.selectors import issuer_identity_get

from . import ports
from .models import Contact, Customer, TaxIdCheck
from .selectors import customer_language
from .tax_ids import TaxId, is_eu_vat_id, normalise_tax_id
from .vies import VatServiceUnavailable, get_vat_checker

# What staff (and the API) may set on a customer. Status, credit, tax id status, the portal
# login and the operator's reseller link are changed by their own services only.
EDITABLE_FIELDS = (
    "kind",
    "name",
    "company_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "currency",
    "language",
    "tax_id",
    "tax_exempt",
    "tax_exempt_reason",
    "notes",
)
CONTACT_FIELDS = ("name", "email", "phone", "role", "receives_invoices")
# What decides how a customer is taxed and in which currency they are billed.
TAX_TERMS_FIELDS = ("currency", "tax_id", "tax_id_status", "tax_exempt", "tax_exempt_reason")
_TAX_STATE_FIELDS = ("tax_id_status", "tax_id_checked_at", "tax_id_check_detail")
# Services and invoices that keep a customer open (string values: orders and billing own them).
_LIVE_SERVICE_STATUSES = ("pending", "active", "suspended")
_UNPAID_INVOICE_STATUSES = ("issued", "partially_paid")
UNREACHABLE_PREFIX = "VIES unreachable at"


CUSTOMER_CREATED = audit.event_type("customer.created", gettext_noop("Customer added"))
CUSTOMER_UPDATED = audit.event_type("customer.updated", gettext_noop("Details changed"))
CUSTOMER_TAX_ID_CHECKED = audit.event_type(
    "customer.tax_id_checked", gettext_noop("Tax id checked")
)
CUSTOMER_CLOSED = audit.event_type("customer.closed", gettext_noop("Closed"))
CUSTOMER_REOPENED = audit.event_type("customer.reopened", gettext_noop("Reopened"))
CUSTOMER_PORTAL_INVITED = audit.event_type(
    "customer.portal_invited", gettext_noop("Invited to the portal")
)
CONTACT_ADDED = audit.event_type("contact.added", gettext_noop("Contact added"))
CONTACT_UPDATED = audit.event_type("contact.updated", gettext_noop("Contact changed"))
CONTACT_REMOVED = audit.event_type("contact.removed", gettext_noop("Contact removed"))


def _move(customer: Customer, to: str) -> str:
    """Move the customer's status along its pipeline; a refusal is a form error on `status`."""
    try:
        return transition(customer, to)
    except InvalidTransition as exc:
        raise ValidationError({"status": [str(exc)]}) from exc


def _max_length(model, field: str) -> int | None:
    return getattr(model._meta.get_field(field), "max_length", None)


def _check_lengths(model, data: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    for field, value in data.items():
        limit = _max_length(model, field)
        if limit and isinstance(value, str) and len(value) > limit and field not in errors:
            errors[field] = [
                (
                    _("Use at most %(limit)s characters (this has %(count)s).")
                    % {"limit": limit, "count": len(value)}
                )
            ]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# --------------------------------------------------------------------------------------
# Who may change what


def tax_terms_guard(*, actor, customer: Customer | None, fields: Iterable[str]) -> None:
    """Refuse (PermissionDenied, a 403) a change of the customer's tax terms by someone who
    may not make it; called before anything is checked remotely or written.

    Billing roles change them; support staff read them; a customer may state their own tax
    id (the registry, not they, decides its status); the system (no user) is trusted.
    """
    touched = set(fields) & set(TAX_TERMS_FIELDS)
    if not touched:
        return
    user = getattr(actor, "user", actor)  # a user, or a user acting through an API key
    if not isinstance(user, User) or user.can_change_tax_terms:
        return
    own_record = customer is not None and customer.user_id == user.pk and user.is_customer
    if own_record and touched <= {"tax_id"}:
        return
    raise PermissionDenied(NOT_TAX_TERMS)


# --------------------------------------------------------------------------------------
# Validation


def _validated(values: Mapping[str, Any]) -> tuple[dict[str, Any], TaxId]:
    """All editable fields of a customer, cleaned; raises ValidationError with every problem."""
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {
        field: _text(values.get(field)) for field in EDITABLE_FIELDS if field != "tax_exempt"
    }
    data["tax_exempt"] = bool(values.get("tax_exempt"))
    data["country"] = data["country"].upper()

    if data["kind"] not in Customer.Kind.values:
        errors["kind"] = [_("Choose person or company.")]
    if not data["name"]:
        errors["name"] = [_("Enter the customer's name.")]
    if data["kind"] == Customer.Kind.COMPANY and not data["company_name"]:
        errors["company_name"] = [_("A company needs its legal company name.")]
    if not data["email"]:
        errors["email"] = [_("Enter the customer's e-mail address.")]
    else:
        try:
            validate_email(data["email"])
        except ValidationError:
            errors["email"] = [
                (_("“%(email)s” is not a valid e-mail address.") % {"email": data["email"]})
            ]
    if not data["country"]:
        errors["country"] = [_("Choose the customer's country.")]
    elif data["country"] not in countries:
        errors["country"] = [
            (_("“%(country)s” is not a country code we know.") % {"country": data["country"]})
        ]
    try:
        data["currency"] = validate_currency(data["currency"])
    except ValidationError as exc:
        errors["currency"] = exc.messages
    if data["language"] not in dict(settings.LANGUAGES):
        errors["language"] = [
            (_("“%(language)s” is not a language we offer.") % {"language": data["language"]})
        ]
    tax_id = TaxId("", is_eu_vat=False)
    if "country" not in errors:
        try:
            tax_id = normalise_tax_id(data["tax_id"], data["country"])
        except ValidationError as exc:
            errors["tax_id"] = exc.messages
        else:
            data["tax_id"] = tax_id.value
    _check_lengths(Customer, data, errors)
    if errors:
        raise ValidationError(errors)
    return data, tax_id


def _validated_contact(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(CONTACT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown contact fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {f: _text(values.get(f)) for f in CONTACT_FIELDS[:-1]}
    data["receives_invoices"] = bool(values.get("receives_invoices"))
    if not data["name"]:
        errors["name"] = [_("Enter the contact's name.")]
    if not data["email"]:
        errors["email"] = [_("Enter the contact's e-mail address.")]
    else:
        try:
            validate_email(data["email"])
        except ValidationError:
            errors["email"] = [
                (_("“%(email)s” is not a valid e-mail address.") % {"email": data["email"]})
            ]
    _check_lengths(Contact, data, errors)
    if errors:
        raise ValidationError(errors)
    return data


def _current_values(customer: Customer) -> dict[str, Any]:
    values = {field: getattr(customer, field) for field in EDITABLE_FIELDS}
    values["country"] = str(customer.country or "")
    return values


# --------------------------------------------------------------------------------------
# Tax id checks


def _stamp(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _tax_id_state(tax_id: TaxId, country: str) -> dict[str, Any]:
    """The tax id status fields for a newly entered tax id (asks VIES for EU VAT ids)."""
    if not tax_id.value:
        return {
            "tax_id_status": Customer.TaxIdStatus.NONE,
            "tax_id_checked_at": None,
            "tax_id_check_detail": "",
        }
    if not tax_id.is_eu_vat:
        return {
            "tax_id_status": Customer.TaxIdStatus.UNVERIFIED,
            "tax_id_checked_at": None,
            "tax_id_check_detail": (
                f"Format checked; tax ids of {countries.name(country) or country} "
                "are not checked against a registry."
            ),
        }
    return _ask_registry(tax_id.value, previous=None)


# The registry's answer, kept as a TaxIdCheck row (not a Customer field): see `_keep_check`.
CHECK = "_check"


def _keep_check(customer: Customer, state: dict[str, Any]) -> dict[str, Any]:
    """Store the registry's answer carried in `state` (if any) as proof; returns the
    customer fields of `state` without it."""
    fields = dict(state)
    check = fields.pop(CHECK, None)
    if check:
        TaxIdCheck.objects.create(customer=customer, **check)
    return fields


def _requester() -> tuple[str, str] | None:
    """This instance's own EU VAT id, which makes VIES return a consultation number."""
    from tenant_apps.instance.selectors import issuer_identity_get

    identity = issuer_identity_get()
    tax_id = "".join((identity.tax_id if identity else "").split()).upper()
    if len(tax_id) > 2 and tax_id[:2].isalpha() and is_eu_vat_id(tax_id, tax_id[:2]):
        return tax_id[:2], tax_id[2:]
    return None


def _ask_registry(tax_id: str, *, previous: Customer | None) -> dict[str, Any]:
    """Ask VIES about an EU VAT id. `previous`: the customer whose earlier answer may stand."""
    now = timezone.now()
    try:
        result = get_vat_checker().check(tax_id[:2], tax_id[2:], requester=_requester())
    except VatServiceUnavailable as exc:
        kept = previous is not None and previous.tax_id_status in (
            Customer.TaxIdStatus.VALID,
            Customer.TaxIdStatus.INVALID,
        )
        if kept:
            # An outage does not undo the registry's last answer (reverse charge keeps working).
            earlier = [
                line
                for line in previous.tax_id_check_detail.splitlines()
                if not line.startswith(UNREACHABLE_PREFIX)
            ]
            return {
                "tax_id_status": previous.tax_id_status,
                "tax_id_checked_at": previous.tax_id_checked_at,
                "tax_id_check_detail": "\n".join(
                    [f"{UNREACHABLE_PREFIX} {_stamp(now)}; the last answer stands.", *earlier]
                ),
                CHECK: {
                    "tax_id": tax_id,
                    "outcome": TaxIdCheck.Outcome.UNREACHABLE,
                    "checked_at": now,
                },
            }
        return {
            "tax_id_status": Customer.TaxIdStatus.UNVERIFIED,
            "tax_id_checked_at": now,
            "tax_id_check_detail": f"{UNREACHABLE_PREFIX} {_stamp(now)}; will retry.\n{exc}",
            CHECK: {"tax_id": tax_id, "outcome": TaxIdCheck.Outcome.UNREACHABLE, "checked_at": now},
        }
    day = (result.request_date or now.date()).isoformat()
    if not result.valid:
        return {
            "tax_id_status": Customer.TaxIdStatus.INVALID,
            "tax_id_checked_at": now,
            "tax_id_check_detail": f"VIES reports {tax_id} as not valid (checked {day}).",
            CHECK: {
                "tax_id": tax_id,
                "outcome": TaxIdCheck.Outcome.INVALID,
                "checked_at": now,
                "request_date": result.request_date,
            },
        }
    lines = [f"VIES confirmed {tax_id} as valid on {day}."]
    if result.name:
        lines.append(f"Name: {result.name}")
    if result.address:
        lines.append("Address: " + ", ".join(p.strip() for p in result.address.splitlines() if p))
    if result.request_id:
        lines.append(f"Request id: {result.request_id}")
    return {
        "tax_id_status": Customer.TaxIdStatus.VALID,
        "tax_id_checked_at": now,
        "tax_id_check_detail": "\n".join(lines),
        CHECK: {
            "tax_id": tax_id,
            "outcome": TaxIdCheck.Outcome.VALID,
            "checked_at": now,
            "request_date": result.request_date,
            "request_id": result.request_id or "",
            "name": result.name or "",
            "address": result.address or "",
        },
    }


# --------------------------------------------------------------------------------------
# Customers


def customer_create(
    *,
    name: str,
    email: str,
    country: str,
    kind: str = Customer.Kind.PERSON,
    company_name: str = "",
    phone: str = "",
    address_line1: str = "",
    address_line2: str = "",
    postal_code: str = "",
    city: str = "",
    region: str = "",
    currency: str = "",
    language: str = "en",
    tax_id: str = "",
    tax_exempt: bool = False,
    tax_exempt_reason: str = "",
    notes: str = "",
    contacts: Iterable[Mapping[str, Any]] = (),
    actor=None,
) -> Customer:
    """Add a customer (and its contacts). Without a currency, the instance's own is used."""
    identity = issuer_identity_get()
    default_currency = identity.currency if identity else "EUR"
    currency = currency or default_currency
    # On a new customer, a tax term counts as changed when it differs from its default.
    set_terms = {
        "tax_id": bool(_text(tax_id)),
        "tax_exempt": bool(tax_exempt),
        "tax_exempt_reason": bool(_text(tax_exempt_reason)),
        "currency": _text(currency).upper() != default_currency,
    }
    tax_terms_guard(
        actor=actor, customer=None, fields=[field for field, is_set in set_terms.items() if is_set]
    )
    values = {
        "kind": kind,
        "name": name,
        "company_name": company_name,
        "email": email,
        "phone": phone,
        "address_line1": address_line1,
        "address_line2": address_line2,
        "postal_code": postal_code,
        "city": city,
        "region": region,
        "country": country,
        "currency": currency,
        "language": language,
        "tax_id": tax_id,
        "tax_exempt": tax_exempt,
        "tax_exempt_reason": tax_exempt_reason,
        "notes": notes,
    }
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {}
    tax = TaxId("", is_eu_vat=False)
    try:
        data, tax = _validated(values)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    clean_contacts = []
    for position, contact in enumerate(contacts, start=1):
        try:
            clean_contacts.append(_validated_contact(contact))
        except ValidationError as exc:
            errors.setdefault("contacts", []).extend(
                _("Contact %(position)s: %(message)s") % {"position": position, "message": message}
                for message in exc.messages
            )
    if errors:
        raise ValidationError(errors)

    tax_state = _tax_id_state(tax, data["country"])  # network: before any lock or write
    check = tax_state.pop(CHECK, None)
    with transaction.atomic():
        customer = Customer.objects.create(**data, **tax_state)
        _keep_check(customer, {CHECK: check} if check else {})
        for contact in clean_contacts:
            Contact.objects.create(customer=customer, **contact)
        audit.audit_record(
            CUSTOMER_CREATED,
            actor=actor,
            obj=customer,
            changes=audit.diff(
                {}, audit.snapshot(customer, [*EDITABLE_FIELDS, "tax_id_status"]), created=True
            ),
            detail={
                "tax_id_status": customer.tax_id_status,
                "contacts": [contact["email"] for contact in clean_contacts],
            },
        )
    return customer


def customer_update(*, customer: Customer, actor=None, **changes: Any) -> Customer:
    """Change a customer's details; a changed tax id (or country) is checked again."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_update() cannot change: {', '.join(sorted(unknown))}")
    current = _current_values(customer)
    data, tax = _validated({**current, **changes})
    changed = [field for field in EDITABLE_FIELDS if data[field] != current[field]]
    if not changed:
        return customer
    tax_terms_guard(actor=actor, customer=customer, fields=changed)
    tax_state: dict[str, Any] = {}
    if "tax_id" in changed or "country" in changed:
        tax_state = _tax_id_state(tax, data["country"])  # network: before the row lock

    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        tax_state = _keep_check(locked, tax_state)
        if "currency" in changed:
            # Money is kept in one currency per customer: no switch with a balance open.
            if locked.credit_balance:
                raise ValidationError(
                    {
                        "currency": [
                            _(
                                "%(customer)s has %(credit_balance)s %(currency)s of account "
                                "credit: use or refund it before changing the currency."
                            )
                            % {
                                "customer": locked,
                                "credit_balance": locked.credit_balance,
                                "currency": locked.currency,
                            }
                        ]
                    }
                )
            ports.currency_changing.send(
                sender=Customer, customer=locked, old=locked.currency, new=data["currency"]
            )
        watched = [*changed, *(["tax_id_status"] if tax_state else [])]
        before = audit.snapshot(locked, watched)
        for field in changed:
            setattr(locked, field, data[field])
        for field, value in tax_state.items():
            setattr(locked, field, value)
        locked.save(update_fields=[*changed, *tax_state])
        detail: dict[str, Any] = {"fields": changed}
        if tax_state:
            detail["tax_id_status"] = locked.tax_id_status
        audit.audit_record(
            CUSTOMER_UPDATED,
            actor=actor,
            obj=locked,
            changes=audit.diff(before, audit.snapshot(locked, watched)),
            detail=detail,
        )
    return locked


def customer_tax_id_verify(*, customer: Customer, actor=None) -> Customer:
    """Ask VIES again about the customer's EU VAT id and store its answer."""
    tax_id = customer.tax_id
    if not tax_id:
        raise ValidationError({"tax_id": [_("This customer has no tax id to verify.")]})
    if not is_eu_vat_id(tax_id, str(customer.country)):
        raise ValidationError(
            {
                "tax_id": [
                    _("Only EU VAT ids can be verified; VIES does not know this country's ids.")
                ]
            }
        )
    state = _ask_registry(tax_id, previous=customer)  # network: before the row lock
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.tax_id != tax_id:
            return locked  # changed meanwhile; that change ran its own check
        state = _keep_check(locked, state)
        before = audit.snapshot(locked, ["tax_id_status"])
        for field, value in state.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(_TAX_STATE_FIELDS))
        audit.audit_record(
            CUSTOMER_TAX_ID_CHECKED,
            actor=actor,
            obj=locked,
            changes=audit.diff(before, audit.snapshot(locked, ["tax_id_status"])),
            detail={
                "tax_id": tax_id,
                "status": locked.tax_id_status,
                "registry": locked.tax_id_check_detail.splitlines()[:1],
            },
        )
    return locked


def customer_close(*, customer: Customer, actor=None) -> Customer:
    """Close a customer who has nothing running and nothing left to pay (data is kept)."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        before = _move(locked, Customer.Status.CLOSED)
        services = locked.services.filter(status__in=_LIVE_SERVICE_STATUSES).count()
        if services:
            raise ValidationError(
                {
                    "status": [
                        ngettext(
                            "This customer still has %(count)s service running; cancel or "
                            "terminate it first.",
                            "This customer still has %(count)s services running; cancel or "
                            "terminate them first.",
                            services,
                        )
                        % {"count": services}
                    ]
                }
            )
        unpaid = locked.invoices.filter(status__in=_UNPAID_INVOICE_STATUSES).count()
        if unpaid:
            raise ValidationError(
                {
                    "status": [
                        ngettext(
                            "This customer still has %(count)s unpaid invoice; settle or void "
                            "it first.",
                            "This customer still has %(count)s unpaid invoices; settle or void "
                            "them first.",
                            unpaid,
                        )
                        % {"count": unpaid}
                    ]
                }
            )
        locked.save(update_fields=["status"])
        audit.audit_record(
            CUSTOMER_CLOSED, actor=actor, obj=locked, changes={"status": [before, locked.status]}
        )
    return locked


def customer_reopen(*, customer: Customer, actor=None) -> Customer:
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        before = _move(locked, Customer.Status.ACTIVE)
        locked.save(update_fields=["status"])
        audit.audit_record(
            CUSTOMER_REOPENED, actor=actor, obj=locked, changes={"status": [before, locked.status]}
        )
    return locked


def customer_portal_invite(
    *,
    customer: Customer,
    domain: str,
    use_https: bool,
    actor=None,
    ip_address: str | None = None,
) -> User:
    """Give the customer a portal login (their e-mail) and mail them a set-password link.

    The link is built for `domain`, the instance's own host, so it works only there.
    Invitations are limited per address and per `ip_address` (the inviter's) per hour.
    """
    if customer.status == Customer.Status.CLOSED:
        raise ValidationError({"status": [_("Reopen this customer before inviting them.")]})
    if customer.user_id:
        raise ValidationError({"email": [_("This customer can already sign in to the portal.")]})
    email = customer.email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {
                "email": [
                    _(
                        "%(email)s already has a login on this instance; change the customer's "
                        "e-mail address before inviting them."
                    )
                    % {"email": email}
                ]
            }
        )
    password_mail_reserve(kind=INVITATION, email=email, ip_address=ip_address)
    try:
        with transaction.atomic():
            locked = Customer.objects.select_for_update().get(pk=customer.pk)
            if locked.user_id:
                raise ValidationError(
                    {"email": [_("This customer can already sign in to the portal.")]}
                )
            user = User.objects.create_user(email=email, full_name=locked.name, role=Role.CUSTOMER)
            locked.user = user
            locked.save(update_fields=["user"])
            audit.audit_record(
                CUSTOMER_PORTAL_INVITED, actor=actor, obj=locked, detail={"email": email}
            )
    except IntegrityError as exc:  # the same e-mail registered concurrently
        raise ValidationError(
            {"email": [_("%(email)s already has a login on this instance.") % {"email": email}]}
        ) from exc
    customer.user = user
    transaction.on_commit(
        lambda: user_send_password_link(
            user=user,
            domain=domain,
            use_https=use_https,
            invitation=True,
            language=customer_language(customer),
        )
    )
    return user


# --------------------------------------------------------------------------------------
# Contacts


def contact_add(
    *,
    customer: Customer,
    name: str,
    email: str,
    phone: str = "",
    role: str = "",
    receives_invoices: bool = False,
    actor=None,
) -> Contact:
    data = _validated_contact(
        {
            "name": name,
            "email": email,
            "phone": phone,
            "role": role,
            "receives_invoices": receives_invoices,
        }
    )
    with transaction.atomic():
        contact = Contact.objects.create(customer=customer, **data)
        audit.audit_record(
            CONTACT_ADDED,
            actor=actor,
            obj=contact,
            changes=audit.diff({}, audit.snapshot(contact, CONTACT_FIELDS), created=True),
            detail={"contact": contact.email},
        )
    return contact


def contact_update(*, contact: Contact, actor=None, **changes: Any) -> Contact:
    current = {field: getattr(contact, field) for field in CONTACT_FIELDS}
    data = _validated_contact({**current, **changes})
    changed = [field for field in CONTACT_FIELDS if data[field] != current[field]]
    if not changed:
        return contact
    with transaction.atomic():
        before = audit.snapshot(contact, changed)
        for field in changed:
            setattr(contact, field, data[field])
        contact.save(update_fields=changed)
        audit.audit_record(
            CONTACT_UPDATED,
            actor=actor,
            obj=contact,
            changes=audit.diff(before, audit.snapshot(contact, changed)),
            detail={"contact": contact.email, "fields": changed},
        )
    return contact


def contact_remove(*, contact: Contact, actor=None) -> None:
    with transaction.atomic():
        audit.audit_record(
            CONTACT_REMOVED, actor=actor, obj=contact, detail={"contact": contact.email}
        )
        contact.delete()
