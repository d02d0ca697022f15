"""How the operator's billing drives reseller instances ("reseller plan" services).

In the operator's instance (public schema) a reseller is a customer; buying a product
marked `is_reseller_plan` provisions its instance. A reseller may hold several plans, and
they are a set: after any change to one of them the instance is reconciled with all of
them (`reconcile`):
- its allocation is the sum over its live plan services (active or suspended);
- it is suspended while any plan is suspended for non-payment, and resumed once none is —
  unless the operator suspended it by hand in the console (that hold is lifted by hand);
- when no plan is left it is suspended, never terminated: the operator exports it and
  terminates it from the console.
In reseller instances these receivers do nothing.

The receivers listen to `tenant_apps.orders.ports` (connected in TenancyConfig.ready) and
call tenancy's services with the actor "billing", so the operator's audit trail says the
move came from billing, not from someone in the console.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import connection
from django.utils.translation import gettext as _
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
    if reseller is None:
        if event != "activated":
            return
        customer = service.customer
        reseller = services.reseller_create(
            slug=service.label,
            name=customer.name,
            legal_name=customer.company_name or customer.name,
            owner_email=customer.email,
            # Bought in the operator's shop: the buyer keeps the password they chose there.
            owner_password_hash=(
                customer.user.password
                if customer.user_id and customer.user.has_usable_password()
                else None
            ),
            owner_name=customer.name,
            allocations=_allocations(service),
            actor=ACTOR,
        )
        type(customer).objects.filter(pk=customer.pk).update(reseller_id=reseller.pk)
        customer.reseller_id = reseller.pk
        return
    reconcile(reseller)


def _live_plans(reseller: Reseller):
    from tenant_apps.orders.models import Service

    return list(
        Service.objects.select_related("product").filter(
            customer__reseller_id=reseller.pk,
            product__is_reseller_plan=True,
            status__in=[Service.Status.ACTIVE, Service.Status.SUSPENDED],
        )
    )


def reconcile(reseller: Reseller) -> None:
    """Bring the instance in line with all its plans (see the module docstring)."""
    reseller = Reseller.objects.get(pk=reseller.pk)
    plans = _live_plans(reseller)
    wanted: dict[str, int] = defaultdict(int)
    for plan in plans:
        for code, quantity in _allocations(plan).items():
            wanted[code] += quantity
    current = {a.resource_id: a for a in Allocation.objects.filter(reseller=reseller)}
    for code in sorted(set(wanted) | set(current)):
        target = wanted.get(code, 0)
        allocation = current.get(code)
        if allocation is not None:
            # Never below what the reseller uses: the rest goes when it frees the capacity.
            target = max(target, allocation.used)
            if allocation.quantity == target:
                continue
        services.allocation_set(reseller=reseller, resource_code=code, quantity=target, actor=ACTOR)

    unpaid = [p for p in plans if p.status == p.Status.SUSPENDED and p.suspended_for_nonpayment]
    if not plans:
        if reseller.status == Reseller.Status.ACTIVE:
            services.reseller_suspend(
                reseller=reseller,
                reason=_(
                    "No reseller plan left: export the instance, then terminate it "
                    "from the console."
                ),
                actor=ACTOR,
            )
    elif unpaid:
        if reseller.status == Reseller.Status.ACTIVE:
            services.reseller_suspend(
                reseller=reseller,
                reason=unpaid[0].status_reason or "Unpaid invoice",
                actor=ACTOR,
                by_billing=True,
            )
    elif reseller.status == Reseller.Status.SUSPENDED and reseller.held_by_billing:
        services.reseller_resume(reseller=reseller, actor=ACTOR)


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
            {
                "label": [
                    _("Give the reseller's instance a name (slug): %(messages)s")
                    % {"messages": " ".join(exc.messages)}
                ]
            }
        ) from exc
    if (
        Reseller.objects.filter(slug=slug).exists()
        or Domain.objects.filter(domain=primary_domain_for_slug(slug)).exists()
    ):
        raise ValidationError(
            {
                "label": [
                    _("The instance name “%(slug)s” is taken; choose another.") % {"slug": slug}
                ]
            }
        )


# Receivers of `tenant_apps.orders.ports` (connected in TenancyConfig.ready).


def on_service_changed(sender, *, event: str, service, **kwargs) -> None:
    service_changed(event=event, service=service)


def on_order_item_checked(sender, *, product, label: str, customer, **kwargs) -> None:
    order_item_check(product=product, label=label, customer=customer)
