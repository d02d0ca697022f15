"""Throttling: failed sign-ins lock an account and an address out on one instance only,
password e-mails are limited per address and per address of the sender, and the API and
the bridge's inbox API answer 429 with Retry-After once a caller spends its allowance."""

from __future__ import annotations

import datetime

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from config.api_throttling import InstanceApiThrottle
from shared_apps.bridge import inbox
from shared_apps.bridge.throttling import InboxThrottle
from shared_apps.tenancy.models import Reseller
from tenant_apps.accounts import services as accounts
from tenant_apps.accounts.models import Role
from tests.conftest import OPERATOR_HOST, PASSWORD, client_for

SHARED_EMAIL = "same.person@example.test"
ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.20"


def _sign_in(info, email, password, ip=ATTACKER, path="/accounts/login/"):
    return client_for(info).post(path, {"username": email, "password": password}, REMOTE_ADDR=ip)


def _fail(info, email, times, ip=ATTACKER, path="/accounts/login/"):
    for attempt in range(times):
        _sign_in(info, email, f"wrong-{attempt}", ip=ip, path=path)


def _signed_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


@pytest.fixture
def same_email_on_both(instance_a, instance_b):
    for info in (instance_a, instance_b):
        with schema_context(info.schema_name):
            get_user_model().objects.create_user(
                email=SHARED_EMAIL, password=PASSWORD, role=Role.CUSTOMER
            )


# --------------------------------------------------------------------------------------
# Sign-in lockouts


def test_ten_wrong_passwords_lock_the_account_on_that_instance_only(
    instance_a, instance_b, same_email_on_both
):
    _fail(instance_a, SHARED_EMAIL, 10)

    refused = _sign_in(instance_a, SHARED_EMAIL, PASSWORD, ip=ELSEWHERE)
    other_instance = _sign_in(instance_b, SHARED_EMAIL, PASSWORD, ip=ATTACKER)

    assert refused.status_code == 429 and not _signed_in(refused)
    assert _signed_in(other_instance)


def test_nine_wrong_passwords_do_not_lock_the_account(instance_a, same_email_on_both):
    _fail(instance_a, SHARED_EMAIL, 9)

    assert _signed_in(_sign_in(instance_a, SHARED_EMAIL, PASSWORD, ip=ELSEWHERE))


def test_the_lockout_page_says_why_and_when_to_try_again(instance_a, same_email_on_both):
    _fail(instance_a, SHARED_EMAIL, 10)

    response = _sign_in(instance_a, SHARED_EMAIL, PASSWORD)

    page = response.content.decode()
    assert response.status_code == 429
    assert "Signing in is paused" in page and "try again in 15 minutes" in page
    assert response["Retry-After"] == str(15 * 60)


def test_changing_the_case_of_the_email_buys_no_more_attempts(instance_a, same_email_on_both):
    _fail(instance_a, SHARED_EMAIL, 5)
    _fail(instance_a, SHARED_EMAIL.upper(), 5, ip=ELSEWHERE)

    assert _sign_in(instance_a, SHARED_EMAIL, PASSWORD, ip="192.0.2.1").status_code == 429


def test_a_locked_accounts_correct_password_is_refused_until_the_cool_off_ends(
    instance_a, same_email_on_both
):
    _fail(instance_a, SHARED_EMAIL, 10)
    assert _sign_in(instance_a, SHARED_EMAIL, PASSWORD).status_code == 429

    with schema_context(instance_a.schema_name):
        AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=14))
    assert _sign_in(instance_a, SHARED_EMAIL, PASSWORD).status_code == 429

    with schema_context(instance_a.schema_name):
        AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))
    assert _signed_in(_sign_in(instance_a, SHARED_EMAIL, PASSWORD))


def test_ten_failures_from_one_address_lock_that_address_for_every_account(instance_a):
    for n in range(10):
        _sign_in(instance_a, f"guess{n}@example.test", "password123")

    from_attacker = _sign_in(instance_a, instance_a.owner, PASSWORD, ip=ATTACKER)
    from_elsewhere = _sign_in(instance_a, instance_a.owner, PASSWORD, ip=ELSEWHERE)

    assert from_attacker.status_code == 429
    assert _signed_in(from_elsewhere)


def test_a_forwarded_for_header_is_not_trusted_without_a_declared_proxy(instance_a):
    for n in range(10):
        client_for(instance_a).post(
            "/accounts/login/",
            {"username": f"guess{n}@example.test", "password": "x"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )

    assert _sign_in(instance_a, instance_a.owner, PASSWORD, ip=ATTACKER).status_code == 429


def test_the_operators_console_sign_in_is_locked_out_too(operator):
    _fail(operator, operator.owner, 10)

    response = _sign_in(operator, operator.owner, PASSWORD, ip=ELSEWHERE)

    assert response.status_code == 429


def test_the_django_admin_sign_in_is_locked_out_too(operator):
    _fail(operator, operator.owner, 10, path="/admin/login/")

    response = _sign_in(operator, operator.owner, PASSWORD, ip=ELSEWHERE, path="/admin/login/")

    assert response.status_code == 429 and "_auth_user_id" not in response.client.session


def test_failures_on_the_admin_and_the_sign_in_page_count_together(operator):
    _fail(operator, operator.owner, 5, path="/admin/login/")
    _fail(operator, operator.owner, 5)

    assert _sign_in(operator, operator.owner, PASSWORD, ip=ELSEWHERE).status_code == 429


# --------------------------------------------------------------------------------------
# Password e-mails


def _ask_reset(info, email, ip=ATTACKER):
    return client_for(info).post("/accounts/password-reset/", {"email": email}, REMOTE_ADDR=ip)


def test_a_fourth_reset_request_for_one_address_in_an_hour_is_refused_with_a_message(
    instance_a,
):
    for _ in range(3):
        assert _ask_reset(instance_a, instance_a.customer).status_code == 302

    refused = _ask_reset(instance_a, instance_a.customer, ip=ELSEWHERE)

    assert refused.status_code == 200
    assert "Too many password reset requests" in refused.content.decode()
    assert len(mail.outbox) == 3


def test_the_reset_limit_answers_the_same_for_an_address_without_an_account(instance_a):
    unknown = "nobody-here@example.test"
    answers = [_ask_reset(instance_a, unknown).status_code for _ in range(3)]
    refused = _ask_reset(instance_a, unknown)

    assert answers == [302, 302, 302]
    assert "Too many password reset requests" in refused.content.decode()
    assert mail.outbox == []


def test_reset_requests_from_one_address_are_limited_across_e_mails(instance_a, settings):
    settings.UPLINE_PASSWORD_MAIL_LIMITS = {
        **settings.UPLINE_PASSWORD_MAIL_LIMITS,
        "reset": {"per_address": 3, "per_ip": 4},
    }
    for n in range(4):
        assert _ask_reset(instance_a, f"someone{n}@example.test").status_code == 302

    assert _ask_reset(instance_a, instance_a.customer).status_code == 200
    assert _ask_reset(instance_a, instance_a.customer, ip=ELSEWHERE).status_code == 302


def test_the_reset_limit_of_one_instance_does_not_apply_on_another(
    instance_a, instance_b, same_email_on_both
):
    for _ in range(4):
        _ask_reset(instance_a, SHARED_EMAIL)

    assert _ask_reset(instance_b, SHARED_EMAIL).status_code == 302
    assert [m.to for m in mail.outbox].count([SHARED_EMAIL]) == 4


def test_invitations_to_one_address_are_limited(instance_a):
    with schema_context(instance_a.schema_name):
        owner = get_user_model().objects.get(email=instance_a.owner)
        for _ in range(3):
            user = accounts.staff_invite(
                email="newcomer@example.test",
                role=Role.SUPPORT,
                domain=instance_a.host,
                actor=owner,
                ip_address=ATTACKER,
            )
            user.delete()  # invited, removed, invited again: the mail is what is limited
        with pytest.raises(ValidationError) as refused:
            accounts.staff_invite(
                email="newcomer@example.test",
                role=Role.SUPPORT,
                domain=instance_a.host,
                actor=owner,
                ip_address=ELSEWHERE,
            )

    assert "Too many invitations" in refused.value.message_dict["email"][0]


# --------------------------------------------------------------------------------------
# API throttles


@pytest.fixture
def tight_api_rates(monkeypatch):
    rates = {"api": "3/min", "api_anonymous": "2/min", "bridge_inbox": "2/min"}
    monkeypatch.setattr(InstanceApiThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(InboxThrottle, "THROTTLE_RATES", rates)


def test_the_api_answers_429_with_retry_after_once_the_rate_is_spent(instance_a, tight_api_rates):
    api = client_for(instance_a, instance_a.owner)
    answers = [api.get("/api/customers/").status_code for _ in range(3)]

    throttled = api.get("/api/customers/")

    assert answers == [200, 200, 200]
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60


def test_one_users_api_allowance_is_not_another_users_nor_another_instances(
    instance_a, instance_b, tight_api_rates
):
    busy = client_for(instance_a, instance_a.owner)
    for _ in range(4):
        busy.get("/api/customers/")

    assert client_for(instance_a, instance_a.support).get("/api/customers/").status_code == 200
    assert client_for(instance_b, instance_b.owner).get("/api/customers/").status_code == 200


def test_the_inbox_api_is_throttled_per_reseller(instance_a, instance_b, tight_api_rates):
    acme_key = inbox.inbox_token_create(reseller=Reseller.objects.get(slug="acme"))[1]
    bluebird_key = inbox.inbox_token_create(reseller=Reseller.objects.get(slug="bluebird"))[1]

    def call(key):
        return client_for_inbox(key).get("/api/bridge/escalations/")

    answers = [call(acme_key).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert call(acme_key)["Retry-After"]
    assert call(bluebird_key).status_code == 200


def client_for_inbox(key):
    from django.test import Client

    return Client(HTTP_HOST=OPERATOR_HOST, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_a_portal_invitation_over_the_limit_is_a_message_on_the_customer_page(instance_a, settings):
    from tenant_apps.clients.models import Customer
    from tests.test_clients_services import CustomerFactory

    settings.UPLINE_PASSWORD_MAIL_LIMITS = {
        **settings.UPLINE_PASSWORD_MAIL_LIMITS,
        "invitation": {"per_address": 3, "per_ip": 1},
    }
    with schema_context(instance_a.schema_name):
        first, second = CustomerFactory(), CustomerFactory()
    staff = client_for(instance_a, instance_a.owner)

    staff.post(f"/staff/customers/{first.pk}/invite/", REMOTE_ADDR=ATTACKER)
    refused = staff.post(f"/staff/customers/{second.pk}/invite/", REMOTE_ADDR=ATTACKER, follow=True)

    assert refused.status_code == 200
    assert "Too many invitations" in refused.content.decode()
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=first.pk).user_id is not None
        assert Customer.objects.get(pk=second.pk).user_id is None
