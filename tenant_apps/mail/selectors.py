"""Reads of outgoing e-mail shared by the staff screens, the customer page and the API."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import MailSettings, OutgoingEmail


def email_list(
    *,
    status: str = "",
    template_key: str = "",
    search: str = "",
    customer_id: int | None = None,
) -> QuerySet[OutgoingEmail]:
    """The instance's outgoing e-mail, newest first, narrowed by whatever is given.

    Bodies are deferred: lists show who, what and how it went, never the text."""
    emails = OutgoingEmail.objects.defer("body_text", "body_html", "attachments")
    if status:
        emails = emails.filter(status=status)
    if template_key:
        emails = emails.filter(template_key=template_key)
    if customer_id is not None:
        emails = emails.filter(customer_id=customer_id)
    if search:
        emails = emails.filter(
            Q(subject__icontains=search)
            | Q(to__icontains=search)
            | Q(cc__icontains=search)
            | Q(last_error__icontains=search)
        )
    return emails


def emails_for_customer(customer_id: int, *, limit: int = 20) -> list[OutgoingEmail]:
    """The latest e-mails sent to (or about) one customer, newest first."""
    return list(email_list(customer_id=customer_id)[:limit])


def get_email_for(user, email_id) -> OutgoingEmail:
    """One e-mail of this instance for a staff member (raises OutgoingEmail.DoesNotExist).

    Every staff role reads the log; the instance is the schema, so another instance's
    e-mails are not there to find."""
    if not getattr(user, "is_instance_staff", False):
        raise OutgoingEmail.DoesNotExist
    return OutgoingEmail.objects.get(pk=email_id)


def mail_settings_get() -> MailSettings:
    """The instance's sending settings (an unsaved row with the defaults when never set)."""
    return MailSettings.objects.first() or MailSettings()


def template_keys() -> list[str]:
    """Every kind of e-mail this instance has recorded, for filters."""
    keys = OutgoingEmail.objects.order_by().values_list("template_key", flat=True).distinct()
    return sorted(k for k in keys[:200] if k)
