"""Tax rules of issue 9 ("Money that is right"), each test named for the behaviour it proves:

- defect 6: nothing is issued until the issuer identity has what Art. 226 of the VAT
  Directive requires, and staff are told what is missing before they try; the shipped EU
  rates carry reduced rates with their effective dates;
- defect 7: a reverse charge on an old VIES confirmation asks VIES again at issue;
- defect 9: late fees are outside the scope of VAT unless the instance taxes them;
- evidence: each issued invoice keeps its billing country and the VIES check relied on.
"""

from __future__ import annotations

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.billing import services
from tenant_apps.billing.issuer import IssuerIdentityIncomplete, issuer_missing_sentence
from tenant_apps.billing.models import BillingSettings, Invoice, NumberSequence, TaxRate
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer, TaxIdCheck
from tenant_apps.instance.services import issuer_identity_set
from tests.billing_fixtures import dunning_settings, make_customer, make_product, setup_issuer
from tests.conftest import client_for
from tests.test_clients_vies import INVALID, UNREACHABLE, VALID, ValidChecker, use_vat_checker

TODAY = datetime.date(2026, 11, 26)
# The identity a new reseller instance starts with (`reseller_create`): a name, no address.
BARE_IDENTITY = {
    "address_line1": "",
    "postal_code": "",
    "city": "",
    "country": "",
    "tax_id": "",
}


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        TaxRate.objects.update_or_create(
            country="BE",
            tax_class=TaxClass.objects.get(code="standard"),
            defaults={"rate": Decimal("21")},
        )
        yield instance_a


def _draft(customer=None, amount: str = "100"):
    return services.invoice_create_draft(
        customer=customer or make_customer("Plain Buyer"),
        lines=[{"description": "Hosting", "unit_price": amount}],
    )


def _strip_identity(**fields):
    issuer_identity_set(legal_name="Acme Hosting SARL", **{**BARE_IDENTITY, **fields})


# --------------------------------------------------------------------------------------
# Defect 6: no document without the issuer details Art. 226 requires


def test_issuing_is_refused_naming_each_missing_identity_detail_and_where_to_fill_them_in(acme):
    draft = _draft()
    _strip_identity(country="FR")
    with pytest.raises(IssuerIdentityIncomplete) as refused:
        services.invoice_issue(invoice=draft, issue_date=TODAY)
    sentence = str(refused.value)
    assert "street address, postal code, city and VAT identification number" in sentence
    assert "Art. 226" in sentence and "Staff → Issuer identity" in sentence
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None
    assert not NumberSequence.objects.exists()  # no number taken, none lost


def test_an_eu_issuer_with_a_malformed_vat_id_cannot_issue(acme):
    draft = _draft()
    issuer_identity_set(legal_name="Acme Hosting SARL", tax_id="FR123")
    with pytest.raises(IssuerIdentityIncomplete, match="valid VAT identification number"):
        services.invoice_issue(invoice=draft, issue_date=TODAY)


def test_an_identity_without_a_country_is_asked_for_it_and_for_an_eu_vat_id(acme):
    _strip_identity(address_line1="1 rue de la Paix", postal_code="75001", city="Paris")
    assert issuer_missing_sentence().startswith(
        "Invoices cannot be issued until the issuer identity has its country and VAT "
        "identification number (if established in the EU)"
    )


def test_an_issuer_outside_the_eu_needs_its_full_address_but_no_eu_vat_id(acme):
    issuer_identity_set(
        legal_name="Alpine Hosting AG",
        address_line1="Bahnhofstrasse 1",
        postal_code="8001",
        city="Zürich",
        country="CH",
        tax_id="",
    )
    invoice = services.invoice_issue(invoice=_draft(), issue_date=TODAY)
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.issuer_snapshot["city"] == "Zürich"


def test_credit_notes_are_refused_until_the_identity_is_complete(acme):
    invoice = services.invoice_issue(invoice=_draft(), issue_date=TODAY)
    _strip_identity(country="FR", tax_id="FR40303265045")
    with pytest.raises(IssuerIdentityIncomplete, match="street address, postal code and city"):
        services.credit_note_create(invoice=invoice, reason="Cancelled")
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()
    invoice.refresh_from_db()
    assert invoice.amount_credited == 0 and invoice.status == Invoice.Status.ISSUED


def test_bulk_issue_is_refused_until_the_identity_is_complete(acme):
    _strip_identity()
    spec = services.InvoiceSpec(
        customer=make_customer("Bulk Buyer"),
        currency="EUR",
        lines=[services.LineSpec(description="Renewal", unit_price=Decimal("10"))],
    )
    with pytest.raises(IssuerIdentityIncomplete, match="Staff → Issuer identity"):
        services.invoices_issue_bulk(specs=[spec], run_id=None, on_date=TODAY)
    assert not Invoice.objects.exists()


def _due_service(customer=None, **extra):
    from tenant_apps.orders.models import Service

    return Service.objects.create(
        customer=customer or make_customer("Renewing Buyer"),
        product=make_product(),
        status="active",
        cycle="monthly",
        currency="EUR",
        recurring_amount=Decimal("10"),
        next_due_date=TODAY,
        **extra,
    )


def test_a_renewal_run_records_a_clear_failure_instead_of_crashing_on_an_incomplete_identity(
    acme,
):
    from tenant_apps.recurring import tasks
    from tenant_apps.recurring.models import BillingRun

    service = _due_service()
    _strip_identity(country="FR")
    tasks.billing_run_instance(schema_name=acme.schema_name, run_date=TODAY.isoformat())
    with schema_context(acme.schema_name):
        run = BillingRun.objects.get(kind=BillingRun.Kind.RENEWALS)
        assert run.status == BillingRun.Status.FAILED and run.invoices_created == 0
        assert "No renewal invoices were issued" in run.log[-1]
        assert "street address, postal code, city" in run.log[-1]
        service.refresh_from_db()
        assert service.invoiced_period_start is None  # billed by the first run that can
        assert not Invoice.objects.exists()


def test_dunning_reminds_but_charges_no_late_fee_while_the_identity_is_incomplete(acme):
    from tenant_apps.recurring import services as runs

    dunning_settings()
    invoice = services.invoice_issue(invoice=_draft(), issue_date=TODAY)
    _strip_identity(country="FR")
    run = runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=15))
    invoice.refresh_from_db()
    assert run.status == "done" and run.reminders_sent == 1 and run.late_fees == 0
    assert invoice.late_fee_invoice is None
    assert any("No late fee was charged" in line for line in run.log)


def test_staff_running_renewals_now_read_why_the_run_stopped(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        _due_service()
        _strip_identity(country="FR")
    page = client_for(instance_a, instance_a.owner).post("/staff/billing/runs/now/", follow=True)
    text = page.content.decode()
    assert "The renewal run stopped" in text and "street address" in text


def test_the_issue_api_refuses_with_a_409_naming_what_is_missing(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        draft = _draft()
        _strip_identity(country="FR")
    response = client_for(instance_a, instance_a.owner).post(f"/api/invoices/{draft.pk}/issue/")
    assert response.status_code == 409
    assert response.json()["code"] == "issuer_identity_incomplete"
    assert "street address" in response.json()["detail"]
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=draft.pk).status == Invoice.Status.DRAFT


def test_the_draft_page_says_what_is_missing_before_staff_try_to_issue(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        draft = _draft()
        _strip_identity(country="FR")
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/billing/invoices/{draft.pk}/").content.decode()
    assert "has its street address, postal code, city and VAT identification number" in page
    assert 'title="Complete the issuer identity first"' in page
    assert "street address, postal code" in owner.get("/staff/billing/").content.decode()
    refused = owner.post(f"/staff/billing/invoices/{draft.pk}/issue/", follow=True)
    assert "Invoices cannot be issued until" in refused.content.decode()
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=draft.pk).status == Invoice.Status.DRAFT


def test_a_complete_identity_shows_no_warning_on_the_draft_page(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        draft = _draft()
    page = client_for(instance_a, instance_a.owner).get(f"/staff/billing/invoices/{draft.pk}/")
    assert "Invoices cannot be issued until" not in page.content.decode()


def test_a_new_reseller_instances_dashboard_lists_what_its_identity_still_lacks(db):
    from shared_apps.tenancy import routing
    from shared_apps.tenancy.services import reseller_create
    from tests.conftest import PASSWORD, InstanceInfo

    reseller_create(
        slug="newco",
        name="Newco",
        legal_name="Newco Ltd",
        owner_email="owner@newco.test",
        owner_password=PASSWORD,
        method="template",
    )
    routing.invalidate()
    newco = InstanceInfo("r_newco", "newco.upline.localhost", "owner@newco.test", "", "", "newco")
    owner = client_for(newco, newco.owner)
    page = owner.get("/staff/").content.decode()
    assert (
        "has its street address, postal code, city, country and VAT identification number "
        "(if established in the EU)" in page
    )
    assert 'href="/staff/identity/"' in page
    assert "has its street address" in owner.get("/staff/identity/").content.decode()
    # Another instance, complete, says nothing of the kind.
    assert (
        "has its street address"
        not in (
            client_for_acme := client_for(
                InstanceInfo("r_acme", "acme.upline.localhost", "owner@acme.test", "", ""),
                "owner@acme.test",
            )
        )
        .get("/staff/")
        .content.decode()
    )
    assert client_for_acme.get("/staff/identity/").status_code == 200


# --------------------------------------------------------------------------------------
# Defect 6 (rates): reduced rates shipped with their effective dates


def test_the_shipped_rates_give_every_member_state_a_rate_of_every_class():
    from tenant_apps.billing.taxes import EU_COUNTRIES
    from tenant_apps.billing.vat_rates import DATA, eu_rates_on, rate_classes

    assert rate_classes() == ["standard", "reduced", "reduced_lower", "super_reduced"]
    for rate_class in rate_classes():
        rates = eu_rates_on(datetime.date(2026, 1, 1), rate_class=rate_class)
        assert set(rates) == EU_COUNTRIES
        assert all(Decimal("0") < rate <= Decimal("27") for rate in rates.values())
    rows = json.loads(DATA.read_text())["rates"]
    assert all(datetime.date.fromisoformat(row["from"]) for row in rows)


def test_reduced_rates_follow_their_effective_dates_and_fall_back_where_a_country_has_none():
    from tenant_apps.billing.vat_rates import eu_rates_on

    def reduced(day: str) -> dict:
        return eu_rates_on(datetime.date.fromisoformat(day), rate_class="reduced")

    assert reduced("2025-07-31")["RO"] == Decimal("9")
    assert reduced("2025-08-01")["RO"] == Decimal("11")
    assert reduced("2020-08-01")["DE"] == Decimal("5") and reduced("2021-01-01")["DE"] == 7
    assert reduced("2026-01-01")["DK"] == Decimal("25")  # no reduced rate: the standard one
    lower = eu_rates_on(datetime.date(2026, 1, 1), rate_class="reduced_lower")
    assert lower["FR"] == Decimal("5.5") and lower["DE"] == Decimal("7")  # DE: its only one
    assert eu_rates_on(datetime.date(2026, 1, 1), rate_class="super_reduced")["FR"] == Decimal(
        "2.1"
    )


def test_the_vat_rates_command_writes_reduced_rates_into_an_instances_reduced_class(acme):
    reduced = TaxClass.objects.create(code="reduced", name="Reduced rate")
    out = io.StringIO()
    call_command("vat_rates_refresh", schema=acme.schema_name, date="2025-07-31", stdout=out)
    assert TaxRate.objects.get(country="FR", tax_class=reduced).rate == Decimal("10")
    assert TaxRate.objects.get(country="RO", tax_class=reduced).rate == Decimal("9")
    assert TaxRate.objects.filter(tax_class=reduced).count() == 27

    out = io.StringIO()
    call_command("vat_rates_refresh", schema=acme.schema_name, date="2025-08-15", stdout=out)
    assert "RO reduced: 9 % → 11 %" in out.getvalue()
    assert TaxRate.objects.get(country="RO", tax_class=reduced).rate == Decimal("11")

    consumer = make_customer("Cluj Reader", country="RO")
    draft = services.invoice_create_draft(
        customer=consumer,
        lines=[{"description": "E-book", "unit_price": "100", "tax_class_code": "reduced"}],
    )
    assert draft.tax_total == Decimal("11.00")


# --------------------------------------------------------------------------------------
# Defect 7: a reverse charge on an old VIES confirmation asks VIES again at issue


def _belgian_business(*, confirmed_days_ago: int = 45):
    from tenant_apps.clients.services import customer_create

    use_vat_checker(VALID)
    customer = customer_create(
        kind="company",
        name="Odigo",
        company_name="Odigo SA",
        email="vat@odigo.test",
        country="BE",
        tax_id="BE0403019261",
    )
    then = timezone.now() - datetime.timedelta(days=confirmed_days_ago)
    TaxIdCheck.objects.filter(customer=customer).update(checked_at=then)
    Customer.objects.filter(pk=customer.pk).update(tax_id_checked_at=then)
    customer.refresh_from_db()
    ValidChecker.calls.clear()
    return customer


def test_a_reverse_charge_on_a_confirmation_older_than_30_days_asks_vies_again_at_issue(acme):
    customer = _belgian_business(confirmed_days_ago=45)
    draft = _draft(customer)
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert ValidChecker.calls == [("BE", "0403019261")]
    assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    relied = invoice.customer_snapshot["tax_evidence"]["vies_check"]
    newest = TaxIdCheck.objects.filter(customer=customer).order_by("-checked_at").first()
    assert relied["checked_at"] == newest.checked_at.isoformat()
    assert TaxIdCheck.objects.filter(customer=customer).count() == 2


def test_a_recent_confirmation_is_relied_on_without_asking_vies_again(acme):
    customer = _belgian_business(confirmed_days_ago=5)
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    assert ValidChecker.calls == []
    assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    assert TaxIdCheck.objects.filter(customer=customer).count() == 1


def test_the_age_after_which_vies_is_asked_again_is_configurable(acme, settings):
    settings.UPLINE_VIES_RECONFIRM_DAYS = 60
    customer = _belgian_business(confirmed_days_ago=45)
    services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    assert ValidChecker.calls == []


def test_an_id_vies_now_reports_not_valid_is_taxed_normally_and_the_invoice_says_why(acme):
    customer = _belgian_business()
    draft = _draft(customer)
    assert draft.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE  # as drafted
    use_vat_checker(INVALID)
    invoice = services.invoice_issue(invoice=draft, issue_date=TODAY)
    assert invoice.tax_treatment == Invoice.TaxTreatment.STANDARD
    assert invoice.tax_total == Decimal("21.00") and "Reverse charge" not in invoice.legal_notes
    evidence = invoice.customer_snapshot["tax_evidence"]
    assert evidence["vies_check"] is None and evidence["latest_vies_check"]["outcome"] == "invalid"
    assert "No reverse charge: VIES reported BE0403019261 as not valid" in evidence["summary"]
    customer.refresh_from_db()
    assert customer.tax_id_status == Customer.TaxIdStatus.INVALID


def test_staff_issuing_are_told_when_vies_no_longer_confirms_the_customers_id(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        TaxRate.objects.update_or_create(
            country="BE",
            tax_class=TaxClass.objects.get(code="standard"),
            defaults={"rate": Decimal("21")},
        )
        draft = _draft(_belgian_business())
    use_vat_checker(INVALID)
    page = client_for(instance_a, instance_a.owner).post(
        f"/staff/billing/invoices/{draft.pk}/issue/", follow=True
    )
    text = page.content.decode()
    assert "Not reverse charged." in text
    assert "VIES reported BE0403019261 as not valid" in text


def test_when_vies_is_unreachable_the_last_confirmation_stands_and_the_attempt_is_kept(acme):
    customer = _belgian_business(confirmed_days_ago=45)
    confirmed = TaxIdCheck.objects.get(customer=customer)
    use_vat_checker(UNREACHABLE)
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    assert invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    outcomes = list(
        TaxIdCheck.objects.filter(customer=customer)
        .order_by("checked_at")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["valid", "unreachable"]
    evidence = invoice.customer_snapshot["tax_evidence"]
    assert evidence["vies_check"]["checked_at"] == confirmed.checked_at.isoformat()
    assert evidence["latest_vies_check"]["outcome"] == "unreachable"
    assert "could not be reached" in evidence["summary"]


def test_renewal_runs_confirm_old_ids_again_before_reverse_charging_them(acme):
    from tenant_apps.recurring import services as runs

    customer = _belgian_business(confirmed_days_ago=45)
    _due_service(customer)
    use_vat_checker(INVALID)
    run = runs.renewals_run(today=TODAY)
    invoice = Invoice.objects.get(billing_run=run)
    assert invoice.tax_treatment == Invoice.TaxTreatment.STANDARD
    assert invoice.tax_total == Decimal("2.10")
    assert any("now reports BE0403019261" in line for line in run.log)


# --------------------------------------------------------------------------------------
# Defect 9: VAT on late fees


def _late_fee_invoice(customer) -> Invoice:
    from tenant_apps.recurring import services as runs

    dunning_settings()
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=15))
    invoice.refresh_from_db()
    return invoice.late_fee_invoice


def test_a_late_fee_is_outside_the_scope_of_vat_by_default_and_the_invoice_says_so(acme):
    fee = _late_fee_invoice(make_customer("Late Payer"))
    assert fee.tax_treatment == Invoice.TaxTreatment.OUTSIDE_SCOPE
    assert fee.tax_total == 0 and fee.total == Decimal("5.00")
    assert "outside the scope of VAT" in fee.legal_notes
    assert fee.customer_snapshot["tax_evidence"]["summary"].startswith("A late payment fee")


def test_a_late_fee_is_taxed_like_the_late_invoice_when_the_instance_chooses_so(acme):
    services.billing_settings_update(late_fee_vat=BillingSettings.LateFeeVat.STANDARD)
    fee = _late_fee_invoice(make_customer("Late Payer"))
    assert fee.tax_treatment == Invoice.TaxTreatment.STANDARD
    assert fee.tax_total == Decimal("1.00") and fee.total == Decimal("6.00")


def test_a_taxed_late_fee_to_a_business_elsewhere_in_the_eu_is_reverse_charged(acme):
    services.billing_settings_update(late_fee_vat=BillingSettings.LateFeeVat.STANDARD)
    customer = _belgian_business(confirmed_days_ago=5)
    fee = _late_fee_invoice(customer)
    assert fee.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
    assert fee.total == Decimal("5.00") and "BE0403019261" in fee.legal_notes


def test_the_late_fee_vat_choice_is_saved_from_the_settings_screen(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get("/staff/billing/settings/").content.decode()
    assert "VAT on late fees" in page and "Outside the scope of VAT" in page
    with schema_context(instance_a.schema_name):
        from tenant_apps.billing.forms import BillingSettingsForm

        data = BillingSettingsForm.initial_from(services.billing_settings_get())
    data = {key: "" if value is None else value for key, value in data.items()}
    data.update(late_fee_vat="standard", prices_include_tax="")
    response = owner.post("/staff/billing/settings/", data)
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        assert services.billing_settings_get().late_fee_vat == "standard"


def test_the_late_fee_vat_choice_is_an_api_field_and_stays_in_its_instance(instance_a, instance_b):
    owner = client_for(instance_a, instance_a.owner)
    assert owner.get("/api/billing-settings/").json()["late_fee_vat"] == "outside_scope"
    changed = owner.patch(
        "/api/billing-settings/",
        json.dumps({"late_fee_vat": "standard"}),
        content_type="application/json",
    )
    assert changed.status_code == 200 and changed.json()["late_fee_vat"] == "standard"
    refused = owner.patch(
        "/api/billing-settings/",
        json.dumps({"late_fee_vat": "sometimes"}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and "late_fee_vat" in refused.json()
    other = client_for(instance_b, instance_b.owner).get("/api/billing-settings/")
    assert other.json()["late_fee_vat"] == "outside_scope"
    support = client_for(instance_a, instance_a.support).patch(
        "/api/billing-settings/",
        json.dumps({"late_fee_vat": "outside_scope"}),
        content_type="application/json",
    )
    assert support.status_code == 403
    with schema_context(instance_a.schema_name):
        assert services.billing_settings_get().late_fee_vat == "standard"


# --------------------------------------------------------------------------------------
# Evidence: the billing country and the VIES check relied on, frozen into the invoice


def test_an_issued_invoice_keeps_its_billing_country_and_the_check_it_relied_on(acme):
    from tenant_apps.clients.services import customer_update

    customer = _belgian_business(confirmed_days_ago=5)
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    evidence = invoice.customer_snapshot["tax_evidence"]
    assert evidence["billing_country"] == "BE" and evidence["vat_id"] == "BE0403019261"
    assert evidence["vies_check"]["consultation_number"] == "WAPIAAAAZ1234"
    assert evidence["summary"].startswith("Billing country: Belgium. Reverse charge: VIES")

    use_vat_checker(INVALID)
    customer_update(customer=customer, country="DE", tax_id="DE136695976")
    invoice.refresh_from_db()
    assert invoice.customer_snapshot["tax_evidence"] == evidence  # frozen at issue


def test_a_consumers_invoice_keeps_the_country_its_vat_was_charged_for(acme):
    invoice = services.invoice_issue(
        invoice=_draft(make_customer("Liège Reader", country="BE")), issue_date=TODAY
    )
    evidence = invoice.customer_snapshot["tax_evidence"]
    assert evidence["billing_country"] == "BE" and evidence["vies_check"] is None
    assert invoice.tax_total == Decimal("21.00")


def test_a_credit_note_carries_the_evidence_of_the_invoice_it_corrects(acme):
    customer = _belgian_business(confirmed_days_ago=5)
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    note = services.credit_note_create(invoice=invoice, reason="Cancelled")
    assert note.customer_snapshot["tax_evidence"] == invoice.customer_snapshot["tax_evidence"]


def test_the_staff_invoice_page_shows_a_tax_evidence_panel(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = _belgian_business(confirmed_days_ago=5)
        invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
        draft = _draft()
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/billing/invoices/{invoice.pk}/").content.decode()
    assert "Tax evidence" in page
    assert "Belgium" in page and "consultation WAPIAAAAZ1234" in page
    assert "VIES check relied on" in page
    assert "Tax evidence" not in owner.get(f"/staff/billing/invoices/{draft.pk}/").content.decode()


def test_the_api_returns_the_evidence_of_an_issued_invoice_and_null_for_a_draft(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = _belgian_business(confirmed_days_ago=5)
        invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
        draft = _draft()
    owner = client_for(instance_a, instance_a.owner)
    evidence = owner.get(f"/api/invoices/{invoice.pk}/").json()["tax_evidence"]
    assert evidence["billing_country"] == "BE" and evidence["tax_treatment"] == "reverse_charge"
    assert evidence["vies_check"]["consultation_number"] == "WAPIAAAAZ1234"
    assert owner.get(f"/api/invoices/{draft.pk}/").json()["tax_evidence"] is None


def test_another_instance_or_a_customer_cannot_read_an_invoices_evidence(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        invoice = services.invoice_issue(
            invoice=_draft(_belgian_business(confirmed_days_ago=5)), issue_date=TODAY
        )
    other = client_for(instance_b, instance_b.owner)
    assert other.get(f"/api/invoices/{invoice.pk}/").status_code == 404
    assert other.get(f"/staff/billing/invoices/{invoice.pk}/").status_code == 404
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get(f"/api/invoices/{invoice.pk}/").status_code in (403, 404)
    assert customer.get(f"/staff/billing/invoices/{invoice.pk}/").status_code in (302, 403, 404)


def test_documents_issued_before_evidence_was_frozen_read_it_from_their_snapshot(acme):
    from tenant_apps.billing.tax_evidence import invoice_tax_evidence

    customer = _belgian_business(confirmed_days_ago=5)
    invoice = services.invoice_issue(invoice=_draft(customer), issue_date=TODAY)
    snapshot = dict(invoice.customer_snapshot)
    del snapshot["tax_evidence"]
    Invoice.objects.filter(pk=invoice.pk).update(customer_snapshot=snapshot)
    invoice.refresh_from_db()
    evidence = invoice_tax_evidence(invoice)
    assert evidence["billing_country"] == "BE"
    assert evidence["vies_check"]["consultation_number"] == "WAPIAAAAZ1234"
