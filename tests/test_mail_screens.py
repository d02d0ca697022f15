"""The staff area's e-mail screens: sending settings for the owner only (secrets never shown
back, a test e-mail that explains a failure), the e-mail log with its retry button, the
customer's e-mail history, and the read-only API — each limited to its own instance."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.mail import services
from tenant_apps.mail.models import MailSettings, OutgoingEmail
from tests.billing_fixtures import make_customer
from tests.conftest import client_for
from tests.mail_fixtures import closed_port

SETTINGS = "/staff/mail/"
LOG = "/staff/mail/log/"


def _failed(info, subject="Invoice 7", customer_id=None) -> int:
    with schema_context(info.schema_name):
        return OutgoingEmail.objects.create(
            to=["client@example.com"],
            subject=subject,
            body_text="Hi.",
            status="failed",
            attempts=3,
            last_error="The mail server refused the connection.",
            customer_id=customer_id,
            next_attempt_at=timezone.now() + datetime.timedelta(hours=1),
        ).pk


# --------------------------------------------------------------------------------------
# Sending settings


@pytest.mark.parametrize("who", ["support", "customer"])
def test_only_the_owner_opens_the_sending_settings(instance_a, who):
    response = client_for(instance_a, getattr(instance_a, who)).get(SETTINGS)
    assert response.status_code == 403


def test_the_owner_saves_an_smtp_server_and_the_password_is_never_shown_back(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(
        SETTINGS,
        {
            "transport": "smtp",
            "smtp_host": "smtp.example.com",
            "smtp_port": "587",
            "smtp_security": "starttls",
            "smtp_username": "mailer",
            "smtp_password": "Very-Secret-42",
        },
    )
    assert response.status_code == 302
    page = owner.get(SETTINGS).content.decode()
    assert "smtp.example.com" in page and "An SMTP password is saved" in page
    assert "Very-Secret-42" not in page
    with schema_context(instance_a.schema_name):
        row = MailSettings.objects.get()
        assert row.transport == "smtp" and "Very-Secret-42" not in row.smtp_password_encrypted
    # Saving again without a password keeps the saved one.
    owner.post(
        SETTINGS,
        {"transport": "smtp", "smtp_host": "smtp2.example.com", "smtp_port": "587"}
        | {"smtp_security": "starttls", "smtp_username": "mailer"},
    )
    with schema_context(instance_a.schema_name):
        assert MailSettings.objects.get().smtp_password_encrypted == row.smtp_password_encrypted


def test_a_support_agent_cannot_post_sending_settings(instance_a):
    response = client_for(instance_a, instance_a.support).post(
        SETTINGS, {"transport": "smtp", "smtp_host": "evil.example", "smtp_port": "25"}
    )
    assert response.status_code == 403
    with schema_context(instance_a.schema_name):
        assert not MailSettings.objects.exists()


def test_bad_settings_come_back_as_field_errors(instance_a):
    response = client_for(instance_a, instance_a.owner).post(
        SETTINGS, {"transport": "smtp", "smtp_host": "", "smtp_port": ""}
    )
    assert response.status_code == 200
    assert "Enter the SMTP server" in response.content.decode()


def test_a_failed_test_email_says_why_in_plain_words(instance_a, settings):
    settings.UPLINE_MAIL_ALLOW_PRIVATE_SMTP = True
    port = closed_port()
    with schema_context(instance_a.schema_name):
        services.mail_settings_set(
            transport="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"
        )
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post("/staff/mail/test/", {"to": "me@example.com"}, follow=True)
    page = response.content.decode()
    assert "The test e-mail could not be sent" in page
    assert f"127.0.0.1:{port} refused the connection: check the host name and the port." in page
    with schema_context(instance_a.schema_name):
        test_mail = OutgoingEmail.objects.get(template_key="test")
        assert test_mail.status == "failed" and test_mail.next_attempt_at is None


def test_a_test_email_through_the_relay_is_sent(instance_a, mailoutbox):
    response = client_for(instance_a, instance_a.owner).post(
        "/staff/mail/test/", {"to": "me@example.com"}, follow=True
    )
    assert "The test e-mail was sent to me@example.com" in response.content.decode()
    assert mailoutbox[0].to == ["me@example.com"]


# --------------------------------------------------------------------------------------
# The e-mail log and its retry button


def test_the_log_lists_this_instance_mail_only_and_filters_by_status(instance_a, instance_b):
    _failed(instance_a, "Acme invoice")
    _failed(instance_b, "Bluebird invoice")
    support = client_for(instance_a, instance_a.support)
    page = support.get(LOG).content.decode()
    assert "Acme invoice" in page and "Bluebird invoice" not in page
    assert "The mail server refused the connection." in page and "Send again" in page
    assert "Acme invoice" not in support.get(LOG + "?status=sent").content.decode()
    assert client_for(instance_a, instance_a.customer).get(LOG).status_code == 403


def test_retry_sends_a_failed_email_again(
    instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    pk = _failed(instance_a)
    staff = client_for(instance_a, instance_a.support)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/staff/mail/log/{pk}/retry/", {"next": LOG})
    assert response.status_code == 302 and response.url == LOG
    with schema_context(instance_a.schema_name):
        row = OutgoingEmail.objects.get(pk=pk)
        assert row.status == "sent" and row.attempts == 4
    assert [m.subject for m in mailoutbox] == ["Invoice 7"]


def test_retry_cannot_reach_another_instance_email(instance_a, instance_b, mailoutbox):
    with schema_context(instance_a.schema_name):
        OutgoingEmail.objects.all().delete()
    pk = _failed(instance_b, "Bluebird only")
    response = client_for(instance_a, instance_a.owner).post(
        f"/staff/mail/log/{pk}/retry/", follow=True
    )
    assert "not in this instance&#x27;s log" in response.content.decode()
    with schema_context(instance_b.schema_name):
        assert OutgoingEmail.objects.get(pk=pk).status == "failed"
    assert mailoutbox == []


def test_the_customer_page_lists_that_customer_emails_only(instance_a):
    with schema_context(instance_a.schema_name):
        customer, other = make_customer("Alice Martin"), make_customer("Bob Other")
    _failed(instance_a, "Alice's invoice", customer_id=customer.pk)
    _failed(instance_a, "Bob's invoice", customer_id=other.pk)
    page = client_for(instance_a, instance_a.support).get(f"/staff/customers/{customer.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Alice&#x27;s invoice" in html and "Bob&#x27;s invoice" not in html


# --------------------------------------------------------------------------------------
# API


def test_the_api_lists_this_instance_emails_to_staff_only(instance_a, instance_b):
    _failed(instance_a, "Acme invoice")
    _failed(instance_b, "Bluebird invoice")
    response = client_for(instance_a, instance_a.support).get("/api/emails/?status=failed")
    assert response.status_code == 200
    assert [e["subject"] for e in response.json()["results"]] == ["Acme invoice"]
    assert "body_text" not in response.json()["results"][0]
    assert client_for(instance_a, instance_a.customer).get("/api/emails/").status_code == 403
    assert client_for(instance_a).get("/api/emails/").status_code in (401, 403)


def test_the_api_refuses_a_bad_filter_with_a_sentence(instance_a):
    response = client_for(instance_a, instance_a.owner).get("/api/emails/?status=lost")
    assert response.status_code == 400 and "status" in response.json()


def test_the_api_cannot_fetch_another_instance_email(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        OutgoingEmail.objects.all().delete()
    pk = _failed(instance_b)
    assert client_for(instance_a, instance_a.owner).get(f"/api/emails/{pk}/").status_code == 404
