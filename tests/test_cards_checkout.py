"""Checkout by card (issue 11): a plan ordered in the customer portal leads straight to the
card page of its invoice when the instance takes cards, and the order page offers "Pay now
by card" while it is unpaid; paying (localstripe) starts the service. Without cards the
order page keeps the bank-transfer way. Orders and cards never import each other: orders
asks billing's `online_payment_url` port, which card payments answer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.billing.models import Invoice
from tenant_apps.cards import services as cards
from tenant_apps.cards.models import CardConnection, CardPayment
from tenant_apps.catalog.models import Price
from tenant_apps.clients.models import Customer
from tenant_apps.orders.models import Order, Service
from tests import stripe_fixtures
from tests.conftest import client_for
from tests.stripe_fixtures import browser_confirm_setup
from tests.test_cards import VISA
from tests.test_orders_screens import build_shop

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect


def _order(portal, info, shop) -> tuple:
    """Alice orders Basic monthly in the portal: (the response, her order, its invoice)."""
    with schema_context(info.schema_name):
        price = Price.objects.get(product_id=shop.basic, cycle="monthly")
    response = portal.post(
        "/portal/services/order/",
        {"price": price.pk, "label": "alice.example", "referral_code": ""},
    )
    with schema_context(info.schema_name):
        order = Order.objects.get(customer_id=shop.customer)
        invoice = Invoice.objects.get(customer_id=shop.customer, kind=Invoice.Kind.INVOICE)
    return response, order, invoice


@pytest.fixture
def acme_takes_cards(instance_a, localstripe, fake_connect):
    shop = build_shop(instance_a)
    with schema_context(instance_a.schema_name):
        cards.card_connection_connect(
            return_url="https://acme.test/return", refresh_url="https://acme.test/refresh"
        )
    return shop


def test_a_portal_order_goes_to_the_card_page_and_paying_starts_the_service(
    instance_a, acme_takes_cards, localstripe, django_capture_on_commit_callbacks
):
    portal = client_for(instance_a, instance_a.customer)
    response, order, invoice = _order(portal, instance_a, acme_takes_cards)
    assert response.status_code == 302
    assert response["Location"] == f"/portal/cards/invoices/{invoice.pk}/pay/"
    with schema_context(instance_a.schema_name):
        assert Service.objects.get(order_item__order=order).status == Service.Status.PENDING

    pay = portal.get(response["Location"])
    html = pay.content.decode()
    assert pay.status_code == 200 and f"Order #{order.pk} is placed." in html
    order_page = portal.get(f"/portal/services/orders/{order.pk}/").content.decode()
    assert "Pay now by card" in order_page
    assert f'href="/portal/cards/invoices/{invoice.pk}/pay/"' in order_page

    setup_secret = html.split('data-setup-secret="')[1].split('"')[0]
    method = browser_confirm_setup(localstripe, setup_secret, VISA)
    with schema_context(instance_a.schema_name):
        card_payment = CardPayment.objects.get(invoice_id=invoice.pk)
    with django_capture_on_commit_callbacks(execute=True):
        answer = portal.post(
            f"/portal/cards/payments/{card_payment.pk}/pay/", {"payment_method": method}
        ).json()
    assert answer["status"] == "succeeded"

    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        assert Service.objects.get(order_item__order=order).status == Service.Status.ACTIVE
    paid_page = portal.get(f"/portal/services/orders/{order.pk}/").content.decode()
    assert "Pay now by card" not in paid_page and "is paid" in paid_page


def test_without_stripe_keys_the_order_page_keeps_the_bank_transfer_way(instance_a, settings):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = ""
    shop = build_shop(instance_a)
    portal = client_for(instance_a, instance_a.customer)
    response, order, invoice = _order(portal, instance_a, shop)
    assert response["Location"] == f"/portal/services/orders/{order.pk}/"
    page = portal.get(response["Location"]).content.decode()
    assert "Pay now by card" not in page and "/portal/cards/invoices/" not in page
    assert f"We sent you invoice <strong>{invoice.number}</strong>" in page
    assert f'href="/portal/billing/invoices/{invoice.pk}/"' in page


def test_a_connected_account_stripe_has_not_enabled_yet_offers_no_card_button(
    instance_a, acme_takes_cards
):
    with schema_context(instance_a.schema_name):
        CardConnection.objects.update(charges_enabled=False)
    portal = client_for(instance_a, instance_a.customer)
    response, order, _ = _order(portal, instance_a, acme_takes_cards)
    assert response["Location"] == f"/portal/services/orders/{order.pk}/"
    assert "Pay now by card" not in portal.get(response["Location"]).content.decode()


def test_another_customers_order_and_its_card_page_are_unreachable(
    instance_a, instance_b, acme_takes_cards
):
    portal = client_for(instance_a, instance_a.customer)
    _, order, invoice = _order(portal, instance_a, acme_takes_cards)
    with schema_context(instance_a.schema_name):
        login = get_user_model().objects.create_user(
            email="olga@acme.test", password="x-pass-123456", role="customer"
        )
        Customer.objects.create(
            name="Olga Other", email="olga@acme.test", country="FR", currency="EUR", user=login
        )
    other = client_for(instance_a, "olga@acme.test")
    assert other.get(f"/portal/services/orders/{order.pk}/").status_code == 404
    assert other.get(f"/portal/cards/invoices/{invoice.pk}/pay/").status_code == 404
    # Another instance's customer, on the same ids.
    build_shop(instance_b)
    bluebird = client_for(instance_b, instance_b.customer)
    assert bluebird.get(f"/portal/services/orders/{order.pk}/").status_code == 404
    assert bluebird.get(f"/portal/cards/invoices/{invoice.pk}/pay/").status_code == 404
    with schema_context(instance_a.schema_name):
        assert not CardPayment.objects.exists()
