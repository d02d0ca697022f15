"""The user model of every instance: e-mail login, one role each.

Each instance has its own user table (its own schema), so the same e-mail address can be a
customer of one reseller and staff of another without the two accounts ever meeting.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class Role(models.TextChoices):
    OWNER = "owner", gettext_lazy("Owner")
    ADMIN = "admin", gettext_lazy("Administrator")
    BILLING = "billing", gettext_lazy("Billing")
    SUPPORT = "support", gettext_lazy("Support")
    CUSTOMER = "customer", gettext_lazy("Customer")


STAFF_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING, Role.SUPPORT})
# Roles allowed to manage the instance itself (staff accounts, settings).
MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})
# Roles allowed to take orders and money: issue, void, credit, record payments.
BILLING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING})


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("role", Role.CUSTOMER)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(role=Role.OWNER, is_superuser=True, is_django_admin=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.CUSTOMER)
    is_active = models.BooleanField(default=True)
    # Access to /admin/ (Django admin) is for superusers of the instance only.
    is_django_admin = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Screens in this language; blank follows the browser (cookie, then Accept-Language).
    language = models.CharField(max_length=10, blank=True, choices=settings.LANGUAGES)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_staff(self) -> bool:
        """Django admin gate: only superusers flagged for it reach /admin/."""
        return self.is_django_admin and self.is_superuser

    @property
    def is_instance_staff(self) -> bool:
        return self.is_active and self.role in STAFF_ROLES

    @property
    def is_customer(self) -> bool:
        return self.is_active and self.role == Role.CUSTOMER

    @property
    def can_manage_instance(self) -> bool:
        return self.is_active and self.role in MANAGER_ROLES

    @property
    def can_bill(self) -> bool:
        return self.is_active and self.role in BILLING_ROLES

    @property
    def can_change_tax_terms(self) -> bool:
        """A customer's tax status, tax id, exemption and currency decide what invoices
        charge, so they belong to the roles that bill; support reads them only."""
        return self.can_bill

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class SignInPolicy(models.Model):
    """How this instance's staff sign in: one row at most (none means the defaults).

    The operator's own staff always use a second factor whatever this row says (see
    `selectors.two_factor_enforced_for_staff`); a reseller's owner decides for its team.
    """

    require_staff_two_factor = models.BooleanField(
        gettext_lazy("Require two-factor sign-in for staff"),
        default=False,
        help_text=gettext_lazy(
            "Staff without an authenticator app are sent to set one up when they "
            "next sign in, and can do nothing else until it is done. Customers choose for "
            "themselves."
        ),
    )
    # Always true and unique (see Meta): at most one policy row per instance.
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("sign-in policy")
        verbose_name_plural = gettext_lazy("sign-in policy")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_sign_in_policy"),
        ]

    def __str__(self) -> str:
        return "Sign-in policy"


class ApiTokenUse(models.Model):
    """When an API token was last used (written at most every few minutes per token, see
    `services.api_token_touch`); goes with the token when it is revoked or replaced."""

    token = models.OneToOneField(
        "authtoken.Token", primary_key=True, on_delete=models.CASCADE, related_name="use"
    )
    last_used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"last used {self.last_used_at:%Y-%m-%d %H:%M}"
