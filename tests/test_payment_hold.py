"""A reseller suspended for non-payment is held, not locked out: its staff sign in (password,
second step, sign-out) and read every page under a banner that sends them to Supplier bills;
every write is refused with a sentence (the API's as JSON) and changes nothing. Its customers
see what the operator chose — the suspension page, or their portal read-only. A suspension
made by hand in the console still shows everyone the suspension page. Routes carry the hold
and the policy, so a held instance costs no query more than an active one."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from shared_apps.tenancy import routing
from shared_apps.tenancy.models import Reseller, SuspensionPolicy
from shared_apps.tenancy.services import reseller_resume, reseller_suspend, suspension_policy_set
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import PASSWORD, client_for
from tests.supplier_fixtures import owe_and_hold
from tests.two_factor import app_code, give_app

User = get_user_model()
BANNER = "This instance is suspended for non-payment — pay your supplier bills to resume."


@pytest.fixture
def held(instance_a, django_capture_on_commit_callbacks):
    """Acme owes its first plan bill and billing suspended it for that."""
    with django_capture_on_commit_callbacks():  # the bill's PDF and mail are not needed
        state = owe_and_hold("acme")
    routing.invalidate()
    reseller = Reseller.objects.get(slug="acme")
    assert reseller.status == "suspended" and reseller.held_by_billing
    return state


def read_only_customers(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        suspension_policy_set(customers_see=SuspensionPolicy.CustomerView.READ_ONLY)


def test_staff_of_a_held_instance_sign_in_and_read_every_page_under_the_banner(held, instance_a):
    browser = client_for(instance_a)
    signed_in = browser.post(
        "/accounts/login/", {"username": instance_a.owner, "password": PASSWORD}
    )
    assert signed_in.status_code == 302

    for path in ("/staff/", "/staff/customers/", "/staff/billing/", "/staff/team/"):
        page = browser.get(path, follow=True)
        assert page.status_code == 200, path
        assert BANNER in page.content.decode(), path
        assert 'href="/staff/supplier-bills/"' in page.content.decode()


def test_a_staff_write_in_a_held_instance_is_refused_with_a_sentence_and_changes_nothing(
    held, instance_a
):
    response = client_for(instance_a, instance_a.owner).post(
        "/staff/team/", {"email": "newhire@acme.test", "role": "support"}
    )
    assert response.status_code == 503
    assert "suspended for non-payment" in response.content.decode()
    assert "Pay supplier bills" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert not User.objects.filter(email="newhire@acme.test").exists()


def test_the_api_of_a_held_instance_reads_and_refuses_writes_as_json(held, instance_a):
    with schema_context(instance_a.schema_name):
        token = Token.objects.create(user=User.objects.get(email=instance_a.owner))
    api = client_for(instance_a)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}

    assert api.get("/api/customers/", **auth).status_code == 200
    refused = api.post(
        "/api/customers/",
        {"kind": "person", "name": "New", "email": "n@example.com", "country": "FR"},
        content_type="application/json",
        **auth,
    )
    assert refused.status_code == 503
    assert refused.json()["code"] == "instance_suspended"
    assert "pay your supplier bills" in refused.json()["detail"]


def test_staff_pass_the_second_step_and_sign_out_while_held(held, instance_a):
    with schema_context(instance_a.schema_name):
        device = give_app(User.objects.get(email=instance_a.owner))
    browser = client_for(instance_a)
    browser.post("/accounts/login/", {"username": instance_a.owner, "password": PASSWORD})
    asked = browser.get("/staff/")
    assert asked.status_code == 302 and "/accounts/two-factor/" in asked["Location"]

    verified = browser.post("/accounts/two-factor/", {"code": app_code(device), "next": "/staff/"})
    assert verified.status_code == 302
    assert BANNER in browser.get("/staff/").content.decode()

    assert browser.post("/accounts/logout/").status_code == 302
    # Signed out, the visitor is no one: the suspension page, with the way back in.
    after = browser.get("/staff/")
    assert after.status_code == 503 and "Staff sign-in" in after.content.decode()


def test_customers_of_a_held_instance_see_the_suspension_page_by_default(held, instance_a):
    for who in (instance_a.customer, None):
        page = client_for(instance_a, who).get("/portal/")
        assert page.status_code == 503
        assert "temporarily unavailable" in page.content.decode()
    # Staff find their way in from it; the sign-in page itself answers.
    assert "/accounts/login/" in client_for(instance_a).get("/portal/").content.decode()
    assert client_for(instance_a).get("/accounts/login/").status_code == 200


def test_customers_see_their_portal_read_only_when_the_operator_chose_so(
    held, instance_a, django_capture_on_commit_callbacks
):
    read_only_customers(django_capture_on_commit_callbacks)
    customer = client_for(instance_a, instance_a.customer)

    page = customer.get("/portal/")
    assert page.status_code == 200
    assert "is read-only for the moment" in page.content.decode()
    assert "supplier bills" not in page.content.decode().lower()

    refused = customer.post("/portal/profile/", {"full_name": "Changed Name"})
    assert refused.status_code == 503
    assert "read-only for the moment" in refused.content.decode()
    with schema_context(instance_a.schema_name):
        assert User.objects.get(email=instance_a.customer).full_name != "Changed Name"


def test_the_policy_does_not_open_an_instance_suspended_by_hand_in_the_console(
    instance_a, django_capture_on_commit_callbacks
):
    read_only_customers(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=instance_a.reseller(), reason="Abuse report")
    for who, path in (
        (instance_a.owner, "/staff/"),
        (instance_a.customer, "/portal/"),
        (None, "/accounts/login/"),
    ):
        response = client_for(instance_a, who).get(path)
        assert response.status_code == 503, (who, path)
        assert "Staff sign-in" not in response.content.decode()


def test_the_banner_goes_and_writes_work_again_once_the_instance_resumes(
    held, instance_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reseller_resume(reseller=instance_a.reseller())
    owner = client_for(instance_a, instance_a.owner)
    assert BANNER not in owner.get("/staff/").content.decode()
    response = owner.post("/staff/team/", {"email": "newhire@acme.test", "role": "support"})
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        assert User.objects.filter(email="newhire@acme.test").exists()


def test_the_route_carries_the_hold_and_the_policy_and_repeats_cost_no_query(
    held, instance_a, django_assert_num_queries, django_capture_on_commit_callbacks
):
    first = routing.resolve(instance_a.host)
    assert first.is_held_for_payment and first.customers_while_held == "page"
    with django_assert_num_queries(0):
        assert routing.resolve(instance_a.host).is_held_for_payment

    read_only_customers(django_capture_on_commit_callbacks)
    assert routing.resolve(instance_a.host).customers_while_held == "read_only"


def test_a_request_to_an_active_instance_asks_nothing_about_holds(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    owner.get("/staff/")  # the route is cached from here on

    with CaptureQueriesContext(connection) as queries:
        assert owner.get("/staff/").status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert sql, "the page made no query at all: nothing was measured"
    assert not any("suspensionpolicy" in q or "held_by_billing" in q for q in sql)


# --------------------------------------------------------------------------------------
# The operator's setting


def test_an_operator_owner_chooses_what_customers_see_in_the_console(
    operator, django_capture_on_commit_callbacks
):
    console = client_for(operator, operator.owner)
    page = console.get("/console/suspension-policy/")
    assert page.status_code == 200 and "The suspension page" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        saved = console.post("/console/suspension-policy/", {"customers_see": "read_only"})
    assert saved.status_code == 302
    assert SuspensionPolicy.objects.get().customers_see == "read_only"
    event = audit_event_list(action="suspensionpolicy.updated").get()
    assert event.actor_label == operator.owner
    assert event.changes == {"customers_see": ["page", "read_only"]}


def test_operator_support_staff_see_the_setting_but_cannot_change_it(operator):
    console = client_for(operator, operator.support)
    assert console.get("/console/suspension-policy/").status_code == 200
    refused = console.post("/console/suspension-policy/", {"customers_see": "read_only"})
    assert refused.status_code == 403
    assert not SuspensionPolicy.objects.exists()


def test_an_unknown_choice_is_a_form_error_not_a_500(operator):
    console = client_for(operator, operator.owner)
    response = console.post("/console/suspension-policy/", {"customers_see": "everything"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not SuspensionPolicy.objects.exists()


def test_a_resellers_staff_cannot_reach_the_console_setting(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    assert owner.get("/console/suspension-policy/").status_code == 404
