"""Accounts on every instance: sign-in, sign-out, password reset, team invitations, admin."""

import re

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tests.conftest import PASSWORD, client_for
from tests.two_factor import app_code, give_app


def test_sign_in_sends_staff_to_the_staff_area_and_customers_to_the_portal(instance_a):
    staff = client_for(instance_a)
    response = staff.post(
        "/accounts/login/", {"username": instance_a.support, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/staff/"
    customer = client_for(instance_a)
    response = customer.post(
        "/accounts/login/", {"username": instance_a.customer, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/portal/"


def test_operator_staff_land_on_the_console_once_they_give_their_code(operator):
    with schema_context(operator.schema_name):
        device = give_app(get_user_model().objects.get(email=operator.owner))
    client = client_for(operator)
    response = client.post(
        "/accounts/login/", {"username": operator.owner, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith("/accounts/two-factor/")
    response = client.post(
        "/accounts/two-factor/", {"code": app_code(device), "next": "/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/console/"


def test_wrong_password_shows_an_error_not_a_500(instance_a):
    response = client_for(instance_a).post(
        "/accounts/login/", {"username": instance_a.owner, "password": "nope"}
    )
    assert response.status_code == 200
    assert b"correct email and password" in response.content


def test_sign_out_ends_the_session(instance_a):
    client = client_for(instance_a, instance_a.owner)
    client.post("/accounts/logout/")
    assert client.get("/staff/").status_code == 302


def test_password_reset_link_points_at_the_instance_and_works(instance_a, mailoutbox):
    client = client_for(instance_a)
    response = client.post("/accounts/password-reset/", {"email": instance_a.customer})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    link = re.search(r"http://[^\s]+/accounts/reset/[^\s]+/", mailoutbox[0].body).group(0)
    assert link.startswith(f"http://{instance_a.host}/")
    path = link.split(instance_a.host, 1)[1]
    form_page = client.get(path, follow=True)
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_password_url,
        {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"},
    )
    assert done.status_code == 302
    with schema_context(instance_a.schema_name):
        assert (
            get_user_model()
            .objects.get(email=instance_a.customer)
            .check_password("brand-new-pass-42")
        )


def test_password_reset_on_b_does_not_mail_a_users(instance_a, instance_b, mailoutbox):
    client_for(instance_b).post("/accounts/password-reset/", {"email": instance_a.customer})
    assert mailoutbox == []


def test_owner_invites_a_team_member_who_gets_a_link(
    instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    client = client_for(instance_a, instance_a.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/staff/team/",
            {"email": "new.agent@acme.test", "full_name": "New Agent", "role": "support"},
        )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        user = get_user_model().objects.get(email="new.agent@acme.test")
        assert user.role == "support" and not user.has_usable_password()
    assert mailoutbox[0].to == ["new.agent@acme.test"]
    assert f"http://{instance_a.host}/accounts/reset/" in mailoutbox[0].body


def test_inviting_an_existing_email_is_a_form_error(instance_a):
    client = client_for(instance_a, instance_a.owner)
    response = client.post("/staff/team/", {"email": instance_a.support, "role": "support"})
    assert response.status_code == 200
    assert "already has an account" in " ".join(response.context["form"].errors["email"])


def test_support_staff_cannot_invite(instance_a):
    client = client_for(instance_a, instance_a.support)
    client.post("/staff/team/", {"email": "sneaky@acme.test", "role": "admin"})
    with schema_context(instance_a.schema_name):
        assert not get_user_model().objects.filter(email="sneaky@acme.test").exists()


def test_identity_form_saves_and_rejects_bad_input(instance_a):
    client = client_for(instance_a, instance_a.owner)
    bad = client.post("/staff/identity/", {"legal_name": "", "currency": "EUR"})
    assert bad.status_code == 200 and "legal_name" in bad.context["form"].errors
    ok = client.post(
        "/staff/identity/", {"legal_name": "Acme Holdings Ltd", "currency": "EUR", "country": "GB"}
    )
    assert ok.status_code == 302
    assert b"Acme Holdings Ltd" in client.get("/staff/").content


def test_api_token_can_be_created_rotated_and_revoked(instance_a):
    client = client_for(instance_a, instance_a.owner)
    client.post("/staff/api-tokens/", {"action": "rotate"})
    page = client.get("/staff/api-tokens/").content.decode()
    key = re.search(r"<code[^>]*>([0-9a-f]{40})</code>", page).group(1)
    api = client_for(instance_a)
    assert api.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    client.post("/staff/api-tokens/", {"action": "revoke"})
    assert api.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_django_admin_is_for_superusers_only(operator):
    assert client_for(operator, operator.owner).get("/admin/").status_code == 200
    assert client_for(operator, operator.support).get("/admin/").status_code == 302
    assert client_for(operator, operator.owner).get("/admin/tenancy/reseller/").status_code == 200
