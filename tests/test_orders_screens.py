"""Orders and services screens: staff order form, lists, details, actions; portal checkout.

Data is built inside instance A (acme, 100 GB of disk allocated) with `build_shop`; objects
are handed around by id because each instance's rows live in its own schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import factory
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Allocation
from tenant_apps.billing.models import Invoice, TaxRate
from tenant_apps.catalog.models import Price, Product, TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance.services import issuer_identity_set
from tenant_apps.orders import services
from tenant_apps.orders.models import Order, Service
from tenant_apps.referrals.models import Referer
from tests.conftest import client_for

# --------------------------------------------------------------------------------------
# Builders (shared with test_orders_api.py)


class ProductFactory(factory.django.DjangoModelFactory):
    """A plan with a monthly EUR price; `prices=[(cycle, amount), …]` to choose others."""

    class Meta:
        model = Product
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    kind = Product.Kind.PLAN
    tax_class = factory.LazyFunction(lambda: TaxClass.objects.get(code="standard"))
    resources = factory.LazyFunction(lambda: {"disk_gb": 10})

    @factory.post_generation
    def prices(self, create, extracted, **kwargs):
        for cycle, amount in extracted or [("monthly", "10.00")]:
            Price.objects.create(product=self, currency="EUR", cycle=cycle, amount=Decimal(amount))


@dataclass
class Shop:
    """Ids of one instance's catalog, customer and referer (use them in its schema)."""

    customer: int
    basic: int
    pro: int
    huge: int
    backups: int
    referer: int


def build_shop(info) -> Shop:
    """Issuer (FR), FR standard VAT 20 %, plans Basic (10 GB, €10/month or €100/year),
    Pro (20 GB, €20/month), Huge (110 GB, more than the 100 GB allocated), the Backups
    add-on (€2/month, offered with Basic and Pro), a customer linked to the instance's
    customer login, and the referer "partner1"."""
    with schema_context(info.schema_name):
        issuer_identity_set(legal_name=f"{info.slug.title()} SARL", country="FR")
        standard, _ = TaxClass.objects.get_or_create(code="standard", defaults={"name": "Standard"})
        TaxRate.objects.update_or_create(
            country="FR", tax_class=standard, defaults={"rate": Decimal("20")}
        )
        basic = ProductFactory(
            code="basic",
            name="Basic hosting",
            position=1,
            prices=[("monthly", "10.00"), ("annual", "100.00")],
        )
        pro = ProductFactory(
            code="pro",
            name="Pro hosting",
            position=2,
            resources={"disk_gb": 20},
            prices=[("monthly", "20.00")],
        )
        huge = ProductFactory(
            code="huge",
            name="Huge hosting",
            position=3,
            resources={"disk_gb": 110},
            prices=[("monthly", "50.00")],
        )
        backups = ProductFactory(
            code="backups",
            name="Backups",
            kind=Product.Kind.ADDON,
            resources={},
            prices=[("monthly", "2.00")],
        )
        basic.addons.add(backups)
        pro.addons.add(backups)
        user = get_user_model().objects.get(email=info.customer)
        customer = Customer.objects.create(
            name="Alice Martin", email=info.customer, country="FR", currency="EUR", user=user
        )
        referer = Referer.objects.create(code="partner1", name="Partner One")
        return Shop(customer.pk, basic.pk, pro.pk, huge.pk, backups.pk, referer.pk)


def disk_used(slug: str = "acme") -> int:
    with schema_context("public"):
        return Allocation.objects.get(reseller__slug=slug, resource_id="disk_gb").used


def place_order(info, shop: Shop, *, product=None, activate=True, accept=True, **item) -> int:
    """An order of `product` (Basic by default) for the shop's customer; returns its id."""
    with schema_context(info.schema_name):
        order = services.order_place(
            customer=Customer.objects.get(pk=shop.customer),
            items=[{"product": product or shop.basic, "cycle": "monthly", **item}],
        )
        if accept:
            services.order_accept(order=order, activate=activate)
        return order.pk


def service_of(info, order_id: int) -> Service:
    with schema_context(info.schema_name):
        return Service.objects.select_related("product").get(
            order_item__order_id=order_id, parent__isnull=True
        )


def counts(info) -> tuple[int, int, int]:
    with schema_context(info.schema_name):
        return Order.objects.count(), Service.objects.count(), Invoice.objects.count()


@pytest.fixture
def shop(instance_a) -> Shop:
    return build_shop(instance_a)


@pytest.fixture
def owner(instance_a):
    return client_for(instance_a, instance_a.owner)


def staff_order(shop: Shop, **changes) -> dict:
    data = {
        "customer": shop.customer,
        "product": shop.basic,
        "cycle": "monthly",
        "quantity": "1",
        "label": "example.com",
        "addons": [shop.backups],
        "referer": shop.referer,
        "activate": "on",
        "notes": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def page_text(response) -> str:
    return response.content.decode()


# --------------------------------------------------------------------------------------
# Staff order form


def test_staff_order_records_the_referer_as_a_relation_and_activates_the_services(
    owner, instance_a, shop
):
    response = owner.post("/staff/orders/new/", staff_order(shop))

    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        order = Order.objects.get()
        assert response["Location"] == f"/staff/orders/{order.pk}/"
        assert order.referer_id == shop.referer and order.referer.code == "partner1"
        assert order.referer_source == "staff" and order.source == "staff"
        assert order.status == "accepted" and order.created_by.email == instance_a.owner
        assert sorted(s.product.code for s in Service.objects.filter(status="active")) == [
            "backups",
            "basic",
        ]
        invoice = Invoice.objects.get()
        assert invoice.status == "issued" and invoice.total == Decimal("14.40")  # (10+2) + 20 %
    assert disk_used() == 10


def test_staff_order_detail_shows_items_referer_services_and_invoice_link(owner, instance_a, shop):
    owner.post("/staff/orders/new/", staff_order(shop))
    with schema_context(instance_a.schema_name):
        order = Order.objects.get()
        invoice = Invoice.objects.get()
        service = Service.objects.get(product_id=shop.basic)

    page = page_text(owner.get(f"/staff/orders/{order.pk}/"))

    assert "Basic hosting" in page and "example.com" in page and "Backups" in page
    assert "Partner One" in page and "Chosen by staff" in page
    assert "€10.00" in page and "€2.00" in page
    assert f'href="/staff/orders/services/{service.pk}/"' in page
    assert f'href="{reverse("billing:invoice_detail", kwargs={"pk": invoice.pk})}"' in page


def test_staff_order_beyond_the_allocation_shows_the_quota_message_and_writes_nothing(
    owner, instance_a, shop
):
    before = counts(instance_a)

    response = owner.post(
        "/staff/orders/new/", staff_order(shop, product=shop.huge, addons=None, referer=None)
    )

    assert response.status_code == 200
    assert "capacity allocated by your provider" in page_text(response)
    assert "Disk space: needs 110 GB, 100 left" in page_text(response)
    assert counts(instance_a) == before
    assert disk_used() == 0


def test_staff_order_for_a_cycle_without_price_is_a_field_error(owner, instance_a, shop):
    response = owner.post("/staff/orders/new/", staff_order(shop, product=shop.pro, cycle="annual"))

    assert response.status_code == 200
    assert "has no annually price in EUR" in page_text(response)
    assert counts(instance_a) == (0, 0, 0)


def test_staff_order_with_an_add_on_of_another_plan_is_refused(owner, instance_a, shop):
    with schema_context(instance_a.schema_name):
        lonely = ProductFactory(code="lonely", kind=Product.Kind.ADDON, resources={})
    response = owner.post("/staff/orders/new/", staff_order(shop, addons=[lonely.pk]))

    assert response.status_code == 200
    assert "Not available with Basic hosting" in page_text(response)
    assert counts(instance_a) == (0, 0, 0)


def test_staff_order_without_activation_leaves_services_pending_until_paid(owner, instance_a, shop):
    owner.post("/staff/orders/new/", staff_order(shop, activate=None, addons=None))

    with schema_context(instance_a.schema_name):
        assert Service.objects.get().status == "pending"
    assert disk_used() == 0


# --------------------------------------------------------------------------------------
# Lists


def test_order_list_shows_customer_items_and_referer_and_filters_by_referer(
    owner, instance_a, shop
):
    owner.post("/staff/orders/new/", staff_order(shop))
    owner.post(
        "/staff/orders/new/", staff_order(shop, product=shop.pro, referer=None, label="b.io")
    )

    page = page_text(owner.get("/staff/orders/"))
    assert "Alice Martin" in page and "Basic hosting — example.com + Backups" in page
    assert "Pro hosting — b.io" in page and "Partner One" in page

    filtered = page_text(owner.get("/staff/orders/", {"referer": shop.referer}))
    assert "Basic hosting" in filtered and "Pro hosting" not in filtered


def test_order_list_sorts_and_paginates(owner, instance_a, shop):
    for n in range(27):
        place_order(instance_a, shop, accept=False, label=f"site{n:02d}.test")

    first = page_text(owner.get("/staff/orders/", {"sort": "id"}))
    second = page_text(owner.get("/staff/orders/", {"sort": "id", "page": 2}))

    assert "site00.test" in first and "site26.test" not in first
    assert "site26.test" in second


def test_empty_order_list_invites_to_place_an_order(owner, shop):
    page = page_text(owner.get("/staff/orders/"))
    assert "No orders yet" in page and 'href="/staff/orders/new/"' in page


def test_service_list_shows_money_status_and_due_date_and_filters_by_status(
    owner, instance_a, shop
):
    active = service_of(instance_a, place_order(instance_a, shop, label="live.test"))
    place_order(instance_a, shop, product=shop.pro, activate=False, label="waiting.test")

    page = page_text(owner.get("/staff/orders/services/"))
    assert "live.test" in page and "waiting.test" in page
    assert "€10.00" in page and "€20.00" in page
    assert f"{active.next_due_date:%Y-%m-%d}" in page
    assert '<span class="badge badge-active">Active</span>' in page

    pending_only = page_text(owner.get("/staff/orders/services/", {"status": "pending"}))
    assert "waiting.test" in pending_only and "live.test" not in pending_only

    searched = page_text(owner.get("/staff/orders/services/", {"q": "live"}))
    assert "live.test" in searched and "waiting.test" not in searched


# --------------------------------------------------------------------------------------
# Service actions


def test_suspend_unsuspend_and_terminate_move_the_service_and_release_capacity(
    owner, instance_a, shop
):
    service = service_of(instance_a, place_order(instance_a, shop))
    base = f"/staff/orders/services/{service.pk}"

    owner.post(f"{base}/suspend/", {"reason": "Abuse report"})
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "suspended" and service.status_reason == "Abuse report"

    owner.post(f"{base}/unsuspend/")
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "active"
    assert disk_used() == 10

    response = owner.post(f"{base}/terminate/", follow=True)
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "terminated"
    assert "is terminated" in page_text(response)
    assert disk_used() == 0


def test_illegal_transition_is_a_message_not_an_error_page(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))

    response = owner.post(f"/staff/orders/services/{service.pk}/unsuspend/", follow=True)

    assert response.status_code == 200
    assert "The service is active; it cannot become active." in page_text(response)
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "active"


def test_cancel_at_end_of_term_keeps_the_service_running(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))

    response = owner.post(f"/staff/orders/services/{service.pk}/cancel/", follow=True)

    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "active" and service.cancel_at_period_end
    assert "cancelled at the end of its term" in page_text(response)
    assert "Cancels at term end" in page_text(owner.get("/staff/orders/services/"))


def test_cancel_now_ends_the_service_and_releases_capacity(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))

    owner.post(f"/staff/orders/services/{service.pk}/cancel/", {"immediately": "on"})

    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "cancelled"
    assert disk_used() == 0


def test_change_plan_moves_the_service_and_says_what_was_invoiced(owner, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))
    detail = page_text(owner.get(f"/staff/orders/services/{service.pk}/"))
    assert "Pro hosting — €20.00/month" in detail and "Huge hosting" in detail

    response = owner.post(
        f"/staff/orders/services/{service.pk}/change-plan/", {"product": shop.pro}, follow=True
    )

    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
        upgrade = Invoice.objects.order_by("-id").first()
    assert service.product_id == shop.pro and service.recurring_amount == Decimal("20.00")
    message = page_text(response)
    assert f"Moved to Pro hosting; prorated invoice {upgrade.number}" in message
    assert "Upgrade to Pro hosting" in message
    assert disk_used() == 20


def test_change_plan_beyond_the_allocation_is_refused_with_the_quota_message(
    owner, instance_a, shop
):
    service = service_of(instance_a, place_order(instance_a, shop))

    response = owner.post(
        f"/staff/orders/services/{service.pk}/change-plan/", {"product": shop.huge}, follow=True
    )

    assert "capacity allocated by your provider" in page_text(response)
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.product_id == shop.basic
    assert disk_used() == 10


def test_service_detail_shows_resources_and_the_invoice_lines_that_billed_it(
    owner, instance_a, shop
):
    service = service_of(instance_a, place_order(instance_a, shop))
    with schema_context(instance_a.schema_name):
        invoice = Invoice.objects.get()

    page = page_text(owner.get(f"/staff/orders/services/{service.pk}/"))

    assert "Disk space" in page and "10 GB" in page
    assert invoice.number in page
    assert f'href="{reverse("billing:invoice_detail", kwargs={"pk": invoice.pk})}"' in page
    for action in ("suspend", "terminate", "cancel", "change-plan"):
        assert f"/staff/orders/services/{service.pk}/{action}/" in page


def test_pending_order_can_be_accepted_or_cancelled_from_its_page(owner, instance_a, shop):
    first = place_order(instance_a, shop, accept=False)
    second = place_order(instance_a, shop, accept=False)

    owner.post(f"/staff/orders/{first}/accept/", {"activate": "on"})
    owner.post(f"/staff/orders/{second}/cancel/")
    again = owner.post(f"/staff/orders/{second}/accept/", follow=True)

    with schema_context(instance_a.schema_name):
        assert Order.objects.get(pk=first).status == "accepted"
        assert Order.objects.get(pk=second).status == "cancelled"
        assert Service.objects.get(order_item__order_id=first).status == "active"
    assert f"Order #{second} is cancelled already." in page_text(again)


# --------------------------------------------------------------------------------------
# Permissions and isolation


def test_support_reads_orders_and_services_but_cannot_change_them(instance_a, shop):
    order_id = place_order(instance_a, shop)
    service = service_of(instance_a, order_id)
    support = client_for(instance_a, instance_a.support)

    assert support.get("/staff/orders/").status_code == 200
    assert support.get(f"/staff/orders/{order_id}/").status_code == 200
    detail = support.get(f"/staff/orders/services/{service.pk}/")
    assert detail.status_code == 200 and "/suspend/" not in page_text(detail)
    assert support.get("/staff/orders/new/").status_code == 403
    assert support.post("/staff/orders/new/", staff_order(shop)).status_code == 403
    assert support.post(f"/staff/orders/services/{service.pk}/suspend/").status_code == 403
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "active"


def test_customer_cannot_open_the_staff_screens(instance_a, shop):
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get("/staff/orders/").status_code == 403
    assert customer.get("/staff/orders/services/").status_code == 403


def test_instance_b_cannot_see_orders_or_services_of_instance_a(instance_a, instance_b, shop):
    order_id = place_order(instance_a, shop, label="secret-a.test")
    service = service_of(instance_a, order_id)
    owner_b = client_for(instance_b, instance_b.owner)

    assert owner_b.get(f"/staff/orders/{order_id}/").status_code == 404
    assert owner_b.get(f"/staff/orders/services/{service.pk}/").status_code == 404
    assert owner_b.post(f"/staff/orders/services/{service.pk}/terminate/").status_code == 404
    assert "secret-a.test" not in page_text(owner_b.get("/staff/orders/services/"))
    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "active"


# --------------------------------------------------------------------------------------
# Portal


@pytest.fixture
def portal(instance_a):
    return client_for(instance_a, instance_a.customer)


def price_id(info, product_id: int, cycle: str = "monthly") -> int:
    with schema_context(info.schema_name):
        return Price.objects.get(product_id=product_id, currency="EUR", cycle=cycle).pk


def checkout(shop: Shop, info, **changes) -> dict:
    data = {
        "price": price_id(info, shop.basic),
        "addons": [shop.backups],
        "label": "alice.example",
        "referral_code": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_checkout_lists_plans_in_the_customer_currency_and_prefills_the_cookie_code(
    portal, instance_a, shop
):
    portal.cookies["upline_ref"] = "partner1"

    page = page_text(portal.get("/portal/services/order/"))

    assert "Basic hosting" in page and "Pro hosting" in page
    assert "€10.00" in page and "€100.00" in page and "€8.33/month" in page
    assert "Disk space: 10 GB" in page and "Backups" in page
    assert 'value="partner1"' in page and "Partner One" in page


def test_checkout_from_a_referral_link_records_link_and_waits_for_payment(portal, instance_a, shop):
    portal.cookies["upline_ref"] = "partner1"

    response = portal.post(
        "/portal/services/order/", checkout(shop, instance_a, referral_code="partner1")
    )

    with schema_context(instance_a.schema_name):
        order = Order.objects.get()
        invoice = Invoice.objects.get()
        assert order.referer_id == shop.referer and order.referer_source == "link"
        assert order.source == "portal" and order.status == "accepted"
        assert set(Service.objects.values_list("status", flat=True)) == {"pending"}
    assert response.status_code == 302
    assert response["Location"] == f"/portal/services/orders/{order.pk}/"
    assert disk_used() == 0  # nothing runs before the first invoice is paid

    receipt = page_text(portal.get(response["Location"]))
    assert f"order #{order.pk} is placed" in receipt and invoice.number in receipt
    assert (
        f'href="{reverse("portal_billing:invoice_detail", kwargs={"pk": invoice.pk})}"' in receipt
    )
    assert "Awaiting payment" in receipt


def test_checkout_with_a_typed_code_records_code(portal, instance_a, shop):
    portal.post("/portal/services/order/", checkout(shop, instance_a, referral_code="PARTNER1"))

    with schema_context(instance_a.schema_name):
        order = Order.objects.get()
    assert order.referer_id == shop.referer and order.referer_source == "code"


def test_checkout_with_another_code_than_the_link_records_code(portal, instance_a, shop):
    with schema_context(instance_a.schema_name):
        other = Referer.objects.create(code="friend", name="A friend")
    portal.cookies["upline_ref"] = "partner1"

    portal.post("/portal/services/order/", checkout(shop, instance_a, referral_code="friend"))

    with schema_context(instance_a.schema_name):
        order = Order.objects.get()
    assert order.referer_id == other.pk and order.referer_source == "code"


def test_checkout_with_an_unknown_code_is_a_form_error_and_writes_nothing(portal, instance_a, shop):
    response = portal.post(
        "/portal/services/order/", checkout(shop, instance_a, referral_code="nobody")
    )

    assert response.status_code == 200
    assert "We don&#x27;t know the referral code “nobody”" in page_text(response)
    assert counts(instance_a) == (0, 0, 0)


def test_checkout_without_a_plan_is_a_form_error(portal, instance_a, shop):
    response = portal.post("/portal/services/order/", checkout(shop, instance_a, price=None))

    assert response.status_code == 200 and "This field is required." in page_text(response)
    assert counts(instance_a) == (0, 0, 0)


def test_checkout_of_an_add_on_not_sold_on_the_chosen_cycle_is_a_form_error(
    portal, instance_a, shop
):
    response = portal.post(
        "/portal/services/order/",
        checkout(shop, instance_a, price=price_id(instance_a, shop.basic, "annual")),
    )

    assert response.status_code == 200
    assert "Backups is not sold annually" in page_text(response)
    assert counts(instance_a) == (0, 0, 0)


def test_portal_user_without_a_customer_record_is_sent_to_billing_details(instance_b):
    response = client_for(instance_b, instance_b.customer).get("/portal/services/order/")

    assert response.status_code == 200
    page = page_text(response)
    assert "Add your billing details first" in page
    assert f'href="{reverse("portal_clients:billing_details")}"' in page


def test_customer_sees_only_their_own_services(portal, instance_a, shop):
    mine = service_of(instance_a, place_order(instance_a, shop, label="mine.test"))
    with schema_context(instance_a.schema_name):
        stranger = Customer.objects.create(
            name="Bob Chen", email="bob@example.com", country="FR", currency="EUR"
        )
        order = services.order_place(
            customer=stranger,
            items=[{"product": shop.basic, "cycle": "monthly", "label": "bob.test"}],
        )
        services.order_accept(order=order)
        theirs = Service.objects.get(order_item__order=order)

    listing = page_text(portal.get("/portal/services/"))
    assert "mine.test" in listing and "bob.test" not in listing
    assert portal.get(f"/portal/services/{mine.pk}/").status_code == 200
    assert portal.get(f"/portal/services/{theirs.pk}/").status_code == 404
    assert portal.post(f"/portal/services/{theirs.pk}/cancel/").status_code == 404
    assert portal.get(f"/portal/services/orders/{order.pk}/").status_code == 404


def test_customer_cancels_their_service_at_the_end_of_its_term(portal, instance_a, shop):
    service = service_of(instance_a, place_order(instance_a, shop))

    response = portal.post(f"/portal/services/{service.pk}/cancel/", follow=True)

    with schema_context(instance_a.schema_name):
        service.refresh_from_db()
    assert service.status == "active" and service.cancel_at_period_end
    assert "will not be renewed" in page_text(response)


def test_staff_cannot_use_the_portal_checkout(owner, shop):
    assert owner.get("/portal/services/order/").status_code == 403
