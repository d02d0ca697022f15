"""The storefront: catalog at the instance's root, a session cart, sign-up that writes
nothing until the e-mail is confirmed, checkout handing over to the card pay page, abuse
of the sign-up form, the operator's reseller plans, and isolation between instances."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.billing.models import Invoice
from tenant_apps.cards.models import CardConnection
from tenant_apps.clients.models import Customer
from tenant_apps.instance.models import AuditEvent
from tenant_apps.orders.models import Order
from tenant_apps.referrals.services import referer_create
from tenant_apps.storefront.models import PendingSignup, StorefrontSettings, TermsAcceptance
from tests.conftest import PASSWORD, client_for
from tests.storefront_fixtures import SIGNUP, build_catalog

User = get_user_model()


@pytest.fixture
def acme_shop(instance_a):
    with schema_context(instance_a.schema_name):
        return build_catalog()


@pytest.fixture
def cards_ready(settings, instance_a):
    settings.UPLINE_STRIPE_SECRET_KEY = "sk_test_storefront"
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = "pk_test_storefront"
    with schema_context(instance_a.schema_name):
        CardConnection.objects.create(account_id="acct_storefront", charges_enabled=True)


def _visitor(info) -> Client:
    return Client(HTTP_HOST=info.host)


def _sign_up(client, captured, **changes):
    with captured(execute=True):
        return client.post("/shop/sign-up/", {**SIGNUP, **changes})


def _confirm_link() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://[^/\s]+(/shop/sign-up/confirm/[^/\s]+/)", body).group(1)


def _counts(schema: str) -> tuple[int, int, int]:
    with schema_context(schema):
        return (
            User.objects.filter(email__startswith="new.buyer").count(),
            Customer.objects.filter(email__startswith="new.buyer").count(),
            PendingSignup.objects.count(),
        )


# --------------------------------------------------------------------------------------
# Catalog and cart


def test_a_visitor_sees_plans_prices_per_cycle_and_add_ons_at_the_instance_root(
    instance_a, acme_shop
):
    page = _visitor(instance_a).get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Starter hosting" in html
    assert "€10.00/month" in html and "€100.00/year" in html
    assert "Daily backups" in html and "€2.00/month" in html
    assert "Disk space: 5 GB" in html or "5 GB" in html


def test_the_shop_shows_prices_in_another_currency_the_visitor_chooses(instance_a, acme_shop):
    client = _visitor(instance_a)
    client.post("/shop/currency/", {"currency": "USD"})
    html = client.get("/shop/").content.decode()
    assert "US$12.00/month" in html or "$12.00/month" in html
    assert "€10.00" not in html


def test_a_signed_in_user_at_the_root_goes_to_their_own_area(instance_a, acme_shop):
    response = client_for(instance_a, instance_a.customer).get("/")
    assert response.status_code == 302 and response.url.endswith("/portal/")


def test_the_shop_wears_the_instance_name_and_colour_not_uplines(instance_a, acme_shop):
    from tenant_apps.instance.services import issuer_identity_set

    with schema_context(instance_a.schema_name):
        issuer_identity_set(legal_name="Acme Ltd", trading_name="Acme Web", brand_color="#ff6600")
    html = _visitor(instance_a).get("/shop/").content.decode()
    assert "Acme Web" in html
    # The colour comes with the instance's brand stylesheet (tenant_apps/instance/branding).
    assert 'href="/brand.css?v=' in html
    assert "--accent: #ff6600" in _visitor(instance_a).get("/brand.css").content.decode()
    assert "Upline" not in html


def test_plans_go_into_the_cart_with_their_add_ons_and_come_out_again(instance_a, acme_shop):
    client = _visitor(instance_a)
    response = client.post(
        f"/shop/cart/add/{acme_shop.starter}/",
        {"price": acme_shop.starter_monthly, "addons": [acme_shop.backups]},
    )
    assert response.status_code == 302
    html = client.get("/shop/cart/").content.decode()
    assert "Starter hosting" in html and "Daily backups" in html
    assert "€12.00" in html  # €10 plan + €2 add-on
    client.post("/shop/cart/remove/0/")
    assert "Your cart is empty" in client.get("/shop/cart/").content.decode()


def test_the_cart_refuses_a_price_of_another_plan_or_an_add_on_not_sold_on_that_cycle(
    instance_a, acme_shop
):
    client = _visitor(instance_a)
    client.post(f"/shop/cart/add/{acme_shop.starter}/", {"price": 999999})
    response = client.post(
        f"/shop/cart/add/{acme_shop.starter}/",
        {"price": acme_shop.starter_annual, "addons": [acme_shop.backups]},
        follow=True,
    )
    html = response.content.decode()
    assert "not sold annually" in html
    assert "Your cart is empty" in client.get("/shop/cart/").content.decode()


# --------------------------------------------------------------------------------------
# Sign-up


def test_sign_up_writes_no_account_until_the_e_mailed_link_is_confirmed(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    client = _visitor(instance_a)
    response = _sign_up(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response.url == "/shop/sign-up/sent/"
    assert _counts(instance_a.schema_name) == (0, 0, 1)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.buyer@example.com"]
    link = _confirm_link()
    assert "Confirm" in client.get(link).content.decode()
    assert _counts(instance_a.schema_name) == (0, 0, 1)  # a GET (mail scanner) creates nothing

    response = client.post(link)
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        user = User.objects.get(email="new.buyer@example.com")
        customer = Customer.objects.get(user=user)
        acceptance = TermsAcceptance.objects.get(customer=customer)
        assert user.check_password(SIGNUP["password1"]) and user.is_customer
        assert (customer.name, customer.city, customer.country.code) == ("New Buyer", "Paris", "FR")
        assert acceptance.version == "1"
        assert AuditEvent.objects.filter(action="signup.confirmed", actor=user).exists()
    assert _counts(instance_a.schema_name) == (1, 1, 0)
    # Signed in at once: the portal opens.
    assert client.get("/portal/").status_code == 200


def test_a_confirmation_link_works_once_and_not_after_it_expires(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    client = _visitor(instance_a)
    _sign_up(client, django_capture_on_commit_callbacks)
    link = _confirm_link()
    with schema_context(instance_a.schema_name):
        PendingSignup.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post(link)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert _counts(instance_a.schema_name)[:2] == (0, 0)

    with schema_context(instance_a.schema_name):
        PendingSignup.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    assert client.post(link).status_code == 302
    again = _visitor(instance_a).post(link)
    assert again.status_code == 400 and "not valid any more" in again.content.decode()
    assert _counts(instance_a.schema_name) == (1, 1, 0)


def test_terms_version_in_force_is_the_one_stored_on_the_customer(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        StorefrontSettings.objects.create(terms_version="2026-11", terms_text="Be nice.")
    client = _visitor(instance_a)
    assert 'value="2026-11"' in client.get("/shop/sign-up/").content.decode()
    stale = _sign_up(client, django_capture_on_commit_callbacks)  # posts version "1"
    assert "terms changed" in stale.content.decode()
    _sign_up(client, django_capture_on_commit_callbacks, terms_version="2026-11")
    client.post(_confirm_link())
    with schema_context(instance_a.schema_name):
        assert TermsAcceptance.objects.get().version == "2026-11"


def test_a_vat_id_is_checked_at_sign_up_and_its_status_kept_on_the_customer(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    client = _visitor(instance_a)
    bad = _sign_up(client, django_capture_on_commit_callbacks, tax_id="FR123")
    assert bad.status_code == 200 and _counts(instance_a.schema_name) == (0, 0, 0)
    _sign_up(
        client,
        django_capture_on_commit_callbacks,
        company_name="Buyer SAS",
        tax_id="FR 40 303 265 045",
    )
    client.post(_confirm_link())
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.get(email="new.buyer@example.com")
        assert (customer.kind, customer.tax_id) == ("company", "FR40303265045")
        # The registry is unreachable in tests: checked, and to be checked again later.
        assert customer.tax_id_status == Customer.TaxIdStatus.UNVERIFIED


# --------------------------------------------------------------------------------------
# Sign-up abuse: clear errors, rate limits, nothing half written


def test_the_same_e_mail_cannot_sign_up_twice(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    response = _sign_up(
        _visitor(instance_a), django_capture_on_commit_callbacks, email=instance_a.customer
    )
    assert "already exists: sign in instead" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert PendingSignup.objects.count() == 0
    assert mail.outbox == []


def test_signing_up_again_before_confirming_replaces_the_first_link(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    client = _visitor(instance_a)
    _sign_up(client, django_capture_on_commit_callbacks)
    first = _confirm_link()
    _sign_up(client, django_capture_on_commit_callbacks)
    second = _confirm_link()
    assert first != second
    assert _counts(instance_a.schema_name) == (0, 0, 1)
    assert client.post(first).status_code == 400
    assert client.post(second).status_code == 302
    assert _counts(instance_a.schema_name) == (1, 1, 0)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("someone@mailinator.com", "throw-away inboxes"),
        ("x@sub.yopmail.com", "throw-away inboxes"),
        ("not-an-address", "is not a valid e-mail address"),
        ("a@localhost", "cannot receive e-mail"),
    ],
)
def test_disposable_or_malformed_addresses_are_refused_with_a_clear_error(
    instance_a, acme_shop, django_capture_on_commit_callbacks, email, message
):
    response = _sign_up(_visitor(instance_a), django_capture_on_commit_callbacks, email=email)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert _counts(instance_a.schema_name) == (0, 0, 0) and mail.outbox == []


def test_weak_passwords_and_unaccepted_terms_are_refused(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    client = _visitor(instance_a)
    weak = _sign_up(
        client, django_capture_on_commit_callbacks, password1="12345678", password2="12345678"
    )
    assert "too common" in weak.content.decode() or "entirely numeric" in weak.content.decode()
    differ = _sign_up(client, django_capture_on_commit_callbacks, password2="other-password-99")
    assert "The two passwords differ" in differ.content.decode()
    no_terms = _sign_up(client, django_capture_on_commit_callbacks, accept_terms="")
    assert "This field is required" in no_terms.content.decode()
    assert _counts(instance_a.schema_name) == (0, 0, 0)


def test_a_bot_posting_the_form_50_times_is_rate_limited_and_leaves_at_most_one_pending_row(
    instance_a, acme_shop, settings, django_capture_on_commit_callbacks
):
    client = _visitor(instance_a)
    statuses = [_sign_up(client, django_capture_on_commit_callbacks).status_code for _ in range(50)]
    mails = settings.UPLINE_SIGNUP_MAILS_PER_ADDRESS
    # The first posts send a link (each replacing the last); then the address has had its
    # e-mails for the hour; past the per-network allowance every post is refused unread.
    assert statuses[:mails] == [302] * mails
    assert statuses[mails:] == [429] * (50 - mails)
    last = _sign_up(client, django_capture_on_commit_callbacks)
    assert "Too many sign-up attempts" in last.content.decode()
    assert last["Retry-After"] == "3600"
    assert len(mail.outbox) == settings.UPLINE_SIGNUP_MAILS_PER_ADDRESS
    assert _counts(instance_a.schema_name) == (0, 0, 1)
    # Another network is not blocked by this one.
    other = Client(HTTP_HOST=instance_a.host, REMOTE_ADDR="203.0.113.9")
    assert other.get("/shop/sign-up/").status_code == 200
    assert (
        _sign_up(other, django_capture_on_commit_callbacks, email="other@example.com").status_code
        == 302
    )


def test_a_filled_hidden_field_marks_a_bot_and_nothing_is_written(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    response = _sign_up(
        _visitor(instance_a), django_capture_on_commit_callbacks, website="http://spam.test"
    )
    assert "looks automated" in response.content.decode()
    assert _counts(instance_a.schema_name) == (0, 0, 0)


# --------------------------------------------------------------------------------------
# Checkout


def _cart_with_starter(client, shop) -> None:
    client.post(
        f"/shop/cart/add/{shop.starter}/",
        {"price": shop.starter_monthly, "addons": [shop.backups]},
    )


def test_visitors_at_checkout_are_offered_sign_up_or_sign_in_with_the_cart_kept(
    instance_a, acme_shop, cards_ready
):
    client = _visitor(instance_a)
    _cart_with_starter(client, acme_shop)
    html = client.get("/shop/checkout/").content.decode()
    assert "Create an account" in html and "/accounts/login/?next=/shop/checkout/" in html
    login = client.post(
        "/accounts/login/?next=/shop/checkout/",
        {"username": instance_a.customer, "password": PASSWORD},
    )
    assert login.status_code == 302 and login.url == "/shop/checkout/"
    assert "Starter hosting" in client.get("/shop/checkout/").content.decode()


def test_a_new_customer_orders_from_the_cart_and_lands_on_the_card_pay_page_with_the_link_referer(
    instance_a, acme_shop, cards_ready, django_capture_on_commit_callbacks
):
    with schema_context(instance_a.schema_name):
        referer_create(code="partnerx", name="Partner X")
    client = _visitor(instance_a)
    client.get("/?ref=partnerx")
    _cart_with_starter(client, acme_shop)
    _sign_up(client, django_capture_on_commit_callbacks)
    confirmed = client.post(_confirm_link())
    assert confirmed.url == "/shop/checkout/"
    page = client.get("/shop/checkout/").content.decode()
    assert "Place order and pay" in page and "Invoice (bank transfer)" not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/shop/checkout/", {"payment": "card"})
    with schema_context(instance_a.schema_name):
        order = Order.objects.get(customer__email="new.buyer@example.com")
        invoice = Invoice.objects.get(customer=order.customer)
        assert order.referer.code == "partnerx" and order.referer_source == "link"
        assert order.items.count() == 2  # the plan and its add-on
        assert invoice.status == Invoice.Status.ISSUED
    assert response.status_code == 302
    assert response.url == f"/portal/cards/invoices/{invoice.pk}/pay/"
    assert "Your cart is empty" in client.get("/shop/cart/").content.decode()


def test_paying_by_invoice_is_offered_only_where_the_instance_allows_it(
    instance_a, acme_shop, cards_ready
):
    client = client_for(instance_a, instance_a.customer)
    with schema_context(instance_a.schema_name):
        Customer.objects.create(
            name="Acme Customer",
            email=instance_a.customer,
            country="FR",
            user=User.objects.get(email=instance_a.customer),
        )
    _cart_with_starter(client, acme_shop)
    refused = client.post("/shop/checkout/", {"payment": "invoice", "accept_terms": "on"})
    assert "Select a valid choice" in refused.content.decode()
    with schema_context(instance_a.schema_name):
        StorefrontSettings.objects.create(allow_invoice_payment=True)
        assert Order.objects.count() == 0
    response = client.post("/shop/checkout/", {"payment": "invoice", "accept_terms": "on"})
    with schema_context(instance_a.schema_name):
        invoice = Invoice.objects.get(customer__email=instance_a.customer)
    assert response.url == f"/portal/billing/invoices/{invoice.pk}/"


def test_an_existing_customer_accepts_the_terms_in_force_at_checkout_and_it_is_kept(
    instance_a, acme_shop, cards_ready
):
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.create(
            name="Acme Customer",
            email=instance_a.customer,
            country="FR",
            user=User.objects.get(email=instance_a.customer),
        )
        TermsAcceptance.objects.create(customer=customer, version="1", accepted_at=timezone.now())
        StorefrontSettings.objects.create(terms_version="2")
    client = client_for(instance_a, instance_a.customer)
    _cart_with_starter(client, acme_shop)
    assert (
        "I accept the terms of service (version 2)"
        in client.get("/shop/checkout/").content.decode()
    )
    refused = client.post("/shop/checkout/", {"payment": "card"})
    assert "This field is required" in refused.content.decode()
    with schema_context(instance_a.schema_name):
        assert Order.objects.count() == 0
    client.post("/shop/checkout/", {"payment": "card", "accept_terms": "on"})
    with schema_context(instance_a.schema_name):
        versions = list(
            TermsAcceptance.objects.filter(customer=customer).values_list("version", flat=True)
        )
        assert versions == ["2", "1"]
        assert Order.objects.filter(customer=customer).count() == 1


def test_staff_cannot_order_from_the_shop(instance_a, acme_shop, cards_ready):
    client = client_for(instance_a, instance_a.owner)
    _cart_with_starter(client, acme_shop)
    assert "Staff accounts cannot order" in client.get("/shop/checkout/").content.decode()
    assert client.post("/shop/checkout/", {"payment": "card"}).status_code == 403


# --------------------------------------------------------------------------------------
# The operator's shop sells reseller plans


def test_the_operator_shop_asks_a_free_instance_name_for_a_reseller_plan(operator, settings):
    settings.UPLINE_STRIPE_SECRET_KEY = "sk_test_storefront"
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = "pk_test_storefront"
    with schema_context("public"):
        shop = build_catalog(reseller_plan=True)
        buyer = User.objects.get(email=operator.customer)
        Customer.objects.create(name="Buyer", email=operator.customer, country="FR", user=buyer)
    client = client_for(operator, operator.customer)
    assert "Reseller S" in Client(HTTP_HOST=operator.host).get("/").content.decode()
    client.post(f"/shop/cart/add/{shop.reseller}/", {"price": shop.reseller_monthly})
    page = client.get("/shop/checkout/").content.decode()
    assert "Name of your instance (Reseller S)" in page
    taken = client.post(
        "/shop/checkout/", {"payment": "card", "instance_0": "acme", "accept_terms": "on"}
    )
    assert "is taken" in taken.content.decode()
    with schema_context("public"):
        assert Order.objects.filter(customer__email=operator.customer).count() == 0
    placed = client.post(
        "/shop/checkout/", {"payment": "card", "instance_0": "newhost", "accept_terms": "on"}
    )
    assert placed.status_code == 302 and "/portal/cards/invoices/" in placed.url
    with schema_context("public"):
        service = Order.objects.get(customer__email=operator.customer).items.get()
        assert service.label == "newhost"


# --------------------------------------------------------------------------------------
# Isolation


def test_one_instance_shop_never_shows_or_sells_another_instance_catalog(
    instance_a, instance_b, acme_shop
):
    html = _visitor(instance_b).get("/").content.decode()
    assert "Starter hosting" not in html and "Nothing for sale yet" in html
    client = _visitor(instance_b)
    client.post(f"/shop/cart/add/{acme_shop.starter}/", {"price": acme_shop.starter_monthly})
    assert "Your cart is empty" in client.get("/shop/cart/").content.decode()


def test_a_sign_up_link_of_one_instance_means_nothing_on_another(
    instance_a, instance_b, acme_shop, django_capture_on_commit_callbacks
):
    _sign_up(_visitor(instance_a), django_capture_on_commit_callbacks)
    link = _confirm_link()
    assert _visitor(instance_b).post(link).status_code == 400
    assert _counts(instance_b.schema_name) == (0, 0, 0)
    assert _counts(instance_a.schema_name) == (0, 0, 1)


def test_a_cart_in_one_instance_session_is_not_seen_on_another_instance(
    instance_a, instance_b, acme_shop
):
    client = _visitor(instance_a)
    _cart_with_starter(client, acme_shop)
    session_cookie = client.cookies["sessionid"].value
    other = Client(HTTP_HOST=instance_b.host)
    other.cookies["sessionid"] = session_cookie
    assert "Your cart is empty" in other.get("/shop/cart/").content.decode()


def test_a_customer_of_one_instance_cannot_check_out_on_another(
    instance_a, instance_b, acme_shop, cards_ready
):
    client = client_for(instance_a, instance_a.customer)
    session_cookie = client.cookies["sessionid"].value
    other = Client(HTTP_HOST=instance_b.host)
    other.cookies["sessionid"] = session_cookie
    response = other.post("/shop/checkout/", {"payment": "card"})
    assert response.status_code == 403  # anonymous there: nothing to order for
    with schema_context(instance_b.schema_name):
        assert Order.objects.count() == 0


def test_the_logo_is_served_from_the_instance_itself_only(instance_a, instance_b):
    from django.core.files.base import ContentFile

    from tenant_apps.instance.selectors import issuer_identity_get

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    with schema_context(instance_a.schema_name):
        identity = issuer_identity_get()
        identity.logo.save("logo.png", ContentFile(png))
    response = _visitor(instance_a).get("/shop/logo/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == png
    assert _visitor(instance_b).get("/shop/logo/").status_code == 404


# --------------------------------------------------------------------------------------
# Staff: settings and the first-steps checklist


def test_owner_changes_the_shop_settings_and_support_cannot(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(
        "/staff/storefront/",
        {"terms_version": "3", "terms_text": "Terms.", "allow_invoice_payment": "on"},
    )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        row = StorefrontSettings.objects.get()
        assert (row.terms_version, row.allow_invoice_payment) == ("3", True)
        assert AuditEvent.objects.filter(action="storefront.settings_changed").exists()
    support = client_for(instance_a, instance_a.support)
    assert support.get("/staff/storefront/").status_code == 200
    assert support.post("/staff/storefront/", {"terms_version": "4"}).status_code == 403
    assert _visitor(instance_a).get("/staff/storefront/").status_code == 302


def test_the_dashboard_lists_first_steps_until_they_are_done(instance_a, acme_shop):
    html = client_for(instance_a, instance_a.owner).get("/staff/").content.decode()
    assert "First steps" in html
    assert html.count('data-step-done="true"') == 3  # identity, tax rate, product
    assert "Stripe connection" in html


def test_expired_sign_ups_are_purged_in_each_instance_and_live_ones_kept(instance_a, instance_b):
    from tenant_apps.storefront.tasks import signups_purge

    def pending(email: str, hours: int) -> None:
        PendingSignup.objects.create(
            email=email,
            token_hash=email,
            password_hash="!",
            full_name="X",
            terms_version="1",
            expires_at=timezone.now() + timedelta(hours=hours),
        )

    with schema_context(instance_a.schema_name):
        pending("old@example.com", -1)
        pending("live@example.com", 5)
    with schema_context(instance_b.schema_name):
        pending("old@example.com", -1)
    assert signups_purge.apply(kwargs={"schema_name": instance_a.schema_name}).get() == 1
    with schema_context(instance_a.schema_name):
        assert list(PendingSignup.objects.values_list("email", flat=True)) == ["live@example.com"]
    with schema_context(instance_b.schema_name):
        assert PendingSignup.objects.count() == 1  # another instance's run only


# --------------------------------------------------------------------------------------
# Sections (groups) of the catalog


def test_the_catalog_lists_plans_under_their_sections_and_the_rest_after(instance_a, acme_shop):
    from tenant_apps.catalog.models import Price, Product, TaxClass

    with schema_context(instance_a.schema_name):
        other = Product.objects.create(
            code="shop-vps", name="VPS one", tax_class=TaxClass.objects.get(code="standard")
        )
        Price.objects.create(product=other, currency="EUR", cycle="monthly", amount=30)
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(
        "/staff/storefront/sections/",
        {"name": "Servers", "position": 1, "plans": [other.pk]},
    )
    assert response.status_code == 302
    html = _visitor(instance_a).get("/").content.decode()
    assert html.index("Servers") < html.index("VPS one") < html.index("Other plans")
    assert html.index("Other plans") < html.index("Starter hosting")


def test_sections_are_changed_by_managers_only_and_removing_one_keeps_its_plans_on_sale(
    instance_a, acme_shop
):
    from tenant_apps.storefront.models import ShopGroup

    owner = client_for(instance_a, instance_a.owner)
    owner.post(
        "/staff/storefront/sections/",
        {"name": "Hosting", "position": 0, "plans": [acme_shop.starter]},
    )
    with schema_context(instance_a.schema_name):
        group = ShopGroup.objects.get()
        assert AuditEvent.objects.filter(action="shop_group.saved").exists()
    support = client_for(instance_a, instance_a.support)
    assert support.get(f"/staff/storefront/sections/{group.pk}/").status_code == 200
    assert (
        support.post(f"/staff/storefront/sections/{group.pk}/", {"delete": "1"}).status_code == 403
    )
    assert owner.post(f"/staff/storefront/sections/{group.pk}/", {"delete": "1"}).status_code == 302
    with schema_context(instance_a.schema_name):
        assert not ShopGroup.objects.exists()
    assert "Starter hosting" in _visitor(instance_a).get("/").content.decode()
    # A section that does not exist is a plain 404.
    assert (
        client_for(instance_a, instance_a.owner)
        .get("/staff/storefront/sections/999999/")
        .status_code
        == 404
    )


def test_a_section_of_one_instance_is_unknown_on_another(instance_a, instance_b, acme_shop):
    from tenant_apps.storefront.models import ShopGroup

    with schema_context(instance_a.schema_name):
        group = ShopGroup.objects.create(name="Acme only")
    assert (
        client_for(instance_b, instance_b.owner)
        .get(f"/staff/storefront/sections/{group.pk}/")
        .status_code
        == 404
    )
    assert "Acme only" not in _visitor(instance_b).get("/").content.decode()


def test_a_sign_up_through_a_partner_link_is_credited_to_that_partner_once_confirmed(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    from tenant_apps.referrals.models import SignUp

    with schema_context(instance_a.schema_name):
        partner = referer_create(code="partnerx", name="Partner X")
    client = _visitor(instance_a)
    client.get("/?ref=partnerx")
    _sign_up(client, django_capture_on_commit_callbacks)
    with schema_context(instance_a.schema_name):
        assert not SignUp.objects.exists()  # nobody signed up yet: the link is unconfirmed
    client.post(_confirm_link())
    with schema_context(instance_a.schema_name):
        [signup] = SignUp.objects.select_related("customer")
        assert signup.referer_id == partner.pk
        assert signup.customer.email == "new.buyer@example.com"


def test_a_sign_up_without_a_partner_link_is_credited_to_nobody(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    from tenant_apps.referrals.models import SignUp

    with schema_context(instance_a.schema_name):
        referer_create(code="partnerx", name="Partner X")
    client = _visitor(instance_a)
    _sign_up(client, django_capture_on_commit_callbacks)
    client.post(_confirm_link())
    with schema_context(instance_a.schema_name):
        assert Customer.objects.filter(email="new.buyer@example.com").exists()
        assert not SignUp.objects.exists()


def test_the_partner_is_credited_even_when_the_link_is_confirmed_in_another_browser(
    instance_a, acme_shop, django_capture_on_commit_callbacks
):
    from tenant_apps.referrals.models import SignUp

    with schema_context(instance_a.schema_name):
        partner = referer_create(code="partnerx", name="Partner X")
    visitor = _visitor(instance_a)
    visitor.get("/?ref=partnerx")
    _sign_up(visitor, django_capture_on_commit_callbacks)
    _visitor(instance_a).post(_confirm_link())  # the phone's mail app: no ?ref= cookie
    with schema_context(instance_a.schema_name):
        [signup] = SignUp.objects.all()
        assert (signup.referer_id, signup.source) == (partner.pk, "link")
