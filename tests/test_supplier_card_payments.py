"""A reseller pays the operator's bills by card from its staff area (issue 11): the payment
is the operator's — in the public schema, on the platform's Stripe account — and paying an
overdue plan bill resumes a reseller suspended for it. (Here the test's transaction defers
what runs on commit until the request has answered; the browser test sees the real order:
resumed before the paying request answers, "active again" on the result page.) Only the
reseller's own bills, payments and cards are reachable; it may keep a card and have its
renewal bills charged automatically. Stripe is the session's localstripe."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.tenancy import routing
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.supplier_cards import SupplierCardPayments
from tenant_apps.billing.models import Invoice, Payment
from tenant_apps.cards.models import CardPayment, CardSettings, SavedCard
from tenant_apps.dashboard.ports import SupplierBillNotFound, supplier_cards
from tenant_apps.instance.selectors import audit_event_list
from tests import stripe_fixtures
from tests.conftest import client_for
from tests.stripe_fixtures import browser_authenticate, browser_confirm_setup
from tests.supplier_fixtures import owe_and_hold

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe

VISA = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002500003155"
BANNER = "This instance is suspended for non-payment"


@pytest.fixture
def held(instance_a, localstripe, django_capture_on_commit_callbacks):
    """Acme owes its first plan bill to the operator and billing suspended it."""
    with django_capture_on_commit_callbacks():  # the bill's PDF and mail are not needed
        state = owe_and_hold("acme")
    routing.invalidate()
    return state


def _status(slug: str = "acme") -> str:
    return Reseller.objects.get(slug=slug).status


def _checkout(browser, invoice_id: int):
    page = browser.get(f"/staff/supplier-bills/{invoice_id}/pay/")
    assert page.status_code == 200, page.content
    return page, page.context["checkout"]


def _charge(browser, checkout, method: str, capture, **extra):
    with capture(execute=True):
        return browser.post(
            f"/staff/supplier-bills/payments/{checkout.card_payment_id}/pay/",
            {"payment_method": method, **extra},
        )


def test_a_held_reseller_pays_its_overdue_bill_by_card_and_its_instance_answers_again(
    held, instance_a, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    bills = owner.get("/staff/supplier-bills/").content.decode()
    assert BANNER in bills and f"/staff/supplier-bills/{held['invoice']}/pay/" in bills

    page, checkout = _checkout(owner, held["invoice"])
    html = page.content.decode()
    # The platform's own account: no Stripe-Account for Stripe.js.
    assert 'data-stripe-account=""' in html and checkout.account_id is None
    assert "120.00" in html  # the plan's price with 20 % VAT, due now
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, VISA)

    answer = _charge(owner, checkout, method, django_capture_on_commit_callbacks).json()

    assert answer["status"] == "succeeded"
    assert (
        _status() == Reseller.Status.ACTIVE
        and not Reseller.objects.get(slug="acme").held_by_billing
    )
    assert routing.resolve(instance_a.host).is_active  # the route was refreshed at once
    with schema_context("public"):
        invoice = Invoice.objects.get(pk=held["invoice"])
        assert invoice.status == Invoice.Status.PAID
        payment = Payment.objects.get(customer_id=held["customer"])
        assert payment.method == "card" and payment.reference.startswith("pi_")
        # The operator's books hold the card payment; the reseller's own hold none.
        assert CardPayment.objects.get(invoice=invoice).payment_id == payment.pk
        # The operator's trail names the reseller's staff member who paid.
        started = audit_event_list(action="cardpayment.started").get()
        assert started.actor_label == f"{instance_a.owner} (Acme)" and started.actor is None
    with schema_context(instance_a.schema_name):
        assert not CardPayment.objects.exists()

    result = owner.get(answer["result_url"]).content.decode()
    assert "was received" in result and "is paid" in result
    assert BANNER not in result
    # A write refused a minute ago goes through now.
    invited = owner.post("/staff/team/", {"email": "newhire@acme.test", "role": "support"})
    assert invited.status_code == 302


def test_a_3d_secure_payment_resumes_the_instance_when_the_browser_comes_back(
    held, instance_a, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    _, checkout = _checkout(owner, held["invoice"])
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, THREE_D_SECURE)
    answer = _charge(owner, checkout, method, django_capture_on_commit_callbacks).json()
    assert answer["status"] == "requires_action" and answer["client_secret"]
    assert _status() == Reseller.Status.SUSPENDED

    browser_authenticate(localstripe, answer["client_secret"], success=True)
    with django_capture_on_commit_callbacks(execute=True):
        result = owner.get(answer["result_url"])
    assert "was received" in result.content.decode()
    assert _status() == Reseller.Status.ACTIVE
    assert BANNER not in owner.get("/staff/").content.decode()


def test_a_declined_card_leaves_the_instance_held_and_says_why(
    held, instance_a, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    _, checkout = _checkout(owner, held["invoice"])
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, DECLINED_ON_CHARGE)
    answer = _charge(owner, checkout, method, django_capture_on_commit_callbacks).json()
    assert answer["status"] == "failed" and answer["message"]
    assert _status() == Reseller.Status.SUSPENDED
    result = owner.get(answer["result_url"]).content.decode()
    assert "did not go through" in result and BANNER in result


def test_another_resellers_bill_is_a_404_and_cannot_be_paid(
    held, instance_a, instance_b, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    _, checkout = _checkout(owner, held["invoice"])
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, VISA)
    other = client_for(instance_b, instance_b.owner)

    assert other.get(f"/staff/supplier-bills/{held['invoice']}/").status_code == 404
    assert other.get(f"/staff/supplier-bills/{held['invoice']}/pay/").status_code == 404
    refused = _charge(other, checkout, method, django_capture_on_commit_callbacks)
    assert refused.status_code == 404 and refused.json()["status"] == "error"
    assert (
        other.get(f"/staff/supplier-bills/payments/{checkout.card_payment_id}/").status_code == 404
    )
    assert (
        other.get(f"/staff/supplier-bills/payments/{checkout.card_payment_id}/status/").status_code
        == 404
    )
    with schema_context("public"):
        assert Invoice.objects.get(pk=held["invoice"]).status == Invoice.Status.ISSUED
        assert CardPayment.objects.get(pk=checkout.card_payment_id).attempts == 0
    # The port itself refuses, whatever a screen does.
    with pytest.raises(SupplierBillNotFound):
        SupplierCardPayments().checkout("r_bluebird", invoice_id=held["invoice"], actor="x")
    with pytest.raises(SupplierBillNotFound):
        SupplierCardPayments().checkout("public", invoice_id=held["invoice"], actor="x")


def test_support_staff_see_the_bills_but_only_billing_staff_pay(held, instance_a):
    support = client_for(instance_a, instance_a.support)
    bills = support.get("/staff/supplier-bills/")
    assert bills.status_code == 200 and "Pay by card" not in bills.content.decode()
    assert support.get(f"/staff/supplier-bills/{held['invoice']}/pay/").status_code == 403
    assert support.get("/staff/supplier-bills/cards/").status_code == 403
    # A customer of the reseller never reaches them (their instance's suspension page).
    assert client_for(instance_a, instance_a.customer).get(
        f"/staff/supplier-bills/{held['invoice']}/pay/"
    ).status_code in (403, 503)


def test_a_paid_bill_offers_no_card_form(
    held, instance_a, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    _, checkout = _checkout(owner, held["invoice"])
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, VISA)
    _charge(owner, checkout, method, django_capture_on_commit_callbacks)

    again = owner.get(f"/staff/supplier-bills/{held['invoice']}/pay/")
    assert again.status_code == 200 and "Nothing is due" in again.content.decode()
    assert "data-card-pay" not in again.content.decode()
    assert (
        "Pay by card" not in owner.get(f"/staff/supplier-bills/{held['invoice']}/").content.decode()
    )


def test_a_card_kept_while_paying_is_listed_and_charges_renewals_once_switched_on(
    held, instance_a, instance_b, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    _, checkout = _checkout(owner, held["invoice"])
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, VISA)
    _charge(owner, checkout, method, django_capture_on_commit_callbacks, save_card="1")

    with schema_context("public"):
        card = SavedCard.objects.get(customer_id=held["customer"])
    assert card.is_default and card.last4 == "4242"
    page = owner.get("/staff/supplier-bills/cards/").content.decode()
    assert "•••• 4242" in page

    switched = owner.post("/staff/supplier-bills/cards/", {"auto_charge": "1"})
    assert switched.status_code == 302
    with schema_context("public"):
        assert CardSettings.objects.get(customer_id=held["customer"]).auto_charge_renewals
        event = audit_event_list(action="cardsettings.updated").get()
    assert event.actor_label == f"{instance_a.owner} (Acme)"

    # Another reseller can neither change nor remove it, and sees none of it.
    other = client_for(instance_b, instance_b.owner)
    assert other.post(f"/staff/supplier-bills/cards/{card.pk}/remove/").status_code == 404
    assert other.post(f"/staff/supplier-bills/cards/{card.pk}/default/").status_code == 404
    assert "4242" not in other.get("/staff/supplier-bills/cards/").content.decode()
    with schema_context("public"):
        assert SavedCard.objects.filter(pk=card.pk).exists()

    owner.post("/staff/supplier-bills/cards/", {})
    with schema_context("public"):
        assert not CardSettings.objects.get(customer_id=held["customer"]).auto_charge_renewals


def test_removing_the_saved_card_detaches_it_at_stripe(
    held, instance_a, localstripe, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    _, checkout = _checkout(owner, held["invoice"])
    method = browser_confirm_setup(localstripe, checkout.setup_client_secret, VISA)
    _charge(owner, checkout, method, django_capture_on_commit_callbacks, save_card="1")
    with schema_context("public"):
        card = SavedCard.objects.get(customer_id=held["customer"])

    removed = owner.post(f"/staff/supplier-bills/cards/{card.pk}/remove/", follow=True)
    assert "was removed" in removed.content.decode()
    with schema_context("public"):
        assert not SavedCard.objects.filter(pk=card.pk).exists()


def test_without_the_platform_plug_paying_by_card_says_it_is_not_available(held, instance_a):
    from tenant_apps.dashboard.ports import NoSupplierCards

    owner = client_for(instance_a, instance_a.owner)
    with supplier_cards.plugged(NoSupplierCards()):
        page = owner.get(f"/staff/supplier-bills/{held['invoice']}/pay/")
    assert page.status_code == 409 and "not available" in page.content.decode()


def test_without_stripe_keys_the_pay_page_says_cards_are_not_set_up(held, instance_a, settings):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get(f"/staff/supplier-bills/{held['invoice']}/pay/")
    assert page.status_code == 409 and "data-card-pay" not in page.content.decode()


def test_the_operators_own_staff_area_has_no_supplier_to_pay(operator):
    owner = client_for(operator, operator.owner)
    assert owner.get("/staff/supplier-bills/cards/").status_code == 404
    assert owner.get("/staff/supplier-bills/1/pay/").status_code == 404
