"""Sign-ins, failed sign-ins, sign-outs and account writes in the instance's audit trail:
recorded in the instance they happen in (with the client's address), never in another,
and never with a password."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from tenant_apps.accounts import services
from tenant_apps.accounts.models import Role
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import PASSWORD, client_for


def _events(info, action: str) -> list:
    with schema_context(info.schema_name):
        return list(audit_event_list(action=action))


def test_a_failed_sign_in_in_one_instance_is_recorded_there_with_the_ip_and_not_in_another(
    instance_a, instance_b
):
    browser = client_for(instance_a)

    response = browser.post(
        "/accounts/login/",
        {"username": instance_a.owner, "password": "wrong-password-1"},
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == 200
    [failed] = _events(instance_a, "user.sign_in_failed")
    assert failed.ip_address == "203.0.113.7"
    assert failed.detail == {"email": instance_a.owner}
    assert failed.actor_id is None and failed.actor_label == "anonymous"
    assert "wrong-password-1" not in str(failed.detail) + str(failed.changes)
    assert _events(instance_b, "user.sign_in_failed") == []


def test_a_failed_sign_in_for_an_unknown_email_records_the_email_tried(instance_a):
    client_for(instance_a).post(
        "/accounts/login/",
        {"username": "nobody@nowhere.test", "password": "guess"},
        REMOTE_ADDR="198.51.100.4",
    )

    [failed] = _events(instance_a, "user.sign_in_failed")
    assert failed.detail == {"email": "nobody@nowhere.test"}
    assert failed.object_label == "nobody@nowhere.test" and failed.object_id == ""


def test_a_sign_in_and_a_sign_out_are_recorded_with_the_user_and_the_ip(instance_a, instance_b):
    browser = client_for(instance_a)

    browser.post(
        "/accounts/login/",
        {"username": instance_a.support, "password": PASSWORD},
        REMOTE_ADDR="192.0.2.10",
    )
    browser.post("/accounts/logout/", REMOTE_ADDR="192.0.2.11")

    [signed_in] = _events(instance_a, "user.signed_in")
    [signed_out] = _events(instance_a, "user.signed_out")
    assert signed_in.actor_label == instance_a.support and signed_in.ip_address == "192.0.2.10"
    assert signed_out.actor_label == instance_a.support and signed_out.ip_address == "192.0.2.11"
    assert _events(instance_b, "user.signed_in") == []


def test_a_forwarded_for_header_is_not_trusted_when_no_proxy_is_declared(instance_a):
    client_for(instance_a).post(
        "/accounts/login/",
        {"username": instance_a.owner, "password": "nope"},
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )

    [failed] = _events(instance_a, "user.sign_in_failed")
    assert failed.ip_address == "203.0.113.7"


def test_a_password_reset_through_the_link_is_recorded_for_that_user(instance_a, mailoutbox):
    browser = client_for(instance_a)
    browser.post("/accounts/password-reset/", {"email": instance_a.customer})
    link = re.search(r"http://[^\s]+/accounts/reset/[^\s]+/", mailoutbox[0].body).group(0)
    form_page = browser.get(link.split(instance_a.host, 1)[1], follow=True)
    browser.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"},
    )

    [reset] = _events(instance_a, "user.password_reset")
    assert reset.actor_label == instance_a.customer
    assert "brand-new-pass-42" not in str(reset.detail) + str(reset.changes)
    with schema_context(instance_a.schema_name):
        assert (
            get_user_model()
            .objects.get(email=instance_a.customer)
            .check_password("brand-new-pass-42")
        )


def test_a_password_change_while_signed_in_is_recorded(instance_a):
    browser = client_for(instance_a, instance_a.support)

    response = browser.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-pass-77",
            "new_password2": "another-pass-77",
        },
    )

    assert response.status_code == 302
    [changed] = _events(instance_a, "user.password_changed")
    assert changed.actor_label == instance_a.support
    assert browser.get("/staff/").status_code == 200  # still signed in


def test_staff_invite_role_change_deactivation_and_tokens_are_recorded_with_the_actor(
    instance_a,
):
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        invited = services.staff_invite(
            email="new@acme.test", role=Role.SUPPORT, domain=instance_a.host, actor=owner
        )
        services.staff_role_change(user=invited, role=Role.BILLING, actor=owner)
        services.api_token_rotate(user=invited)
        services.staff_deactivate(user=invited, actor=owner)

        trail = [
            (e.action, e.actor_label, e.changes)
            for e in reversed(audit_event_list(object_type="user", object_id=str(invited.pk)))
        ]
        assert not Token.objects.filter(user=invited).exists()
    assert trail == [
        ("user.invited", instance_a.owner, {}),
        ("user.role_changed", instance_a.owner, {"role": ["support", "billing"]}),
        ("user.api_token_rotated", "new@acme.test", {}),
        ("user.deactivated", instance_a.owner, {"is_active": [True, False]}),
    ]


def test_the_owner_cannot_be_demoted_or_deactivated_when_asked(instance_a):
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        with pytest.raises(ValidationError, match="owner"):
            services.staff_role_change(user=owner, role=Role.SUPPORT)
        with pytest.raises(ValidationError, match="owner"):
            services.staff_deactivate(user=owner)
        assert get_user_model().objects.get(pk=owner.pk).role == Role.OWNER
        assert not audit_event_list(action="user.role_changed").exists()
