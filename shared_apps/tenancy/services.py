"""Every write to resellers: create, lifecycle, domains, allocations, quota, delete.

Creating a reseller is one transaction: the schema (from the warm pool or the template),
the reseller row, its domains and allocations, and — inside the new schema — the first
owner account and the issuer identity. Any failure rolls all of it back, schema included.

Importing an archive is a creation from data: the schema is built the same way, the
archive's rows and files are verified and loaded by `provisioning.archive` (never its SQL:
it carries none), its facts are checked like a new reseller's, and the instance starts
suspended for review unless the operator chooses active.

Every write records one event in the operator's instance trail (the public schema's
`instance.AuditEvent`, object = the reseller), with the actor the caller passes: a console
user, an API actor, or a label ("billing", "command"). A reseller's own instance never
sees these rows: its trail lives in its own schema.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django_tenants.utils import get_public_schema_name, schema_context

from provisioning import archive, schemas
from provisioning.models import ExportRecord
from tenant_apps.accounts.models import Role
from tenant_apps.accounts.services import user_send_password_link
from tenant_apps.instance import audit
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.pipelines import transition
from tenant_apps.instance.services import issuer_identity_set

from . import routing
from .models import Allocation, Domain, Reseller, Resource, SuspensionPolicy
from .naming import (
    normalize_host,
    primary_domain_for_slug,
    schema_name_for_slug,
    validate_custom_domain,
    validate_slug,
)
from .selectors import reseller_archive_facts

log = logging.getLogger(__name__)


RESELLER_CREATED = audit.event_type("reseller.created", gettext_noop("Reseller created"))
RESELLER_SUSPENDED = audit.event_type("reseller.suspended", gettext_noop("Reseller suspended"))
RESELLER_RESUMED = audit.event_type("reseller.resumed", gettext_noop("Reseller resumed"))
RESELLER_TERMINATED = audit.event_type("reseller.terminated", gettext_noop("Reseller terminated"))
RESELLER_EXPORTED = audit.event_type("reseller.exported", gettext_noop("Instance exported"))
RESELLER_IMPORTED = audit.event_type("reseller.imported", gettext_noop("Instance imported"))
RESELLER_DELETED = audit.event_type("reseller.deleted", gettext_noop("Reseller deleted"))
RESELLER_DOMAIN_ADDED = audit.event_type("reseller.domain_added", gettext_noop("Domain added"))
RESELLER_DOMAIN_REMOVED = audit.event_type(
    "reseller.domain_removed", gettext_noop("Domain removed")
)
RESELLER_ALLOCATION_SET = audit.event_type(
    "reseller.allocation_set", gettext_noop("Allocation changed")
)
RESELLER_ESCALATION_PRICE_SET = audit.event_type(
    "reseller.escalation_price_set", gettext_noop("Escalation price set")
)

# The event each lifecycle move records.
_STATUS_EVENTS = {
    Reseller.Status.SUSPENDED: RESELLER_SUSPENDED,
    Reseller.Status.ACTIVE: RESELLER_RESUMED,
    Reseller.Status.TERMINATED: RESELLER_TERMINATED,
}


class QuotaExceeded(DomainError):
    code = "quota_exceeded"
    status_code = 409


class DeletionRefused(DomainError):
    code = "deletion_refused"


class ArchiveRefused(DomainError):
    """An instance archive that cannot be written or imported; the sentence says why."""

    code = "archive_refused"


def _record(
    event: audit.EventType,
    reseller: Reseller,
    actor: Any,
    *,
    changes: Mapping[str, list] | None = None,
    **detail: Any,
) -> None:
    """One row in the operator's trail about `reseller`, whatever schema the caller is in
    (a reseller's schema has its own trail, which must not receive the operator's rows)."""
    with schema_context(get_public_schema_name()):
        audit.audit_record(
            event,
            actor=actor,
            obj=reseller,
            object_label=reseller.slug,
            changes=changes,
            detail=detail,
        )


# --------------------------------------------------------------------------------------
# Create


def _check_unique(slug: str, domains: Iterable[str]) -> None:
    errors: dict[str, list[str]] = {}
    if Reseller.objects.filter(slug=slug).exists():
        errors["slug"] = [
            (gettext("A reseller with the slug “%(slug)s” already exists.") % {"slug": slug})
        ]
    taken = list(Domain.objects.filter(domain__in=list(domains)).values_list("domain", flat=True))
    if taken:
        errors["custom_domains"] = [
            (gettext("The domain %(d)s is already in use.") % {"d": d}) for d in taken
        ]
    if errors:
        raise ValidationError(errors)


def reseller_create(
    *,
    slug: str,
    name: str,
    legal_name: str,
    owner_email: str,
    owner_password: str | None = None,
    owner_password_hash: str | None = None,
    owner_name: str = "",
    custom_domains: Iterable[str] = (),
    allocations: Mapping[str, int] | None = None,
    actor: Any = None,
    method: str = "auto",
) -> Reseller:
    """Create a reseller and its complete, working instance in one step.

    Without `owner_password` the owner gets a link to choose one (password reset flow),
    unless `owner_password_hash` carries the one they already chose (a reseller plan bought
    in the operator's shop: the buyer signs in to the new instance with it).
    """
    slug = (slug or "").strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_slug(slug)
    except ValidationError as exc:
        errors["slug"] = exc.messages
    if not (name or "").strip():
        errors["name"] = [gettext("Enter the reseller's trading name.")]
    if not (legal_name or "").strip():
        errors["legal_name"] = [
            gettext("Enter the reseller's legal name (it appears on its invoices).")
        ]
    try:
        validate_email(owner_email)
    except ValidationError:
        errors["owner_email"] = [gettext("Enter a valid e-mail address for the owner.")]
    clean_domains: list[str] = []
    for raw in custom_domains:
        try:
            clean_domains.append(validate_custom_domain(raw))
        except ValidationError as exc:
            errors.setdefault("custom_domains", []).extend(exc.messages)
    resources = {r.code: r for r in Resource.objects.all()}
    for code, quantity in (allocations or {}).items():
        if code not in resources:
            errors.setdefault("allocations", []).append(
                gettext("Unknown resource “%(code)s”.") % {"code": code}
            )
        elif not isinstance(quantity, int) or quantity < 0:
            errors.setdefault("allocations", []).append(
                gettext("%(name)s: enter a whole number of %(unit)s, 0 or more.")
                % {"name": resources[code].name, "unit": resources[code].unit}
            )
    if errors:
        raise ValidationError(errors)

    schema_name = schema_name_for_slug(slug)
    primary = primary_domain_for_slug(slug)
    _check_unique(slug, [primary, *clean_domains])

    try:
        with transaction.atomic():
            build = schemas.instance_schema_create(schema_name, method=method)
            reseller = Reseller.objects.create(
                schema_name=schema_name,
                slug=slug,
                name=name.strip(),
                legal_name=legal_name.strip(),
                contact_email=owner_email.lower(),
                status=Reseller.Status.ACTIVE,
                status_changed_at=timezone.now(),
                provisioned_by=build.method,
                provisioning_ms=build.milliseconds,
            )
            Domain.objects.bulk_create(
                [Domain(tenant=reseller, domain=primary, is_primary=True)]
                + [Domain(tenant=reseller, domain=d, is_primary=False) for d in clean_domains]
            )
            Allocation.objects.bulk_create(
                Allocation(
                    reseller=reseller, resource=resource, quantity=(allocations or {}).get(code, 0)
                )
                for code, resource in resources.items()
            )
            with schema_context(schema_name):
                owner = get_user_model().objects.create_user(
                    email=owner_email,
                    password=owner_password,
                    full_name=owner_name,
                    role=Role.OWNER,
                )
                if owner_password_hash and not owner_password:
                    owner.password = owner_password_hash
                    owner.save(update_fields=["password"])
                issuer_identity_set(
                    legal_name=legal_name.strip(),
                    trading_name=name.strip(),
                    email=owner_email.lower(),
                )
            _record(
                RESELLER_CREATED,
                reseller,
                actor,
                method=build.method,
                ms=build.milliseconds,
                domains=[primary, *clean_domains],
                allocations=dict(allocations or {}),
            )
            transaction.on_commit(_after_create)
            if not owner_password and not owner_password_hash:
                transaction.on_commit(
                    lambda: _invite_owner(
                        schema_name=schema_name, owner_id=owner.pk, domain=primary
                    )
                )
    except IntegrityError as exc:
        # Two operators racing for the same slug or domain: the loser gets a form error.
        raise ValidationError(
            {"slug": [gettext("That slug or domain was just taken; choose another.")]}
        ) from exc
    return reseller


def _invite_owner(*, schema_name: str, owner_id: int, domain: str) -> None:
    with schema_context(schema_name):
        owner = get_user_model().objects.get(pk=owner_id)
        user_send_password_link(user=owner, domain=domain, use_https=settings.UPLINE_HTTPS)


def _after_create() -> None:
    routing.invalidate()
    from provisioning.tasks import pool_refill

    try:
        pool_refill.delay()
    except Exception:  # broker down: the beat schedule refills the pool later
        log.warning("Could not enqueue pool refill; the periodic refill will catch up.")


# --------------------------------------------------------------------------------------
# Lifecycle


def reseller_transition(
    *, reseller: Reseller, to: str, reason: str = "", actor: Any = None, by_billing: bool = False
) -> Reseller:
    """The single function that moves a reseller between lifecycle states (along
    `Reseller.pipeline`; an illegal move raises the pipeline's InvalidTransition, a 409
    with a sentence)."""
    with transaction.atomic():
        locked = Reseller.objects.select_for_update().get(pk=reseller.pk)
        previous = transition(locked, to, noun=locked.name)
        locked.status_reason = reason[:300]
        locked.status_changed_at = timezone.now()
        locked.held_by_billing = by_billing and to == Reseller.Status.SUSPENDED
        locked.save(
            update_fields=["status", "status_reason", "status_changed_at", "held_by_billing"]
        )
        _record(
            _STATUS_EVENTS[Reseller.Status(to)],
            locked,
            actor,
            changes={"status": [previous, locked.status]},
            reason=reason,
        )
        transaction.on_commit(routing.invalidate)
    return locked


def reseller_suspend(
    *, reseller: Reseller, reason: str = "", actor: Any = None, by_billing: bool = False
) -> Reseller:
    """Suspend; `by_billing` marks a hold for non-payment that paying lifts (a hold from
    the console stays until someone resumes by hand)."""
    return reseller_transition(
        reseller=reseller,
        to=Reseller.Status.SUSPENDED,
        reason=reason,
        actor=actor,
        by_billing=by_billing,
    )


def reseller_resume(*, reseller: Reseller, actor: Any = None) -> Reseller:
    return reseller_transition(reseller=reseller, to=Reseller.Status.ACTIVE, actor=actor)


def reseller_terminate(*, reseller: Reseller, reason: str = "", actor: Any = None) -> Reseller:
    return reseller_transition(
        reseller=reseller, to=Reseller.Status.TERMINATED, reason=reason, actor=actor
    )


# --------------------------------------------------------------------------------------
# Domains


def domain_add(*, reseller: Reseller, domain: str, actor: Any = None) -> Domain:
    domain = validate_custom_domain(domain)
    try:
        with transaction.atomic():
            created = Domain.objects.create(tenant=reseller, domain=domain, is_primary=False)
            _record(RESELLER_DOMAIN_ADDED, reseller, actor, domain=domain)
    except IntegrityError as exc:
        raise ValidationError(
            {"domain": [gettext("The domain %(domain)s is already in use.") % {"domain": domain}]}
        ) from exc
    transaction.on_commit(routing.invalidate)
    return created


def domain_remove(*, reseller: Reseller, domain: str, actor: Any = None) -> None:
    domain = normalize_host(domain)
    with transaction.atomic():
        row = Domain.objects.filter(tenant=reseller, domain=domain).first()
        if row is None:
            raise ValidationError(
                {
                    "domain": [
                        gettext("%(domain)s is not a domain of %(name)s.")
                        % {"domain": domain, "name": reseller.name}
                    ]
                }
            )
        if row.is_primary:
            raise ValidationError({"domain": [gettext("The primary domain cannot be removed.")]})
        row.delete()
        _record(RESELLER_DOMAIN_REMOVED, reseller, actor, domain=domain)
        transaction.on_commit(routing.invalidate)


# --------------------------------------------------------------------------------------
# Allocations and quota


def allocation_set(
    *, reseller: Reseller, resource_code: str, quantity: int, actor: Any = None
) -> Allocation:
    """Change what the operator sold; never below what the reseller already uses."""
    if not isinstance(quantity, int) or quantity < 0:
        raise ValidationError({"quantity": [gettext("Enter a whole number, 0 or more.")]})
    with transaction.atomic():
        resource = Resource.objects.filter(code=resource_code).first()
        if resource is None:
            raise ValidationError(
                {
                    "resource": [
                        gettext("Unknown resource “%(resource_code)s”.")
                        % {"resource_code": resource_code}
                    ]
                }
            )
        allocation, _ = Allocation.objects.select_for_update().get_or_create(
            reseller=reseller, resource=resource
        )
        _check_allocation_floor(reseller.name, resource, quantity=quantity, used=allocation.used)
        previous = allocation.quantity
        allocation.quantity = quantity
        allocation.save(update_fields=["quantity", "updated_at"])
        _record(
            RESELLER_ALLOCATION_SET,
            reseller,
            actor,
            changes={"quantity": [previous, quantity]},
            resource=resource_code,
        )
    return allocation


def _check_allocation_floor(name: str, resource: Resource, *, quantity: int, used: int) -> None:
    """An allocation never goes below what the reseller already uses."""
    if quantity < used:
        raise QuotaExceeded(
            gettext(
                "%(name)s already uses %(used)s %(unit)s of %(name2)s; the allocation "
                "cannot go below that."
            )
            % {"name": name, "used": used, "unit": resource.unit, "name2": resource.name.lower()}
        )


def allocation_reserve(*, schema_name: str, demands: Mapping[str, int]) -> None:
    """Take `demands` (resource code → amount) out of a reseller's allocation, or refuse.

    Rows are locked in resource-code order so two concurrent reservations never deadlock.
    The operator's own instance (public schema) has no allocation and is never limited.
    """
    reseller = Reseller.objects.filter(schema_name=schema_name).first()
    if reseller is None or not demands:
        return
    with transaction.atomic():
        rows = {
            a.resource_id: a
            for a in Allocation.objects.select_for_update()
            .select_related("resource")
            .filter(reseller=reseller, resource_id__in=list(demands))
            .order_by("resource_id")
        }
        shortfalls = []
        for code, amount in sorted(demands.items()):
            allocation = rows.get(code)
            available = allocation.available if allocation else 0
            if amount > available:
                label = allocation.resource.name if allocation else code
                unit = allocation.resource.unit if allocation else ""
                shortfalls.append(
                    gettext("%(resource)s: needs %(amount)s %(unit)s, %(available)s left")
                    % {"resource": label, "amount": amount, "unit": unit, "available": available}
                )
        if shortfalls:
            raise QuotaExceeded(
                gettext(
                    "This would exceed the capacity allocated by your provider — %(shortfalls)s."
                )
                % {"shortfalls": "; ".join(shortfalls)}
            )
        for code, amount in demands.items():
            allocation = rows[code]
            allocation.used += amount
            allocation.save(update_fields=["used", "updated_at"])


def allocation_release(*, schema_name: str, demands: Mapping[str, int]) -> None:
    """Give resources back (service cancelled or downgraded); never below zero."""
    reseller = Reseller.objects.filter(schema_name=schema_name).first()
    if reseller is None or not demands:
        return
    with transaction.atomic():
        for allocation in (
            Allocation.objects.select_for_update()
            .filter(reseller=reseller, resource_id__in=list(demands))
            .order_by("resource_id")
        ):
            allocation.used = max(allocation.used - demands[allocation.resource_id], 0)
            allocation.save(update_fields=["used", "updated_at"])


# --------------------------------------------------------------------------------------
# Export, import, delete


def reseller_export(*, reseller: Reseller, directory: Path, actor: Any = None) -> ExportRecord:
    """Write the instance (rows and files) to a signed archive and record it."""
    try:
        path, digest, size = archive.schema_export(
            schema_name=reseller.schema_name,
            reseller=reseller_archive_facts(reseller),
            directory=directory,
        )
    except archive.ArchiveError as exc:
        raise ArchiveRefused(str(exc)) from exc
    with transaction.atomic():
        record = ExportRecord.objects.create(
            reseller_slug=reseller.slug,
            schema_name=reseller.schema_name,
            path=str(path),
            sha256=digest,
            size_bytes=size,
        )
        Reseller.objects.filter(pk=reseller.pk).update(last_exported_at=record.created_at)
        _record(RESELLER_EXPORTED, reseller, actor, path=str(path), sha256=digest)
    reseller.last_exported_at = record.created_at
    return record


# How an imported instance may start: suspended for review, unless the operator says active.
IMPORT_STATUSES = (Reseller.Status.SUSPENDED, Reseller.Status.ACTIVE)
_MAX_QUANTITY = 2**63 - 1  # what the allocation columns hold


def _import_facts(
    facts: Mapping[str, Any], *, slug: str | None, allocations: Mapping[str, int] | None
) -> dict[str, Any]:
    """The archive's reseller facts, checked as a new reseller's would be.

    Domains go through the console's check; allocations through allocation_set's rules,
    with the quantities the operator grants (`allocations`) replacing the archived ones.
    """
    errors: dict[str, list[str]] = {}
    slug = slug if slug is not None else facts.get("slug")
    slug = slug.strip().lower() if isinstance(slug, str) else ""
    try:
        validate_slug(slug)
    except ValidationError as exc:
        errors["slug"] = exc.messages
    clean: dict[str, Any] = {"slug": slug}
    for key, label in (("name", "trading name"), ("legal_name", "legal name")):
        value = facts.get(key)
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
            errors[key] = [
                (
                    gettext("The archive's %(label)s is missing or longer than 200 characters.")
                    % {"label": label}
                )
            ]
        else:
            clean[key] = value.strip()
    email = facts.get("contact_email")
    try:
        validate_email(email)
        clean["contact_email"] = email.lower()
    except (ValidationError, TypeError, AttributeError):
        errors["contact_email"] = [gettext("The archive's contact e-mail is not a valid address.")]
    domains = facts.get("custom_domains", [])
    clean["custom_domains"] = []
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        errors["custom_domains"] = [gettext("The archive's domains are not a list of names.")]
    else:
        for raw in domains:
            try:
                domain = validate_custom_domain(raw)
            except ValidationError as exc:
                errors.setdefault("custom_domains", []).extend(exc.messages)
            else:
                if domain not in clean["custom_domains"]:
                    clean["custom_domains"].append(domain)

    resources = {r.code: r for r in Resource.objects.all()}
    archived = facts.get("allocations", {})
    granted = dict(allocations or {})
    quantities: dict[str, tuple[int, int]] = {}

    def whole(value: Any) -> bool:
        return type(value) is int and 0 <= value <= _MAX_QUANTITY

    if not isinstance(archived, dict):
        errors["allocations"] = [gettext("The archive's allocations are not valid.")]
        archived = {}
    for code in sorted({*archived, *granted}):
        resource = resources.get(code)
        if resource is None:
            errors.setdefault("allocations", []).append(
                gettext("Unknown resource “%(code)s”.") % {"code": code}
            )
            continue
        entry = archived.get(code, {"quantity": 0, "used": 0})
        if not isinstance(entry, dict) or not all(
            whole(entry.get(k)) for k in ("quantity", "used")
        ):
            errors.setdefault("allocations", []).append(
                gettext("The archive's allocation of %(name)s is not valid.")
                % {"name": resource.name.lower()}
            )
            continue
        quantity = granted.get(code, entry["quantity"])
        if not whole(quantity):
            errors.setdefault("allocations", []).append(
                gettext("%(name)s: enter a whole number of %(unit)s, 0 or more.")
                % {"name": resource.name, "unit": resource.unit}
            )
            continue
        quantities[code] = (quantity, entry["used"])
    if errors:
        raise ValidationError(errors)
    for code, (quantity, used) in quantities.items():
        _check_allocation_floor(clean["name"], resources[code], quantity=quantity, used=used)
    clean["allocations"] = {code: quantities.get(code, (0, 0)) for code in resources}
    clean["resources"] = resources
    return clean


def reseller_import(
    *,
    path: Path,
    slug: str | None = None,
    status: str = Reseller.Status.SUSPENDED,
    allocations: Mapping[str, int] | None = None,
    actor: Any = None,
) -> Reseller:
    """Create a reseller from a signed export archive, under its old slug or a new one.

    The archive brings rows and files only (see `provisioning.archive`): the schema is
    built from the local template like a new reseller's. Its facts are checked like a new
    reseller's, `allocations` (resource code → quantity) are what the operator grants in
    place of the archived quantities, and the instance starts suspended for review unless
    `status` is active. One transaction: a refused archive leaves no schema, row or file.
    """
    if status not in IMPORT_STATUSES:
        raise ValidationError(
            {"status": [gettext("An imported instance starts suspended or active.")]}
        )
    try:
        with archive.archive_open(path) as reader:
            facts = _import_facts(reader.manifest["reseller"], slug=slug, allocations=allocations)
            slug = facts["slug"]
            schema_name = schema_name_for_slug(slug)
            primary = primary_domain_for_slug(slug)
            _check_unique(slug, [primary])
            wanted = [d for d in facts["custom_domains"] if d != primary]
            taken = set(Domain.objects.filter(domain__in=wanted).values_list("domain", flat=True))
            try:
                with transaction.atomic():
                    build = schemas.instance_schema_create(schema_name)
                    loaded = reader.load(schema_name=schema_name)
                    reseller = Reseller.objects.create(
                        schema_name=schema_name,
                        slug=slug,
                        name=facts["name"],
                        legal_name=facts["legal_name"],
                        contact_email=facts["contact_email"],
                        # A creation, not a move: the operator's choice, never the archive's.
                        status=status,
                        status_reason=(
                            "Imported from an archive: review it before resuming."
                            if status == Reseller.Status.SUSPENDED
                            else ""
                        ),
                        status_changed_at=timezone.now(),
                        provisioned_by="import",
                        provisioning_ms=build.milliseconds,
                    )
                    Domain.objects.bulk_create(
                        [Domain(tenant=reseller, domain=primary, is_primary=True)]
                        + [
                            Domain(tenant=reseller, domain=d, is_primary=False)
                            for d in wanted
                            if d not in taken
                        ]
                    )
                    Allocation.objects.bulk_create(
                        Allocation(
                            reseller=reseller, resource=resource, quantity=quantity, used=used
                        )
                        for code, resource in facts["resources"].items()
                        for quantity, used in [facts["allocations"][code]]
                    )
                    _record(
                        RESELLER_IMPORTED,
                        reseller,
                        actor,
                        path=str(path),
                        status=status,
                        archived_status=str(reader.manifest["reseller"].get("status", ""))[:20],
                        skipped_domains=sorted(taken),
                        **loaded,
                    )
                    transaction.on_commit(_after_create)
            except IntegrityError as exc:
                # Two operators racing for the same slug or domain: the loser gets a sentence.
                raise ValidationError(
                    {"slug": [gettext("That slug or domain was just taken; choose another.")]}
                ) from exc
    except archive.ArchiveError as exc:
        raise ArchiveRefused(str(exc)) from exc
    return reseller


def reseller_delete(*, reseller: Reseller, confirm_slug: str, actor: Any = None) -> None:
    """Drop an instance for good: only after an export exists, and with the slug typed back.

    Its stored files go too, once the deletion is committed (the archive carries them).
    """
    if confirm_slug != reseller.slug:
        raise DeletionRefused(
            gettext("Type the slug “%(slug)s” exactly to confirm deletion.")
            % {"slug": reseller.slug}
        )
    record = ExportRecord.objects.filter(
        reseller_slug=reseller.slug, schema_name=reseller.schema_name
    ).first()
    if record is None or not Path(record.path).exists():
        raise DeletionRefused(
            gettext(
                "Export %(name)s first: an instance is deleted only after an archive of it exists."
            )
            % {"name": reseller.name}
        )
    with transaction.atomic():
        locked = Reseller.objects.select_for_update().get(pk=reseller.pk)
        schema_name = locked.schema_name
        schemas.schema_drop(schema_name)
        # Recorded before the row goes: the event keeps the reseller's id and slug.
        _record(RESELLER_DELETED, locked, actor, export=record.path)
        locked.delete()
        transaction.on_commit(routing.invalidate)
        transaction.on_commit(lambda: archive.instance_files_delete(schema_name))
    connection.set_schema_to_public()


def reseller_set_escalation_price(*, reseller: Reseller, price, actor: Any = None) -> Reseller:
    """Price of one upstream escalation for this reseller (empty: its plan's price applies)."""
    from tenant_apps.instance.money import to_decimal

    value = None if price in (None, "") else to_decimal(price, field="escalation_price")
    if value is not None and value < 0:
        raise ValidationError({"escalation_price": [gettext("The price cannot be negative.")]})
    with transaction.atomic():
        locked = Reseller.objects.select_for_update().get(pk=reseller.pk)
        previous = locked.escalation_price
        locked.escalation_price = value
        locked.save(update_fields=["escalation_price"])
        _record(
            RESELLER_ESCALATION_PRICE_SET,
            locked,
            actor,
            changes={"escalation_price": [previous, value]},
        )
    return locked


# --------------------------------------------------------------------------------------
# What customers of a reseller suspended for non-payment see

SUSPENSION_POLICY_SET = audit.event_type(
    "suspensionpolicy.updated", gettext_noop("Suspension policy for customers changed")
)


def suspension_policy_set(*, customers_see: str, actor: Any = None) -> SuspensionPolicy:
    """Choose what customers of a reseller suspended for non-payment see: the suspension
    page, or their portal read-only. The routes carry it (`routing.Instance`); saving the
    row clears them on commit (signals.py)."""
    if customers_see not in SuspensionPolicy.CustomerView.values:
        raise ValidationError(
            {
                "customers_see": [
                    gettext("Unknown choice “%(customers_see)s”.")
                    % {"customers_see": customers_see}
                ]
            }
        )
    with transaction.atomic(), schema_context(get_public_schema_name()):
        policy, _ = SuspensionPolicy.objects.select_for_update().get_or_create(
            pk=SuspensionPolicy.SINGLETON_ID
        )
        before = policy.customers_see
        if before != customers_see:
            policy.customers_see = customers_see
            policy.save(update_fields=["customers_see", "updated_at"])
            audit.audit_record(
                SUSPENSION_POLICY_SET,
                actor=actor,
                obj=policy,
                changes={"customers_see": [before, customers_see]},
            )
    return policy
