"""Team management per instance, on screens and API: the owner (and administrators) invite,
change roles, deactivate (sessions and API token end at once) and reactivate; the last
owner stays; other staff and customers get 403; another instance's staff are 404 by id."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from tenant_apps.accounts.models import Role
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import PASSWORD, client_for

User = get_user_model()


def make_member(info, email: str, role: str = Role.SUPPORT) -> int:
    with schema_context(info.schema_name):
        return User.objects.create_user(email=email, password=PASSWORD, role=role).pk


def member(info, pk: int):
    with schema_context(info.schema_name):
        return User.objects.get(pk=pk)


def trail(info, pk: int) -> list[tuple[str, str, dict]]:
    with schema_context(info.schema_name):
        return [
            (event.action, event.actor_label, event.changes)
            for event in reversed(audit_event_list(object_type="user", object_id=str(pk)))
        ]


def sessions_of(info, pk: int) -> int:
    with schema_context(info.schema_name):
        return sum(1 for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(pk))


# --------------------------------------------------------------------------------------
# Invite


def test_owner_invites_through_the_api_and_the_mail_comes_from_the_instance(
    instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            "/api/staff/",
            {"email": "agent@acme.test", "full_name": "New Agent", "role": "billing"},
            content_type="application/json",
        )

    assert response.status_code == 201
    assert (response.json()["role"], response.json()["is_active"]) == ("billing", True)
    [mail] = mailoutbox
    assert mail.to == ["agent@acme.test"]
    assert mail.from_email.startswith("Acme <") and "Acme" in mail.subject  # not no-reply@
    assert f"http://{instance_a.host}/accounts/reset/" in mail.body
    assert trail(instance_a, response.json()["id"])[0][:2] == ("user.invited", instance_a.owner)


def test_owner_invites_on_the_team_screen_and_sees_the_member_listed(
    instance_a, django_capture_on_commit_callbacks
):
    owner = client_for(instance_a, instance_a.owner)
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/staff/team/", {"email": "listed@acme.test", "role": "support"})

    page = owner.get("/staff/team/?role=support")
    listed = [row.record.email for row in page.context["table"].paginated_rows]
    assert "listed@acme.test" in listed and instance_a.owner not in listed


def test_the_team_screen_lists_the_whole_team_before_any_filter(instance_a):
    page = client_for(instance_a, instance_a.owner).get("/staff/team/")
    listed = [row.record.email for row in page.context["table"].paginated_rows]
    assert instance_a.owner in listed and instance_a.support in listed
    assert instance_a.customer not in listed
    text = page.content.decode()
    assert "No team members match." not in text and "[invalid name]" not in text


# --------------------------------------------------------------------------------------
# Change a role


def test_owner_changes_a_role_on_the_member_page_with_an_audit_row(instance_a):
    pk = make_member(instance_a, "agent@acme.test")
    owner = client_for(instance_a, instance_a.owner)

    response = owner.post(f"/staff/team/{pk}/", {"role": "billing"})

    assert response.status_code == 302
    assert member(instance_a, pk).role == Role.BILLING
    assert trail(instance_a, pk) == [
        ("user.role_changed", instance_a.owner, {"role": ["support", "billing"]})
    ]


def test_owner_changes_a_role_through_the_api(instance_a):
    pk = make_member(instance_a, "agent@acme.test")
    response = client_for(instance_a, instance_a.owner).patch(
        f"/api/staff/{pk}/", {"role": "admin"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["role"] == "admin"
    assert member(instance_a, pk).role == Role.ADMIN


def test_an_administrator_cannot_make_an_owner_or_change_one(instance_a):
    make_member(instance_a, "admin@acme.test", Role.ADMIN)
    agent = make_member(instance_a, "agent@acme.test")
    with schema_context(instance_a.schema_name):
        owner_pk = User.objects.get(email=instance_a.owner).pk
    admin = client_for(instance_a, "admin@acme.test")

    promote = admin.patch(
        f"/api/staff/{agent}/", {"role": "owner"}, content_type="application/json"
    )
    demote = admin.post(f"/api/staff/{owner_pk}/deactivate/")

    assert (promote.status_code, demote.status_code) == (403, 403)
    assert "Only an owner can change" in admin.get(f"/staff/team/{owner_pk}/").content.decode()
    assert member(instance_a, agent).role == Role.SUPPORT
    assert member(instance_a, owner_pk).is_active


# --------------------------------------------------------------------------------------
# Deactivate, reactivate


def test_deactivation_signs_the_member_out_at_once_and_their_token_answers_401(instance_a):
    pk = make_member(instance_a, "agent@acme.test")
    browser = client_for(instance_a, "agent@acme.test")
    with schema_context(instance_a.schema_name):
        token = Token.objects.create(user_id=pk).key
    assert browser.get("/staff/").status_code == 200
    me = client_for(instance_a).get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200

    response = client_for(instance_a, instance_a.owner).post(f"/staff/team/{pk}/deactivate/")

    assert response.status_code == 302
    assert sessions_of(instance_a, pk) == 0
    signed_out = browser.get("/staff/")
    assert signed_out.status_code == 302 and "/accounts/login/" in signed_out["Location"]
    api = client_for(instance_a).get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 401
    assert trail(instance_a, pk)[-1][:3] == (
        "user.deactivated",
        instance_a.owner,
        {"is_active": [True, False]},
    )


def test_reactivation_lets_the_member_sign_in_again_but_revives_no_old_session(instance_a):
    pk = make_member(instance_a, "agent@acme.test")
    old_browser = client_for(instance_a, "agent@acme.test")
    owner = client_for(instance_a, instance_a.owner)
    owner.post(f"/api/staff/{pk}/deactivate/")

    response = owner.post(f"/api/staff/{pk}/reactivate/")

    assert response.status_code == 200 and response.json()["is_active"] is True
    assert old_browser.get("/staff/").status_code == 302  # that session was ended, not paused
    assert client_for(instance_a, "agent@acme.test").get("/staff/").status_code == 200
    assert [action for action, *_ in trail(instance_a, pk) if "activated" in action] == [
        "user.deactivated",
        "user.reactivated",
    ]


def test_deactivation_leaves_other_users_sessions_alone(instance_a):
    pk = make_member(instance_a, "agent@acme.test")
    colleague = client_for(instance_a, instance_a.support)
    client_for(instance_a, instance_a.owner).post(f"/staff/team/{pk}/deactivate/")
    assert colleague.get("/staff/").status_code == 200


# --------------------------------------------------------------------------------------
# Last owner


def test_the_last_active_owner_cannot_be_demoted(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    with schema_context(instance_a.schema_name):
        me = User.objects.get(email=instance_a.owner)
        other_owners = list(User.objects.filter(role=Role.OWNER).exclude(pk=me.pk))
    assert other_owners  # the reseller's first owner: demote them first, which is allowed
    for other in other_owners:
        assert owner.post(f"/api/staff/{other.pk}/deactivate/").status_code == 200

    response = owner.patch(
        f"/api/staff/{me.pk}/", {"role": "admin"}, content_type="application/json"
    )
    screen = owner.post(f"/staff/team/{me.pk}/", {"role": "support"})

    assert response.status_code == 400
    assert "last active owner" in str(response.json()["role"])
    assert "last active owner" in str(screen.context["form"].errors["role"])
    assert member(instance_a, me.pk).role == Role.OWNER
    assert not [e for e in trail(instance_a, me.pk) if e[0] == "user.role_changed"]


def test_an_owner_may_step_down_while_another_owner_remains(instance_a):
    with schema_context(instance_a.schema_name):
        me = User.objects.get(email=instance_a.owner).pk
    response = client_for(instance_a, instance_a.owner).patch(
        f"/api/staff/{me}/", {"role": "admin"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert member(instance_a, me).role == Role.ADMIN


def test_nobody_deactivates_their_own_account(instance_a):
    with schema_context(instance_a.schema_name):
        me = User.objects.get(email=instance_a.owner).pk
    response = client_for(instance_a, instance_a.owner).post(f"/api/staff/{me}/deactivate/")
    assert response.status_code == 400
    assert member(instance_a, me).is_active


# --------------------------------------------------------------------------------------
# Who may


@pytest.mark.parametrize("who", ["support", "billing", "customer"])
def test_other_staff_and_customers_get_403_on_the_team_screens_and_api(instance_a, who):
    pk = make_member(instance_a, "agent@acme.test")
    if who == "billing":
        make_member(instance_a, "billing@acme.test", Role.BILLING)
    email = {"billing": "billing@acme.test"}.get(who) or getattr(instance_a, who)
    client = client_for(instance_a, email)

    answers = [
        client.get("/staff/team/").status_code,
        client.post("/staff/team/", {"email": "sneaky@acme.test", "role": "admin"}).status_code,
        client.get(f"/staff/team/{pk}/").status_code,
        client.post(f"/staff/team/{pk}/", {"role": "admin"}).status_code,
        client.post(f"/staff/team/{pk}/deactivate/").status_code,
        client.get("/api/staff/").status_code,
        client.get(f"/api/staff/{pk}/").status_code,
        client.patch(
            f"/api/staff/{pk}/", {"role": "admin"}, content_type="application/json"
        ).status_code,
        client.post(f"/api/staff/{pk}/deactivate/").status_code,
    ]

    assert answers == [403] * len(answers)
    agent = member(instance_a, pk)
    assert (agent.role, agent.is_active) == (Role.SUPPORT, True)
    with schema_context(instance_a.schema_name):
        assert not User.objects.filter(email="sneaky@acme.test").exists()


def test_the_team_link_is_shown_to_managers_only(instance_a):
    owner_page = client_for(instance_a, instance_a.owner).get("/staff/").content.decode()
    assert 'href="/staff/team/"' in owner_page
    assert 'href="/staff/team/"' not in (
        client_for(instance_a, instance_a.support).get("/staff/").content.decode()
    )


def test_another_instances_staff_are_404_by_id(instance_a, instance_b):
    theirs = make_member(instance_b, "agent@bluebird.test")
    with schema_context(instance_a.schema_name):
        assert not User.objects.filter(pk=theirs).exists()  # the id is free here
    owner = client_for(instance_a, instance_a.owner)

    answers = [
        owner.get(f"/staff/team/{theirs}/").status_code,
        owner.post(f"/staff/team/{theirs}/deactivate/").status_code,
        owner.get(f"/api/staff/{theirs}/").status_code,
        owner.patch(
            f"/api/staff/{theirs}/", {"role": "admin"}, content_type="application/json"
        ).status_code,
        owner.post(f"/api/staff/{theirs}/deactivate/").status_code,
    ]

    assert answers == [404] * len(answers)
    other = member(instance_b, theirs)
    assert (other.role, other.is_active) == (Role.SUPPORT, True)


def test_a_customer_account_is_not_a_team_member(instance_a):
    with schema_context(instance_a.schema_name):
        customer = User.objects.get(email=instance_a.customer).pk
    owner = client_for(instance_a, instance_a.owner)
    assert owner.get(f"/staff/team/{customer}/").status_code == 404
    assert owner.post(f"/api/staff/{customer}/deactivate/").status_code == 404
    assert member(instance_a, customer).is_active
