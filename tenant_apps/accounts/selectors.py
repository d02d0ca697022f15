"""Reads of the instance's accounts: the staff list and the permission-checking fetcher,
who owes a second sign-in factor and what a user's sign-in security looks like."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import get_public_schema_name
from rest_framework.authtoken.models import Token

from .models import STAFF_ROLES, SignInPolicy, User
from .permissions import NOT_TEAM_MANAGER

# What a signed-in session still owes (see `second_step_pending`).
SECOND_STEP_VERIFY = "verify"
SECOND_STEP_SET_UP = "set_up"


def staff_list(
    *, search: str | None = None, role: str | None = None, active: bool | None = None
) -> QuerySet[User]:
    """Everyone with a staff role on this instance, active or not (customers never)."""
    members = User.objects.filter(role__in=STAFF_ROLES).annotate(
        two_factor_enabled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
    )
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


# --------------------------------------------------------------------------------------
# Two-factor sign-in


def sign_in_policy_get() -> SignInPolicy:
    """This instance's sign-in policy (the defaults, unsaved, until someone changes it)."""
    return SignInPolicy.objects.first() or SignInPolicy()


def is_operator_instance() -> bool:
    """The operator's own instance is the public schema."""
    return connection.schema_name == get_public_schema_name()


def two_factor_enforced_for_staff() -> bool:
    """Always for the operator's staff; for a reseller's, when its owner says so."""
    return is_operator_instance() or sign_in_policy_get().require_staff_two_factor


def two_factor_required(user: User) -> bool:
    """Must this user sign in with a second factor? Staff where it is enforced; customers
    only choose it for themselves."""
    return bool(user.is_authenticated and user.is_instance_staff) and (
        two_factor_enforced_for_staff()
    )


def two_factor_device(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if they set one up."""
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def recovery_device(user: User) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def second_step_pending(user: User, *, verified: bool, for_admin: bool = False) -> str | None:
    """What a signed-in session owes before it may do anything else: a code from the
    user's app (`SECOND_STEP_VERIFY`), setting one up first (`SECOND_STEP_SET_UP`: it is
    required of them, or they are opening the Django admin, which always asks), or nothing.
    """
    if verified or not user.is_authenticated:
        return None
    if two_factor_device(user) is not None:
        return SECOND_STEP_VERIFY
    if for_admin or two_factor_required(user):
        return SECOND_STEP_SET_UP
    return None


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    required: bool
    since: datetime.datetime | None
    last_used_at: datetime.datetime | None
    recovery_codes_left: int

    @property
    def can_disable(self) -> bool:
        return self.enabled and not self.required


def two_factor_status(user: User) -> TwoFactorStatus:
    """A user's second factor as their security page, the team screen and the API show it."""
    device = two_factor_device(user)
    return TwoFactorStatus(
        enabled=device is not None,
        required=two_factor_required(user),
        since=device.created_at if device else None,
        last_used_at=device.last_used_at if device else None,
        recovery_codes_left=recovery_codes_left(user) if device else 0,
    )


def api_token_for(user: User) -> Token | None:
    """The user's API token with when it was last used (`token.use`, when it was)."""
    return Token.objects.filter(user=user).select_related("use").first()


def api_token_last_used(token: Token | None) -> datetime.datetime | None:
    if token is None:
        return None
    use = getattr(token, "use", None)  # a missing reverse one-to-one is an AttributeError
    return use.last_used_at if use is not None else None
