"""Writes of referers: create, update, deactivate and reactivate (each one audit event)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction

from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit

from .models import Referer

REFERER_CREATED = audit.event_type("referer.created", "Referer added")
REFERER_UPDATED = audit.event_type("referer.updated", "Referer changed")
REFERER_DEACTIVATED = audit.event_type("referer.deactivated", "Referer deactivated")
REFERER_REACTIVATED = audit.event_type("referer.reactivated", "Referer reactivated")

_FIELDS = ("code", "name", "email", "customer")

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
        errors["code"] = ["Enter a code."]
    else:
        try:
            validate_slug(code)
        except ValidationError:
            errors["code"] = ["Use only letters, digits, hyphens and underscores in the code."]
        else:
            if len(code) > max_code:
                errors["code"] = [f"Keep the code to {max_code} characters or fewer."]
            else:
                others = Referer.objects.filter(code__iexact=code)
                if referer is not None:
                    others = others.exclude(pk=referer.pk)
                if others.exists():
                    errors["code"] = [f"The code “{code}” is already taken (codes ignore case)."]
    if not name:
        errors["name"] = ["Enter a name."]
    elif len(name) > Referer._meta.get_field("name").max_length:
        errors["name"] = ["Keep the name to 200 characters or fewer."]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [f"“{email}” is not an e-mail address."]
    if customer is not None and not isinstance(customer, Customer):
        errors["customer"] = ["Choose one of this instance's customers."]
    if errors:
        raise ValidationError(errors)
    return code, name, email


def _save(referer: Referer) -> None:
    try:
        with transaction.atomic():
            referer.save()
    except IntegrityError as exc:  # lost a race for the same code
        raise ValidationError(
            {"code": [f"The code “{referer.code}” is already taken (codes ignore case)."]}
        ) from exc


@transaction.atomic
def referer_create(
    *,
    code: str,
    name: str,
    email: str = "",
    customer: Customer | None = None,
    actor=None,
) -> Referer:
    code, name, email = _check(referer=None, code=code, name=name, email=email, customer=customer)
    referer = Referer(code=code, name=name, email=email, customer=customer)
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
    actor=None,
) -> Referer:
    """Change what is given. A new code breaks links already shared with the old one."""
    referer = Referer.objects.select_for_update().get(pk=referer.pk)
    before = audit.snapshot(referer, _FIELDS)
    customer = referer.customer if customer is UNSET else customer
    code, name, email = _check(
        referer=referer,
        code=referer.code if code is UNSET else code,
        name=referer.name if name is UNSET else name,
        email=referer.email if email is UNSET else email,
        customer=customer,
    )
    referer.code, referer.name, referer.email, referer.customer = code, name, email, customer
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
