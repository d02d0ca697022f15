"""Tax ids: normalise and format-check them for the customer's country (python-stdnum).

EU VAT ids are stored in their compact form with the VIES country prefix ("FR40303265045",
Greece as "EL…"); those are the ids the VIES registry can confirm. Other countries' ids are
checked with stdnum's module for that country when it has one, else kept as cleaned text.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django_countries import countries
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.util import clean, get_cc_module

# EU member state (ISO 3166) → VAT prefix; VIES knows Greece as EL.
EU_VAT_PREFIXES = {
    code.upper(): ("EL" if code == "gr" else code.upper())
    for code in eu_vat.MEMBER_STATES
    if code != "xi"
}
# Northern Ireland traders (country GB) have EU VAT ids for goods, prefixed XI.
NORTHERN_IRELAND_PREFIX = "XI"


@dataclass(frozen=True)
class TaxId:
    value: str  # what is stored on the customer ("" for none)
    is_eu_vat: bool  # the VIES registry can check it

    @property
    def vies_parts(self) -> tuple[str, str]:
        """(country code, number) as VIES wants them."""
        return self.value[:2], self.value[2:]


def _country_name(country: str) -> str:
    return countries.name(country) or country


def _eu_vat(cleaned: str, raw: str, country: str, prefix: str) -> TaxId:
    given = cleaned[:2]
    if given == "GR" and prefix == "EL":
        cleaned = "EL" + cleaned[2:]
    elif given != prefix:
        if given.isalpha() and (given in EU_VAT_PREFIXES.values() or given == "GR"):
            raise ValidationError(
                _(
                    "This VAT id starts with %(given)s, but the customer is in "
                    "%(country_name)s (VAT ids there start with %(prefix)s)."
                )
                % {"given": given, "country_name": _country_name(country), "prefix": prefix}
            )
        cleaned = prefix + cleaned  # typed without its prefix
    try:
        return TaxId(eu_vat.validate(cleaned), is_eu_vat=True)
    except StdnumError as exc:
        raise ValidationError(
            _("“%(raw)s” is not a valid VAT id for %(country_name)s (%(rstrip)s).")
            % {
                "raw": raw,
                "country_name": _country_name(country),
                "rstrip": exc.message.rstrip(".").lower(),
            }
        ) from exc


def normalise_tax_id(raw: str, country: str) -> TaxId:
    """The stored form of `raw` for a customer in `country`; raises ValidationError."""
    country = (country or "").upper()
    cleaned = clean(raw or "", " -./,").upper().strip()
    if not cleaned:
        return TaxId("", is_eu_vat=False)
    if country in EU_VAT_PREFIXES:
        return _eu_vat(cleaned, raw, country, EU_VAT_PREFIXES[country])
    if country == "GB" and cleaned.startswith(NORTHERN_IRELAND_PREFIX):
        return _eu_vat(cleaned, raw, country, NORTHERN_IRELAND_PREFIX)
    module = get_cc_module(country, "vat") if country else None
    if module is None:
        return TaxId(cleaned, is_eu_vat=False)
    try:
        return TaxId(module.validate(cleaned), is_eu_vat=False)
    except StdnumError as exc:
        raise ValidationError(
            _("“%(raw)s” is not a valid tax id for %(country_name)s (%(rstrip)s).")
            % {
                "raw": raw,
                "country_name": _country_name(country),
                "rstrip": exc.message.rstrip(".").lower(),
            }
        ) from exc


def is_eu_vat_id(tax_id: str, country: str) -> bool:
    """Whether a stored tax id is one VIES can check (no format check: it was stored valid)."""
    country = (country or "").upper()
    if not tax_id:
        return False
    if country in EU_VAT_PREFIXES:
        return True
    return country == "GB" and tax_id.startswith(NORTHERN_IRELAND_PREFIX)
