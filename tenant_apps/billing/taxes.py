"""Which tax applies to a customer, and how a line's net, tax and gross are computed.

EU VAT rules as an EU issuer applies them (issuer = this instance's identity):
- customer marked tax exempt                        → exempt, 0 %, with its reason;
- customer in the issuer's own country              → that country's rate;
- customer in another EU country, business with a VAT id confirmed by VIES
                                                    → reverse charge, 0 %, legal mention;
- customer in another EU country, consumer          → the customer's country rate (OSS);
- customer outside the EU                           → outside the scope of EU VAT, 0 %.
An issuer outside the EU: an EU business with a confirmed VAT id → reverse charge, with
the legal mention; anyone else → the rate configured for the customer's country (EU
consumers: the destination rate, as the non-Union OSS scheme has it).
A late-payment fee is compensation, not the price of a supply: by default it is outside
the scope of VAT (`late_fee_outside_scope`, with its mention); an instance may choose to
tax it like the late invoice instead (billing settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext as _

from tenant_apps.instance.money import ZERO, round_money

from .models import Invoice, TaxRate

EU_COUNTRIES = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    }
)
HUNDRED = Decimal("100")

# Legal mentions are stored on the invoice in English, as issued (tax evidence reads them);
# a document shows them in its reader's language (`legal_notes_for_reader`).
REVERSE_CHARGE_NOTE = gettext_noop(
    "Reverse charge: VAT to be accounted for by the recipient "
    "(Article 196, Council Directive 2006/112/EC)."
)
OUTSIDE_SCOPE_NOTE = gettext_noop("Services supplied outside the EU: not subject to EU VAT.")
LATE_FEE_OUTSIDE_SCOPE_NOTE = gettext_noop(
    "Late payment fee: compensation for late payment, not the price of a supply, "
    "so outside the scope of VAT (no VAT charged)."
)
SUPPLIER_OUTSIDE_EU_NOTE = gettext_noop("Supplier established outside the EU.")
CUSTOMER_EXEMPT_NOTE = gettext_noop("Customer exempt from VAT.")
CUSTOMER_VAT_ID_LABEL = gettext_noop("Customer VAT id:")
TAX_EXEMPT_LABEL = gettext_noop("Tax exempt:")
_NOTE_FRAGMENTS = (
    REVERSE_CHARGE_NOTE,
    OUTSIDE_SCOPE_NOTE,
    LATE_FEE_OUTSIDE_SCOPE_NOTE,
    SUPPLIER_OUTSIDE_EU_NOTE,
    CUSTOMER_EXEMPT_NOTE,
    CUSTOMER_VAT_ID_LABEL,
    TAX_EXEMPT_LABEL,
)


def legal_notes_for_reader(notes: str) -> str:
    """An invoice's stored legal mentions in the active language: each fixed sentence is
    translated; what was filled in (a VAT id, a staff-written exemption reason) is kept."""
    for fragment in _NOTE_FRAGMENTS:
        if fragment in notes:
            notes = notes.replace(fragment, gettext(fragment))
    return notes


@dataclass(frozen=True)
class TaxContext:
    """The tax treatment of one invoice; `rate_for(tax_class_code)` gives each line's rate."""

    treatment: str
    country: str
    rates: dict[str, Decimal]
    note: str = ""

    def rate_for(self, tax_class_code: str) -> Decimal:
        if self.treatment != Invoice.TaxTreatment.STANDARD:
            return ZERO
        return self.rates.get(tax_class_code, ZERO)

    def missing_rates(self, tax_class_codes) -> list[str]:
        """The tax classes this treatment needs a rate for and has none (never a silent 0 %)."""
        if self.treatment != Invoice.TaxTreatment.STANDARD:
            return []
        return sorted({code for code in tax_class_codes if code not in self.rates})

    def require_rates(self, tax_class_codes) -> None:
        missing = self.missing_rates(tax_class_codes)
        if missing:
            classes = ", ".join(f"“{code}”" for code in missing)
            where = self.country or _("an unknown country")
            raise ValidationError(
                {
                    "tax_rate": [
                        _(
                            "There is no VAT rate for %(classes)s in %(where)s: add it under "
                            "Billing settings → Tax rates before issuing."
                        )
                        % {"classes": classes, "where": where}
                    ]
                }
            )


def _rates(country: str, cache: dict[str, dict[str, Decimal]] | None = None) -> dict[str, Decimal]:
    if cache is not None and country in cache:
        return cache[country]
    rates = {
        code: rate
        for code, rate in TaxRate.objects.filter(country=country).values_list(
            "tax_class__code", "rate"
        )
    }
    if cache is not None:
        cache[country] = rates
    return rates


def tax_context(
    *, customer, issuer_country: str, rates_cache: dict[str, dict[str, Decimal]] | None = None
) -> TaxContext:
    """The treatment of one customer's invoice. Its legal mention names that customer (their
    VAT id, their exemption), so a context is never shared between customers; a bulk run
    passes `rates_cache` to read each country's rates once."""
    customer_country = str(customer.country or "").upper()
    issuer_country = (issuer_country or "").upper()
    if customer.tax_exempt:
        reason = customer.tax_exempt_reason or CUSTOMER_EXEMPT_NOTE
        return TaxContext(
            Invoice.TaxTreatment.EXEMPT, customer_country, {}, f"{TAX_EXEMPT_LABEL} {reason}"
        )
    if issuer_country in EU_COUNTRIES:
        if customer_country == issuer_country:
            return TaxContext(
                Invoice.TaxTreatment.STANDARD, issuer_country, _rates(issuer_country, rates_cache)
            )
        if customer_country in EU_COUNTRIES:
            if customer.is_business:
                note = f"{REVERSE_CHARGE_NOTE} {CUSTOMER_VAT_ID_LABEL} {customer.tax_id}."
                return TaxContext(Invoice.TaxTreatment.REVERSE_CHARGE, customer_country, {}, note)
            return TaxContext(
                Invoice.TaxTreatment.STANDARD,
                customer_country,
                _rates(customer_country, rates_cache),
            )
        return TaxContext(
            Invoice.TaxTreatment.OUTSIDE_SCOPE, customer_country, {}, OUTSIDE_SCOPE_NOTE
        )
    if customer_country in EU_COUNTRIES and customer.is_business:
        # A supplier outside the EU charges an EU business no VAT: the business accounts
        # for it where it is established (place of supply, Art. 44; reverse charge, Art. 196).
        note = (
            f"{REVERSE_CHARGE_NOTE} {SUPPLIER_OUTSIDE_EU_NOTE} "
            f"{CUSTOMER_VAT_ID_LABEL} {customer.tax_id}."
        )
        return TaxContext(Invoice.TaxTreatment.REVERSE_CHARGE, customer_country, {}, note)
    return TaxContext(
        Invoice.TaxTreatment.STANDARD, customer_country, _rates(customer_country, rates_cache)
    )


def late_fee_outside_scope(*, customer) -> TaxContext:
    """A late-fee invoice when late fees are outside the scope of VAT: no VAT, and the
    invoice says why."""
    return TaxContext(
        Invoice.TaxTreatment.OUTSIDE_SCOPE,
        str(customer.country or "").upper(),
        {},
        LATE_FEE_OUTSIDE_SCOPE_NOTE,
    )


def line_amounts(
    *,
    quantity: Decimal,
    unit_price: Decimal,
    rate: Decimal,
    prices_include_tax: bool,
    currency: str,
) -> tuple[Decimal, Decimal, Decimal]:
    """(net, tax, gross) of one line, each rounded once; net + tax == gross always."""
    if prices_include_tax:
        gross = round_money(quantity * unit_price, currency)
        tax = round_money(gross * rate / (HUNDRED + rate), currency)
        return gross - tax, tax, gross
    net = round_money(quantity * unit_price, currency)
    tax = round_money(net * rate / HUNDRED, currency)
    return net, tax, net + tax
