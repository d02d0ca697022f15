"""Referers: the businesses or people that send customers, identified by a code."""

from django.db import models
from django.db.models.functions import Lower


class Referer(models.Model):
    code = models.SlugField(
        max_length=40, unique=True, help_text="Used in ?ref= links and at checkout"
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
