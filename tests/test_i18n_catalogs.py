"""The French and German catalogs: complete, compiled, and what a reader actually sees.

`make messages` regenerates locale/<lang>/LC_MESSAGES/django.po and compiles django.mo.
These tests fail when an entry is left untranslated or fuzzy, when a translation drops or
invents a placeholder, when the committed .mo files lag behind their .po files, and they
show a form error and an API refusal reaching the reader in their own language.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django_tenants.utils import schema_context

from tenant_apps.billing.models import Invoice
from tenant_apps.billing.presenters import document_presentation
from tenant_apps.billing.taxes import REVERSE_CHARGE_NOTE, legal_notes_for_reader
from tenant_apps.instance import formats
from tenant_apps.instance.audit import event_label
from tests.conftest import client_for
from tests.test_billing_api import acme, issued  # noqa: F401 (acme is a fixture)
from tests.test_clients_vies import VALID, use_vat_checker
from tests.test_clients_views import create_form

LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
LOCALE = Path(settings.LOCALE_PATHS[0])
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]")


def _po(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def _catalog(mo: polib.MOFile) -> dict:
    """What a compiled catalog answers: (context, id, plural) → the translated forms."""
    return {
        (entry.msgctxt, entry.msgid, entry.msgid_plural): (
            entry.msgstr,
            tuple(sorted(entry.msgstr_plural.items())),
        )
        for entry in mo
    }


def test_every_language_offered_besides_english_has_a_catalog():
    assert LANGUAGES == ["fr", "de"]
    for language in LANGUAGES:
        assert (LOCALE / language / "LC_MESSAGES" / "django.po").is_file()
        assert (LOCALE / language / "LC_MESSAGES" / "django.mo").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy_or_obsolete(language):
    po = _po(language)
    assert len(po) > 1000  # the code's strings are in, not an empty file
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert [e.msgid for e in po.obsolete_entries()] == []
    assert not po.metadata_is_fuzzy  # a fuzzy header would drop the plural rule
    assert po.metadata["Language"] == language
    assert "nplurals=2" in po.metadata["Plural-Forms"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_english_sentence(language):
    wrong = []
    for entry in _po(language).translated_entries():
        expected = sorted(PLACEHOLDER.findall(entry.msgid))
        forms = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for form in forms:
            if sorted(PLACEHOLDER.findall(form)) != expected:
                wrong.append((entry.msgid, form))
    assert wrong == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_file_is_compiled_from_the_current_po_file(language, tmp_path):
    folder = LOCALE / language / "LC_MESSAGES"
    fresh = tmp_path / "django.mo"
    if shutil.which("msgfmt"):
        # What `compilemessages` runs; --check-format also refuses mismatched placeholders.
        subprocess.run(
            ["msgfmt", "--check-format", "-o", str(fresh), str(folder / "django.po")], check=True
        )
    else:
        _po(language).save_as_mofile(str(fresh))
    committed = _catalog(polib.mofile(str(folder / "django.mo")))
    assert committed == _catalog(polib.mofile(str(fresh))), "run `make messages` and commit"


def test_audit_events_read_in_the_readers_language_while_the_code_is_stored():
    assert event_label("invoice.issued") == "Invoice issued"
    with translation.override("fr"):
        assert event_label("invoice.issued") == "Facture émise"
    with translation.override("de"):
        assert event_label("invoice.issued") == "Rechnung ausgestellt"


# --------------------------------------------------------------------------------------
# What a reader sees


def _choose_language(info, email: str, language: str) -> None:
    with schema_context(info.schema_name):
        get_user_model().objects.filter(email=email).update(language=language)


POSTAL_CODE_LABEL = {"fr": "Code postal", "de": "Postleitzahl"}
COMPANY_NAME_MISSING = {
    "en": "A company needs its legal company name.",
    "fr": "Une entreprise a besoin de sa raison sociale.",
    "de": "Ein Unternehmen braucht seinen Firmennamen.",
}


@pytest.mark.parametrize("language", ["fr", "de"])
def test_a_staff_member_who_chose_a_language_reads_form_errors_in_it(instance_a, language):
    use_vat_checker(VALID)
    _choose_language(instance_a, instance_a.owner, language)
    staff = client_for(instance_a, instance_a.owner)

    # The browser asks for English: the user's own choice wins.
    response = staff.post(
        "/staff/customers/new/", create_form(company_name=""), HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    assert response["Content-Language"] == language
    page = response.content.decode()
    assert COMPANY_NAME_MISSING[language] in page
    assert COMPANY_NAME_MISSING["en"] not in page
    # The form's labels too (declared on the form, in the reader's language at render).
    assert POSTAL_CODE_LABEL[language] in page


def test_a_staff_member_without_a_choice_reads_form_errors_in_english(instance_a):
    use_vat_checker(VALID)
    response = client_for(instance_a, instance_a.owner).post(
        "/staff/customers/new/", create_form(company_name="")
    )
    assert COMPANY_NAME_MISSING["en"] in response.content.decode()


REFUSED = {
    "en": "Invoice {number} is issued: issued invoices never change. Issue a credit note to "
    "correct it.",
    "fr": "La facture {number} est émise : une facture émise ne change jamais. Émettez un "
    "avoir pour la corriger.",
    "de": "Rechnung {number} ist ausgestellt: Ausgestellte Rechnungen ändern sich nie. Stellen "
    "Sie zur Korrektur eine Gutschrift aus.",
}


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_an_api_refusal_is_written_in_the_language_the_client_asks_for(acme, language):  # noqa: F811
    pk = issued(acme, acme.alice)
    with schema_context(acme.schema_name):
        number = Invoice.objects.get(pk=pk).number
    client = client_for(acme, acme.owner)

    response = client.post(
        f"/api/invoices/{pk}/lines/",
        json.dumps({"description": "Late extra", "quantity": "1", "unit_price": "5.00"}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE=f"{language};q=1.0, en;q=0.5",
    )

    assert response.status_code == 409
    body = response.json()
    # The code stays the same in every language; the sentence is the reader's.
    assert body["code"] == "invoice_not_editable"
    assert body["detail"] == REFUSED[language].format(number=number)


def test_an_api_not_found_answer_follows_accept_language(instance_a):
    client = client_for(instance_a, instance_a.owner)
    answers = {
        language: client.get("/api/customers/999999/", HTTP_ACCEPT_LANGUAGE=language).json()[
            "detail"
        ]
        for language in ("en", "fr", "de")
    }
    assert answers == {
        "en": "No such customer.",
        "fr": "Client introuvable.",
        "de": "Kunde nicht gefunden.",
    }


def test_another_instances_users_language_does_not_leak(instance_a, instance_b):
    # Instance B's owner chose German; instance A's owner (another account) did not.
    _choose_language(instance_b, instance_b.owner, "de")
    response = client_for(instance_a, instance_a.owner).post(
        "/staff/customers/new/", create_form(company_name="")
    )
    assert response["Content-Language"] == "en"
    assert COMPANY_NAME_MISSING["en"] in response.content.decode()


# --------------------------------------------------------------------------------------
# Documents: dates, numbers, money and legal mentions as their reader writes them


def test_dates_and_numbers_are_written_as_the_reader_writes_them():
    day = datetime.date(2026, 3, 2)
    assert (formats.format_date(day), formats.format_number(Decimal("2.50"))) == (
        "2 Mar 2026",
        "2.5",
    )
    with translation.override("fr"):
        assert formats.format_date(day) == "2 mars 2026"
        assert formats.format_number(Decimal("5.50")) == "5,5"
    with translation.override("de"):
        assert formats.format_date(day) == "2. März 2026"
        assert formats.format_number(Decimal("1000")) == "1000"  # never grouped, never 1E+3


def test_stored_legal_mentions_read_in_the_readers_language_and_keep_what_was_filled_in():
    stored = f"{REVERSE_CHARGE_NOTE} Customer VAT id: DE811907980."
    assert legal_notes_for_reader(stored) == stored
    with translation.override("fr"):
        assert legal_notes_for_reader(stored) == (
            "Autoliquidation : TVA due par le preneur (article 196 de la directive "
            "2006/112/CE du Conseil). N° de TVA du client : DE811907980."
        )
    with translation.override("de"):
        assert legal_notes_for_reader(stored).endswith("USt-IdNr. des Kunden: DE811907980.")


def test_an_invoice_reads_in_french_for_a_french_reader(acme):  # noqa: F811
    pk = issued(acme, acme.alice, issue_date=datetime.date(2026, 3, 2))
    with schema_context(acme.schema_name):
        invoice = Invoice.objects.get(pk=pk)
        english = document_presentation(invoice)
        with translation.override("fr"):
            french = document_presentation(invoice)

    assert (english.title, english.issue_date, english.total) == (
        "Invoice",
        "2 Mar 2026",
        "€120.00",
    )
    assert english.tax_rows[0].label == "VAT 20 %"
    assert (french.title, french.issue_date) == ("Facture", "2 mars 2026")
    assert french.total == "120,00\xa0€"
    assert french.tax_rows[0].label == "TVA 20 %"
    assert french.amount_heading == "HT"
