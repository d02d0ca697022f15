"""Commission screens, portal partner page, statements and API (issue 12, point 6): each
partner sees only its own referrals and statements; another instance's data is unreachable;
only billing roles pay, only managers set rules."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Reseller
from tenant_apps.commissions import services
from tenant_apps.commissions.models import CommissionEntry, CommissionRule, Payout
from tenant_apps.instance.models import AuditEvent
from tenant_apps.orders.models import Order
from tenant_apps.referrals import services as referrals
from tenant_apps.referrals.models import Referer
from tests.billing_fixtures import make_customer, make_product, setup_issuer
from tests.commission_fixtures import ordered, partner, pay, percent_rule
from tests.conftest import PASSWORD, client_for


@pytest.fixture
def earned_and_paid(instance_a, django_capture_on_commit_callbacks):
    """Instance A: two partners, each with a paid-out commission; the first is the portal
    customer customer@acme.test, the second another customer with a login of its own."""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        percent_rule("10")
        users = get_user_model().objects
        mine = make_customer("Mina Partner", user=users.get(email=instance_a.customer))
        theirs = make_customer(
            "Theo Other",
            email="theo@example.com",
            user=users.create_user(email="theo@acme.test", password=PASSWORD),
        )
        first, second = partner("mina", customer=mine), partner("theo", customer=theirs)
        product = make_product(amount="100.00")
        for referer, price_buyer in ((first, "Bob Buyer"), (second, "Cy Buyer")):
            buyer = make_customer(price_buyer, email=f"{referer.code}-buyer@example.com")
            pay(ordered(buyer, product, referer), django_capture_on_commit_callbacks)
        CommissionEntry.objects.update(matures_on=datetime.date.today())
        payouts = [
            services.payout_record(referer=first, currency="EUR", method="bank_transfer").pk,
            services.payout_record(
                referer=second, currency="EUR", method="bank_transfer", reference="THEO-1"
            ).pk,
        ]
    return {"mine": payouts[0], "theirs": payouts[1]}


def test_partner_page_shows_own_balance_and_statements_only(instance_a, earned_and_paid):
    page = client_for(instance_a, instance_a.customer).get("/portal/partner/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "?ref=mina" in html
    assert f"/portal/partner/statements/{earned_and_paid['mine']}.pdf" in html
    assert f"statements/{earned_and_paid['theirs']}." not in html
    assert "theo" not in html.lower() and "THEO-1" not in html
    assert 'href="/portal/partner/"' in html  # the portal menu links the partner page


def test_partner_downloads_own_statement_but_not_anothers(instance_a, earned_and_paid):
    client = client_for(instance_a, instance_a.customer)
    pdf = client.get(f"/portal/partner/statements/{earned_and_paid['mine']}.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    csv = client.get(f"/portal/partner/statements/{earned_and_paid['mine']}.csv").content.decode()
    assert "10.00" in csv and "Paid out" in csv
    assert (
        client.get(f"/portal/partner/statements/{earned_and_paid['theirs']}.pdf").status_code == 404
    )
    assert (
        client.get(f"/portal/partner/statements/{earned_and_paid['mine']}.exe").status_code == 404
    )
    # The staff copy of the same statement is staff-only.
    staff_url = f"/staff/commissions/payouts/{earned_and_paid['mine']}/statement.pdf"
    assert client.get(staff_url).status_code == 403


def test_a_customer_who_is_no_partner_has_no_partner_page(instance_a, earned_and_paid):
    with schema_context(instance_a.schema_name):
        stranger = get_user_model().objects.create_user(email="nobody@acme.test", password=PASSWORD)
        make_customer("No Body", email="nobody@example.com", user=stranger)
    stranger_client = client_for(instance_a, "nobody@acme.test")
    assert stranger_client.get("/portal/partner/").status_code == 404
    assert 'href="/portal/partner/"' not in stranger_client.get("/portal/profile/").content.decode()
    assert client_for(instance_a, instance_a.owner).get("/portal/partner/").status_code == 403


def test_another_instance_reaches_none_of_these_payouts(instance_a, instance_b, earned_and_paid):
    owner_b = client_for(instance_b, instance_b.owner)
    for pk in earned_and_paid.values():
        assert owner_b.get(f"/staff/commissions/payouts/{pk}/statement.pdf").status_code == 404
        assert owner_b.get(f"/api/commission-payouts/{pk}/").status_code == 404
    assert owner_b.get("/api/commission-entries/").json()["results"] == []
    assert owner_b.get("/api/commission-balances/").json() == []
    ledger = owner_b.get("/staff/commissions/").content.decode()
    assert "Mina Partner" not in ledger and "No commission yet" in ledger


def test_staff_screens_list_the_ledger_payouts_and_rules(instance_a, earned_and_paid):
    support = client_for(instance_a, instance_a.support)
    ledger = support.get("/staff/commissions/")
    assert ledger.status_code == 200 and "Mina" in ledger.content.decode()
    assert support.get("/staff/commissions/?status=paid&currency=eur").status_code == 200
    assert (
        support.get("/staff/commissions/?referer=abc").status_code == 200
    )  # bad filter: form error
    payouts = support.get("/staff/commissions/payouts/").content.decode()
    assert "THEO-1" in payouts
    rules = support.get("/staff/commissions/rules/").content.decode()
    assert "10 %" in rules
    # Support reads, but neither pays nor sets rules.
    assert support.get("/staff/commissions/payouts/new/").status_code == 403
    assert support.post("/staff/commissions/rules/new/", {"name": "x"}).status_code == 403


def test_owner_creates_a_rule_and_records_a_payout_on_screens(
    instance_a, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        referer = partner("solo")
        product = make_product(amount="100.00")
    owner = client_for(instance_a, instance_a.owner)
    bad = owner.post(
        "/staff/commissions/rules/new/", {"name": "", "kind": "percent", "duration": "recurring"}
    )
    assert bad.status_code == 200 and "This field is required." in bad.content.decode()
    created = owner.post(
        "/staff/commissions/rules/new/",
        {
            "name": "Standard",
            "kind": "percent",
            "rate": "12.5",
            "duration": "recurring",
            "months": "12",
            "second_level_rate": "",
            "tiers": "5 15\n10 20",
            "is_active": "on",
        },
    )
    assert created.status_code == 302, created.content.decode()
    with schema_context(instance_a.schema_name):
        rule = CommissionRule.objects.get(name="Standard")
        assert (rule.rate, rule.months, rule.tiers.count()) == (Decimal("12.500"), 12, 2)
        pay(
            ordered(make_customer("Bob Buyer"), product, referer),
            django_capture_on_commit_callbacks,
        )
        CommissionEntry.objects.update(matures_on=datetime.date.today())
    nothing = owner.post(
        "/staff/commissions/payouts/new/",
        {"referer": referer.pk, "currency": "USD", "method": "bank_transfer"},
    )
    assert "nothing to pay out" in nothing.content.decode()
    paid = owner.post(
        "/staff/commissions/payouts/new/",
        {"referer": referer.pk, "currency": "EUR", "method": "bank_transfer", "reference": "TR-9"},
    )
    assert paid.status_code == 302
    with schema_context(instance_a.schema_name):
        assert Payout.objects.get().amount == Decimal("12.50")


def test_staff_correct_an_orders_referer_with_a_reason_and_an_audit_row(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        right = partner("right")
        order = Order.objects.create(customer=make_customer("Bob Buyer"), currency="EUR")
    billing_clerk = client_for(instance_a, instance_a.owner)
    url = f"/staff/commissions/orders/{order.pk}/referer/"
    assert billing_clerk.get(url).status_code == 200
    missing = billing_clerk.post(url, {"referer": right.pk, "reason": ""})
    assert missing.status_code == 200
    done = billing_clerk.post(url, {"referer": right.pk, "reason": "Phoned in by the partner"})
    assert done.status_code == 302
    with schema_context(instance_a.schema_name):
        order.refresh_from_db()
        assert (order.referer_id, order.referer_source) == (right.pk, "staff")
        event = AuditEvent.objects.get(action="order.referer_corrected")
        assert event.changes["referer"] == [None, "right"]
        assert event.actor.email == instance_a.owner
    assert client_for(instance_a, instance_a.support).post(url, {"reason": "x"}).status_code == 403
    assert billing_clerk.get("/staff/commissions/orders/999999/referer/").status_code == 404


def test_api_rules_entries_balances_and_payouts(instance_a, earned_and_paid):
    owner = client_for(instance_a, instance_a.owner)
    entries = owner.get("/api/commission-entries/?status=paid").json()["results"]
    assert {entry["amount"] for entry in entries} == {"10.00"}
    assert owner.get("/api/commission-entries/?status=bogus").status_code == 400
    balances = owner.get("/api/commission-balances/").json()
    assert {(row["currency"], row["paid_out"]) for row in balances} == {("EUR", "10.00")}
    assert owner.get("/api/commission-balances/?referer=x").status_code == 400
    statement = owner.get(f"/api/commission-payouts/{earned_and_paid['mine']}/statement/")
    assert [entry["amount"] for entry in statement.json()] == ["10.00"]
    again = owner.post(
        "/api/commission-payouts/",
        {"referer": entries[0]["referer"], "currency": "EUR", "method": "bank_transfer"},
        content_type="application/json",
    )
    assert again.status_code == 400 and "nothing to pay out" in again.content.decode()
    rule = owner.post(
        "/api/commission-rules/",
        {
            "name": "Web",
            "kind": "fixed",
            "amount": "5",
            "currency": "eur",
            "duration": "first_invoice",
            "product": None,
        },
        content_type="application/json",
    )
    assert rule.status_code == 400  # an active rule for every product exists already
    support = client_for(instance_a, instance_a.support)
    assert support.get("/api/commission-rules/").status_code == 200
    refused = support.post(
        "/api/commission-payouts/",
        {"referer": entries[0]["referer"], "currency": "EUR", "method": "bank_transfer"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get("/api/commission-entries/").status_code == 403


def test_the_operator_console_shows_who_referred_a_reseller(operator, instance_a):
    reseller = Reseller.objects.get(slug=instance_a.slug)
    console = client_for(operator, operator.owner)
    page = console.get(f"/console/resellers/{reseller.slug}/").content.decode()
    assert "Referred by" in page and "Hosting Scout" not in page
    # In the operator's instance (public schema) the reseller is a customer whose plan order
    # carries the partner that referred it.
    scout = referrals.referer_create(code="scout", name="Hosting Scout")
    buyer = make_customer("Acme Ltd", email="boss@acme.example", reseller_id=reseller.pk)
    Order.objects.create(customer=buyer, currency="EUR", referer=scout, referer_source="link")
    page = console.get(f"/console/resellers/{reseller.slug}/").content.decode()
    assert "Hosting Scout" in page and "Referral link" in page
    # A reseller's own instance never sees the operator's partners.
    with schema_context(instance_a.schema_name):
        assert not Referer.objects.filter(code="scout").exists()
