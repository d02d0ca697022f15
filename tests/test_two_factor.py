"""Two-factor sign-in: after the password, a session that owes a code reaches no staff page,
no portal page, no admin and no session API until the code is given; wrong codes are
refused and slowed down; recovery codes work once; the operator's staff always need it and
a reseller's owner may require it of its team; owners reset a member's second factor;
customers opt in; API tokens are listed, dated and revocable."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from tenant_apps.accounts import selectors, services
from tenant_apps.accounts.models import Role
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import PASSWORD, client_for
from tests.two_factor import app_code, give_app

User = get_user_model()
ADDRESS = "203.0.113.9"


def _user(info, email):
    return User.objects.get(email=email)


def app_for(info, email) -> TOTPDevice:
    with schema_context(info.schema_name):
        return give_app(_user(info, email))


def recovery_codes_for(info, email) -> list[str]:
    with schema_context(info.schema_name):
        user = _user(info, email)
        if selectors.two_factor_device(user) is None:
            give_app(user)
        return services.recovery_codes_renew(user=user)


def password_step(info, email, password=PASSWORD):
    """A browser that has typed the right password (and nothing more)."""
    browser = client_for(info)
    response = browser.post(
        "/accounts/login/", {"username": email, "password": password}, REMOTE_ADDR=ADDRESS
    )
    assert response.status_code == 302 and "_auth_user_id" in browser.session
    return browser


def give_code(browser, code, next_url="/"):
    return browser.post(
        "/accounts/two-factor/", {"code": code, "next": next_url}, REMOTE_ADDR=ADDRESS
    )


def events(info, action):
    with schema_context(info.schema_name):
        return list(audit_event_list(action=action))


def require_two_factor(info):
    with schema_context(info.schema_name):
        services.sign_in_policy_set(require_staff_two_factor=True)


def let_device_check_again(device):
    """As if the wait after a wrong code had passed."""
    type(device).objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - datetime.timedelta(days=1)
    )


# --------------------------------------------------------------------------------------
# After the password only


@pytest.mark.parametrize("path", ["/", "/staff/", "/staff/team/", "/console/", "/admin/"])
def test_operator_staff_reach_no_page_with_the_password_alone(operator, path):
    app_for(operator, operator.owner)
    browser = password_step(operator, operator.owner)

    response = browser.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/two-factor/?next=")


def test_the_session_api_treats_a_session_without_its_code_as_no_one(operator, instance_a):
    for info, email in ((operator, operator.owner), (instance_a, instance_a.owner)):
        app = app_for(info, email)
        browser = password_step(info, email)

        assert browser.get("/api/me/").status_code in (401, 403)
        assert browser.get("/api/customers/").status_code in (401, 403)

        give_code(browser, app_code(app))
        me = browser.get("/api/me/")
        assert me.status_code == 200 and me.json()["two_factor"]["enabled"] is True


def test_a_post_without_the_code_changes_nothing(instance_a):
    app_for(instance_a, instance_a.owner)
    browser = password_step(instance_a, instance_a.owner)

    response = browser.post("/staff/team/", {"email": "sneaky@acme.test", "role": "admin"})

    assert response.status_code == 302 and "/accounts/two-factor/" in response["Location"]
    with schema_context(instance_a.schema_name):
        assert not User.objects.filter(email="sneaky@acme.test").exists()


def test_the_django_admin_sign_in_asks_for_the_code_too(operator):
    app = app_for(operator, operator.owner)
    browser = client_for(operator)
    browser.post("/admin/login/?next=/admin/", {"username": operator.owner, "password": PASSWORD})

    refused = browser.get("/admin/")
    assert refused.status_code == 302 and "/accounts/two-factor/" in refused["Location"]
    assert browser.get("/admin/tenancy/reseller/").status_code == 302

    give_code(browser, app_code(app), next_url="/admin/")
    assert browser.get("/admin/").status_code == 200


def test_a_django_admin_without_an_app_is_sent_to_set_one_up(instance_a):
    with schema_context(instance_a.schema_name):
        User.objects.filter(email=instance_a.owner).update(is_superuser=True, is_django_admin=True)
    browser = password_step(instance_a, instance_a.owner)

    assert browser.get("/staff/").status_code == 200  # acme does not require it of staff
    admin = browser.get("/admin/")
    assert admin.status_code == 302 and "/accounts/two-factor/set-up/" in admin["Location"]


def test_the_right_code_opens_the_page_asked_for_and_renews_the_session_key(operator):
    app = app_for(operator, operator.owner)
    browser = password_step(operator, operator.owner)
    key_before = browser.session.session_key

    response = give_code(browser, app_code(app), next_url="/console/resellers/")

    assert response.status_code == 302 and response["Location"] == "/console/resellers/"
    assert browser.session.session_key != key_before
    assert browser.get("/console/resellers/").status_code == 200


def test_next_never_leads_off_the_site(operator):
    app = app_for(operator, operator.owner)
    browser = password_step(operator, operator.owner)

    response = give_code(browser, app_code(app), next_url="https://evil.example/")

    assert response["Location"] == "/"


# --------------------------------------------------------------------------------------
# Wrong codes


def test_a_wrong_code_is_refused_and_recorded_with_the_address(operator):
    app = app_for(operator, operator.owner)
    browser = password_step(operator, operator.owner)
    wrong = f"{(int(app_code(app)) + 1) % 1_000_000:06d}"

    response = give_code(browser, wrong)

    assert response.status_code == 200
    assert "not right" in " ".join(response.context["form"].errors["code"])
    assert browser.get("/console/").status_code == 302
    [refused] = events(operator, "user.two_factor_refused")
    assert refused.ip_address == ADDRESS and refused.actor_label == operator.owner
    assert wrong not in str(refused.detail)


def test_after_a_wrong_code_the_device_waits_before_checking_another(operator, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # a minute: no slow machine outlasts the wait
    app = app_for(operator, operator.owner)
    browser = password_step(operator, operator.owner)
    give_code(browser, "000000" if app_code(app) != "000000" else "111111")

    response = give_code(browser, app_code(app))

    assert response.status_code == 200
    assert "Wait" in " ".join(response.context["form"].errors["code"])
    assert browser.get("/console/").status_code == 302


def test_ten_wrong_codes_lock_the_account_out_like_ten_wrong_passwords(instance_a):
    app = app_for(instance_a, instance_a.support)
    browser = password_step(instance_a, instance_a.support)
    wrong = "123456" if app_code(app) != "123456" else "654321"

    for _ in range(9):
        assert give_code(browser, wrong).status_code == 200
        let_device_check_again(app)
    locked = give_code(browser, wrong)

    assert locked.status_code == 429 and "Signing in is paused" in locked.content.decode()
    assert "_auth_user_id" not in browser.session  # signed out
    again = client_for(instance_a).post(
        "/accounts/login/", {"username": instance_a.support, "password": PASSWORD}
    )
    assert again.status_code == 429


# --------------------------------------------------------------------------------------
# Recovery codes


def test_a_recovery_code_signs_in_once(instance_a):
    codes = recovery_codes_for(instance_a, instance_a.owner)
    code = f"{codes[0][:4]}-{codes[0][4:]}".upper()  # as shown, typed in capitals

    browser = password_step(instance_a, instance_a.owner)
    response = give_code(browser, code, next_url="/staff/")
    assert response.status_code == 302 and browser.get("/staff/").status_code == 200
    [used] = events(instance_a, "user.recovery_code_used")
    assert used.detail == {"left": 9}

    second = password_step(instance_a, instance_a.owner)
    refused = give_code(second, code)
    assert refused.status_code == 200 and second.get("/staff/").status_code == 302


def test_new_recovery_codes_replace_the_old_ones_and_are_shown_once(instance_a):
    old = recovery_codes_for(instance_a, instance_a.owner)
    browser = client_for(instance_a, instance_a.owner)

    page = browser.post("/accounts/two-factor/recovery-codes/")

    shown = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", page.content.decode())
    assert len(shown) == 10 and not set(shown) & {f"{c[:4]}-{c[4:]}" for c in old}
    with schema_context(instance_a.schema_name):
        stored = set(StaticToken.objects.values_list("token", flat=True))
    assert stored == {c.replace("-", "") for c in shown}
    security = browser.get("/accounts/security/").content.decode()
    assert not [code for code in shown if code in security or code.replace("-", "") in security]
    assert events(instance_a, "user.recovery_codes_renewed")


# --------------------------------------------------------------------------------------
# Password reset


def test_a_password_reset_signs_no_one_in_and_the_next_sign_in_asks_for_the_code(
    instance_a, mailoutbox
):
    app = app_for(instance_a, instance_a.owner)
    browser = client_for(instance_a)
    browser.post("/accounts/password-reset/", {"email": instance_a.owner})
    link = re.search(r"http://[^\s]+/accounts/reset/[^\s]+/", mailoutbox[0].body).group(0)
    form_page = browser.get(link.split(instance_a.host, 1)[1], follow=True)
    browser.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"},
    )

    assert "_auth_user_id" not in browser.session
    assert "/accounts/login/" in browser.get("/staff/")["Location"]
    signed_in = password_step(instance_a, instance_a.owner, "brand-new-pass-42")
    assert "/accounts/two-factor/" in signed_in.get("/staff/")["Location"]
    give_code(signed_in, app_code(app))
    assert signed_in.get("/staff/").status_code == 200


# --------------------------------------------------------------------------------------
# Who must use it


def test_an_instance_that_requires_it_sends_staff_without_an_app_to_set_up(instance_a, instance_b):
    require_two_factor(instance_a)

    on_a = password_step(instance_a, instance_a.support)
    on_b = password_step(instance_b, instance_b.support)

    for path in ("/staff/", "/staff/helpdesk/", "/accounts/security/"):
        response = on_a.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/two-factor/set-up/")
    assert on_b.get("/staff/").status_code == 200  # B asks only for the password
    # Customers of A choose for themselves.
    assert password_step(instance_a, instance_a.customer).get("/portal/").status_code == 200


def test_operator_staff_without_an_app_must_set_one_up(operator):
    browser = password_step(operator, operator.support)

    response = browser.get("/console/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/two-factor/set-up/")
    with schema_context(operator.schema_name), pytest.raises(Exception, match="always"):
        services.sign_in_policy_set(require_staff_two_factor=False)


def test_only_an_owner_changes_the_policy_and_it_is_audited(instance_a):
    admin = client_for(instance_a, instance_a.support)
    with schema_context(instance_a.schema_name):
        User.objects.filter(email=instance_a.support).update(role=Role.ADMIN)
    admin.post("/staff/team/sign-in-policy/", {"require_staff_two_factor": "on"})
    with schema_context(instance_a.schema_name):
        assert selectors.two_factor_enforced_for_staff() is False

    owner = client_for(instance_a, instance_a.owner)
    owner.post("/staff/team/sign-in-policy/", {"require_staff_two_factor": "on"})

    with schema_context(instance_a.schema_name):
        assert selectors.two_factor_enforced_for_staff() is True
    [changed] = events(instance_a, "signinpolicy.changed")
    assert changed.actor_label == instance_a.owner
    assert changed.changes == {"require_staff_two_factor": [False, True]}
    # The owner has no app yet: their next page is the set-up.
    assert "/accounts/two-factor/set-up/" in owner.get("/staff/")["Location"]


# --------------------------------------------------------------------------------------
# Setting up, and turning off


def test_set_up_shows_a_qr_code_and_the_secret_and_a_first_code_turns_it_on(operator):
    browser = password_step(operator, operator.support)

    page = browser.get("/accounts/two-factor/set-up/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "<script>" not in html
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    with schema_context(operator.schema_name):
        pending = TOTPDevice.objects.get(user__email=operator.support, confirmed=False)
    assert secret == __import__("base64").b32encode(pending.bin_key).decode().rstrip("=")

    wrong = browser.post("/accounts/two-factor/set-up/", {"code": "12345"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["code"]
    let_device_check_again(pending)
    done = browser.post("/accounts/two-factor/set-up/", {"code": app_code(pending)})

    assert done.status_code == 200
    assert len(re.findall(r"<code>[a-z2-7]{4}-[a-z2-7]{4}</code>", done.content.decode())) == 10
    assert browser.get("/console/").status_code == 200
    [enabled] = events(operator, "user.two_factor_enabled")
    assert enabled.actor_label == operator.support


def test_a_session_that_owes_a_code_cannot_set_up_another_app(instance_a):
    app_for(instance_a, instance_a.owner)
    browser = password_step(instance_a, instance_a.owner)

    response = browser.get("/accounts/two-factor/set-up/")

    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/"
    with schema_context(instance_a.schema_name):
        assert TOTPDevice.objects.filter(user__email=instance_a.owner).count() == 1


def test_a_customer_opts_in_from_the_portal_and_then_signs_in_with_a_code(instance_a):
    browser = client_for(instance_a, instance_a.customer)
    security = browser.get("/accounts/security/")
    assert security.status_code == 200 and "Set up two-factor sign-in" in security.content.decode()
    browser.get("/accounts/two-factor/set-up/")
    with schema_context(instance_a.schema_name):
        pending = TOTPDevice.objects.get(user__email=instance_a.customer, confirmed=False)
    browser.post("/accounts/two-factor/set-up/", {"code": app_code(pending)})
    assert browser.get("/portal/").status_code == 200  # this session passed with that code

    later = password_step(instance_a, instance_a.customer)
    assert "/accounts/two-factor/" in later.get("/portal/")["Location"]
    give_code(later, app_code(pending, steps_ahead=1))
    assert later.get("/portal/").status_code == 200


def test_turning_it_off_asks_for_the_password_or_a_code(instance_a):
    app_for(instance_a, instance_a.customer)
    browser = client_for(instance_a, instance_a.customer)

    refused = browser.post("/accounts/two-factor/disable/", {"proof": "not-my-password"})
    assert refused.status_code == 200 and refused.context["disable_form"].errors["proof"]
    with schema_context(instance_a.schema_name):
        device = selectors.two_factor_device(_user(instance_a, instance_a.customer))
        assert device is not None
        let_device_check_again(device)

    done = browser.post("/accounts/two-factor/disable/", {"proof": PASSWORD})

    assert done.status_code == 302
    with schema_context(instance_a.schema_name):
        assert selectors.two_factor_device(_user(instance_a, instance_a.customer)) is None
    [disabled] = events(instance_a, "user.two_factor_disabled")
    assert disabled.actor_label == instance_a.customer
    assert password_step(instance_a, instance_a.customer).get("/portal/").status_code == 200


def test_staff_cannot_turn_it_off_where_it_is_required(operator):
    browser = client_for(operator, operator.support)  # has an app (required)

    response = browser.post("/accounts/two-factor/disable/", {"proof": PASSWORD})

    assert response.status_code == 200
    assert "required" in " ".join(response.context["disable_form"].errors["proof"])
    with schema_context(operator.schema_name):
        assert selectors.two_factor_device(_user(operator, operator.support)) is not None


# --------------------------------------------------------------------------------------
# An owner's reset


def test_an_owner_resets_a_members_two_factor_and_it_is_audited(instance_a):
    require_two_factor(instance_a)
    app_for(instance_a, instance_a.support)
    member_session = client_for(instance_a, instance_a.support)
    assert member_session.get("/staff/").status_code == 200
    with schema_context(instance_a.schema_name):
        member_id = _user(instance_a, instance_a.support).pk

    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(f"/staff/team/{member_id}/two-factor/reset/")

    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        assert selectors.two_factor_device(_user(instance_a, instance_a.support)) is None
    [reset] = events(instance_a, "user.two_factor_reset")
    assert reset.actor_label == instance_a.owner and reset.object_id == str(member_id)
    # Their session no longer counts as verified: they set up a new app first.
    assert "/accounts/two-factor/set-up/" in member_session.get("/staff/")["Location"]


def test_an_administrator_cannot_reset_anyones_two_factor(instance_a):
    app_for(instance_a, instance_a.support)
    with schema_context(instance_a.schema_name):
        admin = User.objects.create_user(
            email="admin@acme.test", password=PASSWORD, role=Role.ADMIN
        )
        member_id = _user(instance_a, instance_a.support).pk

    client_for(instance_a, admin.email).post(f"/staff/team/{member_id}/two-factor/reset/")

    with schema_context(instance_a.schema_name):
        assert selectors.two_factor_device(_user(instance_a, instance_a.support)) is not None
    assert events(instance_a, "user.two_factor_reset") == []


def test_support_and_customers_cannot_reach_the_reset(instance_a):
    app_for(instance_a, instance_a.owner)
    with schema_context(instance_a.schema_name):
        owner_id = _user(instance_a, instance_a.owner).pk

    for email in (instance_a.support, instance_a.customer):
        response = client_for(instance_a, email).post(f"/staff/team/{owner_id}/two-factor/reset/")
        assert response.status_code == 403
    with schema_context(instance_a.schema_name):
        assert selectors.two_factor_device(_user(instance_a, instance_a.owner)) is not None


def test_another_instances_member_cannot_be_reset_or_have_a_token_revoked(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        highest_on_a = User.objects.order_by("-pk").values_list("pk", flat=True).first()
    with schema_context(instance_b.schema_name):
        # Ids are per schema: take one that is nobody on A, so only isolation can answer.
        b_member = User.objects.create_user(
            email="far@bluebird.test", password=PASSWORD, role=Role.SUPPORT
        )
        while b_member.pk <= highest_on_a:
            b_member.delete()
            b_member = User.objects.create_user(
                email="far@bluebird.test", password=PASSWORD, role=Role.SUPPORT
            )
        give_app(b_member)
        Token.objects.create(user=b_member)
    owner_a = client_for(instance_a, instance_a.owner)

    reset = owner_a.post(f"/staff/team/{b_member.pk}/two-factor/reset/")
    revoke = owner_a.post(f"/staff/team/{b_member.pk}/api-token/revoke/")

    assert reset.status_code == 404 and revoke.status_code == 404
    with schema_context(instance_b.schema_name):
        assert selectors.two_factor_device(b_member) is not None
        assert Token.objects.filter(user=b_member).exists()


def test_the_team_list_shows_who_has_two_factor(instance_a):
    app_for(instance_a, instance_a.support)

    page = client_for(instance_a, instance_a.owner).get("/staff/team/")

    rows = {row.record.email: row.record.two_factor_enabled for row in page.context["table"].rows}
    assert rows[instance_a.support] is True and rows[instance_a.owner] is False


# --------------------------------------------------------------------------------------
# API tokens


def test_the_security_page_lists_the_token_with_its_last_use_and_revokes_it(instance_a):
    app_for(instance_a, instance_a.owner)
    with schema_context(instance_a.schema_name):
        key = Token.objects.create(user=_user(instance_a, instance_a.owner)).key
    browser = client_for(instance_a, instance_a.owner)
    assert browser.get("/accounts/security/").context["token_last_used"] is None

    api = client_for(instance_a)
    assert api.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    page = browser.get("/accounts/security/")
    assert page.context["token_last_used"] is not None and page.context["token"].key == key
    assert key not in page.content.decode()  # listed, never shown again here

    browser.post("/accounts/security/api-token/revoke/")
    assert api.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert events(instance_a, "user.api_token_revoked")


def test_the_security_page_shows_and_revokes_the_signed_in_users_token_only(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        owner_key = Token.objects.create(user=_user(instance_a, instance_a.owner)).key
        Token.objects.create(user=_user(instance_a, instance_a.support))
    with schema_context(instance_b.schema_name):
        Token.objects.create(user=_user(instance_b, instance_b.support))
    support = client_for(instance_a, instance_a.support)

    page = support.get("/accounts/security/")
    support.post("/accounts/security/api-token/revoke/")

    assert page.context["token"].user.email == instance_a.support
    with schema_context(instance_a.schema_name):
        assert list(Token.objects.values_list("key", flat=True)) == [owner_key]
    with schema_context(instance_b.schema_name):
        assert Token.objects.filter(user__email=instance_b.support).exists()


def test_an_api_token_works_without_a_second_factor(operator):
    with schema_context(operator.schema_name):
        user = _user(operator, operator.support)
        give_app(user)
        key = Token.objects.create(user=user).key

    response = client_for(operator).get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200
    assert response.json()["two_factor"] == {
        "enabled": True,
        "required": True,
        "recovery_codes_left": 0,
    }


def test_an_owner_revokes_a_members_token_from_the_team_screen_and_support_cannot(instance_a):
    with schema_context(instance_a.schema_name):
        member = _user(instance_a, instance_a.support)
        owner = _user(instance_a, instance_a.owner)
        Token.objects.create(user=member)
        Token.objects.create(user=owner)

    refused = client_for(instance_a, instance_a.support).post(
        f"/staff/team/{owner.pk}/api-token/revoke/"
    )
    assert refused.status_code == 403
    owner_browser = client_for(instance_a, instance_a.owner)
    page = owner_browser.get(f"/staff/team/{member.pk}/")
    assert page.context["token"] is not None
    owner_browser.post(f"/staff/team/{member.pk}/api-token/revoke/")

    with schema_context(instance_a.schema_name):
        assert not Token.objects.filter(user=member).exists()
        assert Token.objects.filter(user=owner).exists()
        [revoked] = audit_event_list(action="user.api_token_revoked")
    assert revoked.actor_label == instance_a.owner and revoked.object_id == str(member.pk)


# --------------------------------------------------------------------------------------
# The last owner locked out


def test_the_reset_command_lets_a_locked_out_owner_set_up_again(operator, instance_a):
    app_for(operator, operator.owner)
    app_for(instance_a, instance_a.owner)

    call_command("two_factor_reset", operator.owner.upper(), stdout=io.StringIO())

    with schema_context(operator.schema_name):
        assert selectors.two_factor_device(_user(operator, operator.owner)) is None
    with schema_context(instance_a.schema_name):  # another instance's same-named owner: kept
        assert selectors.two_factor_device(_user(instance_a, instance_a.owner)) is not None
    [reset] = events(operator, "user.two_factor_reset")
    assert reset.actor_label == "command"
    browser = password_step(operator, operator.owner)
    assert "/accounts/two-factor/set-up/" in browser.get("/console/")["Location"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody@operator.test"], "No user"),
        (["owner@acme.test", "--schema", "r_nowhere"], "No instance"),
    ],
)
def test_the_reset_command_says_what_is_wrong(operator, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("two_factor_reset", *args)
