"""Writes to the instance's accounts: inviting staff, roles, deactivation and reactivation,
API tokens, passwords and profiles, and two-factor sign-in (set-up, codes, recovery codes,
turning it off, an owner's reset, the instance's policy). Only the owner and administrators
manage the team, only owners touch owners, and an instance always keeps one active owner.
Each write records one event in the instance's audit trail (the user is the object; a
password, a secret or a code never appears in an event)."""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.contrib.auth import SESSION_KEY, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from tenant_apps.instance import audit, emails
from tenant_apps.instance.addresses import scheme_and_host
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.mail.services import email_queue

from . import selectors, throttling
from .models import STAFF_ROLES, ApiTokenUse, Role, SignInPolicy, User
from .permissions import NOT_TEAM_MANAGER

USER_INVITED = audit.event_type("user.invited", gettext_noop("Staff member invited"))
USER_ROLE_CHANGED = audit.event_type("user.role_changed", gettext_noop("Role changed"))
USER_DEACTIVATED = audit.event_type("user.deactivated", gettext_noop("Account deactivated"))
USER_API_TOKEN_ROTATED = audit.event_type(
    "user.api_token_rotated", gettext_noop("API token replaced")
)
USER_API_TOKEN_REVOKED = audit.event_type(
    "user.api_token_revoked", gettext_noop("API token revoked")
)
USER_PASSWORD_CHANGED = audit.event_type("user.password_changed", gettext_noop("Password changed"))
USER_LANGUAGE_CHANGED = audit.event_type("user.language_changed", gettext_noop("Language changed"))
USER_PASSWORD_RESET = audit.event_type(
    "user.password_reset", gettext_noop("Password reset by e-mail link")
)
USER_PROFILE_UPDATED = audit.event_type("user.profile_updated", gettext_noop("Profile changed"))
USER_REACTIVATED = audit.event_type("user.reactivated", gettext_noop("Account reactivated"))
USER_TWO_FACTOR_ENABLED = audit.event_type(
    "user.two_factor_enabled", gettext_noop("Two-factor sign-in set up")
)
USER_TWO_FACTOR_DISABLED = audit.event_type(
    "user.two_factor_disabled", gettext_noop("Two-factor sign-in turned off")
)
USER_TWO_FACTOR_RESET = audit.event_type(
    "user.two_factor_reset", gettext_noop("Two-factor sign-in reset")
)
USER_TWO_FACTOR_REFUSED = audit.event_type(
    "user.two_factor_refused", gettext_noop("Wrong two-factor code")
)
USER_RECOVERY_CODE_USED = audit.event_type(
    "user.recovery_code_used", gettext_noop("Recovery code used")
)
USER_RECOVERY_CODES_RENEWED = audit.event_type(
    "user.recovery_codes_renewed", gettext_noop("New recovery codes made")
)
SIGN_IN_POLICY_CHANGED = audit.event_type(
    "signinpolicy.changed", gettext_noop("Sign-in policy changed")
)

_STAFF_ROLE_CHOICE = gettext_lazy("Choose owner, administrator, billing or support.")
_ONLY_OWNERS = gettext_lazy("Only an owner can make someone an owner or change an owner's account.")
_LAST_OWNER = gettext_lazy(
    "This is the last active owner of the instance: make someone else an owner first."
)


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
    *, user: User, domain: str, use_https: bool, invitation: bool = False, language: str = ""
) -> None:
    """E-mail a link to choose a password, valid on this instance's domain only, sent in the
    instance's name like every other mail it sends (recorded in its outbox, sent by a
    worker once the caller commits). The link is built on the instance's configured public
    address, like the links in every other e-mail; `domain` serves only when none is known.
    It is written in `language`, else the one the user chose, else the instance's default.

    Django's PasswordResetForm skips accounts without a usable password, which is exactly
    what an invited account is, so its templates are rendered here with the same context.
    """
    identity = issuer_identity_get()
    protocol, host = scheme_and_host(fallback_host=domain, fallback_https=use_https)
    context = {
        "email": user.email,
        "domain": host,
        "site_name": emails.sender_name(identity) or host,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": protocol,
    }
    kind = "invitation" if invitation else "password_reset"
    with translation.override(language or user.language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"registration/{kind}_subject.txt", context)
        email_queue(
            to=[user.email],
            key=kind,
            subject="".join(subject.splitlines()),
            body=render_to_string(f"registration/{kind}_email.html", context),
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
            {"email": [gettext("Someone with this e-mail already has an account here.")]}
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
        raise ValidationError({"role": [gettext("Only staff accounts are managed here.")]})
    if locked.role == Role.OWNER:
        if _acting_user(actor) is None:
            # No one to answer for it: an owner's account changes only at an owner's hand.
            raise ValidationError(
                {"role": [gettext("The owner's account cannot be changed here.")]}
            )
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
        raise ValidationError({"user": [gettext("You cannot deactivate your own account.")]})
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


def user_language_set(*, user: User, language: str, actor=None) -> User:
    """Keep the language a signed-in user chose for their screens (and, for a customer,
    their e-mails and documents: `clients.selectors.customer_language`)."""
    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": gettext("Choose one of the languages offered.")})
    before = user.language
    if before != language:
        user.language = language
        user.save(update_fields=["language"])
        audit.audit_record(
            USER_LANGUAGE_CHANGED,
            actor=actor if actor is not None else user,
            obj=user,
            changes={"language": [before, language]},
        )
    return user


# --------------------------------------------------------------------------------------
# Two-factor sign-in: an authenticator app (TOTP) plus ten single-use recovery codes


RECOVERY_CODE_COUNT = 10
# A script calling the API many times a minute records its token's use once per window.
API_TOKEN_USE_WINDOW_SECONDS = 300
_ONLY_OWNERS_RESET = gettext_lazy("Only an owner can reset a team member's two-factor sign-in.")
_ONLY_OWNERS_POLICY = gettext_lazy("Only an owner can change how the team signs in.")


class SecondFactorRefused(DomainError):
    """The code is not the app's current code, nor one of the user's recovery codes."""

    code = "second_factor_refused"

    def __init__(self, message: str | None = None):
        super().__init__(
            message or gettext("That code is not right. Check your app and try again.")
        )


class SecondFactorThrottled(DomainError):
    """Too many wrong codes in a row: the device waits before it checks another."""

    code = "second_factor_throttled"
    status_code = 429

    def __init__(self, wait_seconds: int):
        self.wait_seconds = max(1, wait_seconds)
        super().__init__(
            ngettext(
                "Too many wrong codes. Wait %(count)s second before trying again.",
                "Too many wrong codes. Wait %(count)s seconds before trying again.",
                self.wait_seconds,
            )
            % {"count": self.wait_seconds}
        )


def normalise_code(code: str) -> str:
    """What the user typed, as the devices store it: no spaces or dashes, lower case
    (recovery codes are shown as `abcd-efgh`; apps show `123 456`)."""
    return "".join(ch for ch in str(code or "") if ch not in " -\t").lower()


def _is_app_code(token: str) -> bool:
    return token.isdigit() and len(token) in (6, 8)


def _wait_seconds(device: Device) -> int | None:
    """Seconds before `device` checks another code, or None when it may check now."""
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    until = (info or {}).get("locked_until")
    return math.ceil((until - timezone.now()).total_seconds()) if until else 1


def _check(device: Device | None, token: str) -> tuple[bool, int | None]:
    """(accepted, seconds to wait when throttled) for one code on one locked device."""
    if device is None:
        return False, None
    wait = _wait_seconds(device)
    if wait is not None:
        return False, wait
    return device.verify_token(token), None


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with `RECOVERY_CODE_COUNT` new ones."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, defaults={"name": "Recovery codes", "confirmed": True}
    )
    device.token_set.all().delete()
    device.throttle_reset(commit=False)
    device.confirmed = True
    device.save()
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return sorted(codes)


def _two_factor_remove(user: User) -> bool:
    """Delete the user's apps and recovery codes; True when they had two-factor on."""
    had = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()  # its codes go with it
    return had


def two_factor_setup_begin(*, user: User) -> TOTPDevice:
    """The not-yet-confirmed app device whose secret the set-up screen shows (the same
    one on every visit until it is confirmed, so a reload does not change the QR code).
    Nothing is audited: it signs no one in until `two_factor_enable` confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def two_factor_enable(
    *, user: User, device: TOTPDevice, code: str, ip_address: str | None = None
) -> tuple[TOTPDevice, list[str]]:
    """Turn two-factor sign-in on with a first valid code from the app being set up.

    Returns the confirmed device and ten new recovery codes (shown once, never again). A
    previous app of the user's stops working and earlier recovery codes are replaced.
    Raises SecondFactorRefused or SecondFactorThrottled; wrong codes are counted on the
    device even then (this function does not roll them back).
    """
    token = normalise_code(code)
    with transaction.atomic():
        pending = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, pk=device.pk, confirmed=False)
            .first()
        )
        if pending is None:
            raise ValidationError(
                {"code": [gettext("This set-up has expired or was already finished. Start again.")]}
            )
        accepted, wait = _check(pending, token)
        if accepted:
            replaced = TOTPDevice.objects.filter(user=user).exclude(pk=pending.pk).delete()[0] > 0
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            codes = _new_recovery_codes(user)
            audit.audit_record(
                USER_TWO_FACTOR_ENABLED,
                actor=user,
                obj=user,
                detail={"replaced_app": replaced, "recovery_codes": len(codes)},
                ip_address=ip_address,
            )
    if wait is not None:
        raise SecondFactorThrottled(wait)
    if not accepted:
        raise SecondFactorRefused(
            gettext("That code does not match. Scan the QR code again or check your phone's clock.")
        )
    return pending, codes


def two_factor_verify(*, user: User, code: str, ip_address: str | None = None) -> Device:
    """The second sign-in step: a code from the user's app, or one of their recovery codes
    (used up when accepted, and audited with how many are left).

    Returns the device that accepted it. Raises SecondFactorRefused (audited, with the
    address) or SecondFactorThrottled: each wrong code doubles the wait before the device
    checks another (1, 2, 4 … seconds), and that count survives signing in again with the
    password, so guessing stays slow across sessions.
    """
    token = normalise_code(code)
    model = TOTPDevice if _is_app_code(token) else StaticDevice
    with transaction.atomic():
        device = (
            model.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("-pk")
            .first()
        )
        accepted, wait = _check(device, token) if token else (False, None)
        if accepted and model is StaticDevice:
            audit.audit_record(
                USER_RECOVERY_CODE_USED,
                actor=user,
                obj=user,
                detail={"left": device.token_set.count()},
                ip_address=ip_address,
            )
        elif not accepted and wait is None:
            audit.audit_record(
                USER_TWO_FACTOR_REFUSED,
                actor=user,
                obj=user,
                detail={"kind": "app" if model is TOTPDevice else "recovery code"},
                ip_address=ip_address,
            )
    if wait is not None:
        raise SecondFactorThrottled(wait)
    if not accepted:
        raise SecondFactorRefused()
    return device


def recovery_codes_renew(*, user: User) -> list[str]:
    """Ten new recovery codes for a user with two-factor on; the old ones stop working."""
    with transaction.atomic():
        if selectors.two_factor_device(user) is None:
            raise ValidationError(gettext("Set up two-factor sign-in first."))
        codes = _new_recovery_codes(user)
        audit.audit_record(USER_RECOVERY_CODES_RENEWED, actor=user, obj=user)
    return codes


def two_factor_disable(*, user: User, proof: str, ip_address: str | None = None) -> None:
    """Turn the user's two-factor sign-in off, proven with their password or a current code.

    Refused where it is required (staff of an instance that enforces it, the operator's
    staff). While the user's devices are slowed down by wrong codes, the password is not
    checked either, so this form cannot be used to guess it.
    """
    if selectors.two_factor_required(user):
        raise ValidationError(
            {
                "proof": [
                    gettext(
                        "Two-factor sign-in is required for staff here: it cannot be turned off."
                    )
                ]
            }
        )
    if selectors.two_factor_device(user) is None:
        return
    for device in (selectors.two_factor_device(user), selectors.recovery_device(user)):
        wait = _wait_seconds(device) if device is not None else None
        if wait is not None:
            raise SecondFactorThrottled(wait)
    if not user.check_password(proof):
        try:
            two_factor_verify(user=user, code=proof, ip_address=ip_address)
        except SecondFactorRefused as exc:
            raise ValidationError(
                {"proof": [gettext("That is neither your password nor a current code.")]}
            ) from exc
    with transaction.atomic():
        _two_factor_remove(user)
        audit.audit_record(USER_TWO_FACTOR_DISABLED, actor=user, obj=user, ip_address=ip_address)


@transaction.atomic
def two_factor_reset(*, user: User, actor) -> User:
    """Clear a user's second factor (a lost phone): their app and recovery codes stop
    working at once, and where two-factor is required they set it up again on their next
    page. On the team screen an owner resets a staff member, never themselves (that is the
    security page); another instance's users are not in this schema. With no user acting
    (`manage.py two_factor_reset`) anyone can be reset: how a last owner gets back in."""
    acting = _acting_user(actor)
    if acting is None:
        locked = User.objects.select_for_update().get(pk=user.pk)
    else:
        locked = _staff_member(user, actor=actor)
        if acting.role != Role.OWNER:
            raise PermissionDenied(_ONLY_OWNERS_RESET)
        if acting.pk == locked.pk:
            raise ValidationError(
                gettext(
                    "Use your own security page to set up a new app or make new recovery codes."
                )
            )
    had = _two_factor_remove(locked)
    audit.audit_record(
        USER_TWO_FACTOR_RESET, actor=actor, obj=locked, detail={"had_two_factor": had}
    )
    return locked


@transaction.atomic
def sign_in_policy_set(*, require_staff_two_factor: bool, actor=None) -> SignInPolicy:
    """Whether this instance's staff must sign in with a second factor (owners decide)."""
    if selectors.is_operator_instance():
        raise ValidationError(
            {
                "require_staff_two_factor": [
                    gettext("The operator's staff always sign in with a second factor.")
                ]
            }
        )
    acting = _acting_user(actor)
    if acting is not None and acting.role != Role.OWNER:
        raise PermissionDenied(_ONLY_OWNERS_POLICY)
    policy, _ = SignInPolicy.objects.select_for_update().get_or_create(singleton=True)
    before = policy.require_staff_two_factor
    if before == require_staff_two_factor:
        return policy
    policy.require_staff_two_factor = require_staff_two_factor
    policy.save(update_fields=["require_staff_two_factor", "updated_at"])
    audit.audit_record(
        SIGN_IN_POLICY_CHANGED,
        actor=actor,
        obj=policy,
        changes={"require_staff_two_factor": [before, require_staff_two_factor]},
    )
    return policy


def staff_api_token_revoke(*, user: User, actor) -> bool:
    """A team manager revokes a staff member's API token (the rules of deactivation: an
    owner's token only at an owner's hand). True when there was one."""
    with transaction.atomic():
        locked = _staff_member(user, actor=actor)
        had = Token.objects.filter(user=locked).exists()
        api_token_revoke(user=locked, actor=actor)
    return had


def api_token_touch(*, token: Token) -> None:
    """Note that `token` was just used, for its owner's security page.

    One write per token per window (the cache, per instance, remembers the last one), so a
    busy script costs nothing per call. Not an audit event: using a token changes nothing.
    """
    marker = "api-token-used:" + hashlib.sha256(token.key.encode()).hexdigest()[:32]
    if not cache.add(marker, 1, timeout=API_TOKEN_USE_WINDOW_SECONDS):
        return
    ApiTokenUse.objects.bulk_create(
        [ApiTokenUse(token=token, last_used_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["token"],
        update_fields=["last_used_at"],
    )
