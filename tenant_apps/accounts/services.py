"""Writes to the instance's accounts: inviting staff, API tokens."""

from __future__ import annotations

from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from .models import STAFF_ROLES, Role, User


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
    *, email: str, role: str, full_name: str = "", domain: str, use_https: bool = True
) -> User:
    """Add a staff member; they receive a link to set their password."""
    if role not in STAFF_ROLES or role == Role.OWNER:
        raise ValidationError({"role": ["Choose administrator, billing or support."]})
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, full_name=full_name, role=role)
    except IntegrityError as exc:
        raise ValidationError(
            {"email": ["Someone with this e-mail already has an account here."]}
        ) from exc
    transaction.on_commit(
        lambda: user_send_password_link(user=user, domain=domain, use_https=use_https)
    )
    return user


def api_token_rotate(*, user: User) -> Token:
    """Replace the user's API token with a new one (the old one stops working at once)."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def api_token_revoke(*, user: User) -> None:
    Token.objects.filter(user=user).delete()


def user_profile_update(*, user: User, full_name: str) -> User:
    user.full_name = full_name.strip()
    user.save(update_fields=["full_name"])
    return user
