"""Referral partners ("referers"): the businesses or people that send customers, their
codes, the clicks on their links, the sign-ups attributed to them, and the programme's
settings. What they earn is in `tenant_apps.commissions`.

A partner is either one of this instance's customers or an external partner; either way
its portal login is the `clients.Customer` it is linked to (an external partner gets a
customer record of its own when staff invite it, see `services.referer_portal_invite`)."""

from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy


class Referer(models.Model):
    code = models.SlugField(
        max_length=40, unique=True, help_text=gettext_lazy("Used in ?ref= links and at checkout")
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    # A referer may itself be one of this instance's customers.
    customer = models.ForeignKey(
        "clients.Customer",
        null=True,
        blank=True,
        related_name="referers",
        on_delete=models.SET_NULL,
    )
    # Second level: the partner who brought this partner in earns on its referrals too.
    referred_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        related_name="sub_referers",
        on_delete=models.SET_NULL,
        help_text=gettext_lazy("The partner who referred this partner (second-level commission)"),
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Codes are matched case-insensitively (?ref=ACME finds "acme"), so they must be
            # unique that way too or a lookup could find two referers.
            models.UniqueConstraint(Lower("code"), name="referer_code_unique_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ProgrammeSettings(models.Model):
    """How this instance's referral programme counts (one row; none means the defaults)."""

    class Attribution(models.TextChoices):
        FIRST_CLICK = (
            "first_click",
            gettext_lazy("First click: the first partner link followed wins"),
        )
        LAST_CLICK = "last_click", gettext_lazy("Last click: the latest partner link followed wins")

    cookie_days = models.PositiveSmallIntegerField(
        default=30,
        help_text=gettext_lazy("How long a ?ref= visit is remembered in the visitor's browser"),
    )
    attribution = models.CharField(
        max_length=12, choices=Attribution.choices, default=Attribution.LAST_CLICK
    )
    maturity_days = models.PositiveSmallIntegerField(
        default=30,
        help_text=gettext_lazy(
            "Commission stays pending this many days (the refund window), then is payable"
        ),
    )
    singleton = models.BooleanField(default=True, editable=False)

    class Meta:
        verbose_name_plural = gettext_lazy("programme settings")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_referral_programme_row"),
            models.CheckConstraint(
                condition=models.Q(cookie_days__gte=1, cookie_days__lte=365),
                name="referral_cookie_days_range",
            ),
        ]

    def __str__(self) -> str:
        return "Referral programme settings"


class RefererCode(models.Model):
    """Further codes of a partner beside its main one: link codes (for ?ref= links, one per
    campaign) and checkout codes (typed at checkout). The main `Referer.code` is both."""

    class Kind(models.TextChoices):
        LINK = "link", gettext_lazy("Link code (?ref=)")
        CHECKOUT = "checkout", gettext_lazy("Checkout code")

    referer = models.ForeignKey(Referer, related_name="codes", on_delete=models.CASCADE)
    code = models.SlugField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="referer_extra_code_unique_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_kind_display()})"


class Click(models.Model):
    """One visit through a partner's ?ref= link (counted; nothing identifying is kept)."""

    referer = models.ForeignKey(Referer, related_name="clicks", on_delete=models.CASCADE)
    code = models.CharField(max_length=40)
    path = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["referer", "created_at"], name="referrals_click_by_referer")
        ]

    def __str__(self) -> str:
        return f"{self.code} at {self.created_at:%Y-%m-%d %H:%M}"


class SignUp(models.Model):
    """The partner a customer's sign-up is attributed to (one per customer: first wins).

    Orders carry their own referer; a customer's later order without one is still credited
    to the partner that brought the customer in (see commissions)."""

    class Source(models.TextChoices):
        LINK = "link", gettext_lazy("Referral link (?ref=)")
        CODE = "code", gettext_lazy("Code typed at sign-up")
        STAFF = "staff", gettext_lazy("Chosen by staff")

    customer = models.OneToOneField(
        "clients.Customer", related_name="referral", on_delete=models.CASCADE
    )
    referer = models.ForeignKey(Referer, related_name="signups", on_delete=models.PROTECT)
    source = models.CharField(max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id} via {self.referer_id}"
