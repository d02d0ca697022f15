"""In a real browser, the shop end to end.

1. On a reseller's instance with a 10 % commission rule: a visitor follows a partner's
   `?ref=` link, puts a plan in the cart, signs up, confirms the e-mailed link, pays by card
   (localstripe's Stripe.js) and the service is active, with the partner on the order; the
   partner then signs in to the portal and its page shows the sign-up, the conversion and
   the commission on that sale, pending.
2. On the operator's instance: a visitor buys a reseller plan, pays, and signs in to the
   new instance on `<name>.<base domain>` with the password chosen at sign-up; its
   dashboard shows the first-steps checklist.

The server commits what the browser does; each test takes marks of every table first and
removes what was added after them, sign-in sessions included (foreign keys are checked at
commit, so one transaction deletes in any order), puts the capacity in use back, and drops
the instance the second test created.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import connection, transaction
from django_tenants.utils import schema_context

from shared_apps.tenancy import routing
from shared_apps.tenancy.models import Allocation, Reseller
from tenant_apps.billing.models import Invoice, NumberSequence
from tenant_apps.cards.models import CardConnection
from tenant_apps.orders.models import Order, Service
from tenant_apps.referrals.services import referer_create, referer_portal_invite
from tests import stripe_fixtures
from tests.browser.committed import in_own_connection
from tests.commission_fixtures import percent_rule
from tests.storefront_fixtures import build_catalog

pytestmark = pytest.mark.browser

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe

BUYER = "shop.buyer@example.com"
BUYER_PASSWORD = "amber-lantern-quiet-58"
PARTNER = "browser.partner@example.com"
PARTNER_PASSWORD = "cobalt-harbour-swift-94"


def _tables(schema: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name = 'id' AND data_type IN ('bigint', 'integer')",
            [schema],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _marks(schema: str) -> dict:
    marks = {}
    with connection.cursor() as cursor:
        for table in _tables(schema):
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{schema}"."{table}"')
            marks[table] = cursor.fetchone()[0]
        # Sessions are keyed by a string, not an id: the keys present now are the mark.
        cursor.execute(f'SELECT session_key FROM "{schema}".django_session')
        marks["__sessions__"] = [row[0] for row in cursor.fetchall()]
    with schema_context(schema):
        marks["__sequences__"] = dict(NumberSequence.objects.values_list("pk", "next_number"))
    return marks


def _back_to(schema: str, marks: dict) -> bool:
    new_resellers = []
    if schema == "public":
        new_resellers = list(
            Reseller.objects.filter(pk__gt=marks.get("tenancy_reseller", 0)).values_list(
                "schema_name", flat=True
            )
        )
    with transaction.atomic(), connection.cursor() as cursor:
        for table in _tables(schema):
            if table in marks:
                cursor.execute(f'DELETE FROM "{schema}"."{table}" WHERE id > %s', [marks[table]])
        cursor.execute(
            f'DELETE FROM "{schema}".django_session WHERE NOT (session_key = ANY(%s))',
            [marks["__sessions__"]],
        )
    for schema_name in new_resellers:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
    with schema_context(schema):
        for pk, next_number in marks["__sequences__"].items():
            NumberSequence.objects.filter(pk=pk).update(next_number=next_number)
    routing.invalidate()
    return True


def _allocations() -> dict:
    """Capacity in use per reseller: a service that starts takes some (an update, which
    the id marks do not undo)."""
    return {a.pk: (a.quantity, a.used) for a in Allocation.objects.all()}


def _restore(snapshot: dict) -> bool:
    for schema in ("r_acme", "public"):
        if schema in snapshot:
            _back_to(schema, snapshot[schema])
    for pk, (quantity, used) in snapshot["allocations"].items():
        Allocation.objects.filter(pk=pk).update(quantity=quantity, used=used)
    return True


def _prepare_acme() -> dict:
    marks = {"r_acme": _marks("r_acme"), "public": _marks("public"), "allocations": _allocations()}
    with schema_context("r_acme"):
        build_catalog()
        percent_rule("10")
        referer = referer_create(code="browserpartner", name="Browser Partner", email=PARTNER)
        # An external partner: the invitation gives it a customer record and a portal login;
        # the password it would choose through the e-mailed link is set here instead.
        partner = referer_portal_invite(
            referer=referer, domain="acme.upline.localhost", use_https=False, country="FR"
        )
        partner.set_password(PARTNER_PASSWORD)
        partner.save(update_fields=["password"])
        CardConnection.objects.create(account_id="acct_browser_shop", charges_enabled=True)
    return marks


def _prepare_operator() -> dict:
    marks = {"public": _marks("public"), "allocations": _allocations()}
    with schema_context("public"):
        build_catalog(reseller_plan=True)
    return marks


@pytest.fixture
def acme_shop(db, localstripe):
    marks = in_own_connection(_prepare_acme)
    yield
    in_own_connection(_restore, marks)


@pytest.fixture
def operator_shop(db, localstripe):
    marks = in_own_connection(_prepare_operator)
    yield
    in_own_connection(_restore, marks)


def _new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(20_000)
    return page


def _sign_up(page, base: str) -> None:
    """From the checkout: create an account, then open the link the e-mail carries."""
    page.get_by_role("link", name="Create an account").click()
    page.fill("input[name=email]", BUYER)
    page.fill("input[name=password1]", BUYER_PASSWORD)
    page.fill("input[name=password2]", BUYER_PASSWORD)
    page.fill("input[name=name]", "Shop Buyer")
    page.fill("input[name=address_line1]", "2 rue du Bac")
    page.fill("input[name=postal_code]", "75007")
    page.fill("input[name=city]", "Paris")
    page.select_option("select[name=country]", "FR")
    page.check("input[name=accept_terms]")
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()
    assert "Check your e-mail" in page.content()
    message = next(m for m in reversed(mail.outbox) if m.to == [BUYER])
    path = re.search(r"https?://[^/\s]+(/shop/sign-up/confirm/[^/\s]+/)", message.body).group(1)
    page.goto(base + path)
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm and create my account").click()


def _pay_by_card(page) -> None:
    page.wait_for_selector("[data-card-element] input")
    card = "[data-card-element] input[placeholder={}]"
    page.fill(card.format("number"), "4242424242424242")
    page.fill(card.format("exp_month"), "12")
    page.fill(card.format("exp_year"), "30")
    page.fill(card.format("cvc"), "123")
    page.fill(card.format("postal_code"), "75007")
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.wait_for_url(re.compile(r".*/portal/cards/payments/\d+/$"))
    assert "is paid" in page.content()


def test_a_visitor_from_a_partner_link_pays_by_card_and_the_partner_sees_the_commission(
    browser, live_url, acme_shop
):
    acme = live_url.format(host="acme.upline.localhost")
    page = _new_page(browser)
    page.goto(acme + "/?ref=browserpartner")
    assert "Starter hosting" in page.content()
    page.check("text=Daily backups")
    page.get_by_role("button", name="Add Starter hosting to cart").click()
    page.wait_for_url(re.compile(r".*/shop/cart/$"))
    page.get_by_role("link", name="Check out").click()
    _sign_up(page, acme)
    assert page.url.endswith("/shop/checkout/")
    with page.expect_navigation():
        page.get_by_role("button", name="Place order and pay").click()
    assert re.search(r"/portal/cards/invoices/\d+/pay/$", page.url)
    _pay_by_card(page)

    def outcome():
        with schema_context("r_acme"):
            order = Order.objects.select_related("referer").get(customer__email=BUYER)
            return (
                order.referer.code,
                list(
                    Service.objects.filter(customer__email=BUYER)
                    .order_by("id")
                    .values_list("status", flat=True)
                ),
                list(
                    Invoice.objects.filter(customer__email=BUYER).values_list("status", flat=True)
                ),
            )

    referer, services, invoices = in_own_connection(outcome)
    assert referer == "browserpartner"
    assert services == [Service.Status.ACTIVE, Service.Status.ACTIVE]  # plan and add-on
    assert invoices == [Invoice.Status.PAID]

    # The partner, in a browser of its own: 10 % of the sale's net price (plan 10.00 and
    # add-on 2.00, tax excluded), pending for the programme's 30-day refund window.
    partner = _new_page(browser)
    partner.goto(acme + "/accounts/login/?next=/portal/partner/")
    partner.fill("input[name=username]", PARTNER)
    partner.fill("input[name=password]", PARTNER_PASSWORD)
    with partner.expect_navigation():
        partner.get_by_role("button", name="Sign in").click()
    partner.wait_for_url(re.compile(r".*/portal/partner/$"))

    def stat(label: str) -> str:
        return partner.locator(".stat", has_text=label).locator(".stat-value").inner_text()

    assert (stat("Clicks"), stat("Sign-ups"), stat("Conversions")) == ("1", "1", "1")
    assert (
        "of 1 order credited to you"
        in partner.locator(".stat", has_text="Conversions").inner_text()
    )
    balance = partner.locator("section.card", has_text="Balance").locator("tbody tr")
    assert balance.count() == 1
    assert balance.locator("td").all_inner_texts() == ["EUR", "1.20", "0.00", "0.00"]


def test_a_visitor_buys_a_reseller_plan_and_signs_in_to_the_new_instance(
    browser, live_url, operator_shop
):
    operator = live_url.format(host="upline.localhost")
    page = _new_page(browser)
    page.goto(operator + "/")
    page.get_by_role("button", name="Add Reseller S to cart").click()
    page.wait_for_url(re.compile(r".*/shop/cart/$"))
    page.get_by_role("link", name="Check out").click()
    _sign_up(page, operator)
    page.fill("input[name=instance_0]", "shopbuilt")
    with page.expect_navigation():
        page.get_by_role("button", name="Place order and pay").click()
    _pay_by_card(page)

    def instance():
        reseller = Reseller.objects.get(slug="shopbuilt")
        return reseller.status, {a.resource_id: a.quantity for a in reseller.allocations.all()}

    status, allocations = in_own_connection(instance)
    assert status == Reseller.Status.ACTIVE
    assert allocations["disk_gb"] == 50 and allocations["hosting_accounts"] == 5

    new = live_url.format(host="shopbuilt.upline.localhost")
    page.goto(new + "/accounts/login/")
    page.fill("input[name=username]", BUYER)
    page.fill("input[name=password]", BUYER_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/staff/$"))
    content = page.content()
    assert "First steps" in content and "Stripe connection" in content
