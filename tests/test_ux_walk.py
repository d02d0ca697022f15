"""What a customer, a reseller's staff and the operator's staff saw wrong in the browser walk
of issue 13, checked as they see it: the portal overview lists what the customer has, the
operator's escalation page says who a reply reaches and who wrote, the suspension page has
its stylesheet, quantities read as English, the helpdesk queue fits a laptop, and every
input of the pages named in the walk has a label."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from shared_apps.bridge import services as bridge
from shared_apps.tenancy.models import Allocation
from shared_apps.tenancy.services import reseller_suspend
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Ticket
from tenant_apps.instance.templatetags.quantities import with_unit
from tenant_apps.orders import services as orders
from tests.billing_fixtures import make_customer, make_product, setup_issuer
from tests.conftest import client_for


def _user(email):
    return get_user_model().objects.get(email=email)


def _text(response) -> str:
    """The page as read: tags dropped, whitespace collapsed."""
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _customer_with_everything(info, email: str, name: str, plan_code: str):
    """A customer of `info` with an active service, its issued invoice and a ticket."""
    with schema_context(info.schema_name):
        customer = make_customer(name, email=email, user=_user(email) if email else None)
        order = orders.order_place(
            customer=customer,
            items=[{"product": make_product(code=plan_code), "cycle": "monthly"}],
        )
        invoice = orders.order_accept(order=order)
        ticket = helpdesk.ticket_open(
            subject=f"{name}: mail bounces",
            body="Since Monday.",
            customer=customer,
            requester=customer.user,
        )
        return invoice, ticket


# --------------------------------------------------------------------------------------
# 1. The portal's overview


def test_portal_overview_lists_the_customers_services_invoices_and_tickets(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer()
    invoice, ticket = _customer_with_everything(
        instance_a, instance_a.customer, "Alice Martin", "web-m"
    )

    page = client_for(instance_a, instance_a.customer).get("/portal/")

    text = _text(page)
    assert page.status_code == 200
    assert "WEB-M" in text and invoice.number in text and ticket.subject in text
    for empty in ("No services yet", "No invoices yet", "No tickets"):
        assert empty not in text
    assert "All services (1)" in text and "All invoices (1)" in text and "All tickets (1)" in text


def test_portal_overview_never_shows_another_customers_things(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer()
    other_invoice, other_ticket = _customer_with_everything(instance_a, "", "Bob Chen", "web-xl")
    with schema_context(instance_a.schema_name):
        make_customer("Alice Martin", email=instance_a.customer, user=_user(instance_a.customer))

    text = _text(client_for(instance_a, instance_a.customer).get("/portal/"))

    assert "WEB-XL" not in text and other_invoice.number not in text
    assert other_ticket.subject not in text
    assert "No services yet" in text and "No invoices yet" in text and "No tickets" in text


# --------------------------------------------------------------------------------------
# 4. The operator's view of an escalation


@pytest.fixture
def escalated(instance_a, operator):
    """Acme's customer ticket, escalated by Acme's support: the operator's ticket id."""
    with schema_context(instance_a.schema_name):
        customer = make_customer("Alice Martin", user=_user(instance_a.customer))
        ticket = helpdesk.ticket_open(
            subject="Site down", body="502 since 9:00.", customer=customer, requester=customer.user
        )
    link = bridge.ticket_escalate(
        reseller_schema=instance_a.schema_name, ticket_id=ticket.pk, escalated_by=instance_a.support
    )
    return link.operator_ticket_id


def test_the_escalations_first_message_is_signed_by_the_reseller_staff_member(operator, escalated):
    page = client_for(operator, operator.support).get(f"/staff/helpdesk/tickets/{escalated}/")

    author = re.search(r'class="hd-author">([^<]*)<', page.content.decode()).group(1)
    assert author == "support@acme.test (Acme)"
    assert "Unknown" not in _text(page)


def test_the_operators_reply_box_and_message_say_the_reply_goes_to_the_resellers_staff(
    operator, escalated
):
    staff = client_for(operator, operator.support)
    url = f"/staff/helpdesk/tickets/{escalated}/"

    before = _text(staff.get(url))
    sent = staff.post(url, {"body": "Router restarted upstream."}, follow=True)

    assert "Acme Ltd's staff get this in their ticket" in before
    assert "The customer gets this" not in before
    assert "Reply sent to Acme Ltd's staff." in _text(sent)
    assert "Reply sent to the customer" not in _text(sent)


def test_a_reply_to_a_customer_ticket_still_says_it_reaches_the_customer(instance_a):
    with schema_context(instance_a.schema_name):
        customer = make_customer("Alice Martin", user=_user(instance_a.customer))
        ticket = helpdesk.ticket_open(
            subject="Hello", body="A question.", customer=customer, requester=customer.user
        )
    staff = client_for(instance_a, instance_a.support)
    url = f"/staff/helpdesk/tickets/{ticket.pk}/"

    assert "The customer gets this by e-mail and in their portal." in _text(staff.get(url))
    assert "Reply sent to the customer." in _text(staff.post(url, {"body": "Hi!"}, follow=True))


# --------------------------------------------------------------------------------------
# 5. The suspension page


def test_the_suspension_page_gets_its_stylesheet(instance_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=instance_a.reseller(), reason="unpaid")
    visitor = client_for(instance_a)

    page = visitor.get("/portal/")
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.content.decode())
    css = visitor.get(stylesheet.group(1))

    assert page.status_code == 503
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    assert b".error-card" in b"".join(css.streaming_content)


def test_an_unknown_static_file_of_a_suspended_instance_is_still_the_503_page(
    instance_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=instance_a.reseller(), reason="unpaid")

    assert client_for(instance_a).get("/static/css/nope.css").status_code == 503


# --------------------------------------------------------------------------------------
# 6. Wording and tables


@pytest.mark.parametrize(
    "amount,unit,reads",
    [
        (1, "accounts", "1 account"),
        (2, "accounts", "2 accounts"),
        (1, "domains", "1 domain"),
        (1, "mailboxes", "1 mailbox"),
        (0, "mailboxes", "0 mailboxes"),
        (1, "GB", "1 GB"),
    ],
)
def test_quantities_read_as_english(amount, unit, reads):
    assert with_unit(amount, unit) == reads


def test_the_console_says_1_account_and_1_domain(operator, instance_a):
    Allocation.objects.filter(
        reseller__slug="acme", resource_id__in=("hosting_accounts", "domains")
    ).update(used=1, quantity=5)

    text = _text(client_for(operator, operator.owner).get("/console/resellers/acme/"))

    assert "1 account" in text and "1 domain" in text
    assert "1 accounts" not in text and "1 domains" not in text


def test_a_suspension_reads_as_a_label_in_the_resellers_activity(
    operator, instance_a, django_capture_on_commit_callbacks
):
    console = client_for(operator, operator.owner)
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/console/resellers/acme/suspend/", {"reason": "unpaid invoice"})

    text = _text(console.get("/console/resellers/acme/"))

    assert "Reseller suspended" in text and "unpaid invoice" in text
    assert "status:" not in text


def test_the_helpdesk_queue_has_seven_columns_with_customer_and_department_under_the_subject(
    instance_a,
):
    with schema_context(instance_a.schema_name):
        customer = make_customer("Alice Martin")
        helpdesk.ticket_open(subject="Mail bounces", body="Since Monday.", customer=customer)

    html = client_for(instance_a, instance_a.support).get("/staff/helpdesk/").content.decode()

    headers = [
        " ".join(re.sub(r"<[^>]+>", " ", th).split())
        for th in re.findall(r"<th\b.*?</th>", html, flags=re.S)
    ]
    assert headers == [
        "#",
        "Subject · customer · department",
        "Priority",
        "Status",
        "Assignee",
        "SLA",
        "Last activity",
    ]
    assert re.search(r"Mail bounces</a><div[^>]*>Alice Martin · General support</div>", html)


def test_the_customer_page_activity_puts_who_did_it_under_the_event(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer()
    _customer_with_everything(instance_a, instance_a.customer, "Alice Martin", "web-m")
    with schema_context(instance_a.schema_name):
        customer_id = Ticket.objects.get().customer_id

    html = client_for(instance_a, instance_a.owner).get(f"/staff/customers/{customer_id}/")
    activity = re.search(r"<h2>Activity</h2>(.*?)</section>", html.content.decode(), re.S)

    rows = re.findall(r"<tr>(.*?)</tr>", activity.group(1), re.S)
    assert rows and all(row.count("<td") == 2 for row in rows)
    assert "Ticket opened" in activity.group(1)


# --------------------------------------------------------------------------------------
# 7. Labels on every input, and no bare confirm() pop-up


class _Controls(HTMLParser):
    """Form controls of a page and whether each has a name a screen reader reads out."""

    def __init__(self):
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in (
            "hidden",
            "submit",
            "button",
        ):
            self.controls.append({**attrs, "_tag": tag, "_in_label": self.open_labels > 0})

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [
            f"<{c['_tag']} name={c.get('name')}>"
            for c in self.controls
            if not (
                c["_in_label"]
                or c.get("aria-label")
                or c.get("aria-labelledby")
                or c.get("id") in self.label_for
            )
        ]


def _unlabelled(response) -> list[str]:
    parser = _Controls()
    parser.feed(response.content.decode())
    assert parser.controls, "no form controls on the page"
    return parser.unlabelled()


def test_every_input_of_the_console_reseller_page_has_a_label(operator):
    page = client_for(operator, operator.owner).get("/console/resellers/acme/")

    assert _unlabelled(page) == []
    text = _text(page)
    assert "Price per escalation" in text and "Add a custom domain" in text


def test_the_ticket_side_panel_selects_have_visible_labels(instance_a):
    with schema_context(instance_a.schema_name):
        ticket = helpdesk.ticket_open(
            subject="Mail bounces", body="Since Monday.", customer=make_customer("Alice Martin")
        )

    html = client_for(instance_a, instance_a.support).get(f"/staff/helpdesk/tickets/{ticket.pk}/")

    assert _unlabelled(html) == []
    for field in ("assignee", "priority", "department"):
        assert re.search(rf'<label for="id_{field}"[^>]*>', html.content.decode()), field


def test_a_confirmation_is_a_dialog_from_the_static_script_not_a_bare_confirm():
    from pathlib import Path

    script = (Path(__file__).resolve().parent.parent / "static" / "js" / "upline.js").read_text()

    assert "showModal" in script and 'createElement("dialog")' in script
    # window.confirm stays only as the fallback for a browser without <dialog>.
    assert script.count("window.confirm(") == 1
    assert "typeof HTMLDialogElement" in script


def test_the_activity_trail_names_an_order_once(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer()
    _customer_with_everything(instance_a, instance_a.customer, "Alice Martin", "web-m")

    text = _text(client_for(instance_a, instance_a.owner).get("/staff/activity/"))

    assert re.search(r"Order placed Order #\d+", text)
    assert "Order Order #" not in text
