"""Billing screens: staff invoices, payments, credit, settings, runs; the customer portal."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.models import (
    BillingSettings,
    CreditEntry,
    Invoice,
    InvoiceLine,
    Payment,
    TaxRate,
)
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance import services as instance_services
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.recurring.models import BillingRun
from tests.conftest import InstanceInfo, client_for

STAFF = "/staff/billing/"


@dataclass
class Billing:
    """Ids of what `billing_ready` built in one instance (objects stay in their schema)."""

    info: InstanceInfo
    alice: int  # the portal customer (customer@<instance>)
    bob: int  # another customer, no portal login

    def run(self, fn, *args, **kwargs):
        with schema_context(self.info.schema_name):
            return fn(*args, **kwargs)

    def invoice(self, pk: int) -> Invoice:
        return self.run(Invoice.objects.get, pk=pk)

    def customer(self, pk: int) -> Customer:
        return self.run(Customer.objects.get, pk=pk)


def _build(info: InstanceInfo) -> Billing:
    with schema_context(info.schema_name):
        instance_services.issuer_identity_set(
            legal_name=f"{info.slug.title()} Hosting SARL",
            country="FR",
            address_line1="1 rue de la Paix",
            postal_code="75001",
            city="Paris",
            tax_id="FR40303265045",
        )
        standard, _ = TaxClass.objects.get_or_create(
            code="standard", defaults={"name": "Standard rate"}
        )
        TaxRate.objects.update_or_create(
            country="FR", tax_class=standard, defaults={"rate": Decimal("20"), "name": "VAT"}
        )
        login = get_user_model().objects.get(email=info.customer)
        alice = Customer.objects.create(
            kind="person",
            name="Alice Martin",
            email=info.customer,
            country="FR",
            currency="EUR",
            user=login,
        )
        bob = Customer.objects.create(
            kind="person", name="Bob Durand", email="bob@example.com", country="FR", currency="EUR"
        )
        return Billing(info=info, alice=alice.pk, bob=bob.pk)


@pytest.fixture
def acme(instance_a) -> Billing:
    return _build(instance_a)


def draft_for(billing: Billing, customer_id: int, *lines: tuple[str, str, str]) -> int:
    """A draft with (description, quantity, unit price) lines; returns its id."""
    specs = [{"description": d, "quantity": q, "unit_price": p} for d, q, p in lines] or [
        {"description": "Web hosting", "quantity": "1", "unit_price": "100.00"}
    ]

    def make():
        customer = Customer.objects.get(pk=customer_id)
        return services.invoice_create_draft(customer=customer, lines=specs).pk

    return billing.run(make)


def issued_for(billing: Billing, customer_id: int, *lines, issue_date=None) -> int:
    pk = draft_for(billing, customer_id, *lines)
    billing.run(
        lambda: services.invoice_issue(invoice=Invoice.objects.get(pk=pk), issue_date=issue_date)
    )
    return pk


def store_pdf(billing: Billing, pk: int) -> None:
    def store():
        invoice = Invoice.objects.get(pk=pk)
        name = default_storage.save(
            f"{billing.info.schema_name}/invoices/{invoice.number}.pdf",
            ContentFile(b"%PDF-1.4 test document"),
        )
        Invoice.objects.filter(pk=pk).update(pdf=name)

    billing.run(store)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def create_payload(customer_id, *rows, currency="", notes="") -> dict:
    """POST data of the new-invoice page: the form plus a three-row line formset."""
    data = {
        "customer": str(customer_id),
        "currency": currency,
        "notes": notes,
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for index in range(3):
        description, quantity, price = rows[index] if index < len(rows) else ("", "1", "")
        data.update(
            {
                f"lines-{index}-description": description,
                f"lines-{index}-quantity": quantity,
                f"lines-{index}-unit_price": price,
                f"lines-{index}-tax_class_code": "standard",
            }
        )
    return data


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# --------------------------------------------------------------------------------------
# The whole staff flow


def test_staff_take_an_invoice_from_draft_to_credit_note(acme):
    owner = client_for(acme.info, acme.info.owner)

    response = owner.post(
        f"{STAFF}invoices/new/",
        create_payload(acme.alice, ("Web hosting", "2", "10.00"), notes="Thank you!"),
    )
    assert response.status_code == 302
    pk = int(re.search(r"/invoices/(\d+)/", response["Location"]).group(1))
    draft = acme.invoice(pk)
    assert (draft.status, draft.total, draft.currency) == ("draft", Decimal("24.00"), "EUR")

    owner.post(
        f"{STAFF}invoices/{pk}/lines/add/",
        {
            "line-description": "Domain name",
            "line-quantity": "1",
            "line-unit_price": "15.00",
            "line-tax_class_code": "standard",
        },
    )
    assert acme.invoice(pk).total == Decimal("42.00")

    response = owner.post(f"{STAFF}invoices/{pk}/issue/", follow=True)
    issued = acme.invoice(pk)
    assert issued.status == "issued" and issued.number
    assert f"{issued.number} issued" in " ".join(messages_of(response))

    payment = {
        "payment-amount": "20.00",
        "payment-method": "bank_transfer",
        "payment-received_on": "2026-11-20",
        "payment-reference": "VIR-1",
    }
    owner.post(f"{STAFF}invoices/{pk}/payments/", payment)
    assert acme.invoice(pk).status == "partially_paid"

    response = owner.post(
        f"{STAFF}invoices/{pk}/payments/",
        {**payment, "payment-amount": "30.00", "payment-reference": "VIR-2"},
        follow=True,
    )
    assert acme.invoice(pk).status == "paid"
    assert acme.customer(acme.alice).credit_balance == Decimal("8.00")
    assert "went to Alice Martin's credit" in " ".join(messages_of(response))

    domain_line = acme.run(
        lambda: InvoiceLine.objects.get(invoice_id=pk, description="Domain name")
    )
    response = owner.post(
        f"{STAFF}invoices/{pk}/credit-note/",
        {
            "cn-scope": "lines",
            "cn-reason": "Domain not renewed",
            f"cn-line_{domain_line.pk}": "1",
        },
        follow=True,
    )
    note = acme.run(lambda: Invoice.objects.get(kind="credit_note", credited_invoice_id=pk))
    assert note.total == Decimal("18.00")
    assert response.request["PATH_INFO"] == f"{STAFF}invoices/{note.pk}/"
    assert acme.customer(acme.alice).credit_balance == Decimal("26.00")
    assert note.number in response.content.decode()


def test_issuing_from_the_screen_schedules_the_pdf_and_email_after_commit(
    acme, django_capture_on_commit_callbacks
):
    pk = draft_for(acme, acme.alice)
    with django_capture_on_commit_callbacks() as callbacks:
        client_for(acme.info, acme.info.owner).post(f"{STAFF}invoices/{pk}/issue/")
    assert acme.invoice(pk).status == "issued"
    assert callbacks, "issuing must hand the PDF and e-mail to the background after commit"


def test_invoice_list_shows_numbers_drafts_and_filters_by_status(acme):
    issued = issued_for(acme, acme.alice)
    draft = draft_for(acme, acme.bob)
    owner = client_for(acme.info, acme.info.owner)

    page = owner.get(STAFF).content.decode()
    assert acme.invoice(issued).number in page
    assert f"Draft #{draft}" in page

    drafts_only = owner.get(STAFF, {"status": "draft"}).content.decode()
    assert f"Draft #{draft}" in drafts_only
    assert acme.invoice(issued).number not in drafts_only


def test_invoice_list_finds_invoices_by_customer_name(acme):
    alice_invoice = issued_for(acme, acme.alice)
    bob_invoice = issued_for(acme, acme.bob)
    page = client_for(acme.info, acme.info.owner).get(STAFF, {"q": "durand"}).content.decode()
    assert acme.invoice(bob_invoice).number in page
    assert acme.invoice(alice_invoice).number not in page


def test_overdue_filter_keeps_only_invoices_past_their_due_date(acme):
    late = issued_for(acme, acme.alice, issue_date=timezone.localdate() - datetime.timedelta(40))
    current = issued_for(acme, acme.bob)
    page = client_for(acme.info, acme.info.owner).get(STAFF, {"overdue": "true"})
    text = page.content.decode()
    assert acme.invoice(late).number in text
    assert acme.invoice(current).number not in text
    assert "Overdue" in text


def test_empty_invoice_list_invites_to_create_the_first_invoice(instance_a):
    page = client_for(instance_a, instance_a.owner).get(STAFF).content.decode()
    assert "No invoices yet" in page
    assert f"{STAFF}invoices/new/" in page


# --------------------------------------------------------------------------------------
# Bad input: errors on the page, nothing written


def test_negative_quantity_is_refused_on_the_new_invoice_page(acme):
    before = acme.run(Invoice.objects.count)
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}invoices/new/", create_payload(acme.alice, ("Hosting", "-1", "10.00"))
    )
    assert response.status_code == 200
    assert "The quantity must be more than 0." in response.content.decode()
    assert acme.run(Invoice.objects.count) == before


def test_unknown_currency_is_refused_on_the_new_invoice_page(acme):
    before = acme.run(Invoice.objects.count)
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}invoices/new/",
        create_payload(acme.alice, ("Hosting", "1", "10.00"), currency="XYZ"),
    )
    assert response.status_code == 200
    assert "is not a currency code we know" in response.content.decode()
    assert acme.run(Invoice.objects.count) == before


def test_negative_quantity_on_a_draft_shows_the_error_and_adds_no_line(acme):
    pk = draft_for(acme, acme.alice)
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}invoices/{pk}/lines/add/",
        {
            "line-description": "Extra",
            "line-quantity": "-2",
            "line-unit_price": "5",
            "line-tax_class_code": "standard",
        },
    )
    assert response.status_code == 200
    assert "The quantity must be more than 0." in response.content.decode()
    assert acme.run(InvoiceLine.objects.filter(invoice_id=pk).count) == 1


def test_adding_a_line_to_an_issued_invoice_is_refused_with_a_message(acme):
    pk = issued_for(acme, acme.alice)
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}invoices/{pk}/lines/add/",
        {
            "line-description": "Sneaky",
            "line-quantity": "1",
            "line-unit_price": "5",
            "line-tax_class_code": "standard",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "issued invoices never change" in " ".join(messages_of(response))
    assert acme.invoice(pk).total == Decimal("120.00")


def test_paying_a_void_invoice_is_refused(acme):
    pk = issued_for(acme, acme.alice)
    acme.run(lambda: services.billing_settings_update(void_issued_invoices=True))
    owner = client_for(acme.info, acme.info.owner)
    owner.post(f"{STAFF}invoices/{pk}/void/", {"void-reason": "Issued twice"})
    assert acme.invoice(pk).status == "void"
    response = owner.post(
        f"{STAFF}invoices/{pk}/payments/",
        {
            "payment-amount": "120.00",
            "payment-method": "cash",
            "payment-received_on": "2026-11-20",
        },
        follow=True,
    )
    assert "is void and cannot be paid" in " ".join(messages_of(response))
    assert acme.run(Payment.objects.count) == 0


def test_paying_another_customers_invoice_is_refused_on_the_field(acme):
    alice_invoice = issued_for(acme, acme.alice)
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}payments/",
        {
            "pay-customer": str(acme.bob),
            "pay-invoice": str(alice_invoice),
            "pay-amount": "120.00",
            "pay-method": "bank_transfer",
            "pay-received_on": "2026-11-20",
        },
    )
    assert response.status_code == 200
    assert "That invoice belongs to another customer." in response.content.decode()
    assert acme.run(Payment.objects.count) == 0
    assert acme.invoice(alice_invoice).status == "issued"


def test_void_is_refused_once_something_was_paid(acme):
    pk = issued_for(acme, acme.alice)
    acme.run(
        lambda: services.payment_record(
            customer=Customer.objects.get(pk=acme.alice),
            invoice=Invoice.objects.get(pk=pk),
            amount="10",
            method="cash",
        )
    )
    acme.run(lambda: services.billing_settings_update(void_issued_invoices=True))
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}invoices/{pk}/void/", {"void-reason": "oops"}, follow=True
    )
    assert "issue a credit note instead" in " ".join(messages_of(response))
    assert acme.invoice(pk).status == "partially_paid"


# --------------------------------------------------------------------------------------
# Roles and isolation


def test_support_staff_read_invoices_but_cannot_issue_them(acme):
    pk = draft_for(acme, acme.alice)
    support = client_for(acme.info, acme.info.support)
    page = support.get(f"{STAFF}invoices/{pk}/")
    assert page.status_code == 200
    assert "Issue invoice" not in page.content.decode()
    assert support.post(f"{STAFF}invoices/{pk}/issue/").status_code == 403
    assert acme.invoice(pk).status == "draft"


def test_support_staff_cannot_open_the_new_invoice_page(acme):
    assert client_for(acme.info, acme.info.support).get(f"{STAFF}invoices/new/").status_code == 403


def test_billing_role_can_issue_but_not_change_settings(acme):
    with schema_context(acme.info.schema_name):
        get_user_model().objects.create_user(email="billing@acme.test", role="billing")
    clerk = client_for(acme.info, "billing@acme.test")
    pk = draft_for(acme, acme.alice)
    clerk.post(f"{STAFF}invoices/{pk}/issue/")
    assert acme.invoice(pk).status == "issued"
    response = clerk.post(f"{STAFF}settings/", {"payment_terms_days": "30"})
    assert response.status_code == 403


def test_customers_cannot_open_the_staff_billing_screens(acme):
    customer = client_for(acme.info, acme.info.customer)
    assert customer.get(STAFF).status_code == 403
    assert customer.get(f"{STAFF}settings/").status_code == 403


def test_another_instance_cannot_open_an_invoice_by_id(acme, instance_b):
    pk = issued_for(acme, acme.alice)
    with schema_context(instance_b.schema_name):
        assert not Invoice.objects.filter(pk=pk).exists()
    bluebird = client_for(instance_b, instance_b.owner)
    assert bluebird.get(f"{STAFF}invoices/{pk}/").status_code == 404
    assert bluebird.get(f"{STAFF}invoices/{pk}/pdf/").status_code == 404


# --------------------------------------------------------------------------------------
# Customer portal


def test_customer_sees_only_their_own_issued_documents_in_the_portal(acme):
    own = issued_for(acme, acme.alice)
    own_draft = draft_for(acme, acme.alice)
    others = issued_for(acme, acme.bob)
    portal = client_for(acme.info, acme.info.customer)

    page = portal.get("/portal/billing/").content.decode()
    assert acme.invoice(own).number in page
    assert acme.invoice(others).number not in page
    assert f"Draft #{own_draft}" not in page

    assert portal.get(f"/portal/billing/invoices/{own}/").status_code == 200
    assert portal.get(f"/portal/billing/invoices/{own_draft}/").status_code == 404
    assert portal.get(f"/portal/billing/invoices/{others}/").status_code == 404


def test_portal_invoice_page_shows_what_is_due(acme):
    pk = issued_for(acme, acme.alice)
    page = client_for(acme.info, acme.info.customer).get(f"/portal/billing/invoices/{pk}/")
    text = page.content.decode()
    assert "€120.00" in text
    assert "Alice Martin" in text  # billed to, from the frozen snapshot
    assert "Remove" not in text  # read-only: no draft editing controls


def test_staff_cannot_use_the_portal_invoice_pages(acme):
    pk = issued_for(acme, acme.alice)
    staff = client_for(acme.info, acme.info.owner)
    assert staff.get(f"/portal/billing/invoices/{pk}/").status_code == 403


# --------------------------------------------------------------------------------------
# PDFs


def test_staff_download_the_stored_pdf_as_an_attachment(acme, media):
    pk = issued_for(acme, acme.alice)
    store_pdf(acme, pk)
    response = client_for(acme.info, acme.info.owner).get(f"{STAFF}invoices/{pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    number = acme.invoice(pk).number
    assert response["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_pdf_not_rendered_yet_is_a_friendly_404(acme, media):
    pk = issued_for(acme, acme.alice)
    response = client_for(acme.info, acme.info.owner).get(f"{STAFF}invoices/{pk}/pdf/")
    assert response.status_code == 404
    assert "being prepared" in response.content.decode()


def test_customer_downloads_their_own_pdf_but_not_another_customers(acme, media):
    own = issued_for(acme, acme.alice)
    others = issued_for(acme, acme.bob)
    store_pdf(acme, own)
    store_pdf(acme, others)
    portal = client_for(acme.info, acme.info.customer)
    assert portal.get(f"/portal/billing/invoices/{own}/pdf/").status_code == 200
    refused = portal.get(f"/portal/billing/invoices/{others}/pdf/")
    assert refused.status_code == 404
    assert b"%PDF" not in refused.content


# --------------------------------------------------------------------------------------
# Payments and credit


def test_payment_on_account_becomes_credit(acme):
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}payments/",
        {
            "pay-customer": str(acme.bob),
            "pay-amount": "50.00",
            "pay-method": "cheque",
            "pay-received_on": "2026-11-20",
        },
    )
    assert response.status_code == 302
    assert acme.customer(acme.bob).credit_balance == Decimal("50.00")


def test_applying_credit_settles_an_invoice(acme):
    pk = issued_for(acme, acme.alice)
    acme.run(
        lambda: services.customer_credit_adjust(
            customer=Customer.objects.get(pk=acme.alice), amount="200", note="Goodwill"
        )
    )
    client_for(acme.info, acme.info.owner).post(f"{STAFF}invoices/{pk}/apply-credit/", {})
    assert acme.invoice(pk).status == "paid"
    assert acme.customer(acme.alice).credit_balance == Decimal("80.00")


def test_manual_credit_adjustment_needs_a_note(acme):
    owner = client_for(acme.info, acme.info.owner)
    url = f"{STAFF}customers/{acme.bob}/credit/"
    refused = owner.post(url, {"amount": "25", "note": ""})
    assert refused.status_code == 200
    assert acme.run(CreditEntry.objects.count) == 0
    owner.post(url, {"amount": "25", "note": "Apology for the outage"})
    assert acme.customer(acme.bob).credit_balance == Decimal("25.00")
    assert "Apology for the outage" in owner.get(url).content.decode()


# --------------------------------------------------------------------------------------
# Settings, tax rates, e-mail templates


def settings_payload(**overrides) -> dict:
    data = {
        "payment_terms_days": "30",
        "renewal_lead_days": "10",
        "invoice_number_format": "INV-{year}-{number:05d}",
        "credit_note_number_format": "CN-{year}-{number:05d}",
        "reminder_days": "3, 10",
        "late_fee_amount": "5.00",
        "late_fee_percent": "0",
        "late_fee_after_days": "14",
        "late_fee_vat": "outside_scope",
        "suspend_after_days": "21",
        "terminate_after_days": "60",
    }
    data.update(overrides)
    return data


def test_owner_saves_billing_settings_with_reminder_days_as_text(acme):
    response = client_for(acme.info, acme.info.owner).post(f"{STAFF}settings/", settings_payload())
    assert response.status_code == 302
    row = acme.run(BillingSettings.objects.get)
    assert (row.payment_terms_days, row.reminder_days) == (30, [3, 10])
    assert row.invoice_number_format == "INV-{year}-{number:05d}"


def test_number_format_without_a_number_is_shown_on_its_field(acme):
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}settings/", settings_payload(invoice_number_format="INV-{year}")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "must contain {number}" in " ".join(form.errors["invoice_number_format"])
    assert acme.run(lambda: services.billing_settings_get().payment_terms_days) == 14


def test_termination_before_suspension_is_refused_by_the_service_on_its_field(acme):
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}settings/", settings_payload(suspend_after_days="30", terminate_after_days="10")
    )
    assert (
        "Termination must come after suspension."
        in response.context["form"].errors["terminate_after_days"]
    )


def test_reminder_days_that_are_not_numbers_are_refused(acme):
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}settings/", settings_payload(reminder_days="3, soon")
    )
    assert "whole numbers" in " ".join(response.context["form"].errors["reminder_days"])


def test_support_staff_see_settings_read_only(acme):
    support = client_for(acme.info, acme.info.support)
    page = support.get(f"{STAFF}settings/").content.decode()
    assert "Only the owner or an administrator can change these settings." in page
    assert support.post(f"{STAFF}settings/", settings_payload()).status_code == 403


def test_owner_adds_edits_and_deletes_a_tax_rate(acme):
    owner = client_for(acme.info, acme.info.owner)
    standard = acme.run(lambda: TaxClass.objects.get(code="standard").pk)
    created = owner.post(
        f"{STAFF}settings/tax-rates/new/",
        {"country": "DE", "tax_class": str(standard), "rate": "19", "name": "MwSt"},
    )
    assert created.status_code == 302
    rate = acme.run(lambda: TaxRate.objects.get(country="DE"))
    owner.post(
        f"{STAFF}settings/tax-rates/{rate.pk}/edit/",
        {"country": "DE", "tax_class": str(standard), "rate": "7", "name": "MwSt"},
    )
    assert acme.run(lambda: TaxRate.objects.get(pk=rate.pk).rate) == Decimal("7")
    owner.post(f"{STAFF}settings/tax-rates/{rate.pk}/delete/")
    assert not acme.run(lambda: TaxRate.objects.filter(pk=rate.pk).exists())


def test_a_second_rate_for_the_same_country_and_class_is_refused(acme):
    standard = acme.run(lambda: TaxClass.objects.get(code="standard").pk)
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}settings/tax-rates/new/",
        {"country": "FR", "tax_class": str(standard), "rate": "5.5", "name": "TVA"},
    )
    assert response.status_code == 200
    assert acme.run(lambda: TaxRate.objects.filter(country="FR").count()) == 1


def test_email_wording_is_overridden_then_reset_to_the_default(acme):
    owner = client_for(acme.info, acme.info.owner)
    url = f"{STAFF}settings/emails/invoice_issued/"
    page = owner.get(url).content.decode()
    assert "Built-in wording" in page
    owner.post(url, {"subject": "Your bill {{ invoice.number }}", "body": "Pay soon."})
    assert acme.run(lambda: EmailTemplate.objects.get(key="invoice_issued").body) == "Pay soon."
    owner.post(f"{url}reset/")
    assert not acme.run(EmailTemplate.objects.exists)


def test_email_wording_with_broken_template_syntax_is_refused(acme):
    response = client_for(acme.info, acme.info.owner).post(
        f"{STAFF}settings/emails/payment_receipt/",
        {"subject": "Thanks {% if %}", "body": "Body"},
    )
    assert response.status_code == 200
    assert "not valid template syntax" in response.content.decode()
    assert not acme.run(EmailTemplate.objects.exists)


def test_unknown_email_key_is_a_404(acme):
    owner = client_for(acme.info, acme.info.owner)
    assert owner.get(f"{STAFF}settings/emails/not_an_email/").status_code == 404


# --------------------------------------------------------------------------------------
# Billing runs


def test_run_now_creates_runs_and_shows_their_log(acme):
    acme.run(lambda: services.billing_settings_update(reminder_days=[3]))
    late = issued_for(acme, acme.alice, issue_date=timezone.localdate() - datetime.timedelta(30))
    owner = client_for(acme.info, acme.info.owner)

    response = owner.post(f"{STAFF}runs/now/")
    assert response.status_code == 302
    runs = acme.run(lambda: list(BillingRun.objects.order_by("id")))
    assert [r.kind for r in runs] == ["renewals", "dunning"]
    assert {r.triggered_by for r in runs} == {acme.info.owner}
    assert response["Location"] == f"{STAFF}runs/{runs[0].pk}/"

    dunning_page = owner.get(f"{STAFF}runs/{runs[1].pk}/").content.decode()
    assert f"Reminder 1 for invoice {acme.invoice(late).number}" in dunning_page
    assert owner.get(f"{STAFF}runs/").status_code == 200


def test_support_staff_cannot_start_a_billing_run(acme):
    response = client_for(acme.info, acme.info.support).post(f"{STAFF}runs/now/")
    assert response.status_code == 403
    assert not acme.run(BillingRun.objects.exists)


# --------------------------------------------------------------------------------------
# Django admin


def test_admin_shows_an_issued_invoice_but_refuses_to_change_it(operator):
    with schema_context(operator.schema_name):
        instance_services.issuer_identity_set(legal_name="Operator SAS", country="FR")
        # Issuing needs the VAT rate of the customer's country (never a silent 0 %).
        TaxRate.objects.create(
            country="FR", tax_class=TaxClass.objects.get(code="standard"), rate="20"
        )
        customer = Customer.objects.create(
            kind="company", name="Acme Ltd", email="acme@example.com", country="FR"
        )
        draft = services.invoice_create_draft(
            customer=customer,
            lines=[{"description": "Reseller plan", "quantity": "1", "unit_price": "500"}],
        )
        invoice = services.invoice_issue(invoice=draft)
    admin = client_for(operator, operator.owner)
    url = f"/admin/billing/invoice/{invoice.pk}/change/"
    page = admin.get(url)
    assert page.status_code == 200
    assert invoice.number in page.content.decode()
    assert admin.post(url, {"notes": "changed"}).status_code == 403
    with schema_context(operator.schema_name):
        assert Invoice.objects.get(pk=invoice.pk).notes == ""


def test_run_now_runs_dunning_in_the_instance_even_if_renewals_end_in_public(
    acme, operator, monkeypatch
):
    """An eagerly run Celery task leaves the connection on the public schema when it ends."""
    from django.db import connection

    from tenant_apps.recurring import services as runs

    real_renewals = runs.renewals_run

    def renewals_that_leave_public(**kwargs):
        run = real_renewals(**kwargs)
        connection.set_schema_to_public()
        return run

    monkeypatch.setattr(runs, "renewals_run", renewals_that_leave_public)
    client_for(acme.info, acme.info.owner).post(f"{STAFF}runs/now/")
    kinds = acme.run(lambda: sorted(BillingRun.objects.values_list("kind", flat=True)))
    assert kinds == ["dunning", "renewals"]
    with schema_context(operator.schema_name):
        assert not BillingRun.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "billing/invoice",
        "billing/payment",
        "billing/creditentry",
        "recurring/billingrun",
        "billing/numbersequence",
        "billing/billingsettings",
        "instance/issueridentity",
        "billing/taxrate",
        "instance/emailtemplate",
        "instance/auditevent",
    ],
)
def test_admin_lists_billing_data(operator, path):
    response = client_for(operator, operator.owner).get(f"/admin/{path}/")
    assert response.status_code == 200


def test_issuing_and_paying_leave_an_audit_trail_with_the_staff_member(instance_a):
    from django_tenants.utils import schema_context

    from tenant_apps.billing import services as billing_services
    from tenant_apps.instance.models import AuditEvent
    from tests.billing_fixtures import make_customer, setup_issuer
    from tests.conftest import client_for

    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        draft = billing_services.invoice_create_draft(
            customer=make_customer(), lines=[{"description": "Plan", "unit_price": "10"}]
        )
    client = client_for(instance_a, instance_a.owner)
    client.post(f"/staff/billing/invoices/{draft.pk}/issue/")
    with schema_context(instance_a.schema_name):
        event = AuditEvent.objects.get(
            object_type="invoice", object_id=str(draft.pk), action="invoice.issued"
        )
        assert event.actor_label == instance_a.owner
    page = client.get(f"/staff/billing/invoices/{draft.pk}/").content.decode()
    assert "History" in page and instance_a.owner in page
