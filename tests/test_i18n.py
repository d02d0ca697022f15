"""Languages: which language a page is in, the language switch, and money for the reader.

A signed-in user's own choice wins; else the switch's cookie; else the browser's
Accept-Language; else English. Customers' e-mails and documents follow
`clients.selectors.customer_language`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation
from django_tenants.utils import schema_context

from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import customer_language
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.money import format_money
from tests.conftest import client_for

User = get_user_model()
LOGIN = "/accounts/login/"


def _user(info, email):
    with schema_context(info.schema_name):
        return User.objects.get(email=email)


def test_a_visitor_reads_the_language_of_their_browser(instance_a):
    response = client_for(instance_a).get(LOGIN, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert response["Content-Language"] == "fr"
    assert "Accept-Language" in response["Vary"]


def test_a_browser_language_that_is_not_offered_reads_english(instance_a):
    response = client_for(instance_a).get(LOGIN, HTTP_ACCEPT_LANGUAGE="ja-JP")
    assert response["Content-Language"] == "en"


def test_the_switch_keeps_a_visitors_choice_in_a_cookie(instance_a):
    client = client_for(instance_a)
    response = client.post(reverse("accounts:language_set"), {"language": "de", "next": LOGIN})
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    # The cookie beats the browser's own language.
    page = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="fr")
    assert page["Content-Language"] == "de"


def test_the_switch_keeps_a_signed_in_users_choice_on_the_user(instance_a):
    client = client_for(instance_a, instance_a.support)
    client.post(reverse("accounts:language_set"), {"language": "fr", "next": "/staff/"})
    user = _user(instance_a, instance_a.support)
    assert user.language == "fr"
    # Their choice follows them to a browser that says otherwise and has no cookie.
    fresh = client_for(instance_a, instance_a.support)
    assert fresh.get("/staff/", HTTP_ACCEPT_LANGUAGE="de")["Content-Language"] == "fr"
    with schema_context(instance_a.schema_name):
        event = AuditEvent.objects.filter(action="user.language_changed").latest("id")
        assert event.changes == {"language": ["", "fr"]}


def test_the_switch_refuses_a_language_that_is_not_offered(instance_a):
    client = client_for(instance_a, instance_a.support)
    response = client.post(
        reverse("accounts:language_set"), {"language": "xx", "next": "/staff/"}, follow=True
    )
    assert "Choose one of the languages offered." in response.content.decode()
    assert _user(instance_a, instance_a.support).language == ""


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_the_switch_never_sends_the_reader_to_another_site(instance_a, target):
    response = client_for(instance_a).post(
        reverse("accounts:language_set"), {"language": "fr", "next": target}
    )
    assert response["Location"] == "/"


def test_a_users_choice_in_one_instance_is_not_another_instances(instance_a, instance_b):
    # Both instances have a user support@…; each keeps its own choice.
    with schema_context(instance_b.schema_name):
        User.objects.create_user(email="same@person.test", password="x-long-password-1")
    with schema_context(instance_a.schema_name):
        User.objects.create_user(email="same@person.test", password="x-long-password-1")
    client_for(instance_a, "same@person.test").post(
        reverse("accounts:language_set"), {"language": "de", "next": "/"}
    )
    assert _user(instance_a, "same@person.test").language == "de"
    assert _user(instance_b, "same@person.test").language == ""


def test_money_is_written_as_the_reader_writes_it():
    amount = Decimal("1234.50")
    assert format_money(amount, "EUR") == "€1,234.50"
    with translation.override("fr"):
        assert format_money(amount, "EUR") == "1\u202f234,50\xa0€"
    with translation.override("de"):
        assert format_money(amount, "EUR") == "1.234,50\xa0€"
    assert format_money(amount, "EUR", locale="de") == "1.234,50\xa0€"


def test_a_customer_reads_their_own_choice_else_what_staff_set(instance_a):
    with schema_context(instance_a.schema_name):
        login = User.objects.get(email=instance_a.customer)
        customer = Customer.objects.create(
            name="Léa Martin", email=login.email, country="FR", language="fr", user=login
        )
        assert customer_language(customer) == "fr"
        login.language = "de"
        login.save(update_fields=["language"])
        customer.refresh_from_db()
        assert customer_language(customer) == "de"
        walk_in = Customer.objects.create(name="No Login", email="n@x.test", country="DE")
        assert customer_language(walk_in) == "en"


@pytest.mark.parametrize(
    "who, path",
    [("support", "/staff/"), ("customer", "/portal/"), ("visitor", LOGIN), ("operator", "/staff/")],
)
def test_every_area_shows_the_language_switch_in_the_readers_language(
    instance_a, operator, who, path
):
    info = operator if who == "operator" else instance_a
    email = None if who == "visitor" else getattr(info, "owner" if who == "operator" else who)
    client = client_for(info, email)
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de">' in page
    assert 'name="language"' in page
    for code, name in (("en", "English"), ("fr", "Français"), ("de", "Deutsch")):
        assert f'value="{code}" lang="{code}"' in page and f">{name}</option>" in page
    assert '<option value="de" lang="de" selected>' in page
