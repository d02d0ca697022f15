"""Referral partners (issue 12, point 3): link and checkout codes, clicks, cookie lifetime,
first- or last-click attribution, sign-ups attributed once, the second-level upline, and
the attribution service the storefront calls."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django_tenants.utils import schema_context

from tenant_apps.instance.models import AuditEvent
from tenant_apps.referrals import selectors, services
from tenant_apps.referrals.models import Click, SignUp
from tests.billing_fixtures import make_customer
from tests.conftest import client_for


@pytest.fixture
def in_a(instance_a):
    with schema_context(instance_a.schema_name):
        yield instance_a


def _partners(info, *codes):
    with schema_context(info.schema_name):
        return [services.referer_create(code=code, name=code.title()) for code in codes]


def test_a_ref_visit_counts_a_click_and_sets_the_cookie_for_the_configured_days(instance_a):
    _partners(instance_a, "partner")
    with schema_context(instance_a.schema_name):
        services.programme_settings_update(cookie_days=7)
    response = client_for(instance_a).get("/accounts/login/", {"ref": "partner"})
    assert response.cookies["upline_ref"]["max-age"] == 7 * 24 * 3600
    client_for(instance_a).get("/accounts/login/", {"ref": "unknown"})
    with schema_context(instance_a.schema_name):
        assert list(Click.objects.values_list("code", flat=True)) == ["partner"]


def test_last_click_lets_the_newest_link_win(instance_a):
    _partners(instance_a, "first", "second")
    browser = client_for(instance_a)
    browser.get("/accounts/login/", {"ref": "first"})
    response = browser.get("/accounts/login/", {"ref": "second"})
    assert response.cookies["upline_ref"].value == "second"


def test_first_click_keeps_the_first_partner_but_counts_the_later_click(instance_a):
    _partners(instance_a, "first", "second")
    with schema_context(instance_a.schema_name):
        services.programme_settings_update(attribution="first_click")
    browser = client_for(instance_a)
    browser.get("/accounts/login/", {"ref": "first"})
    response = browser.get("/accounts/login/", {"ref": "second"})
    assert "upline_ref" not in response.cookies
    assert browser.cookies["upline_ref"].value == "first"
    with schema_context(instance_a.schema_name):
        assert Click.objects.filter(code="second").count() == 1


def test_a_code_of_another_instance_is_unknown_here(instance_a, instance_b):
    _partners(instance_b, "elsewhere")
    response = client_for(instance_a).get("/accounts/login/", {"ref": "elsewhere"})
    assert "upline_ref" not in response.cookies
    with schema_context(instance_a.schema_name):
        assert not Click.objects.exists()


def test_link_codes_work_in_links_and_checkout_codes_only_at_checkout(in_a):
    referer = services.referer_create(code="partner", name="Partner")
    services.referer_code_add(referer=referer, code="summer-sale", kind="link")
    services.referer_code_add(referer=referer, code="SAVE10", kind="checkout")
    assert selectors.referer_by_code("summer-sale", kind="link") == referer
    assert selectors.referer_by_code("summer-sale", kind="checkout") is None
    assert selectors.referer_by_code("save10", kind="checkout") == referer
    assert selectors.referer_by_code("save10", kind="link") is None
    with pytest.raises(ValidationError):  # codes are unique across partners, whatever the case
        services.referer_code_add(referer=referer, code="PARTNER", kind="link")
    with pytest.raises(ValidationError):
        services.referer_create(code="Summer-Sale", name="Copycat")
    assert AuditEvent.objects.filter(action="referer.code_added").count() == 2


def test_a_campaign_link_code_sets_the_partners_cookie(instance_a):
    [referer] = _partners(instance_a, "partner")
    with schema_context(instance_a.schema_name):
        services.referer_code_add(referer=referer, code="spring", kind="link")
    response = client_for(instance_a).get("/accounts/login/", {"ref": "SPRING"})
    assert response.cookies["upline_ref"].value == "partner"


def test_attribution_prefers_a_typed_checkout_code_over_the_cookie(in_a):
    linked = services.referer_create(code="linked", name="Linked")
    typed = services.referer_create(code="typed", name="Typed")
    request = RequestFactory().get("/")
    assert selectors.attribution_for(request) is None
    request.COOKIES["upline_ref"] = "linked"
    assert selectors.attribution_for(request).referer == linked
    assert selectors.attribution_for(request).source == "link"
    chosen = selectors.attribution_for(request, typed_code="TYPED")
    assert (chosen.referer, chosen.source) == (typed, "code")
    same = selectors.attribution_for(request, typed_code="linked")
    assert (same.referer, same.source) == (linked, "link")
    assert selectors.attribution_for(request, typed_code="nobody").referer == linked


def test_a_sign_up_is_attributed_once_and_never_to_the_customer_itself(in_a):
    first = services.referer_create(code="first", name="First")
    second = services.referer_create(code="second", name="Second")
    customer = make_customer("Bob Buyer")
    request = RequestFactory().get("/")
    request.COOKIES["upline_ref"] = "first"
    signup = services.signup_attribute_from_request(customer=customer, request=request)
    assert (signup.referer, signup.source) == (first, "link")
    assert services.signup_attribute(customer=customer, referer=second, source="code") is None
    assert SignUp.objects.get(customer=customer).referer == first
    own = services.referer_create(code="own", name="Own", customer=make_customer("Pat Self"))
    assert services.signup_attribute(customer=own.customer, referer=own, source="link") is None
    assert AuditEvent.objects.filter(action="referral.signup_attributed").count() == 1


def test_a_partner_cannot_be_referred_by_itself_or_its_own_referrals(in_a):
    top = services.referer_create(code="top", name="Top")
    middle = services.referer_create(code="middle", name="Middle", referred_by=top)
    with pytest.raises(ValidationError) as caught:
        services.referer_update(referer=top, referred_by=middle)
    assert "referred_by" in caught.value.message_dict
    with pytest.raises(ValidationError):
        services.referer_update(referer=top, referred_by=top)
    services.referer_update(referer=middle, referred_by=None)


def test_programme_settings_refuse_values_out_of_range(in_a):
    with pytest.raises(ValidationError) as caught:
        services.programme_settings_update(cookie_days=0, maturity_days=999, attribution="x")
    assert set(caught.value.message_dict) == {"cookie_days", "maturity_days", "attribution"}
    services.programme_settings_update(maturity_days=0)
    assert selectors.programme_settings().maturity_days == 0


def test_an_external_partner_is_invited_to_the_portal_with_a_customer_record(
    in_a, django_capture_on_commit_callbacks, mailoutbox
):
    referer = services.referer_create(code="ext", name="Ext Partner", email="ext@example.com")
    with pytest.raises(ValidationError):
        services.referer_portal_invite(referer=referer, domain=in_a.host, use_https=False)
    with django_capture_on_commit_callbacks(execute=True):
        user = services.referer_portal_invite(
            referer=referer, domain=in_a.host, use_https=False, country="FR"
        )
    referer.refresh_from_db()
    assert referer.customer.user == user and user.is_customer
    assert list(selectors.partner_referers_for(user)) == [referer]
    assert mailoutbox and mailoutbox[-1].to == ["ext@example.com"]


def test_owner_manages_codes_and_invites_a_partner_on_the_edit_page(
    instance_a, django_capture_on_commit_callbacks
):
    [referer] = _partners(instance_a, "partner")
    owner = client_for(instance_a, instance_a.owner)
    base = f"/staff/referrals/{referer.pk}"
    owner.post(f"{base}/codes/", {"code": "autumn", "kind": "link"})
    taken = owner.post(f"{base}/codes/", {"code": "AUTUMN", "kind": "checkout"}, follow=True)
    assert "already taken" in taken.content.decode()
    page = owner.get(f"{base}/edit/").content.decode()
    assert "?ref=autumn" in page and "Invite to the portal" in page
    no_email = owner.post(f"{base}/invite/", {"country": "FR"}, follow=True)
    assert "e-mail address first" in no_email.content.decode()
    with schema_context(instance_a.schema_name):
        services.referer_update(referer=referer, email="partner@example.com")
        code = referer.codes.get()
    with django_capture_on_commit_callbacks(execute=True):
        invited = owner.post(f"{base}/invite/", {"country": "FR"}, follow=True)
    assert "can now sign in" in invited.content.decode()
    owner.post(f"{base}/codes/{code.pk}/remove/")
    with schema_context(instance_a.schema_name):
        assert not referer.codes.exists()
        referer.refresh_from_db()
        assert referer.customer.user.email == "partner@example.com"
    support = client_for(instance_a, instance_a.support)
    assert support.post(f"{base}/codes/", {"code": "x", "kind": "link"}).status_code == 403


def test_another_instances_partner_pages_are_unreachable(instance_a, instance_b):
    [referer] = _partners(instance_a, "partner")
    owner_b = client_for(instance_b, instance_b.owner)
    assert owner_b.get(f"/staff/referrals/{referer.pk}/edit/").status_code == 404
    assert (
        owner_b.post(
            f"/staff/referrals/{referer.pk}/codes/", {"code": "x", "kind": "link"}
        ).status_code
        == 404
    )
    assert owner_b.post(f"/staff/referrals/{referer.pk}/invite/").status_code == 404


def test_the_portal_checkout_takes_checkout_codes_but_not_campaign_link_codes(in_a):
    from tenant_apps.orders.forms import CheckoutForm

    referer = services.referer_create(code="partner", name="Partner")
    services.referer_code_add(referer=referer, code="save10", kind="checkout")
    services.referer_code_add(referer=referer, code="spring", kind="link")

    def code_error(code: str) -> bool:
        form = CheckoutForm({"referral_code": code}, plans=[], currency="EUR")
        form.is_valid()
        return "referral_code" in form.errors

    assert not code_error("SAVE10") and not code_error("partner")
    assert code_error("spring")
