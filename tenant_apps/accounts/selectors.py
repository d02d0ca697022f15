"""Reads of the instance's team: the staff list and the permission-checking fetcher."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from .models import STAFF_ROLES, User
from .permissions import NOT_TEAM_MANAGER


def staff_list(
    *, search: str | None = None, role: str | None = None, active: bool | None = None
) -> QuerySet[User]:
    """Everyone with a staff role on this instance, active or not (customers never)."""
    members = User.objects.filter(role__in=STAFF_ROLES)
    if search:
        members = members.filter(Q(email__icontains=search) | Q(full_name__icontains=search))
    if role:
        members = members.filter(role=role)
    if active is not None:
        members = members.filter(is_active=active)
    return members.order_by("email")


def get_staff_member_for(user: User, member_id: int | str) -> User:
    """One staff member of this instance, for a user who manages the team.

    Raises PermissionDenied for anyone else, and User.DoesNotExist for an id that is not a
    staff member here (another instance's users live in another schema and are never found).
    """
    if not (user.is_authenticated and user.can_manage_instance):
        raise PermissionDenied(NOT_TEAM_MANAGER)
    return staff_list().get(pk=member_id)
