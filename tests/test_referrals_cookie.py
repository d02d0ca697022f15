"""The ?ref= cookie: set for an active referer of the serving instance, never otherwise."""

from django_tenants.utils import schema_context

from tenant_apps.referrals import services
from tests.conftest import client_for


def make_referer(info, code="partner", active=True):
    with schema_context(info.schema_name):
        referer = services.referer_create(code=code, name="Partner")
        if not active:
            services.referer_deactivate(referer=referer)
        return referer


def test_valid_code_sets_a_host_only_http_only_cookie_for_30_days(instance_a):
    make_referer(instance_a)
    response = client_for(instance_a).get("/accounts/login/", {"ref": "PARTNER"})
    cookie = response.cookies["upline_ref"]
    assert cookie.value == "partner"  # the referer's own spelling
    assert cookie["max-age"] == 30 * 24 * 3600
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["domain"] == ""


def test_cookie_is_set_even_when_the_page_redirects(instance_a):
    make_referer(instance_a)
    response = client_for(instance_a).get("/portal/", {"ref": "partner"})  # anonymous: to sign-in
    assert response.status_code == 302
    assert response.cookies["upline_ref"].value == "partner"


def test_unknown_code_sets_no_cookie(instance_a):
    make_referer(instance_a)
    response = client_for(instance_a).get("/accounts/login/", {"ref": "stranger"})
    assert "upline_ref" not in response.cookies


def test_inactive_referer_sets_no_cookie(instance_a):
    make_referer(instance_a, active=False)
    response = client_for(instance_a).get("/accounts/login/", {"ref": "partner"})
    assert "upline_ref" not in response.cookies


def test_code_of_instance_a_sets_no_cookie_on_instance_b(instance_a, instance_b):
    make_referer(instance_a)
    response = client_for(instance_b).get("/accounts/login/", {"ref": "partner"})
    assert "upline_ref" not in response.cookies


def test_a_post_with_ref_sets_no_cookie(instance_a):
    make_referer(instance_a)
    response = client_for(instance_a).post("/accounts/login/?ref=partner", {})
    assert "upline_ref" not in response.cookies
