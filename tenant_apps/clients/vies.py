"""VIES, the EU's VAT number registry: ask it whether a VAT id is valid (SOAP over HTTPS).

The checker used by the services is the `clients.ports.vat_checker` port (a class with
`check(country_code, number) -> VatCheckResult`), so tests can plug in their own. A
registry that cannot answer (member state down, rate limits, network) raises
`VatServiceUnavailable`: that is "unknown", never "invalid".
"""

from __future__ import annotations

import datetime
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _

VIES_URL = "https://ec.europa.eu/taxation_customs/vies/services/checkVatService"
TIMEOUT_SECONDS = 10

_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_TYPES_NS = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
# Faults meaning "the number itself is malformed"; every other fault means "ask again later"
# (MS_UNAVAILABLE, TIMEOUT, SERVICE_UNAVAILABLE, *_MAX_CONCURRENT_REQ, IP_BLOCKED…).
_INVALID_NUMBER_FAULTS = frozenset({"INVALID_INPUT"})
# What VIES returns instead of a name or address a member state does not disclose.
_UNDISCLOSED = frozenset({"", "---"})


@dataclass(frozen=True)
class VatCheckResult:
    """The registry's answer about one VAT number."""

    valid: bool
    country_code: str = ""
    number: str = ""
    name: str = ""
    address: str = ""
    request_date: datetime.date | None = None
    # Consultation number; VIES issues one only to requesters who identify themselves.
    request_id: str = ""


class VatServiceUnavailable(Exception):
    """The registry could not answer now; the number's validity is still unknown."""


def reconfirm_after() -> datetime.timedelta:
    """How old a valid answer may be before reverse charge relies on it again (the
    UPLINE_VIES_RECONFIRM_DAYS setting, 30 days unless configured)."""
    from django.conf import settings

    return datetime.timedelta(days=getattr(settings, "UPLINE_VIES_RECONFIRM_DAYS", 30))


def _envelope(country_code: str, number: str, requester: tuple[str, str] | None = None) -> bytes:
    """checkVat, or — when the issuer's own VAT id is known — checkVatApprox, whose answer
    carries a consultation number that proves the check was made (for reverse charge)."""
    operation = "checkVatApprox" if requester else "checkVat"
    requester_xml = (
        f"<urn:requesterCountryCode>{escape(requester[0])}</urn:requesterCountryCode>"
        f"<urn:requesterVatNumber>{escape(requester[1])}</urn:requesterVatNumber>"
        if requester
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_SOAP_NS}" xmlns:urn="{_TYPES_NS}">'
        "<soapenv:Header/>"
        "<soapenv:Body>"
        f"<urn:{operation}>"
        f"<urn:countryCode>{escape(country_code)}</urn:countryCode>"
        f"<urn:vatNumber>{escape(number)}</urn:vatNumber>"
        f"{requester_xml}"
        f"</urn:{operation}>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _parse_date(value: str) -> datetime.date | None:
    # VIES sends an xsd:date with a zone offset, e.g. "2026-11-26+01:00".
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_response(body: bytes, *, country_code: str, number: str) -> VatCheckResult:
    """Turn a checkVat SOAP response (or fault) into a result; raises VatServiceUnavailable."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise VatServiceUnavailable(_("VIES sent a response that is not XML.")) from exc
    for element in root.iter():
        name = _local(element.tag)
        if name == "Fault":
            fault = _text(element, "faultstring") or "unknown fault"
            if fault in _INVALID_NUMBER_FAULTS:
                return VatCheckResult(valid=False, country_code=country_code, number=number)
            raise VatServiceUnavailable(_("VIES could not answer (%(fault)s).") % {"fault": fault})
        if name in ("checkVatResponse", "checkVatApproxResponse"):
            valid = _text(element, "valid").lower() == "true"
            trader_name = _text(element, "name") or _text(element, "traderName")
            address = _text(element, "address") or _text(element, "traderAddress")
            return VatCheckResult(
                valid=valid,
                country_code=_text(element, "countryCode") or country_code,
                number=_text(element, "vatNumber") or number,
                name="" if trader_name in _UNDISCLOSED else trader_name,
                address="" if address in _UNDISCLOSED else address,
                request_date=_parse_date(_text(element, "requestDate")),
                request_id=_text(element, "requestIdentifier"),
            )
    raise VatServiceUnavailable(_("VIES sent a response without a result."))


class ViesClient:
    """The real registry client (stdlib only: one POST, 10 s timeout)."""

    url = VIES_URL
    timeout = TIMEOUT_SECONDS

    def build_request(
        self, country_code: str, number: str, requester: tuple[str, str] | None = None
    ) -> urllib.request.Request:
        return urllib.request.Request(
            self.url,
            data=_envelope(country_code, number, requester),
            method="POST",
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        )

    def check(
        self, country_code: str, number: str, requester: tuple[str, str] | None = None
    ) -> VatCheckResult:
        request = self.build_request(country_code, number, requester)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            # SOAP faults come back as HTTP 500 with the fault in the body.
            try:
                body = exc.read()
            except (OSError, http.client.HTTPException):
                body = b""
            if not body:
                raise VatServiceUnavailable(
                    _("VIES answered HTTP %(code)s.") % {"code": exc.code}
                ) from exc
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
            raise VatServiceUnavailable(_("VIES is unreachable (%(exc)s).") % {"exc": exc}) from exc
        return parse_response(body, country_code=country_code, number=number)


def get_vat_checker():
    """An instance of the checker class plugged into `clients.ports.vat_checker`."""
    from .ports import vat_checker

    return vat_checker.implementation()
