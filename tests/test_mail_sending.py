"""Every e-mail an instance sends: its From, its road (relay, own SMTP, provider), its two
parts with the instance's branding and legal footer, and one instance's server never
carrying another instance's mail."""

from __future__ import annotations

import json

import pytest
import requests
from django.db import connection
from django_tenants.utils import schema_context

from tenant_apps.instance.services import email_template_set, issuer_identity_set
from tenant_apps.mail import services
from tenant_apps.mail.models import MailSettings, OutgoingEmail
from tenant_apps.mail.tasks import email_deliver_task
from tests.mail_fixtures import html_of, smtp_server  # noqa: F401 - the fixture

ACME_ADDRESS = "billing@acme.test"
BLUEBIRD_ADDRESS = "hello@bluebird.test"


def _identity(info, **fields) -> None:
    address = ACME_ADDRESS if info.slug == "acme" else BLUEBIRD_ADDRESS
    values = {
        "legal_name": f"{info.slug.title()} Ltd",
        "country": "FR",
        "email": address,
        "address_line1": "1 rue de la Paix",
        "postal_code": "75001",
        "city": "Paris",
        "tax_id": "FR64443061841" if info.slug == "acme" else "FR76512879438",
    }
    issuer_identity_set(**(values | fields))


def _own_smtp(sink, **fields) -> MailSettings:
    values = {
        "transport": "smtp",
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_security": "none",
        "smtp_username": "acme-mailer",
        "smtp_password": "right-password",
    }
    return services.mail_settings_set(**(values | fields))


def _send(to: str = "client@example.com", **fields) -> OutgoingEmail:
    return services.email_send(
        to=[to], subject=fields.pop("subject", "Hello"), body=fields.pop("body", "Hi."), **fields
    )


# --------------------------------------------------------------------------------------
# The operator's relay


def test_relay_sends_with_the_instance_name_on_the_operator_address_and_replies_to_it(
    instance_a, mailoutbox, settings
):
    settings.UPLINE_EMAIL_RELAY_FROM = "Upline mail <mail@send.upline.test>"
    with schema_context(instance_a.schema_name):
        _identity(instance_a, trading_name="Acme Cloud")
        row = _send()
    [message] = mailoutbox
    assert message.from_email == "Acme Cloud <mail@send.upline.test>"
    assert message.reply_to == [ACME_ADDRESS]
    assert row.status == "sent" and row.transport == "relay"


def test_relay_replies_go_to_the_sender_address_of_the_mail_settings_when_set(
    instance_a, mailoutbox
):
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        services.mail_settings_set(transport="relay", from_email="support@acme.test")
        _send()
    assert mailoutbox[0].reply_to == ["support@acme.test"]


# --------------------------------------------------------------------------------------
# Two parts, branded, with the legal footer


def test_every_email_has_a_plain_text_and_a_branded_html_part_with_the_legal_footer(
    instance_a, mailoutbox
):
    with schema_context(instance_a.schema_name):
        _identity(instance_a, trading_name="Acme Cloud", brand_color="#0f766e")
        _send(body="Your invoice: https://acme.example/portal/billing/\n\nThanks.")
    [message] = mailoutbox
    html = html_of(message)
    assert message.body.startswith("Your invoice: https://acme.example/portal/billing/")
    assert "Acme Cloud" in html and "#0f766e" in html
    assert '<a href="https://acme.example/portal/billing/">' in html
    wording, signature = message.body.split("\n-- \n")
    assert wording.endswith("Thanks.\n")
    for footer in ("Acme Ltd", "1 rue de la Paix", "75001 Paris", "France", "FR64443061841"):
        assert footer in html
        assert footer in signature  # the plain-text part says who sends it too


def test_staff_written_wording_never_becomes_markup_in_the_html_part(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        email_template_set(
            key="service_suspended",
            subject="Suspended",
            body='Hello {{ customer.name }} <img src="https://evil.test/x.png">',
        )
        services.email_send(
            to=["client@example.com"],
            key="service_suspended",
            context={"customer": {"name": "<script>alert(1)</script>"}},
        )
    html = html_of(mailoutbox[0])
    assert "<script>" not in html and '<img src="https://evil.test' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in mailoutbox[0].body  # plain text stays plain


# --------------------------------------------------------------------------------------
# The instance's own SMTP server


def test_own_smtp_server_sends_from_the_instance_address_with_its_credentials(
    instance_a,
    smtp_server,  # noqa: F811 - the fixture imported above
    mailoutbox,
):
    sink = smtp_server()
    with schema_context(instance_a.schema_name):
        _identity(instance_a, trading_name="Acme Cloud")
        _own_smtp(sink)
        row = _send()
    assert row.status == "sent" and row.transport == "smtp"
    [received] = sink.received
    assert received.message["From"] == f"Acme Cloud <{ACME_ADDRESS}>"
    assert received.rcpt_tos == ["client@example.com"] and received.login == "acme-mailer"
    assert received.message.is_multipart()
    assert mailoutbox == []  # nothing went through the operator's relay
    assert row.provider_message_id == received.message["Message-ID"]


def test_the_smtp_password_is_stored_encrypted(instance_a):
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        services.mail_settings_set(
            transport="smtp",
            smtp_host="smtp.example.com",
            smtp_port=587,
            smtp_username="u",
            smtp_password="s3cret-Passw0rd",
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT smtp_password_encrypted FROM mail_mailsettings")
            [(stored,)] = cursor.fetchall()
    assert stored and "s3cret-Passw0rd" not in stored


def test_an_own_smtp_server_on_a_private_address_is_refused_with_a_sentence(
    instance_a, mailoutbox, settings
):
    settings.UPLINE_MAIL_ALLOW_PRIVATE_SMTP = False
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        services.mail_settings_set(transport="smtp", smtp_host="127.0.0.1", smtp_port=6379)
        row = _send()
    assert row.status == "failed"
    assert "127.0.0.1, an address on a private or local network" in row.last_error
    assert mailoutbox == []


def test_instance_a_smtp_settings_never_carry_instance_b_mail_in_one_process(
    instance_a,
    instance_b,
    smtp_server,  # noqa: F811 - the fixture imported above
    mailoutbox,
):
    acme_server = smtp_server()
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        _own_smtp(acme_server)
    with schema_context(instance_b.schema_name):
        _identity(instance_b)
    for info in (instance_a, instance_b, instance_a, instance_b):
        with schema_context(info.schema_name):
            _send(to=f"someone@{info.slug}-customer.test")

    assert [r.rcpt_tos for r in acme_server.received] == [["someone@acme-customer.test"]] * 2
    assert all(r.login == "acme-mailer" for r in acme_server.received)
    assert [m.to for m in mailoutbox] == [["someone@bluebird-customer.test"]] * 2
    assert all(m.reply_to == [BLUEBIRD_ADDRESS] for m in mailoutbox)


def test_instance_a_smtp_settings_never_carry_instance_b_mail_in_one_worker_sequence(
    instance_a,
    instance_b,
    smtp_server,  # noqa: F811 - the fixture imported above
    mailoutbox,
):
    acme_server, bluebird_server = smtp_server(), smtp_server()
    rows = {}
    for info, server in ((instance_a, acme_server), (instance_b, bluebird_server)):
        with schema_context(info.schema_name):
            _identity(info)
            _own_smtp(server, smtp_username=f"{info.slug}-mailer")
            rows[info.slug] = services.email_record(
                to=[f"someone@{info.slug}-customer.test"], subject="Hi", body="Hi."
            ).pk
    # One worker, tasks in turn (B, A, B's again): each task reads its own instance's road.
    for info in (instance_b, instance_a, instance_b):
        email_deliver_task.apply(
            kwargs={"email_id": rows[info.slug], "schema_name": info.schema_name}
        )
    assert [(r.rcpt_tos, r.login) for r in acme_server.received] == [
        (["someone@acme-customer.test"], "acme-mailer")
    ]
    assert [(r.rcpt_tos, r.login) for r in bluebird_server.received] == [
        (["someone@bluebird-customer.test"], "bluebird-mailer")
    ]
    assert mailoutbox == []


# --------------------------------------------------------------------------------------
# A provider through django-anymail


class _Postmark:
    """Stands in for Postmark's HTTP API: records each call, answers like Postmark."""

    def __init__(self):
        self.calls = []

    def __call__(self, method, url, **kwargs):
        self.calls.append({"url": url, **kwargs})
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(
            {"To": "client@example.com", "MessageID": "pm-123", "ErrorCode": 0, "Message": "OK"}
        ).encode()
        response.headers["Content-Type"] = "application/json"
        return response


def test_a_provider_sends_with_the_instance_own_key_and_records_its_message_id(
    instance_a, instance_b, monkeypatch, mailoutbox
):
    postmark = _Postmark()
    monkeypatch.setattr(
        requests.Session, "request", lambda session, method, url, **kw: postmark(method, url, **kw)
    )
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        services.mail_settings_set(
            transport="provider", provider="postmark", provider_api_key="acme-token"
        )
        acme_row = _send()
    with schema_context(instance_b.schema_name):
        _identity(instance_b)
        _send()
    [call] = postmark.calls
    assert call["headers"]["X-Postmark-Server-Token"] == "acme-token"
    assert json.loads(call["data"])["From"].endswith(f"<{ACME_ADDRESS}>")
    assert acme_row.status == "sent" and acme_row.provider_message_id == "pm-123"
    assert [m.to for m in mailoutbox] == [["client@example.com"]]  # B: the relay


def test_a_provider_refusing_the_key_is_said_in_plain_words(instance_a, monkeypatch):
    def unauthorised(session, method, url, **kwargs):
        response = requests.Response()
        response.status_code = 401
        response._content = b'{"ErrorCode": 10, "Message": "Bad or missing Server API token."}'
        return response

    monkeypatch.setattr(requests.Session, "request", unauthorised)
    with schema_context(instance_a.schema_name):
        _identity(instance_a)
        services.mail_settings_set(
            transport="provider", provider="postmark", provider_api_key="wrong"
        )
        row = _send()
    assert row.status == "failed"
    assert (
        row.last_error
        == "The e-mail provider refused the API key: check it in the e-mail settings."
    )


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"transport": "smtp", "smtp_port": 587}, "smtp_host"),
        ({"transport": "smtp", "smtp_host": "smtp.example.com"}, "smtp_port"),
        ({"transport": "smtp", "smtp_host": "smtp.example.com:25", "smtp_port": 25}, "smtp_host"),
        ({"transport": "provider", "provider": "postmark"}, "provider_api_key"),
        ({"transport": "provider", "provider": "carrier-pigeon"}, "provider"),
        ({"transport": "relay", "from_email": "not an address"}, "from_email"),
    ],
)
def test_incomplete_sending_settings_are_refused_field_by_field(instance_a, fields, field):
    from django.core.exceptions import ValidationError

    with schema_context(instance_a.schema_name):
        with pytest.raises(ValidationError) as refused:
            services.mail_settings_set(**fields)
        assert field in refused.value.message_dict
        assert not MailSettings.objects.exists()
