"""VIES client: the SOAP request it sends and how it reads answers, faults and outages.

The real registry is never contacted: `urllib.request.urlopen` is replaced by canned SOAP
responses. The fake checkers at the top are what other client tests plug in through
the `clients.ports.vat_checker` port.
"""

from __future__ import annotations

import datetime
import io
import urllib.error
import urllib.request
from xml.etree import ElementTree

import pytest
from django.utils.module_loading import import_string

from tenant_apps.clients.ports import vat_checker
from tenant_apps.clients.vies import (
    VIES_URL,
    VatCheckResult,
    VatServiceUnavailable,
    ViesClient,
    get_vat_checker,
)

# --------------------------------------------------------------------------------------
# Fake checkers for the service, screen and API tests (plugged with `use_vat_checker`).


class ValidChecker:
    """VIES confirms every number; remembers what it was asked."""

    calls: list[tuple[str, str]] = []

    def check(self, country_code: str, number: str, requester=None) -> VatCheckResult:
        ValidChecker.calls.append((country_code, number))
        return VatCheckResult(
            valid=True,
            country_code=country_code,
            number=number,
            name="ODIGO SA",
            address="3 RUE DU COLONEL MOLL\n75017 PARIS",
            request_date=datetime.date(2026, 11, 26),
            request_id="WAPIAAAAZ1234",
        )


class InvalidChecker:
    def check(self, country_code: str, number: str, requester=None) -> VatCheckResult:
        return VatCheckResult(valid=False, country_code=country_code, number=number)


class UnreachableChecker:
    def check(self, country_code: str, number: str, requester=None) -> VatCheckResult:
        raise VatServiceUnavailable("VIES could not answer (MS_UNAVAILABLE).")


VALID = "tests.test_clients_vies.ValidChecker"
INVALID = "tests.test_clients_vies.InvalidChecker"
UNREACHABLE = "tests.test_clients_vies.UnreachableChecker"


def use_vat_checker(dotted_path: str) -> None:
    """Plug the checker class at `dotted_path` for the rest of this test (conftest resets it)."""
    vat_checker.plug(import_string(dotted_path))


# --------------------------------------------------------------------------------------
# Canned SOAP


VALID_RESPONSE = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header/><env:Body>
<ns2:checkVatResponse xmlns:ns2="urn:ec.europa.eu:taxud:vies:services:checkVat:types">
<ns2:countryCode>FR</ns2:countryCode><ns2:vatNumber>40303265045</ns2:vatNumber>
<ns2:requestDate>2026-11-26+01:00</ns2:requestDate><ns2:valid>true</ns2:valid>
<ns2:name>ODIGO SA</ns2:name><ns2:address>3 RUE DU COLONEL MOLL
75017 PARIS</ns2:address></ns2:checkVatResponse></env:Body></env:Envelope>"""

INVALID_RESPONSE = b"""<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
<env:Body><ns2:checkVatResponse xmlns:ns2="urn:ec.europa.eu:taxud:vies:services:checkVat:types">
<ns2:countryCode>DE</ns2:countryCode><ns2:vatNumber>136695976</ns2:vatNumber>
<ns2:requestDate>2026-11-26+01:00</ns2:requestDate><ns2:valid>false</ns2:valid>
<ns2:name>---</ns2:name><ns2:address>---</ns2:address>
</ns2:checkVatResponse></env:Body></env:Envelope>"""


def fault(code: str) -> bytes:
    return (
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        f"<env:Fault><faultcode>env:Server</faultcode><faultstring>{code}</faultstring>"
        "</env:Fault></env:Body></env:Envelope>"
    ).encode()


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def vies(monkeypatch):
    """Replace urlopen; `vies.answer(...)` sets what the 'registry' does next."""

    class Registry:
        requests: list[tuple[urllib.request.Request, float]] = []
        outcome: object = VALID_RESPONSE

        def answer(self, outcome):
            self.outcome = outcome

        def urlopen(self, request, timeout=None):
            self.requests.append((request, timeout))
            if isinstance(self.outcome, BaseException):
                raise self.outcome
            return _Response(self.outcome)

    registry = Registry()
    registry.requests = []
    monkeypatch.setattr(urllib.request, "urlopen", registry.urlopen)
    return registry


def soap_fault_error(code: str) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(
        VIES_URL, 500, "Internal Server Error", {}, io.BytesIO(fault(code))
    )


# --------------------------------------------------------------------------------------
# Request


def test_check_posts_a_check_vat_envelope_to_vies_with_a_ten_second_timeout(vies):
    ViesClient().check("FR", "40303265045")

    request, timeout = vies.requests[0]
    assert request.full_url == VIES_URL
    assert request.get_method() == "POST"
    assert timeout == 10
    assert request.get_header("Content-type").startswith("text/xml")
    body = ElementTree.fromstring(request.data)
    ns = {"urn": "urn:ec.europa.eu:taxud:vies:services:checkVat:types"}
    assert body.find(".//urn:checkVat/urn:countryCode", ns).text == "FR"
    assert body.find(".//urn:checkVat/urn:vatNumber", ns).text == "40303265045"


def test_envelope_escapes_what_it_is_given(vies):
    ViesClient().check("FR", "<x>&")
    assert b"&lt;x&gt;&amp;" in vies.requests[0][0].data


# --------------------------------------------------------------------------------------
# Answers


def test_valid_answer_gives_name_address_and_request_date(vies):
    result = ViesClient().check("FR", "40303265045")

    assert result.valid is True
    assert result.name == "ODIGO SA"
    assert result.address == "3 RUE DU COLONEL MOLL\n75017 PARIS"
    assert result.request_date == datetime.date(2026, 11, 26)
    assert (result.country_code, result.number) == ("FR", "40303265045")


def test_invalid_answer_is_not_valid_and_hides_undisclosed_placeholders(vies):
    vies.answer(INVALID_RESPONSE)
    result = ViesClient().check("DE", "136695976")

    assert result.valid is False
    assert result.name == "" and result.address == ""


def test_invalid_input_fault_means_the_number_is_not_valid(vies):
    vies.answer(soap_fault_error("INVALID_INPUT"))
    assert ViesClient().check("FR", "123").valid is False


@pytest.mark.parametrize(
    "code", ["MS_UNAVAILABLE", "TIMEOUT", "SERVICE_UNAVAILABLE", "MS_MAX_CONCURRENT_REQ"]
)
def test_registry_faults_mean_unavailable_not_invalid(vies, code):
    vies.answer(soap_fault_error(code))
    with pytest.raises(VatServiceUnavailable, match=code):
        ViesClient().check("FR", "40303265045")


@pytest.mark.parametrize(
    "error",
    [
        urllib.error.URLError("Name or service not known"),
        TimeoutError("timed out"),
        ConnectionResetError("reset by peer"),
        urllib.error.HTTPError(VIES_URL, 503, "Unavailable", {}, io.BytesIO(b"")),
    ],
)
def test_network_errors_mean_unavailable(vies, error):
    vies.answer(error)
    with pytest.raises(VatServiceUnavailable):
        ViesClient().check("FR", "40303265045")


def test_a_response_that_is_not_soap_means_unavailable(vies):
    vies.answer(b"<html><body>Maintenance</body></html")
    with pytest.raises(VatServiceUnavailable):
        ViesClient().check("FR", "40303265045")


def test_get_vat_checker_builds_the_plugged_class():
    use_vat_checker(INVALID)
    assert isinstance(get_vat_checker(), InvalidChecker)
    use_vat_checker("tenant_apps.clients.vies.ViesClient")
    assert isinstance(get_vat_checker(), ViesClient)


def test_vat_checker_is_the_real_registry_unless_something_else_is_plugged():
    assert vat_checker._default is ViesClient


def test_with_the_issuers_vat_id_the_request_is_check_vat_approx():
    from tenant_apps.clients.vies import ViesClient

    body = ViesClient().build_request("DE", "136695976", ("FR", "40303265045")).data.decode()
    assert "<urn:checkVatApprox>" in body
    assert "<urn:requesterCountryCode>FR</urn:requesterCountryCode>" in body
    assert "<urn:requesterVatNumber>40303265045</urn:requesterVatNumber>" in body
    plain = ViesClient().build_request("DE", "136695976").data.decode()
    assert "<urn:checkVat>" in plain and "requester" not in plain


class RecordingChecker:
    seen: list = []

    def check(self, country_code, number, requester=None):
        RecordingChecker.seen.append(requester)
        return VatCheckResult(
            valid=True, name="BETA GMBH", address="Berlin", request_id="WAPIAAAAZ7q1yTXn"
        )


def test_the_consultation_number_is_asked_with_the_instances_own_vat_id(instance_a, settings):
    from django_tenants.utils import schema_context

    from tenant_apps.clients.services import customer_create
    from tenant_apps.instance.services import issuer_identity_set

    use_vat_checker("tests.test_clients_vies.RecordingChecker")
    RecordingChecker.seen = []
    with schema_context(instance_a.schema_name):
        issuer_identity_set(legal_name="Acme SARL", country="FR", tax_id="FR40303265045")
        customer = customer_create(
            name="Beta",
            kind="company",
            company_name="Beta GmbH",
            email="b@beta.test",
            country="DE",
            tax_id="DE136695976",
        )
    assert RecordingChecker.seen == [("FR", "40303265045")]
    assert customer.tax_id_status == "valid" and "WAPIAAAAZ7q1yTXn" in customer.tax_id_check_detail
