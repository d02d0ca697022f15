"""Writes to the instance's accounts: inviting staff, roles, deactivation, API tokens,
passwords and profiles. Each write records one event in the instance's audit trail (the
user is the object; a password never appears in an event)."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from tenant_apps.instance import audit

from .models import STAFF_ROLES, Role, User

USER_INVITED = audit.event_type("user.invited", "Staff member invited")
USER_ROLE_CHANGED = audit.event_type("user.role_changed", "Role changed")
USER_DEACTIVATED = audit.event_type("user.deactivated", "Account deactivated")
USER_API_TOKEN_ROTATED = audit.event_type("user.api_token_rotated", "API token replaced")
USER_API_TOKEN_REVOKED = audit.event_type("user.api_token_revoked", "API token revoked")
USER_PASSWORD_CHANGED = audit.event_type("user.password_changed", "Password changed")
USER_PASSWORD_RESET = audit.event_type("user.password_reset", "Password reset by e-mail link")
USER_PROFILE_UPDATED = audit.event_type("user.profile_updated", "Profile changed")

_INVITABLE_ROLES = "Choose administrator, billing or support."


def user_send_password_link(*, user: User, domain: str, use_https: bool) -> None:
    """E-mail a link to choose a password, valid on this instance's domain only.

    Django's PasswordResetForm skips accounts without a usable password, which is exactly
    what an invited account is, so the same e-mail is sent through the form's own mailer.
    """
    context = {
        "email": user.email,
        "domain": domain,
        "site_name": domain,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": "https" if use_https else "http",
    }
    PasswordResetForm().send_mail(
        "registration/password_reset_subject.txt",
        "registration/password_reset_email.html",
        context,
        None,
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
) -> User:
    """Add a staff member; they receive a link to set their password."""
    if role not in STAFF_ROLES or role == Role.OWNER:
        raise ValidationError({"role": [_INVITABLE_ROLES]})
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
        lambda: user_send_password_link(user=user, domain=domain, use_https=use_https)
    )
    return user


def _staff_member(user: User) -> User:
    """The staff member, locked; the owner's account is changed by nobody else."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.role not in STAFF_ROLES:
        raise ValidationError({"role": ["Only staff accounts are managed here."]})
    if locked.role == Role.OWNER:
        raise ValidationError({"role": ["The owner's account cannot be changed here."]})
    return locked


@transaction.atomic
def staff_role_change(*, user: User, role: str, actor=None) -> User:
    """Give a staff member another role (not owner: an instance has one owner)."""
    if role not in STAFF_ROLES or role == Role.OWNER:
        raise ValidationError({"role": [_INVITABLE_ROLES]})
    locked = _staff_member(user)
    if locked.role == role:
        return locked
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    audit.audit_record(USER_ROLE_CHANGED, actor=actor, obj=locked, changes={"role": [before, role]})
    return locked


@transaction.atomic
def staff_deactivate(*, user: User, actor=None) -> User:
    """Stop a staff member signing in or using the API (the account and its history stay)."""
    locked = _staff_member(user)
    if getattr(actor, "pk", None) == locked.pk:
        raise ValidationError({"user": ["You cannot deactivate your own account."]})
    if not locked.is_active:
        return locked
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    Token.objects.filter(user=locked).delete()
    audit.audit_record(
        USER_DEACTIVATED, actor=actor, obj=locked, changes={"is_active": [True, False]}
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
