"""Writes to the instance's accounts: inviting staff, roles, deactivation and reactivation,
API tokens, passwords and profiles. Only the owner and administrators manage the team, only
owners touch owners, and an instance always keeps one active owner. Each write records one
event in the instance's audit trail (the user is the object; a password never appears in an
event)."""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY, password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from tenant_apps.instance import audit, emails
from tenant_apps.instance.selectors import issuer_identity_get

from . import throttling
from .models import STAFF_ROLES, Role, User
from .permissions import NOT_TEAM_MANAGER

USER_INVITED = audit.event_type("user.invited", "Staff member invited")
USER_ROLE_CHANGED = audit.event_type("user.role_changed", "Role changed")
USER_DEACTIVATED = audit.event_type("user.deactivated", "Account deactivated")
USER_API_TOKEN_ROTATED = audit.event_type("user.api_token_rotated", "API token replaced")
USER_API_TOKEN_REVOKED = audit.event_type("user.api_token_revoked", "API token revoked")
USER_PASSWORD_CHANGED = audit.event_type("user.password_changed", "Password changed")
USER_PASSWORD_RESET = audit.event_type("user.password_reset", "Password reset by e-mail link")
USER_PROFILE_UPDATED = audit.event_type("user.profile_updated", "Profile changed")
USER_REACTIVATED = audit.event_type("user.reactivated", "Account reactivated")

_STAFF_ROLE_CHOICE = "Choose owner, administrator, billing or support."
_ONLY_OWNERS = "Only an owner can make someone an owner or change an owner's account."
_LAST_OWNER = "This is the last active owner of the instance: make someone else an owner first."


def _acting_user(actor) -> User | None:
    """The user behind an actor (a user, or a user acting through an API key); None for
    the system, commands and tasks."""
    user = getattr(actor, "user", actor)
    return user if isinstance(user, User) else None


def _require_team_manager(actor, *, owner_matter: bool = False) -> None:
    """Managing the team is for the owner and administrators; owner accounts (and the owner
    role) for owners only. The system (no user) acts as the instance itself."""
    user = _acting_user(actor)
    if user is None:
        return
    if not user.can_manage_instance:
        raise PermissionDenied(NOT_TEAM_MANAGER)
    if owner_matter and user.role != Role.OWNER:
        raise PermissionDenied(_ONLY_OWNERS)


def _staff_role(role: str) -> str:
    if role not in STAFF_ROLES:
        raise ValidationError({"role": [_STAFF_ROLE_CHOICE]})
    return role


def user_send_password_link(
    *, user: User, domain: str, use_https: bool, invitation: bool = False
) -> None:
    """E-mail a link to choose a password, valid on this instance's domain only, sent in the
    instance's name (its issuer identity) like every other mail it sends.

    Django's PasswordResetForm skips accounts without a usable password, which is exactly
    what an invited account is, so the same e-mail is sent through the form's own mailer.
    """
    identity = issuer_identity_get()
    context = {
        "email": user.email,
        "domain": domain,
        "site_name": emails.sender_name(identity) or domain,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": "https" if use_https else "http",
    }
    kind = "invitation" if invitation else "password_reset"
    PasswordResetForm().send_mail(
        f"registration/{kind}_subject.txt",
        f"registration/{kind}_email.html",
        context,
        emails.sender_address(identity),
        user.email,
    )


def staff_invite(
    *,
    email: str,
    role: str,
    full_name: str = "",
    domain: str,
    use_https: bool = True,
    actor=None,
    ip_address: str | None = None,
) -> User:
    """Add a staff member; they receive a link to set their password.

    Invitations are limited per address and per `ip_address` (the inviter's) per hour.
    """
    _staff_role(role)
    _require_team_manager(actor, owner_matter=role == Role.OWNER)
    throttling.password_mail_reserve(kind=throttling.INVITATION, email=email, ip_address=ip_address)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, full_name=full_name, role=role)
            audit.audit_record(
                USER_INVITED, actor=actor, obj=user, detail={"email": user.email, "role": role}
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"email": ["Someone with this e-mail already has an account here."]}
        ) from exc
    transaction.on_commit(
        lambda: user_send_password_link(
            user=user, domain=domain, use_https=use_https, invitation=True
        )
    )
    return user


def _staff_member(user: User, *, actor) -> User:
    """The staff member, locked, once the actor may manage them."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.role not in STAFF_ROLES:
        raise ValidationError({"role": ["Only staff accounts are managed here."]})
    if locked.role == Role.OWNER:
        if _acting_user(actor) is None:
            # No one to answer for it: an owner's account changes only at an owner's hand.
            raise ValidationError({"role": ["The owner's account cannot be changed here."]})
        _require_team_manager(actor, owner_matter=True)
    else:
        _require_team_manager(actor)
    return locked


def _refuse_losing_the_last_owner(member: User) -> None:
    """An instance keeps at least one active owner (the owners' rows are locked, so two
    owners demoting each other at once cannot both succeed)."""
    if member.role != Role.OWNER or not member.is_active:
        return
    owners = list(
        User.objects.select_for_update()
        .filter(role=Role.OWNER, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if owners == [member.pk]:
        raise ValidationError({"role": [_LAST_OWNER]})


def _revoke_access(user: User) -> int:
    """End every session and the API token of `user` at once (this instance's schema only).

    Sessions are stored encoded, so each live session of the instance is decoded: the user
    is only known inside the data. Returns how many sessions ended.
    """
    Token.objects.filter(user=user).delete()
    ended = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk)
    ]
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


@transaction.atomic
def staff_role_change(*, user: User, role: str, actor=None) -> User:
    """Give a staff member another role; only owners grant or take away the owner role."""
    _staff_role(role)
    locked = _staff_member(user, actor=actor)
    if locked.role == role:
        return locked
    if role == Role.OWNER:
        _require_team_manager(actor, owner_matter=True)
    _refuse_losing_the_last_owner(locked)
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    audit.audit_record(USER_ROLE_CHANGED, actor=actor, obj=locked, changes={"role": [before, role]})
    return locked


@transaction.atomic
def staff_deactivate(*, user: User, actor=None) -> User:
    """Stop a staff member signing in or using the API at once: their sessions and API token
    end now (the account and its history stay)."""
    locked = _staff_member(user, actor=actor)
    if getattr(_acting_user(actor), "pk", None) == locked.pk:
        raise ValidationError({"user": ["You cannot deactivate your own account."]})
    if not locked.is_active:
        return locked
    _refuse_losing_the_last_owner(locked)
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    sessions = _revoke_access(locked)
    audit.audit_record(
        USER_DEACTIVATED,
        actor=actor,
        obj=locked,
        changes={"is_active": [True, False]},
        detail={"sessions_ended": sessions},
    )
    return locked


@transaction.atomic
def staff_reactivate(*, user: User, actor=None) -> User:
    """Let a deactivated staff member sign in again (with their password; no API token)."""
    locked = _staff_member(user, actor=actor)
    if locked.is_active:
        return locked
    locked.is_active = True
    locked.save(update_fields=["is_active"])
    audit.audit_record(
        USER_REACTIVATED, actor=actor, obj=locked, changes={"is_active": [False, True]}
    )
    return locked


def api_token_rotate(*, user: User, actor=None) -> Token:
    """Replace the user's API token with a new one (the old one stops working at once)."""
    with transaction.atomic():
        had_one = Token.objects.filter(user=user).delete()[0] > 0
        token = Token.objects.create(user=user)
        audit.audit_record(
            USER_API_TOKEN_ROTATED,
            actor=actor if actor is not None else user,
            obj=user,
            detail={"replaced": had_one},
        )
        return token


def api_token_revoke(*, user: User, actor=None) -> None:
    with transaction.atomic():
        if Token.objects.filter(user=user).delete()[0]:
            audit.audit_record(
                USER_API_TOKEN_REVOKED, actor=actor if actor is not None else user, obj=user
            )


@transaction.atomic
def user_password_set(*, user: User, password: str, reset: bool = False, actor=None) -> User:
    """Set a new password (checked against the instance's password rules).

    `reset`: set from an e-mailed reset link rather than changed while signed in.
    """
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.audit_record(
        USER_PASSWORD_RESET if reset else USER_PASSWORD_CHANGED,
        actor=actor if actor is not None else user,
        obj=user,
    )
    return user


@transaction.atomic
def user_profile_update(*, user: User, full_name: str, actor=None) -> User:
    before = user.full_name
    user.full_name = full_name.strip()
    user.save(update_fields=["full_name"])
    if before != user.full_name:
        audit.audit_record(
            USER_PROFILE_UPDATED,
            actor=actor if actor is not None else user,
            obj=user,
            changes={"full_name": [before, user.full_name]},
        )
    return user
