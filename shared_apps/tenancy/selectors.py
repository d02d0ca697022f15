"""Reads of reseller data shared by the console, the API, tasks and commands."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .models import Allocation, Domain, Reseller


def reseller_schema_names(*, active_only: bool = False) -> list[str]:
    qs = Reseller.objects.all()
    if active_only:
        qs = qs.filter(status=Reseller.Status.ACTIVE)
    return list(qs.order_by("schema_name").values_list("schema_name", flat=True))


def reseller_list() -> QuerySet[Reseller]:
    """Resellers with their primary domain and allocations, ready for a table."""
    return Reseller.objects.prefetch_related(
        Prefetch("domains", queryset=Domain.objects.order_by("-is_primary", "domain")),
        Prefetch("allocations", queryset=Allocation.objects.select_related("resource")),
    )


def reseller_get(*, slug: str) -> Reseller:
    """Raises Reseller.DoesNotExist for an unknown slug."""
    return reseller_list().get(slug=slug)


def allocations_for_schema(schema_name: str) -> list[Allocation]:
    """What the operator allocated to the instance in `schema_name` (empty for the operator)."""
    return list(
        Allocation.objects.select_related("resource")
        .filter(reseller__schema_name=schema_name)
        .order_by("resource__position")
    )


def resource_choices() -> list[tuple[str, str, str]]:
    """(code, name, unit) of every resource the operator sells; products refer to these codes."""
    from .models import Resource

    return list(Resource.objects.order_by("position").values_list("code", "name", "unit"))
