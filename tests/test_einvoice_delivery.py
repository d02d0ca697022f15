"""E-invoices reach people: the staff invoice page, downloads, the portal, the API, e-mails,
the accountant's export and a reseller's supplier bills — each only within its own
instance and, for a customer, only their own documents; never an invalid file."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context
from facturx import get_xml_from_pdf

from tenant_apps.billing import documents as billing_documents
from tenant_apps.billing import notifications
from tenant_apps.billing.models import Invoice
from tenant_apps.einvoice.services import issuer_einvoicing_update
from tenant_apps.einvoice.validation import cii_problems
from tests.conftest import client_for
from tests.einvoice_fixtures import (
    credit_note_for,
    issue,
    make_business,
    setup_einvoicing_issuer,
)

FACTURX_ONLY = {"format": "facturx"}


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_einvoicing_issuer()
    return instance_a


def in_schema(info, build):
    with schema_context(info.schema_name):
        return build()


def portal_customer(info, **profile):
    """The instance's customer login, linked to a business customer."""
    login = get_user_model().objects.get(email=info.customer)
    return make_business(user=login, email=info.customer, einvoicing=profile or FACTURX_ONLY)


# --------------------------------------------------------------------------------------
# Staff screens


def test_the_invoice_page_shows_which_formats_validate_and_why_the_others_cannot(acme):
    pk = in_schema(acme, lambda: issue(make_business(einvoicing=FACTURX_ONLY)).pk)
    page = client_for(acme, acme.owner).get(f"/staff/billing/invoices/{pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "E-invoices" in html
    assert f"/staff/einvoicing/invoices/{pk}/facturx/" in html
    assert "XRechnung needs the customer&#x27;s buyer reference (Leitweg-ID)" in html
    assert f"/staff/einvoicing/invoices/{pk}/xrechnung/" not in html


def test_staff_download_a_factur_x_pdf_carrying_its_validated_xml(acme):
    pk = in_schema(acme, lambda: issue(make_business()).pk)
    response = client_for(acme, acme.support).get(f"/staff/einvoicing/invoices/{pk}/facturx/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    filename, xml = get_xml_from_pdf(response.content, check_xsd=True)
    assert filename == "factur-x.xml" and cii_problems(xml) == []


def test_a_format_missing_data_is_refused_with_the_reason_and_no_file(acme):
    pk = in_schema(acme, lambda: issue(make_business(einvoicing=FACTURX_ONLY)).pk)
    response = client_for(acme, acme.owner).get(f"/staff/einvoicing/invoices/{pk}/peppol/")
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/html")
    assert (
        "Peppol BIS 3.0 needs the customer&#x27;s electronic address" in response.content.decode()
    )


def test_another_instances_invoice_is_unreachable_from_the_staff_screens(acme, instance_b):
    pk = in_schema(acme, lambda: issue(make_business()).pk)
    other = client_for(instance_b, instance_b.owner)
    assert other.get(f"/staff/einvoicing/invoices/{pk}/facturx/").status_code == 404
    assert other.get(f"/staff/einvoicing/invoices/{pk}/peppol/").status_code == 404


def test_customers_cannot_use_the_staff_screens(acme):
    pk = in_schema(acme, lambda: issue(portal_customer(acme)).pk)
    client = client_for(acme, acme.customer)
    assert client.get(f"/staff/einvoicing/invoices/{pk}/facturx/").status_code == 403
    assert client.get("/staff/einvoicing/export/").status_code == 403


def test_staff_set_a_customers_format_and_are_told_what_it_needs(acme):
    customer_pk = in_schema(acme, lambda: make_business(einvoicing=FACTURX_ONLY).pk)
    client = client_for(acme, acme.owner)
    url = f"/staff/einvoicing/customers/{customer_pk}/"
    refused = client.post(url, {"format": "xrechnung", "endpoint_scheme": "", "endpoint_id": ""})
    assert refused.status_code == 400
    assert "buyer reference (Leitweg-ID)" in refused.content.decode()
    saved = client.post(
        url,
        {
            "format": "xrechnung",
            "buyer_reference": "991-01234-56",
            "endpoint_scheme": "0204",
            "endpoint_id": "991-01234-56",
        },
    )
    assert saved.status_code == 302
    with schema_context(acme.schema_name):
        from tenant_apps.einvoice.selectors import customer_format

        assert customer_format(customer_pk) == "xrechnung"


def test_only_managers_change_the_e_invoicing_settings(acme):
    data = {"endpoint_scheme": "EM", "endpoint_id": "einvoices@acme.test", "contact_name": "Ann"}
    assert (
        client_for(acme, acme.support).post("/staff/einvoicing/settings/", data).status_code == 403
    )
    assert client_for(acme, acme.owner).post("/staff/einvoicing/settings/", data).status_code == 302


# --------------------------------------------------------------------------------------
# Portal


def test_a_customer_downloads_their_own_invoice_as_peppol(acme):
    profile = {
        "format": "peppol",
        "buyer_reference": "ACC-7",
        "endpoint_scheme": "9957",
        "endpoint_id": "FR64443061841",
    }
    pk = in_schema(acme, lambda: issue(portal_customer(acme, **profile)).pk)
    client = client_for(acme, acme.customer)
    page = client.get(f"/portal/billing/invoices/{pk}/")
    assert f"/portal/einvoicing/invoices/{pk}/peppol/" in page.content.decode()
    response = client.get(f"/portal/einvoicing/invoices/{pk}/peppol/")
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    assert b"<cbc:BuyerReference>ACC-7</cbc:BuyerReference>" in response.content


def test_a_customer_cannot_reach_another_customers_invoice(acme):
    def build():
        portal_customer(acme)
        return issue(make_business("Other Corp SAS")).pk

    pk = in_schema(acme, build)
    client = client_for(acme, acme.customer)
    assert client.get(f"/portal/einvoicing/invoices/{pk}/facturx/").status_code == 404


def test_a_customer_chooses_their_format_in_the_portal(acme):
    in_schema(acme, lambda: portal_customer(acme))
    client = client_for(acme, acme.customer)
    refused = client.post(
        "/portal/einvoicing/", {"format": "xrechnung", "endpoint_scheme": "", "endpoint_id": ""}
    )
    assert refused.status_code == 400
    assert "Leitweg-ID" in refused.content.decode()
    saved = client.post(
        "/portal/einvoicing/",
        {
            "format": "peppol",
            "order_reference": "PO-55",
            "endpoint_scheme": "0009",
            "endpoint_id": "44306184100015",
        },
    )
    assert saved.status_code == 302
    assert "Peppol" in client.get("/portal/einvoicing/").content.decode()


# --------------------------------------------------------------------------------------
# API


def test_the_api_serves_each_format_and_says_why_one_is_refused(acme):
    pk = in_schema(acme, lambda: issue(make_business(einvoicing=FACTURX_ONLY)).pk)
    api = client_for(acme, acme.owner)
    status = api.get(f"/api/einvoicing/invoices/{pk}/").json()
    assert status["formats"]["facturx"]["valid"] is True
    assert status["formats"]["xrechnung"]["valid"] is False
    assert any("Leitweg-ID" in p for p in status["formats"]["xrechnung"]["problems"])
    assert all("Leitweg-ID" not in p for p in status["formats"]["peppol"]["problems"])
    pdf = api.get(f"/api/einvoicing/invoices/{pk}/facturx/", HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    refused = api.get(f"/api/einvoicing/invoices/{pk}/xrechnung/")
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "einvoice_invalid"
    body["problems"] = [problem.split(":")[0] for problem in body["problems"]]
    assert "XRechnung needs the customer's buyer reference (Leitweg-ID)" in body["problems"]


def test_the_api_reaches_no_other_instance_and_no_customer(acme, instance_b):
    pk = in_schema(acme, lambda: issue(portal_customer(acme)).pk)
    assert (
        client_for(instance_b, instance_b.owner)
        .get(f"/api/einvoicing/invoices/{pk}/facturx/")
        .status_code
        == 404
    )
    assert (
        client_for(acme, acme.customer).get(f"/api/einvoicing/invoices/{pk}/facturx/").status_code
        == 403
    )


def test_the_api_changes_a_customers_details_with_the_same_rules(acme):
    customer_pk = in_schema(acme, lambda: make_business(einvoicing=FACTURX_ONLY).pk)
    api = client_for(acme, acme.owner)
    url = f"/api/einvoicing/customers/{customer_pk}/"
    refused = api.patch(url, {"format": "peppol"}, content_type="application/json")
    assert refused.status_code == 400 and "endpoint_id" in refused.json()
    support = client_for(acme, acme.support)
    assert support.patch(url, {"format": "pdf"}, content_type="application/json").status_code == 403
    assert api.get(url).json()["format"] == "facturx"


# --------------------------------------------------------------------------------------
# E-mail


def test_the_issue_e_mail_attaches_the_customers_ubl_beside_the_pdf(acme, mailoutbox):
    def send():
        invoice = issue(make_business())  # chose Peppol, with everything it needs
        notifications.invoice_issued_notify(invoice=invoice)

    in_schema(acme, send)
    [message] = mailoutbox
    names = [attachment[0] for attachment in message.attachments]
    assert names[0].endswith(".pdf") and names[1].endswith("-peppol.xml")
    assert b"poacc:billing:3.0" in message.attachments[1][1]


def test_an_invalid_e_invoice_is_never_attached_and_the_page_says_why(acme, mailoutbox):
    def send():
        issuer_einvoicing_update(endpoint_scheme="", endpoint_id="")
        invoice = issue(make_business())
        notifications.invoice_issued_notify(invoice=invoice)
        return invoice.pk

    pk = in_schema(acme, send)
    [message] = mailoutbox
    assert [a[0].rsplit(".", 1)[-1] for a in message.attachments] == ["pdf"]
    html = client_for(acme, acme.owner).get(f"/staff/billing/invoices/{pk}/").content.decode()
    assert "sent without its Peppol BIS 3.0 file" in html
    assert "needs the issuer&#x27;s electronic address" in html


def test_a_factur_x_customer_gets_the_factur_x_pdf_in_place_of_the_plain_one(acme, mailoutbox):
    def send():
        invoice = issue(make_business(einvoicing=FACTURX_ONLY))
        notifications.invoice_issued_notify(invoice=invoice)

    in_schema(acme, send)
    [(name, content, mimetype)] = mailoutbox[0].attachments
    assert mimetype == "application/pdf" and name.endswith(".pdf")
    assert get_xml_from_pdf(content)[0] == "factur-x.xml"


def test_factur_x_as_the_default_pdf_is_what_billing_stores(acme):
    def store():
        issuer_einvoicing_update(facturx_default_pdf=True)
        invoice = issue(make_business(einvoicing={"format": "pdf"}))
        name = billing_documents.invoice_pdf_store(invoice=invoice)
        with Invoice.objects.get(pk=invoice.pk).pdf.storage.open(name, "rb") as handle:
            return handle.read()

    content = in_schema(acme, store)
    filename, xml = get_xml_from_pdf(content, check_xsd=True)
    assert filename == "factur-x.xml" and cii_problems(xml) == []


# --------------------------------------------------------------------------------------
# Export


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_accountant_export_streams_every_document_of_the_period(acme, instance_b):
    def build():
        invoice = issue(make_business())
        credit_note_for(invoice)
        issue(make_business("No Address SAS", einvoicing=FACTURX_ONLY))
        return invoice.number

    number = in_schema(acme, build)
    in_schema(instance_b, lambda: (setup_einvoicing_issuer(), issue(make_business("Blue SAS"))))
    client = client_for(acme, acme.owner)
    response = client.get(
        "/staff/einvoicing/export/",
        {"start": "2026-03-01", "end": "2026-03-31", "format": "peppol"},
    )
    assert response.status_code == 200 and response.streaming
    archive = _zip(response)
    names = archive.namelist()
    assert f"invoices/{number}-peppol.xml" in names
    assert any(name.startswith("credit-notes/") for name in names)
    assert len([n for n in names if n.endswith(".xml")]) == 2  # the third lacks Peppol data
    problems = archive.read("problems.txt").decode()
    assert "Peppol BIS 3.0 needs the customer's electronic address" in problems
    index = archive.read("index.csv").decode()
    assert "Blue SAS" not in index and index.count("\n") == 4  # header + 3 documents


def test_the_export_api_takes_each_customers_format_and_refuses_a_bad_period(acme):
    in_schema(acme, lambda: issue(make_business(einvoicing=FACTURX_ONLY)))
    api = client_for(acme, acme.owner)
    response = api.get(
        "/api/einvoicing/export/",
        {"start": "2026-03-01", "end": "2026-03-31", "format": "customer"},
    )
    assert response.status_code == 200
    assert [n for n in _zip(response).namelist() if n.endswith(".pdf")]
    bad = api.get("/api/einvoicing/export/", {"start": "2026-03-31", "end": "2026-03-01"})
    assert bad.status_code == 400 and "end" in bad.json()


# --------------------------------------------------------------------------------------
# Supplier bills (the operator's invoices to a reseller)


def test_a_reseller_downloads_its_supplier_bill_as_factur_x_and_no_other_resellers(
    instance_a, instance_b
):
    from tests.supplier_fixtures import owe_and_hold

    state = owe_and_hold("acme")
    bill = state["invoice"]
    response = client_for(instance_a, instance_a.owner).get(
        f"/staff/einvoicing/supplier-bills/{bill}/facturx/"
    )
    assert response.status_code == 200
    assert get_xml_from_pdf(response.content)[0] == "factur-x.xml"
    refused = client_for(instance_a, instance_a.owner).get(
        f"/staff/einvoicing/supplier-bills/{bill}/peppol/"
    )
    assert refused.status_code == 422
    assert "electronic address" in refused.content.decode()
    other = client_for(instance_b, instance_b.owner)
    assert other.get(f"/staff/einvoicing/supplier-bills/{bill}/facturx/").status_code == 404
