"""E-mail wording of an instance and the one renderer every app sends through.

Each e-mail's wording is the instance's `EmailTemplate` row for its key when staff wrote one,
else the default in `templates/emails/<key>.txt` (first line `Subject: …`, then the body), or its
French or German version in `templates/emails/<language>/<key>.txt` under that active language.
Both are plain text rendered in the template sandbox (`email_sandbox`: allowed tags and
filters only, dict keys only, loops and output capped) with autoescape off. Callers pass
plain values only (numbers, names, formatted amounts, links), never model instances, so
staff-written text cannot walk relations to data it must not see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.template import TemplateDoesNotExist, loader
from django.utils.translation import get_language

from .email_sandbox import render_template
from .models import EmailTemplate, IssuerIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def email_template_default(key: str) -> tuple[str, str] | None:
    """The built-in (subject, body) of e-mail `key` in the active language, or None when
    there is no file: `emails/<language>/<key>.txt` when we wrote one for that language
    (French, German), else the English `emails/<key>.txt`."""
    language = (get_language() or "")[:2].lower()
    names = [f"emails/{key}.txt"]
    if language.isalpha() and language != "en":
        names.insert(0, f"emails/{language}/{key}.txt")
    try:
        source = loader.select_template(names).template.source
    except TemplateDoesNotExist:
        return None
    first, _, body = source.partition("\n")
    if not first.startswith("Subject:"):
        return "", source
    return first.removeprefix("Subject:").strip(), body.lstrip("\n")


def _render(subject: str, body: str, context: dict) -> Rendered:
    subject_text = render_template(subject, context)
    body_text = render_template(body, context)
    # One line, whatever the template did: a newline in a subject is a header injection.
    return Rendered(" ".join(subject_text.split()), body_text.strip() + "\n")


def email_render(*, key: str, context: dict) -> Rendered:
    """Subject and body of e-mail `key`: the instance's wording if it works, else ours."""
    override = EmailTemplate.objects.filter(key=key).first()
    if override is not None:
        try:
            rendered = _render(override.subject, override.body, context)
            if rendered.subject:
                return rendered
            log.warning("E-mail template %s renders an empty subject; sent the default.", key)
        except Exception as exc:  # staff-written text: any failure falls back, never blocks mail
            log.warning("E-mail template %s is broken (%s); sent the default.", key, exc)
    default = email_template_default(key)
    if default is None or not default[0]:
        raise ValueError(f"templates/emails/{key}.txt must exist and start with 'Subject: …'.")
    return _render(*default, context)


def sender_name(identity: IssuerIdentity | None) -> str:
    """How the instance signs its e-mails: trading name, else legal name."""
    if identity is not None:
        return identity.trading_name or identity.legal_name
    return ""


def sender_address(identity: IssuerIdentity | None, *, fallback_name: str = "") -> str:
    """The From: header: the instance's own name and address, else the server default."""
    name = sender_name(identity) or fallback_name
    if identity is not None and identity.email:
        return formataddr((name, identity.email))
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((name, address)) if name else settings.DEFAULT_FROM_EMAIL


def link(base_url: str, path: str) -> str:
    """An absolute link on this instance's address (relative when none is known)."""
    return f"{base_url.rstrip('/')}{path}" if base_url else path
