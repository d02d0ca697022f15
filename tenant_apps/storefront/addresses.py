"""Which e-mail addresses the shop accepts at sign-up: well-formed, with a domain that can
receive mail, and not from a throw-away ("disposable") inbox provider.

The list of disposable domains is the `disposable-email-domains` package (pinned in
pyproject), the community-maintained list many sign-up forms use; subdomains of a listed
domain count as listed.
"""

from __future__ import annotations

from disposable_email_domains import blocklist
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _


def normalised_email(value: str) -> str:
    return (value or "").strip().lower()


def is_disposable_domain(domain: str) -> bool:
    parts = domain.lower().rstrip(".").split(".")
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


def signup_email_problem(email: str) -> str:
    """The sentence that says why `email` cannot sign up, or "" when it can."""
    email = normalised_email(email)
    if not email:
        return _("Enter your e-mail address.")
    try:
        validate_email(email)
    except ValidationError:
        return _("“%(email)s” is not a valid e-mail address.") % {"email": email}
    domain = email.rsplit("@", 1)[1]
    if "." not in domain:
        return _("“%(domain)s” cannot receive e-mail; use an address with a full domain.") % {
            "domain": domain
        }
    if is_disposable_domain(domain):
        return _(
            "Addresses at %(domain)s are throw-away inboxes; use an address you will "
            "keep, so invoices and service notices reach you."
        ) % {"domain": domain}
    return ""
