"""One presentation of a document: the staff page, the portal page and the PDF read the same.

The PDF is checked through the HTML it is printed from (`documents.invoice_html_render`), so
these tests compare what each page shows without parsing PDF bytes.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.billing import documents, services
from tenant_apps.billing.models import Invoice, TaxRate
from tenant_apps.billing.presenters import document_presentation
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance import services as instance_services
from tests.conftest import InstanceInfo, client_for

ISSUER_LINES = [
    "12 rue de la Paix",
    "75002 Paris",
    "France",
    "VAT id FR40303265045",
    "Reg. no. RCS Paris 303 265 045",
]
CUSTOMER_LINES = ["Attn. Jeanne Martin", "3 place du Marché", "69001 Lyon", "France"]
MULTI_RATE_LINES = [
    {"description": "Managed VPS", "quantity": "2", "unit_price": "39.00"},
    {"description": "Backup", "quantity": "1", "unit_price": "10.00"},
    {"description": "Hosting guide (e-book)", "unit_price": "20.00", "tax_class_code": "reduced"},
]
TAX_ROW = re.compile(
    r"((?:VAT|Tax) [\d.]+ %) <span class=\"[^\"]*\">on ([^<]+)</span></t[hd]><td[^>]*>([^<]+)</td>"
)


def set_up_billing(info: InstanceInfo, *, currency: str = "EUR") -> int:
    """A French issuer with a 20 % and a 5.5 % rate; returns the portal login's customer."""
    instance_services.issuer_identity_set(
        legal_name="Acme Hosting SARL",
        address_line1="12 rue de la Paix",
        postal_code="75002",
        city="Paris",
        country="FR",
        tax_id="FR40303265045",
        registration_number="RCS Paris 303 265 045",
        email="billing@acme.test",
        bank_details="IBAN FR76 3000 6000 0112 3456 7890 189",
    )
    standard, _ = TaxClass.objects.get_or_create(code="standard", defaults={"name": "Standard"})
    reduced, _ = TaxClass.objects.get_or_create(code="reduced", defaults={"name": "Reduced"})
    for tax_class, rate in ((standard, "20"), (reduced, "5.5")):
        TaxRate.objects.update_or_create(
            country="FR", tax_class=tax_class, defaults={"rate": Decimal(rate)}
        )
    return Customer.objects.create(
        kind="company",
        company_name="Boulangerie Martin SARL",
        name="Jeanne Martin",
        email=info.customer,
        address_line1="3 place du Marché",
        postal_code="69001",
        city="Lyon",
        country="FR",
        currency=currency,
        user=get_user_model().objects.get(email=info.customer),
    ).pk


def issue(customer_id: int, lines) -> Invoice:
    customer = Customer.objects.get(pk=customer_id)
    draft = services.invoice_create_draft(customer=customer, lines=lines)
    return services.invoice_issue(invoice=draft)


def tax_rows(html: str) -> list[tuple[str, str, str]]:
    return TAX_ROW.findall(html)


def screen_parties(html: str) -> list[list[str]]:
    """Each party on a page: its name, then the lines of its address block (contact details
    are printed muted and left out here)."""
    parties = []
    for block in re.findall(r'<div class="doc-party">(.*?)</div>', html, re.DOTALL):
        name = re.search(r'<p class="doc-party-name">(.*?)</p>', block).group(1)
        parties.append([name, *re.findall(r"<p>(.*?)</p>", block)])
    return parties


def pdf_parties(html: str) -> list[list[str]]:
    found = re.findall(
        r'<td class="party">\s*<div class="label">[^<]*</div>\s*<strong>(.*?)</strong>\s*'
        r'<div class="text">(.*?)</div>',
        html,
        re.DOTALL,
    )
    return [[name, *text.split("\n")] for name, text in found]


@pytest.fixture
def multi_rate_invoice(instance_a) -> int:
    with schema_context(instance_a.schema_name):
        return issue(set_up_billing(instance_a), MULTI_RATE_LINES).pk


def pdf_html(info: InstanceInfo, pk: int) -> str:
    with schema_context(info.schema_name):
        return documents.invoice_html_render(invoice=Invoice.objects.get(pk=pk))


def test_screen_and_pdf_show_the_same_tax_rows_when_an_invoice_has_two_rates(
    instance_a, multi_rate_invoice
):
    screen = client_for(instance_a, instance_a.owner).get(
        f"/staff/billing/invoices/{multi_rate_invoice}/"
    )
    expected = [("VAT 5.5 %", "€20.00", "€1.10"), ("VAT 20 %", "€88.00", "€17.60")]

    assert tax_rows(screen.content.decode()) == expected
    assert tax_rows(pdf_html(instance_a, multi_rate_invoice)) == expected


def test_screen_and_pdf_show_the_same_issuer_and_customer_blocks(instance_a, multi_rate_invoice):
    screen = client_for(instance_a, instance_a.owner).get(
        f"/staff/billing/invoices/{multi_rate_invoice}/"
    )
    expected = [
        ["Acme Hosting SARL", *ISSUER_LINES],
        ["Boulangerie Martin SARL", *CUSTOMER_LINES],
    ]

    assert screen_parties(screen.content.decode()) == expected
    assert pdf_parties(pdf_html(instance_a, multi_rate_invoice)) == expected


def test_portal_page_shows_the_customer_the_same_document_as_the_pdf(
    instance_a, multi_rate_invoice
):
    page = client_for(instance_a, instance_a.customer).get(
        f"/portal/billing/invoices/{multi_rate_invoice}/"
    )
    assert page.status_code == 200
    html = page.content.decode()
    pdf = pdf_html(instance_a, multi_rate_invoice)

    assert tax_rows(html) == tax_rows(pdf) != []
    assert screen_parties(html) == pdf_parties(pdf) != []
    assert "IBAN FR76 3000 6000 0112 3456 7890 189" in html and "€126.70" in html


def test_yen_amounts_show_no_decimals_on_the_screen_or_in_the_pdf(instance_a):
    with schema_context(instance_a.schema_name):
        customer_id = set_up_billing(instance_a, currency="JPY")
        invoice = issue(
            customer_id, [{"description": "VPS", "quantity": "3", "unit_price": "1200"}]
        )
        assert invoice.currency == "JPY"
    screen = client_for(instance_a, instance_a.owner).get(f"/staff/billing/invoices/{invoice.pk}/")
    pages = {"screen": screen.content.decode(), "pdf": pdf_html(instance_a, invoice.pk)}

    for name, html in pages.items():
        assert tax_rows(html) == [("VAT 20 %", "¥3,600", "¥720")], name
        assert "¥1,200" in html and "¥4,320" in html, name
        assert not re.search(r"¥[\d,]+\.\d", html), f"{name} shows yen with decimals"


def test_draft_reads_the_current_issuer_identity_and_an_issued_one_its_snapshot(instance_a):
    with schema_context(instance_a.schema_name):
        customer_id = set_up_billing(instance_a)
        draft = services.invoice_create_draft(
            customer=Customer.objects.get(pk=customer_id), lines=MULTI_RATE_LINES
        )
        instance_services.issuer_identity_set(legal_name="Acme Cloud SAS", country="FR")
        preview = document_presentation(draft)
        assert (preview.issued, preview.issuer.name) == (False, "Acme Cloud SAS")

        issued = services.invoice_issue(invoice=draft)
        instance_services.issuer_identity_set(legal_name="Renamed Holdings", country="FR")
        doc = document_presentation(Invoice.objects.get(pk=issued.pk))

    assert (doc.issued, doc.issuer.name) == (True, "Acme Cloud SAS")
    assert doc.title == "Invoice" and doc.number == issued.number


def test_history_lists_who_issued_and_paid_the_invoice_when_done_from_the_screen(instance_a):
    with schema_context(instance_a.schema_name):
        draft = services.invoice_create_draft(
            customer=Customer.objects.get(pk=set_up_billing(instance_a)), lines=MULTI_RATE_LINES
        )
    owner = client_for(instance_a, instance_a.owner)
    owner.post(f"/staff/billing/invoices/{draft.pk}/issue/")
    owner.post(
        f"/staff/billing/invoices/{draft.pk}/payments/",
        {
            "payment-amount": "10.00",
            "payment-method": "bank_transfer",
            "payment-received_on": "2026-03-10",
        },
    )

    page = owner.get(f"/staff/billing/invoices/{draft.pk}/").content.decode()
    history = re.search(r'aria-labelledby="history-title">(.*?)</section>', page, re.DOTALL)
    assert history, "the invoice page has a History card"
    rows = [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", history.group(1), re.DOTALL)
    ]
    by_label = {label: actor for _when, label, actor in rows}
    assert by_label.get("Invoice issued") == instance_a.owner
    assert by_label.get("Payment recorded") == instance_a.owner
