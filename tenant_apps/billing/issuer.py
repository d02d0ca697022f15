"""Whether this instance may issue documents: the supplier details Art. 226 of the VAT
Directive requires on every invoice (and on every credit note correcting one).

An invoice must show the supplier's full name and address and, for a supplier established
in the EU, its VAT identification number. Without them an invoice is not a valid invoice,
and without a country the tax rules cannot even tell an EU issuer from another (the old
silent "non-EU" branch, with no reverse charge at all). So every issue path — one invoice,
the bulk renewals, credit notes — asks `require_complete_issuer()` first, and the screens
ask `issuer_missing_sentence()` to tell staff what to fill in before they try.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.clients.tax_ids import normalise_tax_id
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.selectors import issuer_identity_get

from .models import BillingError
from .taxes import EU_COUNTRIES

WHERE_TO_FIX = gettext_lazy("Staff → Issuer identity")


class IssuerIdentityIncomplete(BillingError):
    """The instance's identity lacks what an invoice must show: nothing can be issued."""

    code = "issuer_identity_incomplete"
    status_code = 409


def _vat_id_problem(identity: IssuerIdentity) -> str:
    """What is wrong with the issuer's VAT id, "" when nothing is (or none is needed yet)."""
    country = (identity.country or "").upper()
    tax_id = (identity.tax_id or "").strip()
    if not country:
        return "" if tax_id else _("VAT identification number (if established in the EU)")
    if country not in EU_COUNTRIES:
        return ""  # Art. 226 asks an EU supplier for its VAT id; others print what they have
    if not tax_id:
        return _("VAT identification number")
    try:
        normalised = normalise_tax_id(tax_id, country)
    except ValidationError as exc:
        return _("valid VAT identification number (%(problem)s)") % {
            "problem": exc.messages[0].rstrip(".")
        }
    if not normalised.is_eu_vat:
        return _("valid EU VAT identification number")
    return ""


def missing_issuer_details(identity: IssuerIdentity | None = None) -> list[str]:
    """What the identity still lacks, as staff read it ("postal code", "city" …)."""
    identity = identity if identity is not None else issuer_identity_get()
    if identity is None:
        identity = IssuerIdentity()
    required = (
        ("legal_name", _("full legal name")),
        ("address_line1", _("street address")),
        ("postal_code", _("postal code")),
        ("city", _("city")),
        ("country", _("country")),
    )
    missing = [label for name, label in required if not (getattr(identity, name) or "").strip()]
    problem = _vat_id_problem(identity)
    if problem:
        missing.append(problem)
    return missing


def _listed(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return _("%(items)s and %(last)s") % {"items": ", ".join(items[:-1]), "last": items[-1]}


def issuer_missing_sentence(identity: IssuerIdentity | None = None) -> str:
    """One sentence naming what is missing and where to fill it in; "" when nothing is."""
    missing = missing_issuer_details(identity)
    if not missing:
        return ""
    return _(
        "Invoices cannot be issued until the issuer identity has its %(listed)s, "
        "which every EU invoice must show (Art. 226 of the VAT Directive): fill "
        "them in under %(WHERE_TO_FIX)s."
    ) % {"listed": _listed(missing), "WHERE_TO_FIX": WHERE_TO_FIX}


def require_complete_issuer(identity: IssuerIdentity | None = None) -> IssuerIdentity:
    """The identity, or IssuerIdentityIncomplete with the sentence above."""
    identity = identity if identity is not None else issuer_identity_get()
    sentence = issuer_missing_sentence(identity or IssuerIdentity())
    if sentence:
        raise IssuerIdentityIncomplete(sentence)
    return identity
