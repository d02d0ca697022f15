"""Billing reports (issue 9): VAT, revenue, aging, statements and the journal.

Report totals are checked against sums over the documents themselves — on generated data
(hypothesis writes documents straight into the tables, the expected figures are computed
here in Python from what it generated) and on documents made through the billing services.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from openpyxl import load_workbook

from shared_apps.tenancy.services import reseller_create
from tenant_apps.billing import services
from tenant_apps.billing.models import Invoice, InvoiceLine, Payment, Refund, TaxRate
from tenant_apps.billing.reports import selectors
from tenant_apps.billing.reports.exporters import csv_text, vat_sheets
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance import clock
from tenant_apps.instance.services import issuer_identity_set
from tests.conftest import client_for

STAFF = "/staff/billing/reports/"
API = "/api/reports/"
Q1 = {"start": "2026-01-01", "end": "2026-03-31"}
START, END = datetime.date(2026, 1, 1), datetime.date(2026, 3, 31)
CENT = Decimal("0.01")
_numbers = itertools.count(1)


def _setup_instance(legal_name: str) -> None:
    issuer_identity_set(
        legal_name=legal_name,
        country="FR",
        tax_id="FR40303265045",
        address_line1="1 rue de la Paix",
        city="Paris",
        postal_code="75001",
    )
    standard, _ = TaxClass.objects.get_or_create(code="standard", defaults={"name": "Standard"})
    for code, rate in (("FR", "20"), ("DE", "19")):
        TaxRate.objects.update_or_create(
            country=code, tax_class=standard, defaults={"rate": Decimal(rate)}
        )


def _customer(name: str, *, currency: str = "EUR", country: str = "FR", **extra) -> Customer:
    return Customer.objects.create(
        kind=extra.pop("kind", "person"),
        name=name,
        email=f"{name.split()[0].lower()}@example.com",
        country=country,
        currency=currency,
        **extra,
    )


@pytest.fixture
def acme(instance_a):
    """Acme invoices from France; Alice is the portal login's customer, Bob another one."""
    with schema_context(instance_a.schema_name):
        _setup_instance("Acme Hosting SARL")
        login = get_user_model().objects.get(email=instance_a.customer)
        alice = _customer("Alice Martin", user=login)
        bob = _customer("Bob Durand")
        yield {"info": instance_a, "alice": alice, "bob": bob}


def issue(customer, *prices, on: datetime.date, currency: str | None = None, **line) -> Invoice:
    draft = services.invoice_create_draft(
        customer=customer,
        currency=currency,
        lines=[{"description": f"Item {i}", "unit_price": p, **line} for i, p in enumerate(prices)],
    )
    return services.invoice_issue(invoice=draft, issue_date=on)


def pay(customer, amount, *, on: datetime.date, invoice=None) -> Payment:
    return services.payment_record(
        customer=customer, amount=amount, method="bank_transfer", received_on=on, invoice=invoice
    )


def page(client, path, **params):
    return client.get(f"{STAFF}{path}", params)


# --------------------------------------------------------------------------------------
# Generated documents: every report total equals the sum over the documents

day_offsets = st.integers(min_value=-45, max_value=130)  # around Q1 2026
documents_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["invoice", "invoice", "credit_note"]),
            "status": st.sampled_from(
                ["draft", "issued", "partially_paid", "paid", "credited", "void"]
            ),
            "currency": st.sampled_from(["EUR", "USD"]),
            "country": st.sampled_from(["FR", "DE", "IT"]),
            "treatment": st.sampled_from(["standard", "reverse_charge", "exempt"]),
            "day": day_offsets,
            "due_in": st.integers(min_value=-10, max_value=40),
            "paid_percent": st.integers(min_value=0, max_value=100),
            "lines": st.lists(
                st.tuples(
                    st.integers(min_value=1, max_value=500_000),  # net in cents
                    st.sampled_from([Decimal("0"), Decimal("5.5"), Decimal("19"), Decimal("20")]),
                    st.one_of(
                        st.none(),
                        st.tuples(
                            st.integers(min_value=-60, max_value=150),
                            st.integers(min_value=0, max_value=400),
                        ),
                    ),
                ),
                min_size=1,
                max_size=3,
            ),
        }
    ),
    min_size=1,
    max_size=12,
)
payments_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "currency": st.sampled_from(["EUR", "USD"]),
            "cents": st.integers(min_value=1, max_value=300_000),
            "day": day_offsets,
            # Reversed (recorded by mistake) on that day, or partly refunded on that day.
            "reversed_on": st.one_of(st.none(), day_offsets),
            "refund": st.one_of(
                st.none(), st.tuples(st.integers(min_value=1, max_value=100), day_offsets)
            ),
        }
    ),
    max_size=6,
)


def _on(day: int) -> datetime.date:
    return START + datetime.timedelta(days=day)


def _write_generated(customers: dict, documents: list[dict], payments: list) -> list[dict]:
    """Store the generated documents as rows; returns them with their computed amounts."""
    stored = []
    for spec in documents:
        status = spec["status"]
        if spec["kind"] == "credit_note" and status not in ("draft", "void"):
            status = "issued"  # credit notes are issued and stay issued
        customer = customers[spec["country"]]
        lines = []
        for position, (cents, rate, period) in enumerate(spec["lines"]):
            net = Decimal(cents) / 100
            tax = (net * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            start = end = None
            if period:
                start = _on(period[0])
                end = start + datetime.timedelta(days=period[1])
            lines.append((position, net, rate, tax, start, end))
        subtotal = sum(line[1] for line in lines)
        tax_total = sum(line[3] for line in lines)
        total = subtotal + tax_total
        paid = Decimal("0")
        if spec["kind"] == "invoice" and status == "paid":
            paid = total
        elif spec["kind"] == "invoice" and status == "partially_paid":
            paid = (total * spec["paid_percent"] / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        issue_date = _on(spec["day"])
        invoice = Invoice.objects.create(
            kind=spec["kind"],
            status=status,
            number=None if status == "draft" else f"GEN-{next(_numbers)}",
            customer=customer,
            currency=spec["currency"],
            tax_treatment=spec["treatment"],
            issue_date=issue_date,
            due_date=issue_date + datetime.timedelta(days=spec["due_in"]),
            subtotal=subtotal,
            tax_total=tax_total,
            total=total,
            amount_paid=paid,
            customer_snapshot={
                "name": customer.name,
                "company_name": customer.company_name,
                "country": spec["country"],
                "tax_id": customer.tax_id,
            },
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                position=position,
                kind="service" if start else "adjustment",
                description=f"Line {position}",
                unit_price=net,
                tax_rate=rate,
                net_amount=net,
                tax_amount=tax,
                gross_amount=net + tax,
                period_start=start,
                period_end=end,
            )
            for position, net, rate, tax, start, end in lines
        )
        stored.append(
            {
                **spec,
                "status": status,
                "issue_date": issue_date,
                "due_date": invoice.due_date,
                "lines": lines,
                "subtotal": subtotal,
                "tax_total": tax_total,
                "total": total,
                "paid": paid,
                "vat_id": customer.tax_id,
            }
        )
    noon = datetime.time(12, tzinfo=clock.instance_time_zone())
    for spec in payments:
        amount = Decimal(spec["cents"]) / 100
        payment = Payment.objects.create(
            customer=customers["FR"],
            amount=amount,
            currency=spec["currency"],
            method="bank_transfer",
            received_on=_on(spec["day"]),
            reversed_at=(
                datetime.datetime.combine(_on(spec["reversed_on"]), noon)
                if spec["reversed_on"] is not None
                else None
            ),
        )
        if spec["refund"] and spec["reversed_on"] is None:
            percent, day = spec["refund"]
            spec["refunded"] = max((amount * percent / 100).quantize(CENT), CENT)
            Refund.objects.create(
                customer=customers["FR"],
                payment=payment,
                amount=spec["refunded"],
                currency=spec["currency"],
                method="bank_transfer",
                reason="Generated",
                refunded_on=_on(day),
            )
    return stored


def _counts(doc: dict) -> bool:
    return doc["status"] not in ("draft", "void")


def _sign(doc: dict) -> int:
    return -1 if doc["kind"] == "credit_note" else 1


def _in_range(day: datetime.date) -> bool:
    return START <= day <= END


@hsettings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(documents=documents_strategy, payments=payments_strategy)
def test_report_totals_equal_sums_over_generated_documents(acme, documents, payments):
    with transaction.atomic():
        customers = {
            country: _customer(
                f"Generated {country}",
                country=country,
                kind="company",
                company_name=f"Gen {country} SA",
                tax_id=f"{country}123456789",
            )
            for country in ("FR", "DE", "IT")
        }
        docs = _write_generated(customers, documents, payments)
        counted = [doc for doc in docs if _counts(doc) and _in_range(doc["issue_date"])]

        # VAT: per currency × month × country × rate × treatment.
        expected_vat: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for doc in counted:
            month = doc["issue_date"].replace(day=1)
            for _pos, net, rate, tax, _s, _e in doc["lines"]:
                key = (doc["currency"], month, doc["country"], rate, doc["treatment"])
                expected_vat[key][0] += _sign(doc) * net
                expected_vat[key][1] += _sign(doc) * tax
        report = selectors.vat_report(start=START, end=END)
        got = {
            (r["currency"], r["period"], r["country"], r["rate"], r["treatment"]): [
                r["net"],
                r["vat"],
            ]
            for r in report.rows
        }
        assert got == dict(expected_vat)
        for total in report.totals:
            assert total["net"] == sum(
                v[0] for k, v in expected_vat.items() if k[0] == total["currency"]
            )

        # EC sales list: reverse charge per customer VAT id.
        expected_ec: dict[tuple, Decimal] = defaultdict(Decimal)
        for doc in counted:
            if doc["treatment"] == "reverse_charge":
                expected_ec[(doc["currency"], doc["country"], doc["vat_id"])] += (
                    _sign(doc) * doc["subtotal"]
                )
        assert {
            (r["currency"], r["country"], r["vat_id"]): r["net"] for r in report.ec_sales
        } == dict(expected_ec)

        # Revenue: invoiced by month, collected, deferred after the range's end.
        revenue = selectors.revenue_report(start=START, end=END)
        expected_invoiced: dict[tuple, Decimal] = defaultdict(Decimal)
        for doc in counted:
            expected_invoiced[(doc["currency"], doc["issue_date"].replace(day=1))] += (
                _sign(doc) * doc["subtotal"]
            )
        assert {(r["currency"], r["month"]): r["net"] for r in revenue.invoiced} == dict(
            expected_invoiced
        )
        expected_collected: dict[str, Decimal] = defaultdict(Decimal)
        for spec in payments:
            if _in_range(_on(spec["day"])) and spec["reversed_on"] is None:
                expected_collected[spec["currency"]] += Decimal(spec["cents"]) / 100
            if spec.get("refunded") and _in_range(_on(spec["refund"][1])):
                expected_collected[spec["currency"]] -= spec["refunded"]
        assert {r["currency"]: r["amount"] for r in revenue.collected_totals} == dict(
            expected_collected
        )
        expected_deferred: dict[str, Decimal] = defaultdict(Decimal)
        for doc in docs:
            if not _counts(doc) or doc["issue_date"] > END:
                continue
            for _pos, net, _rate, _tax, start, end in doc["lines"]:
                if start is None or end <= END:
                    continue
                remaining = (end - max(start, END + datetime.timedelta(days=1))).days + 1
                length = (end - start).days + 1
                expected_deferred[doc["currency"]] += (
                    _sign(doc) * net * remaining / length
                ).quantize(CENT, rounding=ROUND_HALF_UP)
        assert {r["currency"]: r["amount"] for r in revenue.deferred} == dict(expected_deferred)

        # Aging: today's open balances of invoices issued by the date.
        as_of = END
        expected_owed: dict[str, Decimal] = defaultdict(Decimal)
        for doc in docs:
            owed = doc["total"] - doc["paid"]
            if (
                doc["kind"] == "invoice"
                and doc["status"] in ("issued", "partially_paid")
                and doc["issue_date"] <= as_of
                and owed > 0
            ):
                expected_owed[doc["currency"]] += owed
        aging = selectors.aging_report(as_of=as_of)
        assert {t["currency"]: t["total"] for t in aging.totals} == dict(expected_owed)
        for row in aging.rows:
            assert row["total"] == sum(row[key] for key in selectors.AGING_KEYS)

        # Journal: one row per counted document and payment, the same sums.
        rows = [
            dict(zip(selectors.JOURNAL_COLUMNS, row, strict=True))
            for row in selectors.journal_rows(start=START, end=END)
        ]
        received = [p for p in payments if _in_range(_on(p["day"]))]
        reversed_ = [
            p for p in payments if p["reversed_on"] is not None and _in_range(_on(p["reversed_on"]))
        ]
        refunded = [p for p in payments if p.get("refunded") and _in_range(_on(p["refund"][1]))]
        assert len(rows) == len(counted) + len(received) + len(reversed_) + len(refunded)
        assert selectors.journal_count(start=START, end=END) == len(rows)
        for currency in ("EUR", "USD"):
            mine = [r for r in rows if r["currency"] == currency]
            assert sum(r["gross"] for r in mine if r["journal"] == "sales") == sum(
                _sign(d) * d["total"] for d in counted if d["currency"] == currency
            )
            assert sum(r["credit"] or 0 for r in mine if r["journal"] == "bank") == sum(
                Decimal(p["cents"]) / 100 for p in received if p["currency"] == currency
            )
            assert sum(r["debit"] or 0 for r in mine if r["journal"] == "bank") == sum(
                Decimal(p["cents"]) / 100 for p in reversed_ if p["currency"] == currency
            ) + sum(p["refunded"] for p in refunded if p["currency"] == currency)
        transaction.set_rollback(True)


# --------------------------------------------------------------------------------------
# VAT


def test_vat_report_counts_credit_notes_negative_and_leaves_drafts_and_void_out(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 2, 3))
    services.credit_note_create(
        invoice=invoice,
        reason="Half refunded",
        lines=[{"line_id": invoice.lines.get().pk, "amount": "40"}],
        issue_date=datetime.date(2026, 2, 10),
    )
    services.invoice_create_draft(customer=alice, lines=[{"description": "D", "unit_price": "70"}])
    voided = issue(alice, "30", on=datetime.date(2026, 2, 4))
    Invoice.objects.filter(pk=voided.pk).update(status=Invoice.Status.VOID)

    [row] = selectors.vat_report(start=START, end=END).rows
    assert (row["country"], row["rate"], row["treatment"]) == ("FR", Decimal("20"), "standard")
    assert row["net"] == Decimal("60.00")  # 100 invoiced − 40 credited; draft and void left out
    assert row["vat"] == Decimal("12.00")


def test_vat_report_never_adds_one_currency_to_another(acme):
    alice = acme["alice"]
    issue(alice, "100", on=datetime.date(2026, 1, 5))
    issue(alice, "50", on=datetime.date(2026, 1, 6), currency="USD")
    report = selectors.vat_report(start=START, end=END)
    assert {(t["currency"], t["net"], t["vat"]) for t in report.totals} == {
        ("EUR", Decimal("100.00"), Decimal("20.00")),
        ("USD", Decimal("50.00"), Decimal("10.00")),
    }


def test_vat_rows_read_in_currency_period_and_country_order(acme):
    alice = acme["alice"]
    bruno = _customer("Bruno Keller", country="DE")
    # Issued in the reverse of the order the report reads them in.
    issue(alice, "50", on=datetime.date(2026, 3, 2), currency="USD")
    issue(bruno, "40", on=datetime.date(2026, 2, 1))
    issue(alice, "30", on=datetime.date(2026, 2, 1))
    issue(alice, "10", on=datetime.date(2026, 1, 2))
    rows = selectors.vat_report(start=START, end=END).rows
    assert [(r["currency"], r["period"].month, r["country"]) for r in rows] == [
        ("EUR", 1, "FR"),
        ("EUR", 2, "DE"),
        ("EUR", 2, "FR"),
        ("USD", 3, "FR"),
    ]


def test_vat_report_groups_by_quarter_and_filters_on_issue_date(acme):
    alice = acme["alice"]
    issue(alice, "10", on=datetime.date(2026, 1, 1))
    issue(alice, "20", on=datetime.date(2026, 3, 31))
    issue(alice, "40", on=datetime.date(2026, 4, 1))  # the next quarter
    issue(alice, "80", on=datetime.date(2025, 12, 31))
    [row] = selectors.vat_report(start=START, end=END, period="quarter").rows
    assert row["period"] == START
    assert row["net"] == Decimal("30.00")


def test_ec_sales_list_totals_reverse_charge_per_customer_vat_id(acme):
    Invoice.objects.create(
        status="issued",
        number="RC-1",
        customer=acme["bob"],
        currency="EUR",
        tax_treatment="reverse_charge",
        issue_date=datetime.date(2026, 2, 1),
        subtotal=Decimal("300"),
        total=Decimal("300"),
        customer_snapshot={"country": "DE", "tax_id": "DE111111111", "company_name": "Erste GmbH"},
    )
    Invoice.objects.create(
        kind="credit_note",
        status="issued",
        number="RC-CN-1",
        customer=acme["bob"],
        currency="EUR",
        tax_treatment="reverse_charge",
        issue_date=datetime.date(2026, 2, 15),
        subtotal=Decimal("100"),
        total=Decimal("100"),
        customer_snapshot={"country": "DE", "tax_id": "DE111111111", "company_name": "Erste GmbH"},
    )
    issue(acme["alice"], "500", on=datetime.date(2026, 2, 2))  # standard: not on the list
    [row] = selectors.vat_report(start=START, end=END).ec_sales
    assert row == {
        "currency": "EUR",
        "country": "DE",
        "vat_id": "DE111111111",
        "customer": "Erste GmbH",
        "net": Decimal("200.00"),
        "documents": 2,
    }


def test_vat_page_shows_rows_totals_and_download_links(acme):
    issue(acme["alice"], "100", on=datetime.date(2026, 2, 3))
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, "vat/", **Q1)
    text = response.content.decode()
    assert response.status_code == 200
    assert "2026-02" in text and "€100.00" in text and "€20.00" in text
    assert "export=csv" in text and "export=xlsx" in text
    assert 'for="id_start"' in text and 'for="id_end"' in text  # labelled inputs


def test_vat_page_defaults_to_this_quarter(acme):
    start, end = selectors.this_quarter()
    issue(acme["alice"], "77", on=start)
    text = page(client_for(acme["info"], acme["info"].owner), "vat/").content.decode()
    assert f'value="{start.isoformat()}"' in text and f'value="{end.isoformat()}"' in text
    assert "€77.00" in text


def test_vat_page_with_nothing_issued_says_so(acme):
    text = page(client_for(acme["info"], acme["info"].owner), "vat/", **Q1).content.decode()
    assert "No VAT to report" in text
    assert "No reverse-charge sales" in text


def test_vat_csv_and_xlsx_hold_the_report_rows(acme):
    issue(acme["alice"], "100", on=datetime.date(2026, 2, 3))
    issue(acme["alice"], "50", on=datetime.date(2026, 3, 3), currency="USD")
    owner = client_for(acme["info"], acme["info"].owner)

    response = page(owner, "vat/", **Q1, export="csv")
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="vat-2026-01-01_2026-03-31.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["Currency"], r["Period"], r["Net"], r["VAT"]) for r in rows] == [
        ("EUR", "2026-02-01", "100.00", "20.00"),
        ("USD", "2026-03-01", "50.00", "10.00"),
    ]

    response = page(owner, "vat/", **Q1, export="xlsx")
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert workbook.sheetnames == ["VAT", "EC sales list"]
    values = list(workbook["VAT"].values)
    assert values[0][:3] == ("Currency", "Period", "Country")
    assert [(r[0], r[2], Decimal(str(r[5]))) for r in values[1:]] == [
        ("EUR", "FR", Decimal("100")),
        ("USD", "FR", Decimal("50")),
    ]
    assert values[1][1] == datetime.datetime(2026, 2, 1)


# --------------------------------------------------------------------------------------
# Revenue


def test_revenue_defers_the_part_of_a_service_period_after_the_range_by_days(acme):
    # A year of service from 1 March 2026: 334 of its 365 days lie after 31 March.
    issue(
        acme["alice"],
        "365",
        on=datetime.date(2026, 3, 1),
        kind="service",
        period_start=datetime.date(2026, 3, 1),
        period_end=datetime.date(2027, 2, 28),
    )
    report = selectors.revenue_report(start=START, end=END)
    assert report.deferred == [{"currency": "EUR", "amount": Decimal("334.00"), "lines": 1}]
    assert report.invoiced[0]["net"] == Decimal("365.00")


def test_revenue_collects_payments_by_the_day_they_were_received(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 1, 10))
    pay(alice, "50", on=datetime.date(2026, 1, 20), invoice=invoice)
    pay(alice, "70", on=datetime.date(2026, 4, 2), invoice=invoice)  # after the range
    report = selectors.revenue_report(start=START, end=END)
    assert report.collected == [
        {
            "currency": "EUR",
            "month": datetime.date(2026, 1, 1),
            "received": Decimal("50.00"),
            "refunded": Decimal("0.00"),
            "amount": Decimal("50.00"),
            "payments": 1,
        }
    ]


def test_revenue_page_and_xlsx_show_invoiced_collected_and_deferred(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 1, 10))
    pay(alice, "120", on=datetime.date(2026, 1, 20), invoice=invoice)
    owner = client_for(acme["info"], acme["info"].owner)
    text = page(owner, "revenue/", **Q1).content.decode()
    assert "€100.00" in text and "€120.00" in text and "Nothing deferred" in text
    response = page(owner, "revenue/", **Q1, export="xlsx")
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert workbook.sheetnames == ["Invoiced", "Collected", "Deferred"]
    assert list(workbook["Collected"].values)[1][2] == 120
    collected = page(owner, "revenue/", **Q1, export="csv", table="collected")
    assert list(csv.reader(io.StringIO(collected.content.decode())))[1] == [
        "EUR",
        "2026-01-01",
        "120.00",
        "0.00",
        "120.00",
        "1",
    ]


# --------------------------------------------------------------------------------------
# Aging


@pytest.mark.parametrize(
    ("days_past_due", "bucket"),
    [
        (-1, "not_due"),
        (0, "days_0_30"),
        (30, "days_0_30"),
        (31, "days_31_60"),
        (60, "days_31_60"),
        (61, "days_61_90"),
        (90, "days_61_90"),
        (91, "over_90"),
    ],
)
def test_aging_puts_a_balance_in_its_bucket_at_the_boundaries(acme, days_past_due, bucket):
    as_of = datetime.date(2026, 6, 30)
    invoice = issue(acme["alice"], "100", on=datetime.date(2026, 1, 1))
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=as_of - datetime.timedelta(days=days_past_due)
    )
    [row] = selectors.aging_report(as_of=as_of).rows
    assert row[bucket] == Decimal("120.00")
    assert all(row[key] == 0 for key in selectors.AGING_KEYS if key != bucket)


def test_aging_counts_only_what_is_still_owed_per_customer_and_currency(acme):
    alice, bob = acme["alice"], acme["bob"]
    as_of = datetime.date(2026, 3, 31)
    partly = issue(alice, "100", on=datetime.date(2026, 1, 2))
    pay(alice, "20", on=datetime.date(2026, 1, 5), invoice=partly)
    paid = issue(alice, "10", on=datetime.date(2026, 1, 3))
    pay(alice, "12", on=datetime.date(2026, 1, 5), invoice=paid)
    credited = issue(bob, "50", on=datetime.date(2026, 1, 4))
    services.credit_note_create(invoice=credited, reason="Cancelled")
    issue(bob, "10", on=datetime.date(2026, 1, 4), currency="USD")
    issue(bob, "99", on=datetime.date(2026, 4, 1))  # issued after the date

    report = selectors.aging_report(as_of=as_of)
    assert [(r["currency"], r["customer"], r["total"], r["invoices"]) for r in report.rows] == [
        ("EUR", "Alice Martin", Decimal("100.00"), 1),
        ("USD", "Bob Durand", Decimal("12.00"), 1),
    ]
    assert [(t["currency"], t["total"]) for t in report.totals] == [
        ("EUR", Decimal("100.00")),
        ("USD", Decimal("12.00")),
    ]


def test_aging_csv_lists_each_customer_with_its_buckets(acme):
    invoice = issue(acme["alice"], "100", on=datetime.date(2026, 1, 2))
    Invoice.objects.filter(pk=invoice.pk).update(due_date=datetime.date(2026, 1, 31))
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, "aging/", as_of="2026-03-31", export="csv")
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["Customer"] == "Alice Martin"
    assert row["31–60 days"] == "120.00" and row["Total owed"] == "120.00"


# --------------------------------------------------------------------------------------
# Journal


def test_journal_has_one_row_per_invoice_credit_note_and_payment(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 1, 10))
    note = services.credit_note_create(
        invoice=invoice,
        reason="Discount",
        lines=[{"line_id": invoice.lines.get().pk, "amount": "10"}],
        issue_date=datetime.date(2026, 1, 11),
    )
    payment = pay(alice, "108", on=datetime.date(2026, 1, 12), invoice=invoice)
    services.invoice_create_draft(customer=alice, lines=[{"description": "D", "unit_price": "5"}])

    rows = [
        dict(zip(selectors.JOURNAL_COLUMNS, row, strict=True))
        for row in selectors.journal_rows(start=START, end=END)
    ]
    assert [(r["type"], r["number"], r["net"], r["vat"], r["gross"]) for r in rows] == [
        ("invoice", invoice.number, Decimal("100.00"), Decimal("20.00"), Decimal("120.00")),
        ("credit_note", note.number, Decimal("-10.00"), Decimal("-2.00"), Decimal("-12.00")),
        ("payment", f"PAY-{payment.pk:06d}", None, None, Decimal("108.00")),
    ]
    assert [(r["debit"], r["credit"]) for r in rows] == [
        (Decimal("120.00"), None),
        (None, Decimal("12.00")),
        (None, Decimal("108.00")),
    ]
    assert rows[1]["applies_to"] == rows[2]["applies_to"] == invoice.number
    assert {r["customer_account"] for r in rows} == {f"C{alice.pk:06d}"}


def _refund_and_reversal(customer, *, on: datetime.date) -> tuple[Payment, Refund]:
    """A payment partly refunded and one reversed as recorded by mistake, both on `on`
    (written as rows: the refund services build the same rows)."""
    refunded = pay(customer, "100", on=on - datetime.timedelta(days=3))
    refund = Refund.objects.create(
        customer=customer,
        payment=refunded,
        amount=Decimal("30.00"),
        currency="EUR",
        method="bank_transfer",
        reference="R-1",
        reason="Asked for it back",
        refunded_on=on,
    )
    mistaken = pay(customer, "45", on=on - datetime.timedelta(days=2))
    noon = datetime.datetime.combine(on, datetime.time(12), tzinfo=clock.instance_time_zone())
    Payment.objects.filter(pk=mistaken.pk).update(reversed_at=noon)
    return mistaken, refund


def test_journal_debits_refunds_and_reversed_payments_on_the_day_they_happen(acme):
    mistaken, refund = _refund_and_reversal(acme["alice"], on=datetime.date(2026, 2, 10))
    rows = [
        dict(zip(selectors.JOURNAL_COLUMNS, row, strict=True))
        for row in selectors.journal_rows(start=START, end=END)
    ]
    assert [(r["date"], r["type"], r["gross"], r["debit"], r["credit"]) for r in rows] == [
        (datetime.date(2026, 2, 7), "payment", Decimal("100.00"), None, Decimal("100.00")),
        (datetime.date(2026, 2, 8), "payment", Decimal("45.00"), None, Decimal("45.00")),
        (datetime.date(2026, 2, 10), "payment_reversal", Decimal("-45.00"), Decimal("45.00"), None),
        (datetime.date(2026, 2, 10), "refund", Decimal("-30.00"), Decimal("30.00"), None),
    ]
    assert rows[3]["number"] == f"REF-{refund.pk:06d}"
    assert rows[3]["applies_to"] == f"PAY-{refund.payment_id:06d}"
    assert selectors.journal_count(start=START, end=END) == 4
    revenue = selectors.revenue_report(start=START, end=END)
    assert [(r["received"], r["refunded"], r["amount"]) for r in revenue.collected] == [
        (Decimal("100.00"), Decimal("30.00"), Decimal("70.00"))  # the mistaken 45 never came
    ]


def test_statement_charges_refunds_and_reversed_payments(acme):
    alice = acme["alice"]
    _refund_and_reversal(alice, on=datetime.date(2026, 2, 10))
    [section] = selectors.customer_statement(customer=alice, start=START, end=END).sections
    assert [(line.kind, line.debit, line.credit, line.balance) for line in section.lines] == [
        ("payment", Decimal("0"), Decimal("100.00"), Decimal("-100.00")),
        ("payment", Decimal("0"), Decimal("45.00"), Decimal("-145.00")),
        ("payment_reversal", Decimal("45.00"), Decimal("0"), Decimal("-100.00")),
        ("refund", Decimal("30.00"), Decimal("0"), Decimal("-70.00")),
    ]
    later = selectors.customer_statement(
        customer=alice, start=datetime.date(2026, 3, 1), end=END
    ).sections[0]
    assert later.opening == later.closing == Decimal("-70.00")


def test_journal_csv_is_streamed_from_the_database_and_holds_every_row(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 1, 10))
    pay(alice, "120", on=datetime.date(2026, 1, 12), invoice=invoice)
    issue(alice, "10", on=datetime.date(2026, 4, 10))  # outside the range
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, "journal/", **Q1, export="csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == list(selectors.JOURNAL_COLUMNS)
    assert [(r["date"], r["type"], r["gross"], r["currency"]) for r in rows] == [
        ("2026-01-10", "invoice", "120.00", "EUR"),
        ("2026-01-12", "payment", "120.00", "EUR"),
    ]


def test_journal_xlsx_reads_back_with_numbers_and_dates(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 1, 10))
    services.credit_note_create(invoice=invoice, reason="Cancelled", issue_date=START)
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, "journal/", **Q1, export="xlsx")
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    header, *rows = list(workbook["Journal"].values)
    assert header == selectors.JOURNAL_COLUMNS
    column = {name: i for i, name in enumerate(header)}
    assert sorted((r[column["type"]], r[column["gross"]]) for r in rows) == [
        ("credit_note", -120),
        ("invoice", 120),
    ]
    assert all(isinstance(r[column["date"]], datetime.datetime) for r in rows)


def test_journal_xlsx_too_large_to_build_points_to_the_csv(acme, monkeypatch):
    from tenant_apps.billing.reports import exporters

    monkeypatch.setattr(exporters, "XLSX_MAX_ROWS", 2)
    for day in (10, 11, 12):
        issue(acme["alice"], "10", on=datetime.date(2026, 1, day))
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, "journal/", **Q1, export="xlsx")
    assert response.status_code == 400
    assert "This range holds 3 journal rows; an XLSX holds up to 2." in response.content.decode()
    assert page(owner, "journal/", **Q1, export="csv").status_code == 200


def test_journal_exports_never_start_a_cell_with_a_formula(acme):
    sneaky = _customer("=HYPERLINK(evil)")
    issue(sneaky, "10", on=datetime.date(2026, 1, 10))
    pay(sneaky, "1", on=datetime.date(2026, 1, 11))
    Payment.objects.filter(customer=sneaky).update(reference="+cmd")
    owner = client_for(acme["info"], acme["info"].owner)
    body = b"".join(page(owner, "journal/", **Q1, export="csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["customer"] for r in rows} == {"'=HYPERLINK(evil)"}
    assert rows[1]["reference"] == "'+cmd"
    response = page(owner, "journal/", **Q1, export="xlsx")
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    customers = [row[7].value for row in workbook["Journal"].iter_rows(min_row=2)]
    assert customers == ["=HYPERLINK(evil)", "=HYPERLINK(evil)"]  # text, not a formula
    assert all(row[7].data_type == "s" for row in workbook["Journal"].iter_rows(min_row=2))


def test_journal_page_lists_entries_page_by_page_across_documents_and_payments(acme):
    alice = acme["alice"]
    day = datetime.date(2026, 1, 1)
    numbers = [issue(alice, "1", on=day + datetime.timedelta(days=i)).number for i in range(45)]
    payments = [
        f"PAY-{pay(alice, '1', on=day + datetime.timedelta(days=i)).pk:06d}" for i in range(10)
    ]
    owner = client_for(acme["info"], acme["info"].owner)
    first = page(owner, "journal/", **Q1).content.decode()
    assert all(number in first for number in numbers)
    assert all(p in first for p in payments[:5]) and payments[5] not in first
    assert "of <strong>55</strong>" in first
    second = page(owner, "journal/", **Q1, **{"j-page": "2"}).content.decode()
    assert all(p in second for p in payments[5:]) and numbers[0] not in second
    api_rows = [row["number"] for row in owner.get(f"{API}journal/", Q1).json()["results"]]
    assert api_rows == numbers + payments


# --------------------------------------------------------------------------------------
# Statements


def _statement_history(alice) -> tuple[datetime.date, datetime.date]:
    """Documents of Alice's around a range ending today (manual credit is dated today)."""
    today = clock.today()
    start = today - datetime.timedelta(days=30)
    before = issue(alice, "100", on=start - datetime.timedelta(days=5))  # 120 owed
    pay(alice, "20", on=start - datetime.timedelta(days=2), invoice=before)  # opening 100
    second = issue(alice, "200", on=start + datetime.timedelta(days=1))  # +240
    services.credit_note_create(
        invoice=second,
        reason="Goodwill",
        lines=[{"line_id": second.lines.get().pk, "amount": "50"}],
        issue_date=start + datetime.timedelta(days=2),
    )  # −60
    pay(alice, "400", on=start + datetime.timedelta(days=3))  # −400, on account
    services.customer_credit_adjust(customer=alice, amount="5", note="Sorry for the outage")
    return start, today


def test_statement_runs_from_the_opening_to_the_closing_balance(acme):
    alice = acme["alice"]
    start, end = _statement_history(alice)
    statement = selectors.customer_statement(customer=alice, start=start, end=end)
    [section] = statement.sections
    assert section.currency == "EUR"
    assert section.opening == Decimal("100.00")
    assert [(line.kind, line.balance) for line in section.lines] == [
        ("invoice", Decimal("340.00")),
        ("credit_note", Decimal("280.00")),
        ("payment", Decimal("-120.00")),
        ("credit_adjustment", Decimal("-125.00")),
    ]
    assert section.closing == Decimal("-125.00")


def test_statement_closing_balance_is_what_is_owed_less_the_account_credit(acme):
    alice = acme["alice"]
    start, end = _statement_history(alice)
    alice.refresh_from_db()
    owed = sum(invoice.amount_due for invoice in Invoice.objects.filter(customer=alice))
    [section] = selectors.customer_statement(customer=alice, start=start, end=end).sections
    assert section.closing == owed - alice.credit_balance


def test_statement_pdf_renders_for_staff_from_the_customer_page(acme):
    alice = acme["alice"]
    start, end = _statement_history(alice)
    owner = client_for(acme["info"], acme["info"].owner)
    customer_page = owner.get(f"/staff/customers/{alice.pk}/").content.decode()
    assert f"{STAFF}statements/{alice.pk}/" in customer_page
    params = {"start": start.isoformat(), "end": end.isoformat()}
    screen = owner.get(f"{STAFF}statements/{alice.pk}/", params).content.decode()
    assert "Opening balance" in screen and "€100.00" in screen and "-€125.00" in screen
    response = owner.get(f"{STAFF}statements/{alice.pk}/pdf/", params)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_customers_read_their_own_statement_in_the_portal_and_no_one_elses(acme):
    alice, bob = acme["alice"], acme["bob"]
    issue(alice, "100", on=clock.today())
    bobs = issue(bob, "999", on=clock.today())
    portal = client_for(acme["info"], acme["info"].customer)

    own = portal.get("/portal/billing/statement/", follow=True)
    assert own.redirect_chain[-1][0].startswith(f"/portal/billing/statements/{alice.pk}/")
    text = own.content.decode()
    assert "€120.00" in text and bobs.number not in text
    pdf = portal.get(f"/portal/billing/statements/{alice.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    assert portal.get(f"/portal/billing/statements/{bob.pk}/").status_code == 404
    assert portal.get(f"/portal/billing/statements/{bob.pk}/pdf/").status_code == 404
    assert portal.get(f"{STAFF}statements/{bob.pk}/pdf/").status_code == 403
    assert portal.get(f"{API}statements/{bob.pk}/").status_code == 403


def test_statement_with_a_bad_range_shows_the_error(acme):
    alice = acme["alice"]
    owner = client_for(acme["info"], acme["info"].owner)
    response = owner.get(
        f"{STAFF}statements/{alice.pk}/", {"start": "2026-03-01", "end": "2026-01-01"}
    )
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()
    pdf = owner.get(f"{STAFF}statements/{alice.pk}/pdf/", {"start": "nope"})
    assert pdf.status_code == 302


def test_statement_picker_leads_to_the_chosen_customer(acme):
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, "statements/", customer=acme["bob"].pk)
    assert response.status_code == 302
    assert response["Location"] == f"{STAFF}statements/{acme['bob'].pk}/"
    assert page(owner, "statements/", customer="not-a-customer").status_code == 400


# --------------------------------------------------------------------------------------
# Who may read reports, and bad input


REPORT_PAGES = ["", "vat/", "revenue/", "aging/", "journal/", "statements/"]


@pytest.mark.parametrize("path", REPORT_PAGES)
def test_support_staff_and_customers_cannot_open_reports(acme, path):
    info = acme["info"]
    assert page(client_for(info, info.support), path).status_code == 403
    assert page(client_for(info, info.customer), path).status_code == 403
    anonymous = page(client_for(info), path)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_billing_staff_read_reports_and_see_them_in_the_navigation(acme):
    info = acme["info"]
    get_user_model().objects.create_user(email="clerk@acme.test", role="billing")
    clerk = client_for(info, "clerk@acme.test")
    response = page(clerk, "vat/", **Q1)
    assert response.status_code == 200
    assert f'href="{STAFF}"' in response.content.decode()
    support_nav = client_for(info, info.support).get("/staff/billing/").content.decode()
    assert f'href="{STAFF}"' not in support_nav


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("vat/", {"start": "2026-03-01", "end": "2026-01-01"}),
        ("vat/", {"start": "31/02/2026", "end": "2026-01-01"}),
        ("vat/", {**Q1, "period": "decade"}),
        ("revenue/", {"start": "yesterday"}),
        ("journal/", {"start": "2026-03-01", "end": "2026-01-01", "export": "csv"}),
        ("journal/", {**Q1, "export": "pdf"}),
        ("aging/", {"as_of": "20266-01-01"}),
    ],
)
def test_bad_report_input_is_shown_on_the_form_not_a_server_error(acme, path, params):
    owner = client_for(acme["info"], acme["info"].owner)
    response = page(owner, path, **params)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()


def test_another_instances_documents_never_reach_its_reports(acme, instance_b):
    issue(acme["alice"], "100", on=datetime.date(2026, 2, 3))
    pay(acme["alice"], "5", on=datetime.date(2026, 2, 4))
    alice_id = acme["alice"].pk
    with schema_context(instance_b.schema_name):
        _setup_instance("Bluebird Ltd")
    bluebird = client_for(instance_b, instance_b.owner)
    for path in ("vat/", "revenue/", "journal/"):
        text = page(bluebird, path, **Q1).content.decode()
        assert "€100.00" not in text and "€5.00" not in text
    body = b"".join(page(bluebird, "journal/", **Q1, export="csv").streaming_content)
    assert body.decode().strip() == ",".join(selectors.JOURNAL_COLUMNS)
    assert bluebird.get(f"{API}vat/", Q1).json()["rows"] == []
    assert bluebird.get(f"{API}journal/", Q1).json()["count"] == 0
    assert bluebird.get(f"{STAFF}statements/{alice_id}/").status_code in (404,)
    assert bluebird.get(f"{API}statements/{alice_id}/").status_code == 404


def test_the_operator_reads_the_same_reports_for_its_own_instance(operator):
    with schema_context(operator.schema_name):
        _setup_instance("Operator SAS")
        customer = _customer("Reseller One")
        issue(customer, "250", on=datetime.date(2026, 2, 3))
    owner = client_for(operator, operator.owner)
    text = page(owner, "vat/", **Q1).content.decode()
    assert "€250.00" in text
    assert owner.get(f"{API}revenue/", Q1).json()["invoiced"][0]["net"] == "250.00"


# --------------------------------------------------------------------------------------
# API


def test_api_reports_give_the_same_figures_as_the_screens(acme):
    alice = acme["alice"]
    invoice = issue(alice, "100", on=datetime.date(2026, 2, 3))
    pay(alice, "60", on=datetime.date(2026, 2, 10), invoice=invoice)
    api = client_for(acme["info"], acme["info"].owner)

    vat = api.get(f"{API}vat/", Q1).json()
    assert vat["rows"] == [
        {
            "currency": "EUR",
            "period": "2026-02-01",
            "country": "FR",
            "rate": "20.000",
            "treatment": "standard",
            "net": "100.00",
            "vat": "20.00",
            "lines": 1,
        }
    ]
    revenue = api.get(f"{API}revenue/", Q1).json()
    assert revenue["collected_totals"] == [
        {
            "currency": "EUR",
            "received": "60.00",
            "refunded": "0.00",
            "amount": "60.00",
            "payments": 1,
        }
    ]
    aging = api.get(f"{API}aging/", {"as_of": "2026-03-31"}).json()
    assert aging["totals"][0]["total"] == "60.00"
    journal = api.get(f"{API}journal/", Q1).json()
    assert journal["count"] == 2 and journal["pages"] == 1
    assert [row["type"] for row in journal["results"]] == ["invoice", "payment"]
    statement = api.get(f"{API}statements/{alice.pk}/", Q1).json()
    assert statement["sections"][0]["closing"] == "60.00"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("vat/", {"start": "2026-03-01", "end": "2026-01-01"}, "end"),
        ("revenue/", {"start": "not a date"}, "start"),
        ("aging/", {"as_of": "2026-13-01"}, "as_of"),
        ("journal/", {**Q1, "page": "0"}, "page"),
    ],
)
def test_api_refuses_bad_report_queries_with_a_400(acme, path, params, field):
    api = client_for(acme["info"], acme["info"].owner)
    response = api.get(f"{API}{path}", params)
    assert response.status_code == 400
    assert field in response.json()


def test_api_reports_are_for_staff_who_bill(acme):
    info = acme["info"]
    for email in (info.support, info.customer):
        assert client_for(info, email).get(f"{API}vat/", Q1).status_code == 403
    assert client_for(info).get(f"{API}vat/", Q1).status_code in (401, 403)


def test_api_schema_documents_the_report_endpoints(acme):
    owner = client_for(acme["info"], acme["info"].owner)
    schema = owner.get("/api/schema/", {"format": "json"})
    paths = json.loads(schema.content)["paths"]
    for name in ("vat", "revenue", "aging", "journal"):
        assert f"/api/reports/{name}/" in paths
    assert "/api/reports/statements/{customer_id}/" in paths


def test_vat_sheets_export_the_rows_they_are_given(acme):
    issue(acme["alice"], "10", on=datetime.date(2026, 1, 5))
    sheet = vat_sheets(selectors.vat_report(start=START, end=END))[0]
    lines = csv_text(sheet).splitlines()
    assert lines[0].startswith("Currency,Period,Country")
    assert lines[1] == "EUR,2026-01-01,FR,20.000,standard,10.00,2.00,1"


@pytest.fixture(scope="module")
def committed_journal(django_db_setup, django_db_blocker):
    """A throwaway instance whose documents are COMMITTED, so a second connection sees
    them (the journal's parallel export reads through one); everything it wrote in the
    public schema and its schema are removed afterwards."""
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND column_name = 'id' AND table_name IN (SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public')"
            )
            tables = [name for (name,) in cursor.fetchall()]
            before = {}
            for table in tables:
                cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM public."{table}"')
                before[table] = cursor.fetchone()[0]
        reseller_create(
            slug="journalpar",
            name="Journal Par",
            legal_name="Journal Par Ltd",
            owner_email="boss@journalpar.test",
            owner_password="correct-horse-battery",
            method="template",
            allocations={},
        )
        try:
            with schema_context("r_journalpar"):
                _setup_instance("Journal Par Ltd")
                carol = _customer("Carol Smith")
                invoice = issue(carol, "100", "20", on=datetime.date(2026, 1, 10))
                pay(carol, "144", on=datetime.date(2026, 1, 12), invoice=invoice)
                issue(carol, "50", on=datetime.date(2026, 2, 3))
                _refund_and_reversal(carol, on=datetime.date(2026, 2, 20))
            yield "r_journalpar"
        finally:
            connection.set_schema_to_public()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute('DROP SCHEMA IF EXISTS "r_journalpar" CASCADE')
                for table in tables:
                    cursor.execute(f'DELETE FROM public."{table}" WHERE id > %s', [before[table]])


def test_journal_csv_written_by_two_connections_equals_the_one_connection_export(
    db, committed_journal
):
    with schema_context(committed_journal):
        params = selectors._journal_params(START, END)
        exports = {}
        for parallel in (False, True):
            # The test's own transaction (a savepoint cannot export its snapshot).
            with connection.cursor() as cursor:
                exports[parallel] = b"".join(
                    selectors.journal_csv_from(cursor, params, parallel=parallel)
                )
    rows = list(csv.DictReader(io.StringIO(exports[True].decode())))
    assert exports[True] == exports[False]
    assert [r["type"] for r in rows] == [
        "invoice",
        "invoice",
        "payment",
        "payment",
        "payment",
        "payment_reversal",
        "refund",
    ]
    assert {r["customer"] for r in rows} == {"Carol Smith"}
