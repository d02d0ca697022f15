"""Every write of the storefront: its settings, sign-ups (started, then confirmed from the
e-mailed link) and orders placed from the cart.

Rules kept here:
- a sign-up writes nothing but one `PendingSignup` row until its address is confirmed;
  the user, the customer and the terms acceptance are then created in one transaction, so
  a refused or abandoned sign-up leaves no half-made account;
- one address has at most one pending sign-up (signing up again replaces it, and the older
  link stops working);
- sign-up form posts are counted per client address, confirmation e-mails per address,
  each per hour, in the instance's cache (keys are per schema), before anything is written;
- an order from the cart is placed and accepted (invoiced) in one transaction by the
  orders services, exactly as a portal order is: its services start when the invoice is
  paid.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from tenant_apps.accounts.models import Role
from tenant_apps.billing.models import Invoice
from tenant_apps.clients.models import Customer
from tenant_apps.clients.services import customer_create
from tenant_apps.instance import audit, emails
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.mail.services import email_queue
from tenant_apps.orders import services as order_services
from tenant_apps.orders.models import Order
from tenant_apps.referrals.models import Referer
from tenant_apps.referrals.services import signup_attribute

from .addresses import normalised_email, signup_email_problem
from .models import PendingSignup, ShopGroup, StorefrontSettings, TermsAcceptance
from .selectors import CartLine, storefront_settings_get

SIGNUP_STARTED = audit.event_type(
    "signup.started", gettext_noop("Sign-up started (e-mail not confirmed)")
)
SIGNUP_CONFIRMED = audit.event_type("signup.confirmed", gettext_noop("Signed up in the shop"))
TERMS_ACCEPTED = audit.event_type("terms.accepted", gettext_noop("Accepted the terms of service"))
STOREFRONT_SETTINGS_CHANGED = audit.event_type(
    "storefront.settings_changed", gettext_noop("Shop settings changed")
)

SHOP_GROUP_SAVED = audit.event_type("shop_group.saved", gettext_noop("Shop section saved"))
SHOP_GROUP_DELETED = audit.event_type("shop_group.deleted", gettext_noop("Shop section removed"))

SETTINGS_FIELDS = ("terms_version", "terms_url", "terms_text", "allow_invoice_payment", "headline")
WINDOW_SECONDS = 3600


class SignupThrottled(DomainError):
    status_code = 429
    code = "throttled"


class SignupLinkInvalid(DomainError):
    code = "signup_link_invalid"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _count(key: str, limit: int, message: str) -> None:
    """Count one more in `key` for the hour, or raise SignupThrottled once `limit` is used."""
    if (cache.get(key) or 0) >= limit:
        raise SignupThrottled(message)
    cache.add(key, 0, timeout=WINDOW_SECONDS)  # the first one starts the hour
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS)


def signup_post_reserve(*, ip_address: str | None) -> None:
    """Count one sign-up form post from `ip_address`; refuse past the hourly allowance."""
    if not ip_address:
        return
    digest = hashlib.sha256(ip_address.encode()).hexdigest()[:32]
    _count(
        f"storefront:signup-posts:{digest}",
        settings.UPLINE_SIGNUP_POSTS_PER_IP,
        gettext(
            "Too many sign-up attempts from your network in the last hour. Please try again later."
        ),
    )


def _mail_reserve(email: str) -> None:
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    _count(
        f"storefront:signup-mails:{digest}",
        settings.UPLINE_SIGNUP_MAILS_PER_ADDRESS,
        gettext(
            "We already sent several confirmation e-mails to this address in the last hour. "
            "Check your inbox (and spam folder), or try again later."
        ),
    )


# --------------------------------------------------------------------------------------
# Settings


def storefront_settings_set(*, actor=None, **values: Any) -> StorefrontSettings:
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"storefront_settings_set() cannot change: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        row = StorefrontSettings.objects.select_for_update().first()
        if row is None:
            row = StorefrontSettings.objects.create()
        before = audit.snapshot(row, SETTINGS_FIELDS)
        for name, value in values.items():
            setattr(row, name, value)
        row.full_clean()
        row.save()
        audit.audit_record(
            STOREFRONT_SETTINGS_CHANGED,
            actor=actor,
            obj=row,
            changes=audit.diff(before, audit.snapshot(row, SETTINGS_FIELDS)),
        )
    return row


def shop_group_save(
    *,
    group: ShopGroup | None = None,
    name: str,
    description: str = "",
    position: int = 0,
    plans: list,
    actor=None,
) -> ShopGroup:
    """Create or change a section of the shop's catalog (its name and its plans)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [gettext("Give the section a name.")]})
    if any(plan.kind != "plan" for plan in plans):
        raise ValidationError({"plans": [gettext("Only plans are listed in sections.")]})
    with transaction.atomic():
        created = group is None
        group = group or ShopGroup()
        before = (
            {}
            if created
            else {"name": group.name, "plans": sorted(group.plans.values_list("pk", flat=True))}
        )
        group.name, group.description, group.position = name, description.strip(), position
        group.save()
        group.plans.set(plans)
        after = {"name": group.name, "plans": sorted(plan.pk for plan in plans)}
        audit.audit_record(
            SHOP_GROUP_SAVED,
            actor=actor,
            obj=group,
            changes=audit.diff(before, after, created=created),
        )
    return group


def shop_group_delete(*, group: ShopGroup, actor=None) -> None:
    """Remove a section; its plans stay on sale (listed with the ungrouped ones)."""
    with transaction.atomic():
        audit.audit_record(SHOP_GROUP_DELETED, actor=actor, obj=group, object_label=group.name)
        group.delete()


# --------------------------------------------------------------------------------------
# Sign-up


def signup_start(
    *,
    email: str,
    password: str,
    full_name: str,
    billing: Mapping[str, Any],
    terms_version: str,
    ip_address: str | None,
    confirm_url_for: Any,
    referer: Referer | None = None,
    referer_source: str = "",
) -> PendingSignup:
    """Keep a sign-up until its address is confirmed and e-mail the confirmation link.

    `billing` is validated by the caller's form against the customer rules; `password` has
    passed the password validators. `confirm_url_for(token)` builds the absolute link on
    this instance's own host. `referer` (with `referer_source`, "link" or "code") is the
    partner the visitor came through, credited when the link is confirmed. Raises
    ValidationError({"email": …}) for an address that cannot sign up, SignupThrottled when
    the address had its e-mails for the hour.
    """
    email = normalised_email(email)
    problem = signup_email_problem(email)
    if problem:
        raise ValidationError({"email": [problem]})
    if get_user_model().objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {
                "email": [
                    gettext("An account with this e-mail address already exists: sign in instead.")
                ]
            }
        )
    current_terms = storefront_settings_get().terms_version
    if terms_version != current_terms:
        raise ValidationError(
            {"accept_terms": [gettext("The terms changed meanwhile; read them again.")]}
        )
    _mail_reserve(email)
    token = secrets.token_urlsafe(32)
    hours = settings.UPLINE_SIGNUP_LINK_HOURS
    with transaction.atomic():
        # One pending sign-up per address: a new one replaces the old (and its link).
        PendingSignup.objects.filter(email=email).delete()
        pending = PendingSignup.objects.create(
            email=email,
            token_hash=_hash(token),
            password_hash=make_password(password),
            full_name=full_name.strip(),
            billing=dict(billing),
            terms_version=terms_version,
            referer=referer,
            referer_source=referer_source if referer is not None else "",
            ip_address=ip_address or None,
            expires_at=timezone.now() + timedelta(hours=hours),
        )
        audit.audit_record(
            SIGNUP_STARTED,
            actor=email,
            obj=pending,
            object_label=email,
            ip_address=ip_address,
        )
        link = confirm_url_for(token)
        transaction.on_commit(lambda: _send_confirmation(email=email, link=link, hours=hours))
    return pending


def _send_confirmation(*, email: str, link: str, hours: int) -> None:
    identity = issuer_identity_get()
    name = emails.sender_name(identity) or "our shop"
    body = render_to_string(
        "storefront/emails/confirm_signup.txt", {"link": link, "name": name, "hours": hours}
    )
    # Recorded in the instance's outbox and sent by a worker (this runs after the commit).
    email_queue(
        to=[email],
        key="signup_confirm",
        subject=gettext("Confirm your e-mail address for %(name)s") % {"name": name},
        body=body,
    )


def pending_signup_for_token(token: str) -> PendingSignup:
    """The pending sign-up the link's token names, or SignupLinkInvalid."""
    pending = PendingSignup.objects.filter(token_hash=_hash(token or "")).first()
    if pending is None:
        raise SignupLinkInvalid(
            gettext(
                "This confirmation link is not valid any more: it was used already, or a newer "
                "one was sent. Sign in, or sign up again."
            )
        )
    if pending.expires_at <= timezone.now():
        raise SignupLinkInvalid(
            gettext("This confirmation link has expired; please sign up again.")
        )
    return pending


def signup_confirm(*, token: str, ip_address: str | None = None):
    """Turn the pending sign-up the link names into a portal user and its customer, with the
    accepted terms recorded; returns the user. All or nothing."""
    pending = pending_signup_for_token(token)
    User = get_user_model()
    try:
        with transaction.atomic():
            locked = PendingSignup.objects.select_for_update().filter(pk=pending.pk).first()
            if locked is None:  # confirmed by another click meanwhile
                raise SignupLinkInvalid(
                    gettext("This confirmation link was used already: sign in.")
                )
            if User.objects.filter(email__iexact=locked.email).exists():
                locked.delete()
                raise SignupLinkInvalid(
                    gettext("An account with this e-mail address already exists: sign in instead.")
                )
            user = User(
                email=locked.email,
                full_name=locked.full_name,
                role=Role.CUSTOMER,
                password=locked.password_hash,
            )
            user.save()
            # The system creates the record (tax id and currency are the visitor's own
            # statement at sign-up; the VAT registry, not they, decides its status). Its
            # VIES check runs under the lock of this pending row only, which nothing else
            # waits on but a second click of the same link.
            customer = customer_create(**locked.billing, email=locked.email, actor=None)
            Customer.objects.filter(pk=customer.pk).update(user=user)
            customer.user = user
            TermsAcceptance.objects.create(
                customer=customer,
                user=user,
                version=locked.terms_version,
                accepted_at=timezone.now(),
                ip_address=ip_address or None,
            )
            if locked.referer_id is not None:
                try:
                    signup_attribute(
                        customer=customer,
                        referer=locked.referer,
                        source=locked.referer_source,
                        actor=user,
                    )
                except ValidationError:
                    pass  # the partner was deactivated meanwhile: nobody is credited
            audit.audit_record(
                SIGNUP_CONFIRMED,
                actor=user,
                obj=customer,
                detail={"terms_version": locked.terms_version},
                ip_address=ip_address,
            )
            locked.delete()
    except IntegrityError as exc:  # the same address confirmed twice at once
        raise SignupLinkInvalid(
            gettext("An account with this e-mail address already exists: sign in instead.")
        ) from exc
    return user


def signup_purge_expired() -> int:
    """Forget sign-ups whose link expired (nothing else refers to them)."""
    deleted, _ = PendingSignup.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


# --------------------------------------------------------------------------------------
# Orders


def storefront_order_place(
    *,
    customer: Customer,
    lines: list[CartLine],
    labels: Mapping[int, str],
    referer: Referer | None,
    referer_source: str,
    user,
    accepted_terms: str = "",
    ip_address: str | None = None,
) -> tuple[Order, Invoice]:
    """Order the cart's plans for `customer` and issue the first invoice at once, as the
    portal's checkout does; the services start when it is paid. `labels` overrides a
    line's label (e.g. the instance name a reseller plan needs), by line index.
    `accepted_terms`: the terms version the customer accepted with this order (when
    their last acceptance was of an older version)."""
    problems = [line.problem for line in lines if line.problem]
    if not lines:
        raise ValidationError({"__all__": [gettext("Your cart is empty.")]})
    if problems:
        raise ValidationError({"__all__": problems})
    items = [
        {
            "product": line.plan,
            "cycle": line.price.cycle,
            "quantity": 1,
            "label": labels.get(line.index, line.label),
            "addons": [addon.pk for addon, _price in line.addons],
        }
        for line in lines
    ]
    with transaction.atomic():
        order = order_services.order_place(
            customer=customer,
            items=items,
            source=Order.Source.PORTAL,
            referer=referer,
            referer_source=referer_source,
            created_by=user,
            actor=user,
        )
        invoice = order_services.order_accept(order=order, activate=False, actor=user)
        if accepted_terms:
            acceptance = TermsAcceptance.objects.create(
                customer=customer,
                user=user,
                version=accepted_terms,
                accepted_at=timezone.now(),
                ip_address=ip_address or None,
            )
            audit.audit_record(
                TERMS_ACCEPTED,
                actor=user,
                obj=acceptance,
                customer_id=customer.pk,
                detail={"version": accepted_terms, "order": order.pk},
                ip_address=ip_address,
            )
    return order, invoice
