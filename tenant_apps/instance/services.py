"""Writes of the instance core: the issuer identity and the instance's e-mail wording."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from . import audit
from .email_sandbox import template_problem
from .models import EmailTemplate, IssuerIdentity

IDENTITY_CHANGED = audit.event_type("identity.changed", gettext_noop("Issuer identity changed"))
EMAIL_TEMPLATE_CHANGED = audit.event_type(
    "email_template.changed", gettext_noop("E-mail wording changed")
)
EMAIL_TEMPLATE_RESET = audit.event_type(
    "email_template.reset", gettext_noop("E-mail wording reset")
)


@transaction.atomic
def issuer_identity_set(*, legal_name: str, actor=None, **fields) -> IssuerIdentity:
    """Create or update the current instance's issuer identity."""
    identity = IssuerIdentity.objects.select_for_update().first()
    created = identity is None
    if identity is None:
        identity = IssuerIdentity(legal_name=legal_name)
    before = audit.snapshot(identity, ["legal_name", *fields])
    identity.legal_name = legal_name
    for name, value in fields.items():
        setattr(identity, name, value)
    identity.full_clean()
    identity.save()
    audit.audit_record(
        IDENTITY_CHANGED,
        actor=actor,
        obj=identity,
        changes=audit.diff(before, audit.snapshot(identity, before), created=created),
    )
    return identity


@transaction.atomic
def email_template_set(*, key: str, subject: str, body: str, actor=None) -> EmailTemplate:
    if key not in EmailTemplate.Key.values:
        raise ValidationError(
            {"key": [gettext("There is no e-mail called “%(key)s”.") % {"key": key}]}
        )
    problems = {
        name: [problem]
        for name, text in (("subject", subject), ("body", body))
        if (problem := template_problem(text))
    }
    if problems:
        raise ValidationError(problems)
    row, _ = EmailTemplate.objects.update_or_create(
        key=key, defaults={"subject": subject, "body": body}
    )
    row.full_clean()
    audit.audit_record(EMAIL_TEMPLATE_CHANGED, actor=actor, obj=row)
    return row


@transaction.atomic
def email_template_reset(*, key: str, actor=None) -> None:
    """Back to the built-in wording."""
    row = EmailTemplate.objects.filter(key=key).first()
    if row is not None:
        audit.audit_record(EMAIL_TEMPLATE_RESET, actor=actor, obj=row)
        row.delete()
