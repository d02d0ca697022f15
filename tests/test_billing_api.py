"""Billing API: drafts, lines, issue, payments, credit, credit notes, PDFs, settings, runs."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.models import Invoice, InvoiceLine, Payment, TaxRate
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance import services as instance_services
from tenant_apps.recurring.models import BillingRun
from tests.conftest import InstanceInfo, client_for


class Api:
    """A JSON client of one instance's API, signed in as one user."""

    def __init__(self, info: InstanceInfo, email: str):
        self.info = info
        self.client = client_for(info, email)

    def get(self, path, **params):
        return self.client.get(f"/api/{path}", params)

    def post(self, path, data=None):
        return self.client.post(
            f"/api/{path}", json.dumps(data or {}), content_type="application/json"
        )

    def put(self, path, data):
        return self.client.put(f"/api/{path}", json.dumps(data), content_type="application/json")

    def patch(self, path, data):
        return self.client.patch(f"/api/{path}", json.dumps(data), content_type="application/json")

    def delete(self, path):
        return self.client.delete(f"/api/{path}")


@dataclass
class Acme(InstanceInfo):
    """Instance A ready to invoice; `alice` (the portal login's customer) and `bob` are ids."""

    alice: int = 0
    bob: int = 0


@pytest.fixture
def acme(instance_a) -> Acme:
    """Acme invoices from France with 20 % VAT; Alice (portal login) and Bob are customers."""
    with schema_context(instance_a.schema_name):
        instance_services.issuer_identity_set(legal_name="Acme Hosting SARL", country="FR")
        standard, _ = TaxClass.objects.get_or_create(
            code="standard", defaults={"name": "Standard rate"}
        )
        TaxRate.objects.update_or_create(
            country="FR", tax_class=standard, defaults={"rate": Decimal("20")}
        )
        login = get_user_model().objects.get(email=instance_a.customer)
        alice = Customer.objects.create(
            kind="person",
            name="Alice Martin",
            email=instance_a.customer,
            country="FR",
            currency="EUR",
            user=login,
        )
        bob = Customer.objects.create(
            kind="person", name="Bob Durand", email="bob@example.com", country="FR", currency="EUR"
        )
    return Acme(**asdict(instance_a), alice=alice.pk, bob=bob.pk)


@pytest.fixture
def owner(acme) -> Api:
    return Api(acme, acme.owner)


def in_acme(acme, fn):
    with schema_context(acme.schema_name):
        return fn()


def issued(acme, customer_id, price="100.00", issue_date=None) -> int:
    def make():
        draft = services.invoice_create_draft(
            customer=Customer.objects.get(pk=customer_id),
            lines=[{"description": "Web hosting", "quantity": "1", "unit_price": price}],
        )
        return services.invoice_issue(invoice=draft, issue_date=issue_date).pk

    return in_acme(acme, make)


def draft_payload(customer_id, **overrides):
    payload = {
        "customer": customer_id,
        "notes": "Thank you",
        "lines": [{"description": "Web hosting", "quantity": "2", "unit_price": "10.00"}],
    }
    payload.update(overrides)
    return payload


# --------------------------------------------------------------------------------------
# The whole flow


def test_api_takes_an_invoice_from_draft_to_credit_note(acme, owner):
    created = owner.post("invoices/", draft_payload(acme.alice))
    assert created.status_code == 201, created.content
    body = created.json()
    pk = body["id"]
    assert (body["status"], body["total"], body["number"]) == ("draft", "24.00", None)
    assert body["lines"][0]["net_amount"] == "20.00"

    added = owner.post(
        f"invoices/{pk}/lines/",
        {"description": "Domain name", "quantity": "1", "unit_price": "15.00"},
    )
    assert added.status_code == 201
    assert added.json()["total"] == "42.00"

    issue = owner.post(f"invoices/{pk}/issue/")
    assert issue.status_code == 200
    assert issue.json()["status"] == "issued" and issue.json()["number"]

    partial = owner.post(f"invoices/{pk}/payments/", {"amount": "20.00", "method": "bank_transfer"})
    assert partial.status_code == 201
    assert partial.json()["applied_amount"] == "20.00"
    assert owner.get(f"invoices/{pk}/").json()["status"] == "partially_paid"

    over = owner.post(f"invoices/{pk}/payments/", {"amount": "30.00", "method": "card"})
    assert over.json()["applied_amount"] == "22.00"
    assert owner.get(f"invoices/{pk}/").json()["status"] == "paid"
    assert in_acme(acme, lambda: Customer.objects.get(pk=acme.alice).credit_balance) == Decimal(
        "8.00"
    )

    line_id = [line for line in added.json()["lines"] if line["description"] == "Domain name"][0][
        "id"
    ]
    note = owner.post(
        f"invoices/{pk}/credit-notes/",
        {"reason": "Domain not renewed", "lines": [{"line_id": line_id, "quantity": "1"}]},
    )
    assert note.status_code == 201, note.content
    assert (note.json()["kind"], note.json()["total"]) == ("credit_note", "18.00")
    assert note.json()["credited_invoice"] == pk
    assert in_acme(acme, lambda: Customer.objects.get(pk=acme.alice).credit_balance) == Decimal(
        "26.00"
    )


def test_amounts_are_strings_never_floats(acme, owner):
    pk = issued(acme, acme.alice, price="19.99")
    body = owner.get(f"invoices/{pk}/").json()
    for field in ("subtotal", "tax_total", "total", "amount_paid", "amount_due"):
        assert isinstance(body[field], str), field
    assert body["total"] == "23.99"
    assert isinstance(body["lines"][0]["unit_price"], str)


def test_invoice_list_filters_by_status_kind_and_customer(acme, owner):
    alice_invoice = issued(acme, acme.alice)
    owner.post("invoices/", draft_payload(acme.bob))

    drafts = owner.get("invoices/", status="draft").json()["results"]
    assert [row["status"] for row in drafts] == ["draft"]
    alice_rows = owner.get("invoices/", customer=acme.alice).json()["results"]
    assert [row["id"] for row in alice_rows] == [alice_invoice]
    assert owner.get("invoices/", kind="credit_note").json()["count"] == 0


def test_unknown_status_filter_is_a_400(owner):
    response = owner.get("invoices/", status="lost")
    assert response.status_code == 400
    assert "status" in response.json()


def test_overdue_filter_returns_unpaid_invoices_past_their_due_date(acme, owner):
    late = issued(acme, acme.alice, issue_date=timezone.localdate() - datetime.timedelta(40))
    issued(acme, acme.bob)
    rows = owner.get("invoices/", overdue="true").json()["results"]
    assert [row["id"] for row in rows] == [late]


# --------------------------------------------------------------------------------------
# Bad input: 4xx JSON, nothing written


def test_negative_quantity_is_a_400_and_creates_nothing(acme, owner):
    before = in_acme(acme, Invoice.objects.count)
    bad = draft_payload(
        acme.alice, lines=[{"description": "Hosting", "quantity": "-1", "unit_price": "10"}]
    )
    response = owner.post("invoices/", bad)
    assert response.status_code == 400
    assert "quantity" in response.json()["lines"]["0"], response.json()
    assert in_acme(acme, Invoice.objects.count) == before


def test_unknown_currency_is_a_400_and_creates_nothing(acme, owner):
    before = in_acme(acme, Invoice.objects.count)
    response = owner.post("invoices/", draft_payload(acme.alice, currency="XYZ"))
    assert response.status_code == 400
    assert "not a currency code we know" in response.json()["currency"][0]
    assert in_acme(acme, Invoice.objects.count) == before


def test_adding_a_line_to_an_issued_invoice_is_a_409(acme, owner):
    pk = issued(acme, acme.alice)
    response = owner.post(
        f"invoices/{pk}/lines/", {"description": "Sneaky", "quantity": "1", "unit_price": "1"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invoice_not_editable"
    assert in_acme(acme, lambda: InvoiceLine.objects.filter(invoice_id=pk).count()) == 1


def test_deleting_an_issued_invoice_is_a_409(acme, owner):
    pk = issued(acme, acme.alice)
    assert owner.delete(f"invoices/{pk}/").status_code == 409
    assert in_acme(acme, lambda: Invoice.objects.filter(pk=pk).exists())


def test_paying_a_void_invoice_is_a_409(acme, owner):
    pk = issued(acme, acme.alice)
    in_acme(acme, lambda: services.billing_settings_update(void_issued_invoices=True))
    assert owner.post(f"invoices/{pk}/void/", {"reason": "Issued twice"}).status_code == 200
    response = owner.post(f"invoices/{pk}/payments/", {"amount": "120.00", "method": "cash"})
    assert response.status_code == 409
    assert "void" in response.json()["detail"]
    assert in_acme(acme, Payment.objects.count) == 0


def test_paying_another_customers_invoice_is_a_400(acme, owner):
    alice_invoice = issued(acme, acme.alice)
    response = owner.post(
        "payments/",
        {"customer": acme.bob, "invoice": alice_invoice, "amount": "120.00", "method": "cash"},
    )
    assert response.status_code == 400
    assert response.json()["invoice"] == ["That invoice belongs to another customer."]
    assert in_acme(acme, Payment.objects.count) == 0


def test_a_zero_payment_is_a_400(acme, owner):
    pk = issued(acme, acme.alice)
    response = owner.post(f"invoices/{pk}/payments/", {"amount": "0", "method": "cash"})
    assert response.status_code == 400
    assert in_acme(acme, Payment.objects.count) == 0


def test_crediting_more_than_the_invoice_is_a_400(acme, owner):
    pk = issued(acme, acme.alice)
    assert owner.post(f"invoices/{pk}/credit-notes/", {"reason": "Refund"}).status_code == 201
    again = owner.post(f"invoices/{pk}/credit-notes/", {"reason": "Refund again"})
    assert again.status_code == 400
    assert in_acme(acme, lambda: Invoice.objects.filter(kind="credit_note").count()) == 1


def test_applying_credit_the_customer_does_not_have_is_refused(acme, owner):
    pk = issued(acme, acme.alice)
    response = owner.post(f"invoices/{pk}/apply-credit/", {})
    assert response.status_code == 400
    assert "no credit" in response.json()["detail"]


def test_applying_credit_settles_the_invoice(acme, owner):
    pk = issued(acme, acme.alice)
    in_acme(
        acme,
        lambda: services.customer_credit_adjust(
            customer=Customer.objects.get(pk=acme.alice), amount="50", note="Goodwill"
        ),
    )
    response = owner.post(f"invoices/{pk}/apply-credit/", {})
    assert response.status_code == 200
    assert response.json()["applied"] == "50.00"
    assert response.json()["invoice"]["amount_due"] == "70.00"


# --------------------------------------------------------------------------------------
# Roles and isolation


def test_support_staff_read_but_cannot_issue(acme):
    draft = Api(acme, acme.owner).post("invoices/", draft_payload(acme.alice)).json()["id"]
    support = Api(acme, acme.support)
    assert support.get(f"invoices/{draft}/").status_code == 200
    response = support.post(f"invoices/{draft}/issue/")
    assert response.status_code == 403
    assert in_acme(acme, lambda: Invoice.objects.get(pk=draft).status) == "draft"


def test_support_staff_cannot_record_payments_or_change_rates(acme):
    pk = issued(acme, acme.alice)
    support = Api(acme, acme.support)
    assert (
        support.post(f"invoices/{pk}/payments/", {"amount": "1", "method": "cash"}).status_code
        == 403
    )
    assert (
        support.post(
            "tax-rates/", {"country": "DE", "tax_class": "standard", "rate": "19"}
        ).status_code
        == 403
    )
    assert support.post("billing-runs/run/").status_code == 403


def test_customers_get_no_access_to_the_billing_api(acme):
    customer = Api(acme, acme.customer)
    assert customer.get("invoices/").status_code == 403
    assert customer.get("billing-settings/").status_code == 403


def test_another_instance_cannot_read_an_invoice_by_id(acme, instance_b):
    pk = issued(acme, acme.alice)
    with schema_context(instance_b.schema_name):
        assert not Invoice.objects.filter(pk=pk).exists()
    bluebird = Api(instance_b, instance_b.owner)
    assert bluebird.get(f"invoices/{pk}/").status_code == 404
    assert (
        bluebird.post(f"invoices/{pk}/payments/", {"amount": "1", "method": "cash"}).status_code
        == 404
    )


# --------------------------------------------------------------------------------------
# PDFs


def test_pdf_download_serves_the_stored_file(acme, owner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    pk = issued(acme, acme.alice)

    def store():
        invoice = Invoice.objects.get(pk=pk)
        name = default_storage.save(f"r_acme/{invoice.number}.pdf", ContentFile(b"%PDF-1.4 x"))
        Invoice.objects.filter(pk=pk).update(pdf=name)
        return invoice.number

    number = in_acme(acme, store)
    assert owner.get(f"invoices/{pk}/").json()["pdf_url"] == f"/api/invoices/{pk}/pdf/"
    response = owner.client.get(f"/api/invoices/{pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{number}.pdf"'


def test_pdf_not_rendered_yet_is_a_404_with_a_reason(acme, owner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    pk = issued(acme, acme.alice)
    response = owner.get(f"invoices/{pk}/pdf/")
    assert response.status_code == 404
    assert "not ready yet" in response.json()["detail"]


# --------------------------------------------------------------------------------------
# Payments, tax rates, settings, runs


def test_payment_list_filters_by_method(acme, owner):
    pk = issued(acme, acme.alice)
    owner.post(f"invoices/{pk}/payments/", {"amount": "10", "method": "cash"})
    owner.post("payments/", {"customer": acme.bob, "amount": "5", "method": "cheque"})
    rows = owner.get("payments/", method="cheque").json()["results"]
    assert [(row["customer"], row["amount"], row["invoice"]) for row in rows] == [
        (acme.bob, "5.00", None)
    ]


def test_tax_rates_can_be_created_changed_and_deleted(acme, owner):
    created = owner.post(
        "tax-rates/", {"country": "DE", "tax_class": "standard", "rate": "19", "name": "MwSt"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["rate"] == "19.000"
    rate_id = created.json()["id"]
    assert owner.patch(f"tax-rates/{rate_id}/", {"rate": "7"}).json()["rate"] == "7.000"
    assert owner.delete(f"tax-rates/{rate_id}/").status_code == 204
    assert not in_acme(acme, lambda: TaxRate.objects.filter(country="DE").exists())


def test_a_duplicate_tax_rate_is_a_400(owner):
    response = owner.post("tax-rates/", {"country": "FR", "tax_class": "standard", "rate": "5.5"})
    assert response.status_code == 400


def test_billing_settings_read_and_replace(owner):
    current = owner.get("billing-settings/").json()
    assert current["late_fee_amount"] == "0.00"
    updated = owner.put(
        "billing-settings/", {**current, "reminder_days": [3, 10], "payment_terms_days": 30}
    )
    assert updated.status_code == 200
    assert (updated.json()["reminder_days"], updated.json()["payment_terms_days"]) == ([3, 10], 30)


def test_billing_settings_refuse_a_number_format_without_number(owner):
    response = owner.patch("billing-settings/", {"invoice_number_format": "INV-{year}"})
    assert response.status_code == 400
    assert "invoice_number_format" in response.json()
    assert owner.get("billing-settings/").json()["invoice_number_format"] == "{year}-{number:06d}"


def test_support_staff_cannot_change_billing_settings(acme):
    response = Api(acme, acme.support).patch("billing-settings/", {"payment_terms_days": 1})
    assert response.status_code == 403


def test_run_now_creates_both_runs_and_lists_them(acme, owner):
    response = owner.post("billing-runs/run/")
    assert response.status_code == 201
    assert response.json()["renewals"]["kind"] == "renewals"
    assert response.json()["dunning"]["triggered_by"] == acme.owner
    assert in_acme(acme, BillingRun.objects.count) == 2
    assert owner.get("billing-runs/").json()["count"] == 2


def test_schema_documents_the_billing_routes(owner):
    schema = owner.client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/invoices/",
        "/api/invoices/{id}/issue/",
        "/api/invoices/{id}/credit-notes/",
        "/api/invoices/{id}/pdf/",
        "/api/payments/",
        "/api/tax-rates/",
        "/api/billing-settings/",
        "/api/billing-runs/run/",
    ):
        assert path in schema["paths"], path


# --------------------------------------------------------------------------------------
# Who acted


def test_issuing_with_an_api_token_records_the_token_holder_as_the_actor(acme):
    from rest_framework.authtoken.models import Token

    from tenant_apps.instance.models import AuditEvent

    pk = in_acme(
        acme,
        lambda: (
            services.invoice_create_draft(
                customer=Customer.objects.get(pk=acme.alice),
                lines=[{"description": "Web hosting", "quantity": "1", "unit_price": "10.00"}],
            ).pk
        ),
    )
    token = in_acme(
        acme, lambda: Token.objects.create(user=get_user_model().objects.get(email=acme.owner))
    )
    response = client_for(acme).post(
        f"/api/invoices/{pk}/issue/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 200, response.content

    event = in_acme(
        acme,
        lambda: AuditEvent.objects.select_related("actor").get(
            object_type="invoice", object_id=str(pk), action="invoice.issued"
        ),
    )
    assert event.actor_label == f"{acme.owner} (API)"
    assert event.actor.email == acme.owner


def test_recording_a_payment_in_a_session_records_the_signed_in_user(acme, owner):
    from tenant_apps.instance.models import AuditEvent

    pk = issued(acme, acme.alice)
    response = owner.post(
        f"invoices/{pk}/payments/", {"amount": "20.00", "method": "bank_transfer"}
    )
    assert response.status_code == 201, response.content

    labels = in_acme(
        acme,
        lambda: list(
            AuditEvent.objects.filter(action="invoice.payment_recorded").values_list(
                "actor_label", flat=True
            )
        ),
    )
    assert labels == [acme.owner]
