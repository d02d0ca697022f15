"""Money that is right (issue 9): each test is named for a defect's correct behaviour and
failed on the code before its fix."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tenant_apps.billing import services
from tenant_apps.billing.models import Invoice, InvoiceLine
from tests.billing_fixtures import make_customer, setup_issuer

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


def _german_business(name: str, vat_id: str):
    return make_customer(
        name,
        country="DE",
        kind="company",
        company_name=f"{name} GmbH",
        tax_id=vat_id,
        tax_id_status="valid",
    )


def test_bulk_renewals_print_each_customers_own_vat_id_in_the_reverse_charge_mention(acme):
    first = _german_business("Erste Kunde", "DE111111111")
    second = _german_business("Zweite Kunde", "DE222222222")
    specs = [
        services.InvoiceSpec(
            customer=customer,
            currency="EUR",
            lines=[services.LineSpec(description="Hosting", unit_price=Decimal("10"))],
        )
        for customer in (first, second)
    ]
    one, two = services.invoices_issue_bulk(specs=specs, run_id=None, on_date=TODAY)
    assert one.tax_treatment == two.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    assert "DE111111111" in one.legal_notes and "DE222222222" not in one.legal_notes
    assert "DE222222222" in two.legal_notes and "DE111111111" not in two.legal_notes
    stored = Invoice.objects.get(pk=two.pk)
    assert "DE222222222" in stored.legal_notes
    assert InvoiceLine.objects.filter(invoice=stored).get().tax_amount == 0


def _two_line_invoice():
    customer = make_customer("Line Capped")
    draft = services.invoice_create_draft(
        customer=customer,
        lines=[
            {"description": "VPS", "unit_price": "10"},
            {"description": "Backup", "unit_price": "10"},
        ],
    )
    return services.invoice_issue(invoice=draft, issue_date=TODAY)


def test_a_line_already_credited_cannot_be_credited_again(acme):
    invoice = _two_line_invoice()
    vps = invoice.lines.get(description="VPS")
    services.credit_note_create(
        invoice=invoice, reason="VPS never delivered", lines=[{"line_id": vps.pk}]
    )
    notes_before = Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count()
    with pytest.raises(ValidationError) as refused:
        services.credit_note_create(
            invoice=invoice, reason="Again", lines=[{"line_id": vps.pk, "quantity": "1"}]
        )
    assert "Credit between 0 and 0.00 of “VPS”" in str(refused.value)
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == notes_before


def test_a_full_credit_after_a_partial_one_credits_only_what_is_left(acme):
    invoice = _two_line_invoice()
    vps = invoice.lines.get(description="VPS")
    services.credit_note_create(
        invoice=invoice, reason="Half the VPS month", lines=[{"line_id": vps.pk, "quantity": "0.5"}]
    )
    rest = services.credit_note_create(invoice=invoice, reason="Cancel everything")
    credited = {line.description: line.quantity for line in rest.lines.all()}
    assert credited == {"VPS": Decimal("0.50"), "Backup": Decimal("1.00")}
    invoice.refresh_from_db()
    assert invoice.amount_credited == invoice.total


def test_a_renewal_issued_early_is_due_when_its_period_starts_not_before(acme):
    from tenant_apps.billing.models import BillingSettings

    BillingSettings.objects.update_or_create(
        singleton=True, defaults={"payment_terms_days": 14, "renewal_lead_days": 30}
    )
    starts = TODAY + datetime.timedelta(days=30)
    spec = services.InvoiceSpec(
        customer=make_customer("Early Renewal"),
        currency="EUR",
        lines=[
            services.LineSpec(
                description="VPS, next month",
                unit_price=Decimal("10"),
                kind=InvoiceLine.Kind.SERVICE,
                period_start=starts,
                period_end=starts + datetime.timedelta(days=29),
            )
        ],
    )
    [renewal] = services.invoices_issue_bulk(specs=[spec], run_id=None, on_date=TODAY)
    assert renewal.due_date == starts
    # Issued late (the period has started), the customer still gets the payment terms.
    late = services.InvoiceSpec(
        customer=make_customer("Late Renewal"),
        currency="EUR",
        lines=[
            services.LineSpec(
                description="VPS, this month",
                unit_price=Decimal("10"),
                kind=InvoiceLine.Kind.SERVICE,
                period_start=TODAY - datetime.timedelta(days=2),
                period_end=TODAY + datetime.timedelta(days=27),
            )
        ],
    )
    [overdue_period] = services.invoices_issue_bulk(specs=[late], run_id=None, on_date=TODAY)
    assert overdue_period.due_date == TODAY + datetime.timedelta(days=14)


def test_paying_an_upgrade_invoice_lifts_the_suspension_its_non_payment_caused(
    acme, django_capture_on_commit_callbacks
):
    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs
    from tests.billing_fixtures import dunning_settings, make_product

    dunning_settings()
    day0 = datetime.date(2026, 1, 10)
    customer = make_customer("Upgrader")
    small = make_product("small-up", amount="10.00")
    big = make_product("big-up", amount="40.00")
    order = orders.order_place(customer=customer, items=[{"product": small, "cycle": "monthly"}])
    first = orders.order_accept(order=order, today=day0)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(
            customer=customer, invoice=first, amount=first.amount_due, method="bank_transfer"
        )
    service = Service.objects.get(order_item__order=order)
    upgrade = orders.service_change_plan(
        service=service, product=big, today=datetime.date(2026, 1, 25)
    )
    runs.dunning_run(today=upgrade.due_date + datetime.timedelta(days=21))
    assert Service.objects.get(pk=service.pk).status == Service.Status.SUSPENDED

    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(
            customer=customer,
            invoice=Invoice.objects.get(pk=upgrade.pk),
            amount=Invoice.objects.get(pk=upgrade.pk).amount_due,
            method="bank_transfer",
        )
    assert Service.objects.get(pk=service.pk).status == Service.Status.ACTIVE


def test_a_suspension_stays_while_another_overdue_invoice_still_bills_the_service(
    acme, django_capture_on_commit_callbacks
):
    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs
    from tests.billing_fixtures import dunning_settings, make_product

    dunning_settings()
    customer = make_customer("Two Debts")
    small = make_product("small-two", amount="10.00")
    big = make_product("big-two", amount="40.00")
    order = orders.order_place(customer=customer, items=[{"product": small, "cycle": "monthly"}])
    first = orders.order_accept(order=order, today=datetime.date(2026, 1, 10))
    service = Service.objects.get(order_item__order=order)
    upgrade = orders.service_change_plan(
        service=service, product=big, today=datetime.date(2026, 1, 25)
    )
    runs.dunning_run(today=upgrade.due_date + datetime.timedelta(days=21))
    assert Service.objects.get(pk=service.pk).status == Service.Status.SUSPENDED

    for invoice, expected in ((first, Service.Status.SUSPENDED), (upgrade, Service.Status.ACTIVE)):
        fresh = Invoice.objects.get(pk=invoice.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.payment_record(
                customer=customer, invoice=fresh, amount=fresh.amount_due, method="cash"
            )
        assert Service.objects.get(pk=service.pk).status == expected


# --------------------------------------------------------------------------------------
# Defect 1: a credit note is not a payment


def _unpaid_order(*, activate: bool, code: str = "cn-plan", **product):
    from tenant_apps.orders import services as orders
    from tests.billing_fixtures import make_product

    customer = make_customer("Never Paid")
    plan = make_product(code, amount="10.00", **product)
    order = orders.order_place(
        customer=customer, items=[{"product": plan, "cycle": "monthly", "label": "never"}]
    )
    invoice = orders.order_accept(order=order, activate=activate, today=TODAY)
    return customer, order, invoice


def test_a_fully_credited_unpaid_invoice_is_credited_and_starts_nothing(
    acme, django_capture_on_commit_callbacks
):
    from tenant_apps.orders.models import Service

    _, order, invoice = _unpaid_order(activate=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.credit_note_create(invoice=invoice, reason="Customer changed their mind")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CREDITED and invoice.amount_due == 0
    assert Service.objects.get(order_item__order=order).status == Service.Status.PENDING
    with pytest.raises(services.InvalidInvoiceState, match="cancelled by a credit note"):
        services.payment_record(
            customer=invoice.customer, invoice=invoice, amount="12", method="cash"
        )


def test_a_credited_reseller_plan_provisions_no_instance(
    operator, django_capture_on_commit_callbacks
):
    from shared_apps.tenancy.models import Reseller
    from tenant_apps.orders import services as orders
    from tests.billing_fixtures import make_product

    setup_issuer("FR")
    plan = make_product("plan-credited", amount="200.00", is_reseller_plan=True)
    customer = make_customer("Freeloader", kind="company", company_name="Freeloader SAS")
    order = orders.order_place(
        customer=customer, items=[{"product": plan, "cycle": "monthly", "label": "freeloader"}]
    )
    invoice = orders.order_accept(order=order, activate=False, today=TODAY)
    with django_capture_on_commit_callbacks(execute=True):
        services.credit_note_create(invoice=invoice, reason="Cancelled")
    assert not Reseller.objects.filter(slug="freeloader").exists()


def test_an_unpaid_accepted_order_is_cancelled_from_its_page_and_its_invoice_credited(
    instance_a,
):
    from tenant_apps.orders.models import Order, Service
    from tests.conftest import client_for

    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        _, order, invoice = _unpaid_order(activate=True, code="cn-screen")
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/orders/{order.pk}/").content.decode()
    assert "Cancel order and credit its invoices" in page

    response = owner.post(f"/staff/orders/{order.pk}/cancel/", follow=True)

    assert "its invoices were credited in full" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
        assert Service.objects.get(order_item__order=order).status == Service.Status.CANCELLED
        invoice.refresh_from_db()
        assert invoice.status == Invoice.Status.CREDITED
        note = Invoice.objects.get(credited_invoice=invoice)
        assert note.kind == Invoice.Kind.CREDIT_NOTE and note.total == invoice.total


def test_a_paid_order_is_not_cancelled_but_refused_with_a_409(instance_a):
    from tenant_apps.orders.models import Order
    from tests.conftest import client_for

    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer, order, invoice = _unpaid_order(activate=True, code="cn-paid")
        services.payment_record(customer=customer, invoice=invoice, amount="1", method="cash")
        notes_before = Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count()
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/orders/{order.pk}/").content.decode()
    assert "Cancel order and credit its invoices" not in page

    response = owner.post(f"/api/orders/{order.pk}/cancel/", {}, content_type="application/json")

    assert response.status_code == 409
    assert response.json()["code"] == "order_paid"
    assert "refund the payment before cancelling" in response.json()["detail"]
    with schema_context(instance_a.schema_name):
        assert Order.objects.get(pk=order.pk).status == Order.Status.ACCEPTED
        assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == notes_before


# --------------------------------------------------------------------------------------
# Defect 16: three-decimal currencies, and number formats changed mid-year


@pytest.mark.parametrize("code", ["KWD", "BHD", "OMR"])
def test_a_three_decimal_currency_is_refused_with_a_sentence_not_rounded(acme, code):
    from tenant_apps.clients.services import customer_create

    with pytest.raises(ValidationError) as refused:
        customer_create(
            kind="person", name="Kuwait Customer", email="k@x.test", country="KW", currency=code
        )
    assert "cannot bill in it" in str(refused.value)
    from tenant_apps.clients.models import Customer

    assert not Customer.objects.filter(email="k@x.test").exists()


def test_a_number_format_changed_mid_year_continues_the_sequence(acme):
    customer = make_customer("Sequence Keeper")

    def issue():
        draft = services.invoice_create_draft(
            customer=customer, lines=[{"description": "x", "unit_price": "1"}]
        )
        return services.invoice_issue(invoice=draft, issue_date=TODAY).number

    assert [issue(), issue()] == ["2026-000001", "2026-000002"]
    services.billing_settings_update(invoice_number_format="INV-{number:05d}")
    assert issue() == "INV-00003"
    services.billing_settings_update(invoice_number_format="{year}/{number:04d}")
    assert issue() == "2026/0004"


# --------------------------------------------------------------------------------------
# Defect 9 (part): never a fee on a fee invoice; defect 18: charges do not wait a year


def test_a_late_fee_invoice_left_unpaid_gets_reminders_but_never_a_fee_of_its_own(acme):
    from tenant_apps.recurring import services as runs
    from tests.billing_fixtures import dunning_settings

    dunning_settings()
    customer = make_customer("Fee On Fee")
    draft = services.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": "100"}]
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=15))
    fee_invoice = Invoice.objects.get(pk=invoice.pk).late_fee_invoice
    assert fee_invoice is not None

    runs.dunning_run(today=fee_invoice.due_date + datetime.timedelta(days=30))
    fee_invoice.refresh_from_db()
    assert fee_invoice.late_fee_invoice is None
    assert fee_invoice.reminders_sent > 0
    assert InvoiceLine.objects.filter(kind=InvoiceLine.Kind.LATE_FEE).count() == 1


def test_charges_waiting_since_last_month_are_invoiced_without_waiting_for_a_renewal(acme):
    from django.utils import timezone

    from tenant_apps.billing.models import PendingCharge
    from tenant_apps.recurring import services as runs

    customer = make_customer("Annual Plan")
    old = PendingCharge.objects.create(
        customer=customer, description="Upstream support #1", amount="25.00", currency="EUR"
    )
    fresh = PendingCharge.objects.create(
        customer=customer, description="Upstream support #2", amount="25.00", currency="EUR"
    )
    run_day = datetime.date(2026, 12, 1)
    PendingCharge.objects.filter(pk=old.pk).update(
        created_at=timezone.make_aware(datetime.datetime(2026, 11, 12, 10, 0))
    )
    PendingCharge.objects.filter(pk=fresh.pk).update(
        created_at=timezone.make_aware(datetime.datetime(2026, 12, 1, 9, 0))
    )

    run = runs.renewals_run(today=run_day)

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert run.invoices_created == 1
    assert old.invoice is not None and old.invoice.status == Invoice.Status.ISSUED
    assert old.invoice.lines.get().description == "Upstream support #1"
    assert fresh.invoice is None  # this month's charge waits for the next pass
    assert runs.renewals_run(today=run_day).invoices_created == 0


# --------------------------------------------------------------------------------------
# Defect 10: VAT per rate on the sum of the rate's lines (EN 16931, BR-CO-17)


def test_vat_is_computed_per_rate_on_the_summed_lines_not_line_by_line(acme):
    from tenant_apps.billing.models import TaxRate
    from tenant_apps.catalog.models import TaxClass

    TaxRate.objects.filter(country="FR", tax_class=TaxClass.objects.get(code="standard")).update(
        rate=Decimal("21")
    )
    draft = services.invoice_create_draft(
        customer=make_customer("Ten Lines"),
        lines=[{"description": f"Line {n}", "unit_price": "1.05"} for n in range(10)],
    )
    # 10 × 1.05 = 10.50 at 21 % owes 2.205 → 2.21 (line by line: 10 × 0.22 = 2.20).
    assert draft.subtotal == Decimal("10.50") and draft.tax_total == Decimal("2.21")
    assert draft.total == Decimal("12.71")
    lines = list(draft.lines.all())
    assert sum(line.tax_amount for line in lines) == draft.tax_total
    assert sum(line.gross_amount for line in lines) == draft.total
    assert all(line.net_amount + line.tax_amount == line.gross_amount for line in lines)


def test_vat_per_rate_holds_for_tax_inclusive_prices_and_bulk_renewals(acme):
    from tenant_apps.billing.models import BillingSettings

    BillingSettings.objects.update_or_create(singleton=True, defaults={"prices_include_tax": True})
    spec = services.InvoiceSpec(
        customer=make_customer("Inclusive"),
        currency="EUR",
        lines=[
            services.LineSpec(description=f"Line {n}", unit_price=Decimal("1.07"))
            for n in range(10)
        ],
    )
    [invoice] = services.invoices_issue_bulk(specs=[spec], run_id=None, on_date=TODAY)
    # Gross 10.70 at 20 % included: VAT 10.70 × 20 / 120 = 1.7833 → 1.78 (lines: 10 × 0.18).
    assert invoice.total == Decimal("10.70") and invoice.tax_total == Decimal("1.78")
    assert invoice.subtotal == Decimal("8.92")
    stored = list(InvoiceLine.objects.filter(invoice=invoice))
    assert sum(line.tax_amount for line in stored) == Decimal("1.78")
    assert all(line.gross_amount == Decimal("1.07") for line in stored)


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value="0.01", max_value="50", places=2),
            st.decimals(min_value="0.01", max_value="999", places=2),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_each_rates_vat_is_the_rounded_vat_of_its_summed_lines(acme, lines):
    from tenant_apps.instance.money import round_money

    draft = services.invoice_create_draft(
        customer=make_customer("Property"),
        lines=[
            {"description": f"L{i}", "quantity": q, "unit_price": p}
            for i, (q, p) in enumerate(lines)
        ],
    )
    stored = list(InvoiceLine.objects.filter(invoice=draft))
    assert draft.tax_total == round_money(draft.subtotal * Decimal("20") / 100, "EUR")
    assert draft.tax_total == sum(line.tax_amount for line in stored)
    assert draft.total == draft.subtotal + draft.tax_total == sum(s.gross_amount for s in stored)
    Invoice.objects.filter(pk=draft.pk).delete()


# --------------------------------------------------------------------------------------
# Defect 6 (part): no silent 0 % VAT


def test_issuing_without_a_rate_for_the_customers_country_is_refused_naming_it(acme):
    consumer = make_customer("Belgian Consumer", country="BE")  # no BE rate configured
    draft = services.invoice_create_draft(
        customer=consumer, lines=[{"description": "Hosting", "unit_price": "10"}]
    )
    with pytest.raises(ValidationError) as refused:
        services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert "no VAT rate for “standard” in BE" in str(refused.value)
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None

    spec = services.InvoiceSpec(
        customer=consumer,
        currency="EUR",
        lines=[services.LineSpec(description="Renewal", unit_price=Decimal("10"))],
    )
    with pytest.raises(ValidationError, match="in BE"):
        services.invoices_issue_bulk(specs=[spec], run_id=None, on_date=TODAY)


def test_issuing_from_the_screen_without_a_rate_says_what_to_add(instance_a):
    from tests.conftest import client_for

    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        draft = services.invoice_create_draft(
            customer=make_customer("Spanish Consumer", country="ES"),
            lines=[{"description": "Hosting", "unit_price": "10"}],
        )
    owner = client_for(instance_a, instance_a.owner)
    page = owner.post(f"/staff/billing/invoices/{draft.pk}/issue/", follow=True).content.decode()
    assert "There is no VAT rate for “standard” in ES" in page
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=draft.pk).status == Invoice.Status.DRAFT


# --------------------------------------------------------------------------------------
# Defect 8: an issuer outside the EU


def test_an_issuer_outside_the_eu_reverse_charges_an_eu_business_and_says_so(acme):
    from tenant_apps.billing.models import TaxRate
    from tenant_apps.catalog.models import TaxClass
    from tenant_apps.instance.services import issuer_identity_set

    issuer_identity_set(legal_name="Alpine Hosting AG", country="CH", tax_id="CHE-123.456.789")
    TaxRate.objects.update_or_create(
        country="DE",
        tax_class=TaxClass.objects.get(code="standard"),
        defaults={"rate": Decimal("19")},
    )
    business = _german_business("Berlin Shop", "DE333333333")
    draft = services.invoice_create_draft(
        customer=business, lines=[{"description": "Hosting", "unit_price": "100"}]
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    assert invoice.tax_total == 0 and invoice.total == Decimal("100.00")
    assert "Supplier established outside the EU" in invoice.legal_notes
    assert "DE333333333" in invoice.legal_notes

    consumer = make_customer("Berlin Person", country="DE")
    draft = services.invoice_create_draft(
        customer=consumer, lines=[{"description": "Hosting", "unit_price": "100"}]
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert invoice.tax_treatment == Invoice.TaxTreatment.STANDARD
    assert invoice.tax_total == Decimal("19.00")


# --------------------------------------------------------------------------------------
# Defect 13 (part): a customer's currency does not change while money is open


def test_a_customers_currency_cannot_change_while_an_invoice_is_open_or_credit_remains(acme):
    from tenant_apps.clients.services import customer_update

    customer = make_customer("Currency Keeper")
    draft = services.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": "10"}]
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    with pytest.raises(ValidationError, match=f"Invoice {invoice.number} is still open in EUR"):
        customer_update(customer=customer, currency="USD")

    services.payment_record(customer=customer, invoice=invoice, amount="20", method="cash")
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("8.00")  # 20 paid on 12 owed
    with pytest.raises(ValidationError, match="8.00 EUR of account credit"):
        customer_update(customer=customer, currency="USD")
    customer.refresh_from_db()
    assert customer.currency == "EUR"

    services.customer_credit_adjust(customer=customer, amount="-8.00", note="Refunded")
    updated = customer_update(customer=customer, currency="USD")
    assert updated.currency == "USD"


# --------------------------------------------------------------------------------------
# Defect 3 (part): a credited or voided unpaid renewal is billed again, or waived on record


def _renewed_service(django_capture_on_commit_callbacks):
    """An active service whose first month is paid and whose renewal invoice is unpaid."""
    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs
    from tests.billing_fixtures import make_product

    customer = make_customer("Renewing Customer")
    plan = make_product("renew-plan", amount="10.00")
    order = orders.order_place(customer=customer, items=[{"product": plan, "cycle": "monthly"}])
    first = orders.order_accept(order=order, today=datetime.date(2026, 1, 10))
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(
            customer=customer, invoice=first, amount=first.amount_due, method="cash"
        )
    service = Service.objects.get(order_item__order=order)
    runs.renewals_run(today=datetime.date(2026, 2, 1))
    renewal = Invoice.objects.filter(customer=customer).exclude(pk=first.pk).get()
    return service, renewal


@pytest.mark.parametrize("undo", ["void", "credit"])
def test_an_unpaid_renewal_undone_is_billed_again_by_the_next_run(
    acme, django_capture_on_commit_callbacks, undo
):
    from tenant_apps.instance.models import AuditEvent
    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs

    service, renewal = _renewed_service(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        if undo == "void":
            services.billing_settings_update(void_issued_invoices=True)  # outside EU rules
            services.invoice_void(invoice=renewal, reason="Wrong amount")
        else:
            services.credit_note_create(invoice=renewal, reason="Wrong amount")

    rerun = runs.renewals_run(today=datetime.date(2026, 2, 2))

    assert rerun.invoices_created == 1
    again = Invoice.objects.filter(customer=service.customer).order_by("-id").first()
    period = again.lines.get().period_start
    assert period == renewal.lines.get().period_start == datetime.date(2026, 2, 10)
    assert AuditEvent.objects.filter(
        action="service.period_rebilled", object_id=str(service.pk)
    ).exists()
    assert Service.objects.get(pk=service.pk).next_due_date == datetime.date(2026, 2, 10)


def test_a_waived_renewal_period_stays_paid_and_is_recorded(
    acme, django_capture_on_commit_callbacks
):
    from tenant_apps.instance.models import AuditEvent
    from tenant_apps.orders.models import Service
    from tenant_apps.recurring import services as runs

    service, renewal = _renewed_service(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.credit_note_create(
            invoice=renewal, reason="Goodwill: outage in February", waive_periods=True
        )

    assert runs.renewals_run(today=datetime.date(2026, 2, 2)).invoices_created == 0
    assert Service.objects.get(pk=service.pk).next_due_date == datetime.date(2026, 3, 10)
    waived = AuditEvent.objects.get(action="service.period_waived", object_id=str(service.pk))
    assert waived.detail["period"] == "2026-02-10 to 2026-03-09"


def test_staff_waive_a_credited_period_from_the_invoice_page(
    instance_a, django_capture_on_commit_callbacks
):
    from tenant_apps.instance.models import AuditEvent
    from tests.conftest import client_for

    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        service, renewal = _renewed_service(django_capture_on_commit_callbacks)
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/billing/invoices/{renewal.pk}/").content.decode()
    assert "Waive the service periods" in page
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(
            f"/staff/billing/invoices/{renewal.pk}/credit-note/",
            {"cn-scope": "whole", "cn-reason": "Outage", "cn-waive_periods": "on"},
        )
    with schema_context(instance_a.schema_name):
        event = AuditEvent.objects.get(action="service.period_waived", object_id=str(service.pk))
        assert event.actor_label == instance_a.owner


# --------------------------------------------------------------------------------------
# Defect 11 (part): proration on the real period bounds


def test_an_upgrade_at_a_month_end_is_prorated_on_the_real_period(acme):
    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Service
    from tests.billing_fixtures import make_product

    customer = make_customer("Month End")
    small = make_product("me-small", amount="10.00")
    big = make_product("me-big", amount="40.00")
    order = orders.order_place(customer=customer, items=[{"product": small, "cycle": "monthly"}])
    orders.order_accept(order=order, today=datetime.date(2026, 1, 31))
    service = Service.objects.get(order_item__order=order)
    assert service.next_due_date == datetime.date(2026, 2, 28)  # Jan 31 → Feb 27

    upgrade = orders.service_change_plan(
        service=service, product=big, today=datetime.date(2026, 2, 10)
    )
    line = upgrade.lines.get()
    # 30.00 × 18 days left of 28 = 19.29 (counting from Jan 28 gave 18 of 31 = 17.42).
    assert line.unit_price == Decimal("19.29")
    assert "18 of 28 days" in line.description


def test_a_downgrade_credits_exactly_the_unused_share_by_value(
    acme, django_capture_on_commit_callbacks
):
    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Service
    from tests.billing_fixtures import make_product

    customer = make_customer("Annual Downgrade")
    big = make_product("annual-big", amount="12000.00", cycle="annual")
    small = make_product("annual-small", amount="6000.00", cycle="annual")
    order = orders.order_place(customer=customer, items=[{"product": big, "cycle": "annual"}])
    first = orders.order_accept(order=order, today=datetime.date(2026, 1, 1))
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(
            customer=customer, invoice=first, amount=first.amount_due, method="cash"
        )
    service = Service.objects.get(order_item__order=order)
    # 100 days left of 365 (2026-09-23 → 2026-12-31).
    note = orders.service_change_plan(
        service=service, product=small, today=datetime.date(2026, 9, 23)
    )
    assert note.subtotal == Decimal("1643.84")  # 6,000 × 100/365, not 1,680.00


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.decimals(min_value="1", max_value="500", places=2),
    st.decimals(min_value="1", max_value="500", places=2),
    st.integers(min_value=1, max_value=27),
)
@example(Decimal("1.00"), Decimal("1.01"), 17)  # a difference that prorates to no invoice
def test_an_upgrade_and_its_reverse_downgrade_the_same_day_net_to_zero(
    acme, django_capture_on_commit_callbacks, low, high, day
):
    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Service
    from tests.billing_fixtures import make_product

    low, high = sorted((low, high))
    if low == high:
        return
    customer = make_customer("Round Trip")
    # Examples share the test's transaction: every example gets products of its own.
    tag = uuid.uuid4().hex[:10]
    cheap = make_product(f"rt-low-{tag}", amount=str(low))
    dear = make_product(f"rt-high-{tag}", amount=str(high))
    order = orders.order_place(customer=customer, items=[{"product": cheap, "cycle": "monthly"}])
    first = orders.order_accept(order=order, today=datetime.date(2026, 3, 1))
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(
            customer=customer, invoice=first, amount=first.amount_due, method="cash"
        )
    service = Service.objects.get(order_item__order=order)
    on = datetime.date(2026, 3, day)
    with django_capture_on_commit_callbacks(execute=True):
        upgrade = orders.service_change_plan(service=service, product=dear, today=on)
        if upgrade is not None:  # None: the prorated difference rounds to nothing
            services.payment_record(
                customer=customer, invoice=upgrade, amount=upgrade.amount_due, method="cash"
            )
    orders.service_change_plan(service=Service.objects.get(pk=service.pk), product=cheap, today=on)
    credited = sum(
        note.subtotal
        for note in Invoice.objects.filter(
            customer=customer, kind=Invoice.Kind.CREDIT_NOTE, notes__contains="Downgrade"
        )
    )
    assert credited == (upgrade.subtotal if upgrade is not None else 0)


# --------------------------------------------------------------------------------------
# Defect 9 (part): abandoned portal checkouts


def _portal_checkout(code: str):
    from django.utils import timezone

    from tenant_apps.orders import services as orders
    from tenant_apps.orders.models import Order
    from tests.billing_fixtures import dunning_settings, make_product

    dunning_settings()
    customer = make_customer("Window Shopper")
    plan = make_product(code, amount="10.00")
    order = orders.order_place(
        customer=customer,
        items=[{"product": plan, "cycle": "monthly"}],
        source=Order.Source.PORTAL,
    )
    invoice = orders.order_accept(order=order, activate=False, today=timezone.localdate())
    return order, invoice


def test_an_abandoned_portal_checkout_gets_no_reminder_and_no_fee(acme):
    from tenant_apps.recurring import services as runs

    _, invoice = _portal_checkout("abandoned-a")
    # Expiry off: only the no-reminder, no-fee rule is at work here.
    services.billing_settings_update(checkout_expiry_days=None)
    runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=30))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.reminders_sent == 0 and invoice.late_fee_invoice is None


def test_an_abandoned_portal_checkout_is_cancelled_and_credited_after_the_expiry(acme):
    from tenant_apps.orders.models import Order, Service
    from tenant_apps.recurring import services as runs

    order, invoice = _portal_checkout("abandoned-b")
    services.billing_settings_update(checkout_expiry_days=14)
    run = runs.dunning_run(today=invoice.issue_date + datetime.timedelta(days=15))
    assert any(f"Cancelled portal order #{order.pk}" in line for line in run.log)
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    assert Service.objects.get(order_item__order=order).status == Service.Status.CANCELLED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CREDITED


def test_the_checkout_expiry_is_a_billing_setting_on_the_screen(instance_a):
    from tests.conftest import client_for

    page = client_for(instance_a, instance_a.owner).get("/staff/billing/settings/")
    assert "Cancel unpaid portal checkouts after (days)" in page.content.decode()


# --------------------------------------------------------------------------------------
# Defect 7: VIES proof is kept, frozen into the invoice, and refreshed


def _checked_business():
    from tenant_apps.clients.services import customer_create
    from tests.test_clients_vies import VALID, use_vat_checker

    use_vat_checker(VALID)
    return customer_create(
        kind="company",
        name="Odigo",
        company_name="Odigo SA",
        email="vat@odigo.test",
        country="BE",
        tax_id="BE0403019261",
    )


def test_every_registry_answer_is_kept_as_a_row_with_its_consultation_number(acme):
    from tenant_apps.clients.models import TaxIdCheck
    from tenant_apps.clients.services import customer_tax_id_verify
    from tests.test_clients_vies import INVALID, use_vat_checker

    customer = _checked_business()
    use_vat_checker(INVALID)
    customer_tax_id_verify(customer=customer)
    checks = list(TaxIdCheck.objects.filter(customer=customer).order_by("checked_at", "id"))
    assert [check.outcome for check in checks] == ["valid", "invalid"]
    assert checks[0].request_id == "WAPIAAAAZ1234" and checks[0].name == "ODIGO SA"


def test_a_reverse_charge_invoice_keeps_the_check_it_relied_on(acme):
    customer = _checked_business()
    draft = services.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": "100"}]
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    evidence = invoice.customer_snapshot["tax_id_check"]
    assert evidence["consultation_number"] == "WAPIAAAAZ1234"
    assert evidence["outcome"] == "valid" and evidence["tax_id"] == "BE0403019261"


def test_valid_vat_ids_confirmed_long_ago_are_checked_again_on_schedule(acme):
    from django.utils import timezone

    from tenant_apps.clients import tasks
    from tenant_apps.clients.models import Customer, TaxIdCheck

    customer = _checked_business()
    Customer.objects.filter(pk=customer.pk).update(
        tax_id_checked_at=timezone.now() - datetime.timedelta(days=45)
    )
    assert tasks.tax_ids_recheck(schema_name=acme.schema_name) == 1
    assert TaxIdCheck.objects.filter(customer=customer).count() == 2
    assert tasks.tax_ids_recheck(schema_name=acme.schema_name) == 0  # recent now


# --------------------------------------------------------------------------------------
# Defect 15: the instance's own time zone


def test_half_past_midnight_on_new_years_day_in_paris_issues_into_the_new_year(acme):
    from unittest import mock

    from django.utils import timezone

    from tenant_apps.instance.services import issuer_identity_set

    issuer_identity_set(legal_name="Acme Hosting SARL", country="FR", time_zone="Europe/Paris")
    customer = make_customer("Midnight Buyer")
    draft = services.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": "10"}]
    )
    # 23:30 UTC on 31 December is 00:30 on 1 January in Paris.
    late = timezone.make_aware(datetime.datetime(2026, 12, 31, 23, 30), datetime.UTC)
    with mock.patch("django.utils.timezone.now", return_value=late):
        invoice = services.invoice_issue(invoice=draft)
    assert invoice.issue_date == datetime.date(2027, 1, 1)
    assert invoice.number.startswith("2027-")


def test_an_unknown_time_zone_is_refused_on_the_identity_screen(instance_a):
    from tests.conftest import client_for

    page = client_for(instance_a, instance_a.owner).post(
        "/staff/identity/",
        {
            "legal_name": "Acme Hosting SARL",
            "currency": "EUR",
            "country": "FR",
            "brand_color": "#0f766e",
            "time_zone": "Mars/Olympus_Mons",
        },
    )
    assert "is not a time zone we know" in page.content.decode()


# --------------------------------------------------------------------------------------
# Defect 6 (part): EU VAT rates shipped as data and refreshed by a command


def test_the_vat_rates_command_writes_the_rates_in_force_on_the_day(acme):
    import io

    from django.core.management import call_command

    from tenant_apps.billing.models import TaxRate
    from tenant_apps.instance.models import AuditEvent

    out = io.StringIO()
    call_command("vat_rates_refresh", schema=acme.schema_name, date="2025-06-30", stdout=out)
    rates = dict(TaxRate.objects.filter(tax_class__code="standard").values_list("country", "rate"))
    assert rates["EE"] == Decimal("22") and rates["BE"] == Decimal("21")
    assert len([c for c in rates if c in {"AT", "BE", "FI", "SK", "RO"}]) == 5

    out = io.StringIO()
    call_command("vat_rates_refresh", schema=acme.schema_name, date="2025-08-15", stdout=out)
    assert "EE: 22 % → 24 %" in out.getvalue() and "RO: 19 % → 21 %" in out.getvalue()
    assert TaxRate.objects.get(country="EE", tax_class__code="standard").rate == Decimal("24")
    assert AuditEvent.objects.filter(action="taxrate.set", actor_label="command").exists()

    out = io.StringIO()
    call_command("vat_rates_refresh", schema=acme.schema_name, date="2025-08-15", stdout=out)
    assert "already up to date" in out.getvalue()


def test_a_bad_date_is_refused_with_a_sentence(acme):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="is not a date"):
        call_command("vat_rates_refresh", schema=acme.schema_name, date="31/12/2025")


# --------------------------------------------------------------------------------------
# Defect 3: an issued invoice is corrected by a credit note, not voided


def test_an_issued_invoice_cannot_be_voided_under_eu_rules_and_the_page_offers_no_void(
    instance_a,
):
    from tests.conftest import client_for

    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        draft = services.invoice_create_draft(
            customer=make_customer("Eu Rules"),
            lines=[{"description": "Hosting", "unit_price": "10"}],
        )
        invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
        with pytest.raises(services.InvalidInvoiceState, match="correct it with a credit note"):
            services.invoice_void(invoice=invoice)
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/billing/invoices/{invoice.pk}/").content.decode()
    assert "Void invoice" not in page and "Issue a credit note" in page
    api = owner.post(
        f"/api/invoices/{invoice.pk}/void/", {"reason": "x"}, content_type="application/json"
    )
    assert api.status_code == 409 and "credit note" in api.json()["detail"]
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED


def test_a_document_billing_only_a_period_to_come_is_due_when_that_period_starts(acme):
    # E.g. a downgrade that re-bills an unpaid renewal: nothing is owed before the period.
    customer = make_customer("Future Period")
    start = TODAY + datetime.timedelta(days=30)
    draft = services.invoice_create_draft(
        customer=customer,
        lines=[
            {
                "description": "Hosting, next period",
                "unit_price": "10",
                "period_start": start,
                "period_end": start + datetime.timedelta(days=30),
            }
        ],
    )
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert invoice.due_date == start
    # A document that also charges something now keeps the usual terms.
    mixed = services.invoice_create_draft(
        customer=customer,
        lines=[
            {"description": "Setup", "unit_price": "5"},
            {"description": "Hosting", "unit_price": "10", "period_start": start},
        ],
    )
    mixed = services.invoice_issue(invoice=mixed, issue_date=TODAY)
    assert mixed.due_date == TODAY + datetime.timedelta(days=14)
