"""How the operator's billing drives reseller instances ("reseller plan" services).

In the operator's instance (public schema) a reseller is a customer; buying a product
marked `is_reseller_plan` provisions its instance, with the product's resources as
allocations. Suspension for non-payment suspends the instance; paying resumes it;
termination terminates it. In reseller instances these receivers do nothing.

The receivers listen to `tenant_apps.orders.ports` (connected in TenancyConfig.ready) and
call tenancy's services with the actor "billing", so the operator's audit trail says the
move came from billing, not from someone in the console.
"""

from __future__ import annotations

import logging

from django.db import connection
from django_tenants.utils import get_public_schema_name

from . import services
from .models import Allocation, Reseller

log = logging.getLogger(__name__)

ACTOR = "billing"


def _reseller_for(service) -> Reseller | None:
    reseller_id = service.customer.reseller_id
    return Reseller.objects.filter(pk=reseller_id).first() if reseller_id else None


def _allocations(service) -> dict[str, int]:
    return {code: int(v) * service.quantity for code, v in (service.resources or {}).items()}


def service_changed(*, event: str, service) -> None:
    if connection.schema_name != get_public_schema_name() or not service.product.is_reseller_plan:
        return
    reseller = _reseller_for(service)
    if event == "activated":
        if reseller is None:
            customer = service.customer
            reseller = services.reseller_create(
                slug=service.label,
                name=customer.name,
                legal_name=customer.company_name or customer.name,
                owner_email=customer.email,
                allocations=_allocations(service),
                actor=ACTOR,
            )
            type(customer).objects.filter(pk=customer.pk).update(reseller_id=reseller.pk)
            customer.reseller_id = reseller.pk
        else:
            for code, quantity in _allocations(service).items():
                current = Allocation.objects.filter(reseller=reseller, resource_id=code).first()
                services.allocation_set(
                    reseller=reseller,
                    resource_code=code,
                    quantity=(current.quantity if current else 0) + quantity,
                    actor=ACTOR,
                )
    elif reseller is None:
        return
    elif event == "suspended" and reseller.status == Reseller.Status.ACTIVE:
        services.reseller_suspend(
            reseller=reseller, reason=service.status_reason or "Unpaid invoice", actor=ACTOR
        )
    elif event == "resumed" and reseller.status == Reseller.Status.SUSPENDED:
        services.reseller_resume(reseller=reseller, actor=ACTOR)
    elif event in ("terminated", "cancelled") and reseller.status != Reseller.Status.TERMINATED:
        services.reseller_terminate(reseller=reseller, reason=f"Reseller plan {event}", actor=ACTOR)
    elif event == "changed":
        for code, quantity in _allocations(service).items():
            services.allocation_set(
                reseller=reseller, resource_code=code, quantity=quantity, actor=ACTOR
            )


def order_item_check(*, product, label: str, customer) -> None:
    """Refuse at ordering time what activation would refuse later: a reseller plan needs a
    free, valid slug (the order line's label) for the instance it will create."""
    if connection.schema_name != get_public_schema_name() or not product.is_reseller_plan:
        return
    if customer.reseller_id:
        return  # an existing reseller buying more capacity
    from django.core.exceptions import ValidationError

    from .models import Domain
    from .naming import primary_domain_for_slug, validate_slug

    slug = (label or "").strip().lower()
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise ValidationError(
            {"label": [f"Give the reseller's instance a name (slug): {' '.join(exc.messages)}"]}
        ) from exc
    if (
        Reseller.objects.filter(slug=slug).exists()
        or Domain.objects.filter(domain=primary_domain_for_slug(slug)).exists()
    ):
        raise ValidationError({"label": [f"The instance name “{slug}” is taken; choose another."]})


# Receivers of `tenant_apps.orders.ports` (connected in TenancyConfig.ready).


def on_service_changed(sender, *, event: str, service, **kwargs) -> None:
    service_changed(event=event, service=service)


def on_order_item_checked(sender, *, product, label: str, customer, **kwargs) -> None:
    order_item_check(product=product, label=label, customer=customer)
