"""Writes of the referral programme: partners (create, update, deactivate, reactivate,
portal invitation), their further codes, clicks, sign-up attribution and the programme's
settings. Each write a person makes records one audit event; a click is a count, not an
act of anyone's, and is its own record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenant_apps.clients.models import Customer
from tenant_apps.clients.services import customer_create, customer_portal_invite
from tenant_apps.instance import audit

from .models import Click, ProgrammeSettings, Referer, RefererCode, SignUp
from .selectors import Attribution, attribution_for, referer_by_code  # noqa: F401  (public)

REFERER_CREATED = audit.event_type("referer.created", gettext_noop("Referer added"))
REFERER_UPDATED = audit.event_type("referer.updated", gettext_noop("Referer changed"))
REFERER_DEACTIVATED = audit.event_type("referer.deactivated", gettext_noop("Referer deactivated"))
REFERER_REACTIVATED = audit.event_type("referer.reactivated", gettext_noop("Referer reactivated"))
REFERER_CODE_ADDED = audit.event_type("referer.code_added", gettext_noop("Referral code added"))
REFERER_CODE_REMOVED = audit.event_type(
    "referer.code_removed", gettext_noop("Referral code removed")
)
REFERER_PORTAL_INVITED = audit.event_type(
    "referer.portal_invited", gettext_noop("Partner invited to the portal")
)
SIGNUP_ATTRIBUTED = audit.event_type(
    "referral.signup_attributed", gettext_noop("Sign-up credited to a partner")
)
PROGRAMME_UPDATED = audit.event_type(
    "referral.programme_updated", gettext_noop("Referral programme settings changed")
)

_FIELDS = ("code", "name", "email", "customer", "referred_by")

# Keyword default meaning "leave this as it is" (None is a value: "no customer").
UNSET: Any = object()


def _check(
    *, referer: Referer | None, code: str, name: str, email: str, customer: Customer | None
) -> tuple[str, str, str]:
    errors: dict[str, list[str]] = {}
    code = (code or "").strip()
    name = (name or "").strip()
    email = (email or "").strip()
    max_code = Referer._meta.get_field("code").max_length
    if not code:
        errors["code"] = [_("Enter a code.")]
    else:
        try:
            validate_slug(code)
        except ValidationError:
            errors["code"] = [_("Use only letters, digits, hyphens and underscores in the code.")]
        else:
            if len(code) > max_code:
                errors["code"] = [
                    (
                        _("Keep the code to %(max_code)s characters or fewer.")
                        % {"max_code": max_code}
                    )
                ]
            else:
                others = Referer.objects.filter(code__iexact=code)
                if referer is not None:
                    others = others.exclude(pk=referer.pk)
                if others.exists():
                    errors["code"] = [
                        (
                            _("The code “%(code)s” is already taken (codes ignore case).")
                            % {"code": code}
                        )
                    ]
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > Referer._meta.get_field("name").max_length:
        errors["name"] = [_("Keep the name to 200 characters or fewer.")]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [(_("“%(email)s” is not an e-mail address.") % {"email": email})]
    if customer is not None and not isinstance(customer, Customer):
        errors["customer"] = [_("Choose one of this instance's customers.")]
    if errors:
        raise ValidationError(errors)
    return code, name, email


def _save(referer: Referer) -> None:
    try:
        with transaction.atomic():
            referer.save()
    except IntegrityError as exc:  # lost a race for the same code
        raise ValidationError(
            {
                "code": [
                    _("The code “%(code)s” is already taken (codes ignore case).")
                    % {"code": referer.code}
                ]
            }
        ) from exc


@transaction.atomic
def referer_create(
    *,
    code: str,
    name: str,
    email: str = "",
    customer: Customer | None = None,
    referred_by: Referer | None = None,
    actor=None,
) -> Referer:
    code, name, email = _check(referer=None, code=code, name=name, email=email, customer=customer)
    _check_code_free(code)
    referer = Referer(code=code, name=name, email=email, customer=customer, referred_by=referred_by)
    _save(referer)
    audit.audit_record(
        REFERER_CREATED,
        actor=actor,
        obj=referer,
        changes=audit.diff({}, audit.snapshot(referer, _FIELDS), created=True),
    )
    return referer


@transaction.atomic
def referer_update(
    *,
    referer: Referer,
    code: str = UNSET,
    name: str = UNSET,
    email: str = UNSET,
    customer: Customer | None = UNSET,
    referred_by: Referer | None = UNSET,
    actor=None,
) -> Referer:
    """Change what is given. A new code breaks links already shared with the old one."""
    referer = Referer.objects.select_for_update().get(pk=referer.pk)
    before = audit.snapshot(referer, _FIELDS)
    customer = referer.customer if customer is UNSET else customer
    referred_by = referer.referred_by if referred_by is UNSET else referred_by
    _check_upline(referer, referred_by)
    code, name, email = _check(
        referer=referer,
        code=referer.code if code is UNSET else code,
        name=referer.name if name is UNSET else name,
        email=referer.email if email is UNSET else email,
        customer=customer,
    )
    if code.lower() != referer.code.lower():
        _check_code_free(code)
    referer.code, referer.name, referer.email, referer.customer = code, name, email, customer
    referer.referred_by = referred_by
    _save(referer)
    audit.audit_record(
        REFERER_UPDATED,
        actor=actor,
        obj=referer,
        changes=audit.diff(before, audit.snapshot(referer, _FIELDS)),
    )
    return referer


def _set_active(referer: Referer, active: bool, event: audit.EventType, actor) -> Referer:
    referer = Referer.objects.select_for_update().get(pk=referer.pk)
    if referer.is_active != active:  # idempotent
        referer.is_active = active
        referer.save(update_fields=["is_active"])
        audit.audit_record(
            event, actor=actor, obj=referer, changes={"is_active": [not active, active]}
        )
    return referer


@transaction.atomic
def referer_deactivate(*, referer: Referer, actor=None) -> Referer:
    """Its links and code stop working; orders it already brought keep pointing at it."""
    return _set_active(referer, False, REFERER_DEACTIVATED, actor)


@transaction.atomic
def referer_reactivate(*, referer: Referer, actor=None) -> Referer:
    return _set_active(referer, True, REFERER_REACTIVATED, actor)


def _taken(code: str) -> str:
    return _("The code “%(code)s” is already taken (codes ignore case).") % {"code": code}


def _check_code_free(code: str) -> None:
    """A main code may not be another partner's further code (look-ups would be ambiguous)."""
    if RefererCode.objects.filter(code__iexact=code).exists():
        raise ValidationError({"code": [_taken(code)]})


def _check_upline(referer: Referer, referred_by: Referer | None) -> None:
    """A partner cannot be its own referer, directly or around a circle."""
    seen = {referer.pk}
    current = referred_by
    while current is not None:
        if current.pk in seen:
            raise ValidationError(
                {
                    "referred_by": [
                        _("A partner cannot be referred by itself or by its own referrals.")
                    ]
                }
            )
        seen.add(current.pk)
        current = current.referred_by


@transaction.atomic
def referer_code_add(*, referer: Referer, code: str, kind: str, actor=None) -> RefererCode:
    """Give a partner a further link code (a campaign) or checkout code."""
    code = (code or "").strip()
    if kind not in RefererCode.Kind.values:
        raise ValidationError({"kind": [_("Choose a link code or a checkout code.")]})
    try:
        validate_slug(code)
    except ValidationError:
        raise ValidationError(
            {"code": [_("Use only letters, digits, hyphens and underscores in the code.")]}
        ) from None
    if len(code) > RefererCode._meta.get_field("code").max_length:
        raise ValidationError({"code": [_("Keep the code to 40 characters or fewer.")]})
    if (
        Referer.objects.filter(code__iexact=code).exists()
        or RefererCode.objects.filter(code__iexact=code).exists()
    ):
        raise ValidationError({"code": [_taken(code)]})
    try:
        with transaction.atomic():
            extra = RefererCode.objects.create(referer=referer, code=code, kind=kind)
    except IntegrityError as exc:
        raise ValidationError(
            {
                "code": [
                    _("The code “%(code)s” is already taken (codes ignore case).") % {"code": code}
                ]
            }
        ) from exc
    audit.audit_record(
        REFERER_CODE_ADDED, actor=actor, obj=referer, detail={"code": code, "kind": kind}
    )
    return extra


@transaction.atomic
def referer_code_remove(*, code: RefererCode, actor=None) -> None:
    referer = code.referer
    detail = {"code": code.code, "kind": code.kind}
    code.delete()
    audit.audit_record(REFERER_CODE_REMOVED, actor=actor, obj=referer, detail=detail)


def click_record(*, referer: Referer, code: str, path: str = "") -> Click:
    """Count one visit through a partner's link (nothing about the visitor is kept)."""
    return Click.objects.create(referer=referer, code=code.strip()[:40], path=path[:200])


@transaction.atomic
def signup_attribute(
    *, customer: Customer, referer: Referer, source: str, actor=None
) -> SignUp | None:
    """Credit a customer's sign-up to a partner. The first attribution stays (a customer is
    brought in once); returns None when the customer already had one. A partner is never
    credited with its own sign-up."""
    if source not in SignUp.Source.values:
        raise ValidationError(
            {"source": [_("Unknown attribution source “%(source)s”.") % {"source": source}]}
        )
    if not referer.is_active:
        raise ValidationError(
            {
                "referer": [
                    _("The referer code “%(code)s” is no longer active.") % {"code": referer.code}
                ]
            }
        )
    if referer.customer_id == customer.pk:
        return None
    if SignUp.objects.filter(customer=customer).exists():
        return None
    try:
        with transaction.atomic():  # a racing sign-up request credited it a moment ago
            signup = SignUp.objects.create(customer=customer, referer=referer, source=source)
    except IntegrityError:
        return None
    audit.audit_record(
        SIGNUP_ATTRIBUTED,
        actor=actor,
        obj=customer,
        detail={"referer": referer.code, "source": source},
    )
    return signup


def signup_attribute_from_request(*, customer: Customer, request, typed_code: str = ""):
    """What sign-up calls once the customer exists: attribute it to the visitor's partner
    (typed code, else ?ref= cookie), if any. Returns the SignUp or None."""
    attribution = attribution_for(request, typed_code=typed_code or None)
    if attribution is None:
        return None
    return signup_attribute(
        customer=customer,
        referer=attribution.referer,
        source=attribution.source,
        actor=audit.request_actor(request),
    )


@transaction.atomic
def programme_settings_update(*, actor=None, **fields) -> ProgrammeSettings:
    """Change the cookie lifetime, first/last-click attribution or maturity period."""
    allowed = {"cookie_days", "attribution", "maturity_days"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: [_("Not a programme setting.")] for name in unknown})
    row = ProgrammeSettings.objects.select_for_update().first()
    if row is None:
        ProgrammeSettings.objects.bulk_create([ProgrammeSettings()], ignore_conflicts=True)
        row = ProgrammeSettings.objects.select_for_update().get()
    before = audit.snapshot(row, sorted(allowed))
    errors: dict[str, list[str]] = {}
    if "cookie_days" in fields:
        days = fields["cookie_days"]
        if not isinstance(days, int) or not 1 <= days <= 365:
            errors["cookie_days"] = [_("Remember a visit between 1 and 365 days.")]
    if "maturity_days" in fields:
        days = fields["maturity_days"]
        if not isinstance(days, int) or not 0 <= days <= 365:
            errors["maturity_days"] = [_("Keep commission pending between 0 and 365 days.")]
    attribution = fields.get("attribution", ProgrammeSettings.Attribution.LAST_CLICK)
    if attribution not in ProgrammeSettings.Attribution.values:
        errors["attribution"] = [_("Choose first click or last click.")]
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    changes = audit.diff(before, audit.snapshot(row, sorted(allowed)))
    if changes:
        audit.audit_record(PROGRAMME_UPDATED, actor=actor, obj=row, changes=changes)
    return row


def referer_portal_invite(
    *,
    referer: Referer,
    domain: str,
    use_https: bool,
    country: str = "",
    actor=None,
    ip_address: str | None = None,
):
    """Give a partner a portal login to see its referrals and statements.

    Portal logins belong to customers (`clients.Customer.user`, role customer): a partner that
    is one of our customers is invited as that customer; an external partner first gets a
    customer record of its own (its name, e-mail and `country`), which is also where an
    account-credit payout goes. Returns the new portal user.
    """
    if not referer.email and referer.customer_id is None:
        raise ValidationError({"email": [_("Give the partner an e-mail address first.")]})
    with transaction.atomic():
        locked = Referer.objects.select_for_update().get(pk=referer.pk)
        customer = locked.customer
        if customer is None:
            if not country:
                raise ValidationError({"country": [_("Choose the partner's country.")]})
            customer = customer_create(
                name=locked.name,
                email=locked.email,
                country=country,
                notes="Referral partner",
                actor=actor,
            )
            locked.customer = customer
            locked.save(update_fields=["customer"])
        user = customer_portal_invite(
            customer=customer,
            domain=domain,
            use_https=use_https,
            actor=actor,
            ip_address=ip_address,
        )
        audit.audit_record(
            REFERER_PORTAL_INVITED, actor=actor, obj=locked, detail={"email": customer.email}
        )
    referer.customer = customer
    return user
