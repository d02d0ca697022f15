"""Saved cards (issue 11): the customer's "Payment methods" page (default, remove — detached
in Stripe through localstripe — and the automatic-renewal choice), the staff customer
page's read-only view of them, and who may reach which card."""

from __future__ import annotations

import re

import stripe
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.cards import gateway, selectors, services
from tenant_apps.cards.models import CardConnection, CardSettings, SavedCard, StripeCustomer
from tenant_apps.instance.models import AuditEvent
from tests import stripe_fixtures, test_cards
from tests.billing_fixtures import make_customer, setup_issuer
from tests.conftest import client_for
from tests.stripe_fixtures import SECRET_KEY, browser_confirm_setup
from tests.test_cards import VISA, _issued

# ACME with a connected account and a customer who signs in (tests/test_cards.py).
acme = test_cards.acme

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect

VISA_DEBIT = "4000056655665556"  # localstripe calls every card a Visa
METHODS = "/portal/cards/methods/"


def save_card(base_url: str, customer, number: str = VISA) -> SavedCard:
    """A card the customer saved: collected by (localstripe's) Stripe.js on a SetupIntent
    for their Stripe customer, which attaches it there, then remembered here."""
    connection_row = CardConnection.objects.exclude(account_id="").first()
    gw = gateway.instance_gateway(connection_row.account_id if connection_row else None)
    stripe_customer = services.stripe_customer_ensure(customer=customer, gw=gw)
    setup = gw.setup_intent_create(stripe_customer=stripe_customer)
    method_id = browser_confirm_setup(base_url, setup["client_secret"], number)
    # Stripe attaches the card to the SetupIntent's customer; localstripe does not.
    _stripe(base_url).v1.payment_methods.attach(method_id, params={"customer": stripe_customer})
    return services.saved_card_record(
        customer=customer, payment_method=gw.payment_method_retrieve(method_id)
    )


def _stripe(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": base_url})


def _stripe_method(base_url: str, method_id: str):
    return _stripe(base_url).v1.payment_methods.retrieve(method_id)


def _card_row(customer, **fields) -> SavedCard:
    defaults = {"brand": "visa", "last4": "4242", "exp_month": 3, "exp_year": 2031}
    defaults.update(fields)
    return SavedCard.objects.create(customer=customer, **defaults)


# --------------------------------------------------------------------------------------
# The customer's page


def test_the_payment_methods_page_lists_saved_cards_and_which_is_the_default(acme):
    save_card(acme.base, acme.customer, VISA)
    save_card(acme.base, acme.customer, VISA_DEBIT)
    browser = client_for(acme.info, acme.info.customer)
    page = browser.get(METHODS)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Visa •••• 4242" in html and "Visa •••• 5556" in html and "12/2030" in html
    # The first card saved is the default; the other offers to become it.
    assert html.count(">Default</span>") == 1 and html.count("Make default") == 1
    assert '<label for="id_auto_charge_renewals">' in html
    assert "applies to renewal invoices only" in html
    assert "No saved cards yet" not in html


def test_a_customer_without_saved_cards_sees_the_empty_state(instance_a):
    with schema_context(instance_a.schema_name):
        make_customer("Emma Empty", user=get_user_model().objects.get(email=instance_a.customer))
    page = client_for(instance_a, instance_a.customer).get(METHODS)
    html = page.content.decode()
    assert page.status_code == 200 and "No saved cards yet" in html
    assert "Remember this card for later payments" in html
    assert '<label for="id_auto_charge_renewals">' in html


def test_the_portal_navigation_profile_and_pay_page_link_to_payment_methods(acme):
    invoice = _issued(acme.customer)
    browser = client_for(acme.info, acme.info.customer)
    for path in ("/portal/", "/portal/profile/", f"/portal/cards/invoices/{invoice.pk}/pay/"):
        assert f'href="{METHODS}"' in browser.get(path).content.decode(), path


def test_making_another_card_the_default_moves_the_flag_and_is_audited(acme):
    first = save_card(acme.base, acme.customer, VISA)
    second = save_card(acme.base, acme.customer, VISA_DEBIT)
    browser = client_for(acme.info, acme.info.customer)
    page = browser.post(f"{METHODS}{second.pk}/default/", follow=True).content.decode()
    assert "Visa •••• 5556 12/2030 is now your default card." in page
    assert SavedCard.objects.get(is_default=True, customer=acme.customer).pk == second.pk
    assert not SavedCard.objects.get(pk=first.pk).is_default
    event = AuditEvent.objects.get(action="savedcard.default_set")
    assert event.customer_id == acme.customer.pk and event.detail["previous"].startswith("Visa")


def test_removing_a_card_detaches_it_in_stripe_and_the_default_passes_on(acme):
    first = save_card(acme.base, acme.customer, VISA)
    second = save_card(acme.base, acme.customer, VISA_DEBIT)
    stripe_id = StripeCustomer.objects.get(customer=acme.customer).stripe_id
    assert _stripe_method(acme.base, first.payment_method_id).customer == stripe_id
    browser = client_for(acme.info, acme.info.customer)
    page = browser.post(f"{METHODS}{first.pk}/remove/", follow=True).content.decode()
    assert "Visa •••• 4242 12/2030 was removed." in page
    assert _stripe_method(acme.base, first.payment_method_id).customer is None
    assert not SavedCard.objects.filter(pk=first.pk).exists()
    assert SavedCard.objects.get(pk=second.pk).is_default
    event = AuditEvent.objects.get(action="savedcard.removed")
    assert event.detail["payment_method"] == first.payment_method_id
    assert event.detail["was_default"] is True and event.customer_id == acme.customer.pk


def test_a_card_stripe_no_longer_knows_is_still_removed(acme):
    card = _card_row(acme.customer, payment_method_id="pm_unknownToStripe1")
    services.saved_card_remove(card=card)
    assert not SavedCard.objects.filter(pk=card.pk).exists()


def test_a_removal_stripe_cannot_take_keeps_the_card_and_says_so(instance_a, stripe_keys):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        CardConnection.objects.create(account_id="acct_unreachable", charges_enabled=True)
        customer = make_customer(
            "Rita Retry", user=get_user_model().objects.get(email=instance_a.customer)
        )
        card = _card_row(customer, payment_method_id="pm_keptWhenDown1")
    browser = client_for(instance_a, instance_a.customer)
    page = browser.post(f"{METHODS}{card.pk}/remove/", follow=True).content.decode()
    assert "The card was kept; try again." in page
    with schema_context(instance_a.schema_name):
        assert SavedCard.objects.filter(pk=card.pk).exists()
        assert not AuditEvent.objects.filter(action="savedcard.removed").exists()


def test_without_keys_the_page_works_and_removing_says_cards_are_not_set_up(instance_a, settings):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = ""
    with schema_context(instance_a.schema_name):
        customer = make_customer(
            "Nina Nokeys", user=get_user_model().objects.get(email=instance_a.customer)
        )
        card = _card_row(customer, payment_method_id="pm_noKeys1", is_default=True)
    browser = client_for(instance_a, instance_a.customer)
    page = browser.get(METHODS)
    assert page.status_code == 200 and "Card payments are not set up" in page.content.decode()
    after = browser.post(f"{METHODS}{card.pk}/remove/", follow=True).content.decode()
    assert "Card payments are not set up." in after
    with schema_context(instance_a.schema_name):
        assert SavedCard.objects.filter(pk=card.pk).exists()


def test_opting_in_to_automatic_renewal_payment_is_stored_and_audited(acme):
    save_card(acme.base, acme.customer, VISA)
    browser = client_for(acme.info, acme.info.customer)
    page = browser.post(METHODS, {"auto_charge_renewals": "on"}, follow=True).content.decode()
    assert "Renewal invoices will be charged to your default card." in page
    assert re.search(r'<input[^>]*name="auto_charge_renewals"[^>]*checked', page)
    assert CardSettings.objects.get(customer=acme.customer).auto_charge_renewals is True
    [event] = AuditEvent.objects.filter(action="cardsettings.updated")
    assert event.changes == {"auto_charge_renewals": [False, True]}
    # Unticking turns it off again; saving the same choice twice records nothing more.
    browser.post(METHODS, {})
    browser.post(METHODS, {})
    assert CardSettings.objects.get(customer=acme.customer).auto_charge_renewals is False
    assert AuditEvent.objects.filter(action="cardsettings.updated").count() == 2


# --------------------------------------------------------------------------------------
# Who reaches which card


def test_another_customers_cards_cannot_be_changed_or_removed(acme):
    card = save_card(acme.base, acme.customer, VISA)
    other_login = get_user_model().objects.create_user(
        email="other@acme.test", password="x-pass-123456", role="customer"
    )
    make_customer("Olga Other", user=other_login, email="other@acme.test")
    other = client_for(acme.info, "other@acme.test")
    assert other.post(f"{METHODS}{card.pk}/default/").status_code == 404
    assert other.post(f"{METHODS}{card.pk}/remove/").status_code == 404
    assert "Visa •••• 4242" not in other.get(METHODS).content.decode()
    assert SavedCard.objects.filter(pk=card.pk).exists()
    assert _stripe_method(acme.base, card.payment_method_id).customer is not None
    # The portal pages are for customers; staff get a 403.
    staff = client_for(acme.info, acme.info.owner)
    assert staff.get(METHODS).status_code == 403
    assert staff.post(f"{METHODS}{card.pk}/remove/").status_code == 403


def test_another_instance_cannot_reach_this_instances_cards(acme, instance_b):
    card = _card_row(acme.customer, payment_method_id="pm_acmeOnly1", is_default=True)
    with schema_context(instance_b.schema_name):
        make_customer("Bea Blue", user=get_user_model().objects.get(email=instance_b.customer))
    bluebird = client_for(instance_b, instance_b.customer)
    assert bluebird.post(f"{METHODS}{card.pk}/remove/").status_code == 404
    assert bluebird.post(f"{METHODS}{card.pk}/default/").status_code == 404
    assert "No saved cards yet" in bluebird.get(METHODS).content.decode()
    with schema_context(acme.info.schema_name):
        assert SavedCard.objects.filter(pk=card.pk, is_default=True).exists()


# --------------------------------------------------------------------------------------
# Staff: the customer page


def test_staff_see_a_customers_saved_cards_read_only_with_the_automatic_payment_flag(acme):
    save_card(acme.base, acme.customer, VISA)
    services.card_settings_update(customer=acme.customer, auto_charge_renewals=True)
    support = client_for(acme.info, acme.info.support)
    page = support.get(f"/staff/customers/{acme.customer.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    section = html.split('id="customer-cards-title"')[1].split("</section>")[0]
    assert "Visa •••• 4242" in section and "12/2030" in section and ">Default<" in section
    assert 'Automatic payment of renewal invoices: <span class="badge badge-success">On' in section
    assert "<form" not in section  # read-only: the customer changes them in the portal


def test_the_staff_customer_page_says_when_there_are_no_saved_cards(instance_a):
    with schema_context(instance_a.schema_name):
        customer = make_customer("Sam Nocard")
    page = client_for(instance_a, instance_a.owner).get(f"/staff/customers/{customer.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and "No saved cards yet." in html
    assert 'Automatic payment of renewal invoices: <span class="badge badge-neutral">Off' in html


def test_a_customer_who_never_chose_is_not_charged_automatically(instance_a):
    with schema_context(instance_a.schema_name):
        customer = make_customer("Dora Default")
        assert selectors.card_settings_for(customer).auto_charge_renewals is False
        assert not CardSettings.objects.filter(customer=customer).exists()
