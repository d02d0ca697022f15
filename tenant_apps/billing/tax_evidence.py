"""Place-of-supply evidence: what an invoice's tax treatment relied on, frozen into it at issue.

A service is taxed where its customer is; two facts decide which rule applies: the billing
country the customer gave and, for reverse charge, the VAT registry's (VIES) confirmation
that the customer's VAT id is valid (Implementing Regulation 282/2011, Art. 18 and 24b).
Each issued invoice keeps both in its customer snapshot under `tax_evidence`, with a
sentence saying what they led to, so the choice still reads right years later.

Before an invoice is reverse charged on a confirmation older than `vies.reconfirm_after()`,
VIES is asked again (`vat_id_reconfirm_if_stale`, outside the issuing lock: a registry
call never holds an invoice row). If the id is now reported not valid, the customer is no
longer a business for VAT: the invoice is taxed normally and its evidence says why. If VIES
cannot answer, the last confirmation stands — the supplier has taken the reasonable step
the law asks of it and the number was valid when last confirmed — and the failed attempt
is kept (a `TaxIdCheck` row, and the invoice's evidence).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.utils import timezone
from django_countries import countries

from tenant_apps.clients.models import Customer, TaxIdCheck
from tenant_apps.clients.services import customer_tax_id_verify
from tenant_apps.clients.tax_ids import is_eu_vat_id
from tenant_apps.clients.vies import reconfirm_after

from .models import Invoice
from .taxes import LATE_FEE_OUTSIDE_SCOPE_NOTE, tax_context

EVIDENCE_KEY = "tax_evidence"


# --------------------------------------------------------------------------------------
# Re-confirming a VAT id before reverse charge


def _checks(customer: Customer):
    return TaxIdCheck.objects.filter(customer=customer, tax_id=customer.tax_id).order_by(
        "-checked_at", "-id"
    )


def confirmed_at(customer: Customer) -> datetime.datetime | None:
    """When VIES last confirmed the customer's current VAT id (the check reverse charge
    relies on); ids marked valid before checks were kept count from their status date."""
    check = _checks(customer).filter(outcome=TaxIdCheck.Outcome.VALID).first()
    return check.checked_at if check else customer.tax_id_checked_at


def confirmation_is_stale(customer: Customer, *, now: datetime.datetime | None = None) -> bool:
    moment = confirmed_at(customer)
    return moment is None or moment < (now or timezone.now()) - reconfirm_after()


def _would_reverse_charge(customer: Customer, issuer_country: str) -> bool:
    if not is_eu_vat_id(customer.tax_id, str(customer.country)):
        return False
    context = tax_context(customer=customer, issuer_country=issuer_country)
    return context.treatment == Invoice.TaxTreatment.REVERSE_CHARGE


def vat_id_reconfirm_if_stale(*, customer: Customer, issuer_country: str, actor=None) -> Customer:
    """Ask VIES again when this customer would be reverse charged on an old confirmation;
    returns the customer as it now is (status `invalid` after a negative answer: no reverse
    charge). The answer — or the outage — is recorded by `customer_tax_id_verify`."""
    if not _would_reverse_charge(customer, issuer_country):
        return customer
    if not confirmation_is_stale(customer):
        return customer
    return customer_tax_id_verify(customer=customer, actor=actor or "billing")


def vat_ids_reconfirm_before_run(
    *, customers: Iterable[Customer], issuer_country: str, actor=None
) -> list[str]:
    """Re-confirm the old confirmations a run of invoices would reverse charge on, before the
    run locks anything; returns a line per answer for the run's log. After the first outage
    the registry is left alone (each invoice then keeps the last confirmation)."""
    log = []
    for customer in customers:
        if not _would_reverse_charge(customer, issuer_country):
            continue
        if not confirmation_is_stale(customer):
            continue
        checked = customer_tax_id_verify(customer=customer, actor=actor or "billing")
        latest = _checks(checked).first()
        outcome = latest.outcome if latest else ""
        if outcome == TaxIdCheck.Outcome.UNREACHABLE:
            log.append(
                f"VIES could not be reached to re-confirm {checked.tax_id} ({checked}); "
                "its last confirmation stands."
            )
            break
        if outcome == TaxIdCheck.Outcome.INVALID:
            log.append(
                f"VIES now reports {checked.tax_id} ({checked}) as not valid: "
                "no reverse charge for it."
            )
        else:
            log.append(f"VIES re-confirmed {checked.tax_id} ({checked}).")
    return log


# --------------------------------------------------------------------------------------
# The evidence frozen into an issued invoice


def _country_name(code: str) -> str:
    return countries.name(code) or code or "an unknown country"


def _day(iso: str | None) -> str:
    return (iso or "")[:10] or "an unknown date"


def _summary(evidence: dict, *, legal_notes: str) -> str:
    treatment = evidence["tax_treatment"]
    country = _country_name(evidence["billing_country"])
    vat_id = evidence["vat_id"]
    relied, later = evidence["vies_check"], evidence["latest_vies_check"]
    if treatment == Invoice.TaxTreatment.REVERSE_CHARGE:
        if relied:
            number = relied.get("consultation_number")
            proof = f" (consultation number {number})" if number else ""
            day = _day(relied["checked_at"])
            text = f"Reverse charge: VIES confirmed {vat_id} on {day}{proof}."
        else:
            text = f"Reverse charge: {vat_id} was marked valid; no VIES answer is stored for it."
        if later and later["outcome"] == TaxIdCheck.Outcome.UNREACHABLE:
            text += (
                f" VIES could not be reached on {_day(later['checked_at'])}; "
                "that confirmation stands."
            )
        return f"Billing country: {country}. {text}"
    if treatment == Invoice.TaxTreatment.EXEMPT:
        return f"Billing country: {country}. The customer is exempt from VAT."
    if treatment == Invoice.TaxTreatment.OUTSIDE_SCOPE:
        if LATE_FEE_OUTSIDE_SCOPE_NOTE in (legal_notes or ""):
            return "A late payment fee: outside the scope of VAT."
        return f"Billing country: {country}, outside the EU: no EU VAT."
    text = f"Billing country: {country}: VAT at the rate that applies there."
    if later and later["outcome"] == TaxIdCheck.Outcome.INVALID:
        text += (
            f" No reverse charge: VIES reported {vat_id} as not valid on "
            f"{_day(later['checked_at'])}."
        )
    elif later and later["outcome"] == TaxIdCheck.Outcome.UNREACHABLE:
        text += (
            f" No reverse charge: VIES has not confirmed {vat_id} yet "
            f"(last attempt {_day(later['checked_at'])})."
        )
    return text


def place_of_supply_evidence(customer: Customer, *, treatment: str, legal_notes: str = "") -> dict:
    """What an invoice to `customer` with `treatment` relies on, to freeze at issue.

    `vies_check` is the confirmation a reverse charge relied on; `latest_vies_check` a later
    answer that did not confirm the id (an outage, or "not valid"). Customers without an EU
    VAT id cost no query (renewal runs freeze thousands at once).
    """
    evidence = {
        "billing_country": str(customer.country or "").upper(),
        "tax_treatment": treatment,
        "vat_id": customer.tax_id or "",
        "vies_check": None,
        "latest_vies_check": None,
    }
    if customer.tax_id and is_eu_vat_id(customer.tax_id, str(customer.country)):
        latest = _checks(customer).first()
        relied = None
        if treatment == Invoice.TaxTreatment.REVERSE_CHARGE:
            relied = (
                latest
                if latest and latest.outcome == TaxIdCheck.Outcome.VALID
                else _checks(customer).filter(outcome=TaxIdCheck.Outcome.VALID).first()
            )
            evidence["vies_check"] = relied.as_evidence() if relied else None
        if latest is not None and latest.outcome != TaxIdCheck.Outcome.VALID:
            evidence["latest_vies_check"] = latest.as_evidence()
    evidence["summary"] = _summary(evidence, legal_notes=legal_notes)
    return evidence


def invoice_tax_evidence(invoice: Invoice) -> dict | None:
    """The evidence an issued document keeps (None for a draft). Documents issued before
    evidence was frozen read what their snapshot has: the billing country and, for reverse
    charge, the check relied on."""
    if invoice.status == Invoice.Status.DRAFT:
        return None
    snapshot = invoice.customer_snapshot or {}
    if EVIDENCE_KEY in snapshot:
        return snapshot[EVIDENCE_KEY]
    evidence = {
        "billing_country": str(snapshot.get("country", "")).upper(),
        "tax_treatment": invoice.tax_treatment,
        "vat_id": snapshot.get("tax_id", ""),
        "vies_check": (
            snapshot.get("tax_id_check")
            if invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
            else None
        ),
        "latest_vies_check": None,
    }
    evidence["summary"] = _summary(evidence, legal_notes=invoice.legal_notes)
    return evidence


_OUTCOMES = dict(TaxIdCheck.Outcome.choices)
_TREATMENTS = dict(Invoice.TaxTreatment.choices)


def _answer(check: dict) -> str:
    return f"{_OUTCOMES.get(check['outcome'], check['outcome'])}, {_day(check['checked_at'])}"


def evidence_rows(evidence: dict) -> list[tuple[str, str]]:
    """(label, text) rows of the staff page's "Tax evidence" panel."""
    rows = [
        ("Billing country", _country_name(evidence.get("billing_country", ""))),
        ("Treatment", _TREATMENTS.get(evidence.get("tax_treatment", ""), "")),
    ]
    if evidence.get("vat_id"):
        rows.append(("Customer VAT id", evidence["vat_id"]))
    relied = evidence.get("vies_check")
    if relied:
        text = _answer(relied)
        if relied.get("consultation_number"):
            text += f" · consultation {relied['consultation_number']}"
        rows.append(("VIES check relied on", text))
    later = evidence.get("latest_vies_check")
    if later:
        rows.append(("Latest VIES answer", _answer(later)))
    return rows
