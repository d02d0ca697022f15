"""Built-in e-mails speak the active language (French, German, else English); the
instance's own wording wins whatever the language."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone, translation
from django_tenants.utils import schema_context

from tenant_apps.instance.emails import email_render, email_template_default
from tenant_apps.instance.models import EmailTemplate

EMAILS = Path(settings.BASE_DIR) / "templates" / "emails"
KEYS = sorted(path.stem for path in EMAILS.glob("*.txt"))
TRANSLATED = ("fr", "de")


def invoice_context() -> dict:
    return {
        "issuer": {"name": "Acme Hosting", "email": "billing@acme.test"},
        "customer": {"name": "Jeanne Martin"},
        "invoice": {
            "number": "INV-0042",
            "issue_date": datetime.date(2026, 3, 2),
            "due_date": datetime.date(2026, 4, 1),
            "total": "€60.00",
            "amount_due": "€60.00",
            "is_settled": False,
            "url": "https://acme.test/portal/invoices/42/",
        },
    }


def full_context(*, flags: bool) -> dict:
    """Every variable any built-in e-mail reads, with values easy to spot in the output;
    `flags` turns every optional branch on (or off)."""
    invoice = {
        **invoice_context()["invoice"],
        "is_settled": not flags,
        "credited_invoice_number": "INV-0041" if flags else "",
    }
    return {
        **invoice_context(),
        "customer": {"name": "Jeanne Martin" if flags else "", "credit_balance": "€15.00"},
        "invoice": invoice,
        "invoices": (
            [{"number": "INV-0039", "applied": "€5.00", "is_settled": False, "amount_due": "€7.00"}]
            if flags
            else []
        ),
        "invoices_url": "https://acme.test/portal/invoices/",
        "level": 3 if flags else 1,
        "days_overdue": 12 if flags else 0,
        "charge": {
            "needs_authentication": flags,
            "attempt": 2 if flags else 1,
            "amount": "€60.00",
            "card": "Visa •••• 4242",
            "reason": "Insufficient funds" if flags else "",
        },
        "pay_url": "https://acme.test/portal/invoices/42/pay/",
        "payment_methods_url": "https://acme.test/portal/cards/",
        "payment": {
            "amount": "€75.00",
            "method": "Bank transfer",
            "reference": "VIR-778" if flags else "",
            "received_on": datetime.date(2026, 3, 5),
            "has_credit": flags,
            "to_credit": "€15.00",
        },
        "service": {
            "name": "Managed VPS L",
            "for_nonpayment": flags,
            "reason": "Abuse report #99" if flags else "",
            "url": "https://acme.test/portal/services/7/",
        },
        "ticket": {
            "number": "T-1234",
            "subject": "Slow site",
            "department": "Technical",
            "priority": "High",
            "status": "Awaiting reply",
            "url": "https://acme.test/tickets/1234/",
            "first_response_due_at": timezone.now(),
        },
        "message": {
            "author": "Paul Durand",
            "text": "The site takes ten seconds to load.",
            "attachments": ["trace.har"] if flags else [],
        },
        "target": "first response",
        "instance_name": "Acme",
    }


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) and value else []


@pytest.mark.parametrize(
    "language, subject, sentence, date",
    [
        ("fr", "Facture INV-0042 de Acme Hosting", "ci-joint la facture", "2 mars 2026"),
        ("de", "Rechnung INV-0042 von Acme Hosting", "anbei erhalten Sie die", "2. März 2026"),
        ("en", "Invoice INV-0042 from Acme Hosting", "Please find attached", "2 March 2026"),
    ],
)
def test_default_invoice_email_is_written_in_the_active_language(
    instance_a, language, subject, sentence, date
):
    with schema_context(instance_a.schema_name), translation.override(language):
        rendered = email_render(key="invoice_issued", context=invoice_context())

    assert rendered.subject == subject
    assert sentence in rendered.body
    assert date in rendered.body
    assert "https://acme.test/portal/invoices/42/" in rendered.body


def test_default_email_is_english_when_the_language_has_no_version(instance_a):
    with schema_context(instance_a.schema_name), translation.override("es"):
        rendered = email_render(key="invoice_issued", context=invoice_context())

    assert rendered.subject == "Invoice INV-0042 from Acme Hosting"


@pytest.mark.parametrize("language", ["fr", "de", "en"])
def test_instance_wording_wins_whatever_the_language(instance_a, language):
    with schema_context(instance_a.schema_name):
        EmailTemplate.objects.create(
            key="invoice_issued",
            subject="Acme invoice {{ invoice.number }}",
            body="Dear {{ customer.name }}, see {{ invoice.url }}",
        )
        with translation.override(language):
            rendered = email_render(key="invoice_issued", context=invoice_context())

    assert rendered.subject == "Acme invoice INV-0042"
    assert rendered.body == "Dear Jeanne Martin, see https://acme.test/portal/invoices/42/\n"


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("key", KEYS)
def test_every_default_email_has_a_translation_that_renders_the_same_values(
    instance_a, key, language
):
    assert (EMAILS / language / f"{key}.txt").is_file()
    english_source = email_template_default(key)
    with translation.override(language):
        translated_source = email_template_default(key)
    assert translated_source is not None and translated_source[0]
    assert translated_source != english_source

    for flags in (True, False):
        context = full_context(flags=flags)
        with schema_context(instance_a.schema_name):
            with translation.override("en"):
                english = email_render(key=key, context=context)
            with translation.override(language):
                translated = email_render(key=key, context=context)

        assert translated.subject != english.subject
        assert translated.body != english.body
        for value in strings_in(context):
            assert (value in translated.subject) == (value in english.subject), value
            assert (value in translated.body) == (value in english.body), value
