"""The HTML part of every e-mail: the plain-text wording inside the instance's branded frame.

The wording (the instance's own, from the template sandbox, or ours) is plain text. The
HTML part is made from it by escaping everything, turning http(s) addresses into links and
blank lines into paragraphs, then placing it in `templates/emails/base.html`: a header
with the instance's name, logo and brand colour, and a footer with its legal identity
(legal name, address, VAT id). Staff-written text therefore never becomes markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import linebreaks, urlize
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django_countries import countries

from tenant_apps.instance import branding as page_branding
from tenant_apps.instance.addresses import instance_url
from tenant_apps.instance.emails import link, sender_name
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.selectors import issuer_identity_get


@dataclass(frozen=True)
class Branding:
    """What the frame of an instance's e-mails shows (plain values only)."""

    name: str
    legal_name: str
    address_lines: tuple[str, ...]
    tax_id: str
    registration_number: str
    email: str
    phone: str
    brand_color: str
    text_color: str
    logo_url: str
    home_url: str


def branding_get(identity: IssuerIdentity | None = None, *, fallback_name: str = "") -> Branding:
    """The current instance's e-mail branding: its identity, and the palette and logo the
    pages wear (`instance.branding`: text on the brand colour meets WCAG AA contrast)."""
    identity = identity if identity is not None else issuer_identity_get()
    base = instance_url()
    look = page_branding.branding_from(page_branding.cached_identity_row())
    logo_url = ""
    if look.has_logo and base:  # the brand's public logo, on this instance's own address
        try:
            logo_url = f"{link(base, reverse('brand:logo'))}?v={look.version}"
        except NoReverseMatch:  # a URL map without the brand files: the name alone
            logo_url = ""
    colour, text_colour = look.palette.accent, look.palette.on_accent
    if identity is None:
        return Branding(
            fallback_name, fallback_name, (), "", "", "", "", colour, text_colour, "", base
        )
    town = " ".join(part for part in (identity.postal_code, identity.city) if part)
    country = str(countries.name(identity.country)) if identity.country else ""
    lines = tuple(
        part for part in (identity.address_line1, identity.address_line2, town, country) if part
    )
    return Branding(
        name=sender_name(identity) or fallback_name,
        legal_name=identity.legal_name,
        address_lines=lines,
        tax_id=identity.tax_id,
        registration_number=identity.registration_number,
        email=identity.email,
        phone=identity.phone,
        brand_color=colour,
        text_color=text_colour,
        logo_url=logo_url,
        home_url=base,
    )


def text_to_html(text: str) -> str:
    """Plain text as safe HTML: escaped, links clickable, paragraphs and line breaks kept."""
    linked = urlize(text, nofollow=False, autoescape=True)
    return linebreaks(mark_safe(linked), autoescape=False)


def text_footer(branding: Branding) -> str:
    """The plain-text part's signature: who sends it, as the HTML footer says it (legal
    name, address, VAT id and registration, contact), after the usual "-- " line."""
    lines = [
        " · ".join(part for part in (branding.legal_name, *branding.address_lines) if part),
        " · ".join(
            part
            for part in (
                gettext("VAT %(tax_id)s") % {"tax_id": branding.tax_id} if branding.tax_id else "",
                branding.registration_number,
                branding.email,
                branding.phone,
            )
            if part
        ),
    ]
    lines = [line for line in lines if line]
    return "\n".join(["-- ", *lines]) if lines else ""


def with_text_footer(body_text: str, branding: Branding) -> str:
    footer = text_footer(branding)
    return f"{body_text.rstrip()}\n\n{footer}\n" if footer else body_text


def html_part(*, subject: str, body_text: str, branding: Branding) -> str:
    """The complete HTML document of one e-mail."""
    return render_to_string(
        "emails/base.html",
        {
            "subject": subject,
            "content": mark_safe(text_to_html(body_text)),
            "brand": branding,
            "preheader": body_text.strip().split("\n", 1)[0][:120],
        },
    )
