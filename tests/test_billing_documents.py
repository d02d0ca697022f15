"""Invoice and credit-note PDFs: frozen content, stored once per instance, never from a draft."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import factory
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_tenants.utils import schema_context
from factory.django import DjangoModelFactory

from tenant_apps.billing import documents, services
from tenant_apps.billing.models import Invoice, TaxRate
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance import services as instance_services

ISSUE_DATE = datetime.date(2026, 3, 2)
LINES = [
    {
        "description": "Managed VPS L",
        "unit_price": "39.00",
        "period_start": datetime.date(2026, 3, 1),
        "period_end": datetime.date(2026, 3, 31),
    },
    {"description": "Extra storage 100 GB", "unit_price": "4.50", "quantity": "3"},
]
# A 1×1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)

needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (Debian poppler-utils) is not installed"
)


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    address_line1 = "3 place du Marché"
    postal_code = "69001"
    city = "Lyon"
    country = "FR"
    currency = "EUR"


def pdf_text(content: bytes) -> str:
    """The PDF's text with whitespace collapsed (line wrapping must not matter)."""
    result = subprocess.run(
        ["pdftotext", "-", "-"], input=content, capture_output=True, check=True, timeout=60
    )
    return " ".join(result.stdout.decode().split())


def set_up_billing(**identity) -> None:
    instance_services.issuer_identity_set(
        **{
            "legal_name": "Acme Hosting SARL",
            "address_line1": "12 rue de la Paix",
            "postal_code": "75002",
            "city": "Paris",
            "country": "FR",
            "tax_id": "FR40303265045",
            "bank_details": "IBAN FR76 3000 6000 0112 3456 7890 189",
            **identity,
        }
    )
    TaxRate.objects.get_or_create(
        country="FR",
        tax_class=TaxClass.objects.get(code="standard"),
        defaults={"rate": Decimal("20")},
    )


def issue(customer: Customer, lines=LINES) -> Invoice:
    draft = services.invoice_create_draft(customer=customer, lines=lines)
    return services.invoice_issue(invoice=draft, issue_date=ISSUE_DATE)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def test_pdf_is_stored_under_the_instance_schema_when_stored(instance_a, media_root):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())

        name = documents.invoice_pdf_store(invoice=invoice)

        assert name == f"r_acme/invoices/invoice/{invoice.number}.pdf"
        assert Invoice.objects.get(pk=invoice.pk).pdf.name == name
        assert (media_root / name).read_bytes().startswith(b"%PDF")


def test_each_instance_stores_its_documents_under_its_own_schema(instance_a, instance_b):
    names = []
    for info in (instance_a, instance_b):
        with schema_context(info.schema_name):
            set_up_billing()
            names.append(documents.invoice_pdf_store(invoice=issue(CustomerFactory())))

    # Both instances number from 1, so the same number must still give two files.
    assert names[0].removeprefix("r_acme/") == names[1].removeprefix("r_bluebird/")
    assert names[0].startswith("r_acme/") and names[1].startswith("r_bluebird/")
    assert default_storage.exists(names[0]) and default_storage.exists(names[1])


def test_second_store_keeps_the_first_file_without_rendering_again(instance_a, monkeypatch):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        first = documents.invoice_pdf_store(invoice=invoice)
        stored = default_storage.open(first).read()

        def render_again(**kwargs):
            raise AssertionError("an issued document was rendered a second time")

        monkeypatch.setattr(documents, "invoice_pdf_render", render_again)
        second = documents.invoice_pdf_store(invoice=Invoice.objects.get(pk=invoice.pk))

        assert second == first
        assert default_storage.open(second).read() == stored


def test_store_from_a_stale_copy_keeps_the_recorded_file(instance_a, media_root):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        stale = Invoice.objects.get(pk=invoice.pk)  # loaded before the PDF existed
        first = documents.invoice_pdf_store(invoice=invoice)

        second = documents.invoice_pdf_store(invoice=stale)

        assert second == first
        assert stale.pdf.name == first
        assert [p.name for p in (media_root / first).parent.iterdir()] == [Path(first).name]


def test_changing_the_identity_after_issue_changes_nothing_in_the_document(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        before = documents.invoice_pdf_render(invoice=invoice)

        set_up_billing(legal_name="Renamed Holdings", tax_id="FR99999999999", brand_color="#ff0000")
        after = documents.invoice_pdf_render(invoice=Invoice.objects.get(pk=invoice.pk))

        assert after == before
        html = documents.invoice_html_render(invoice=invoice)
        assert "Acme Hosting SARL" in html
        assert "Renamed Holdings" not in html and "#ff0000" not in html


@needs_pdftotext
def test_document_prints_parties_lines_tax_by_rate_and_amount_due(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing(registration_number="RCS Paris 303 265 045")
        customer = CustomerFactory(company_name="Boulangerie Martin SARL", name="Jeanne Martin")
        invoice = issue(customer)

        text = pdf_text(documents.invoice_pdf_render(invoice=invoice))

    assert text.startswith("Invoice") and f"No. {invoice.number}" in text
    for expected in (
        "Acme Hosting SARL",
        "FR40303265045",
        "RCS Paris 303 265 045",
        "Boulangerie Martin SARL",
        "Attn. Jeanne Martin",
        "Managed VPS L",
        "1 Mar – 31 Mar 2026",
        "2 Mar 2026",  # issue date
        "VAT 20 % on €52.50",
        "€10.50",  # tax
        "€63.00",  # total and amount due
        "IBAN FR76 3000 6000 0112 3456 7890 189",
    ):
        assert expected in text, expected


@needs_pdftotext
def test_reverse_charge_is_stated_on_an_invoice_to_an_eu_business(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        customer = CustomerFactory(
            kind=Customer.Kind.COMPANY,
            company_name="Berliner Server GmbH",
            country="DE",
            tax_id="DE811907980",
            tax_id_status=Customer.TaxIdStatus.VALID,
        )
        invoice = issue(customer)
        assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE

        text = pdf_text(documents.invoice_pdf_render(invoice=invoice))

    assert "Reverse charge: VAT to be accounted for by the recipient" in text
    assert "DE811907980" in text
    assert "VAT 0 %" in text


@needs_pdftotext
def test_credit_note_is_titled_as_such_and_names_the_credited_invoice(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        note = services.credit_note_create(invoice=invoice, reason="Service outage")

        text = pdf_text(documents.invoice_pdf_render(invoice=note))
        name = documents.invoice_pdf_store(invoice=note)

    assert text.startswith("Credit note") and f"No. {note.number}" in text
    assert f"Credits invoice {invoice.number} of 2 Mar 2026" in text
    assert "Total credited" in text and "Amount due" not in text
    assert name == f"r_acme/invoices/credit_note/{note.number}.pdf"


def test_draft_can_be_neither_rendered_nor_stored(instance_a, media_root):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        draft = services.invoice_create_draft(customer=CustomerFactory(), lines=LINES)

        with pytest.raises(documents.DocumentNotIssued, match="draft"):
            documents.invoice_pdf_render(invoice=draft)
        with pytest.raises(documents.DocumentNotIssued, match="draft"):
            documents.invoice_pdf_store(invoice=draft)

        assert Invoice.objects.get(pk=draft.pk).pdf.name == ""
    assert not media_root.exists() or not any(media_root.rglob("*.pdf"))


def test_accent_colour_comes_from_the_snapshot_and_only_as_a_colour(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())

        assert f"color: {documents.DEFAULT_ACCENT}" in documents.invoice_html_render(
            invoice=invoice
        )
        invoice.issuer_snapshot["brand_color"] = "#0f766e"
        assert "color: #0f766e" in documents.invoice_html_render(invoice=invoice)
        invoice.issuer_snapshot["brand_color"] = "red; } body { display: none"
        html = documents.invoice_html_render(invoice=invoice)
        assert "display: none" not in html
        assert f"color: {documents.DEFAULT_ACCENT}" in html


def test_logo_named_by_the_snapshot_is_embedded_and_a_missing_one_is_left_out(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory())
        logo = default_storage.save("identity/logo.png", ContentFile(PNG))

        invoice.issuer_snapshot["logo"] = logo
        assert 'src="data:image/png;base64,' in documents.invoice_html_render(invoice=invoice)
        assert documents.invoice_pdf_render(invoice=invoice).startswith(b"%PDF")

        invoice.issuer_snapshot["logo"] = "identity/gone.png"
        assert "data:image" not in documents.invoice_html_render(invoice=invoice)


def test_customer_text_is_escaped_in_the_document(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        invoice = issue(CustomerFactory(name='<img src="http://evil.test/x.png">'))

        html = documents.invoice_html_render(invoice=invoice)

    assert '<img src="http://evil.test' not in html
    assert "&lt;img" in html


@pytest.mark.parametrize("url", ["http://example.test/logo.png", "file:///etc/passwd"])
def test_documents_never_fetch_remote_or_outside_files(url):
    with pytest.raises(ValueError):
        documents.LocalFilesOnly().fetch(url)


def test_number_with_a_slash_becomes_a_safe_file_name(instance_a):
    with schema_context(instance_a.schema_name):
        set_up_billing()
        services.billing_settings_update(invoice_number_format="{year}/{number}")
        invoice = issue(CustomerFactory())
        assert invoice.number == "2026/1"

        name = documents.invoice_pdf_store(invoice=invoice)

    assert name == "r_acme/invoices/invoice/2026-1.pdf"
