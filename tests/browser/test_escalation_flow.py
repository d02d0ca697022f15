"""In a real browser: a customer opens a ticket → the reseller escalates it → the operator
answers → the reseller sees the staff-only note and answers → the customer sees the answer
and never the note."""

import re
import threading

import pytest
from django.db import connections
from django_tenants.utils import schema_context

from shared_apps.bridge.models import EscalationLink
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk.models import Outbox, Ticket
from tests.browser.conftest import pass_second_step
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
SUBJECT = "Browser: my site is down"


def _cleanup():
    try:
        with schema_context("public"):
            ids = list(EscalationLink.objects.values_list("operator_ticket_id", flat=True))
            EscalationLink.objects.all().delete()
            Ticket.objects.filter(pk__in=ids).delete()
            Outbox.objects.all().delete()
            # The bridge made Acme a customer of the operator on its first escalation.
            Customer.objects.filter(reseller_id__isnull=False, invoices__isnull=True).delete()
        with schema_context("r_acme"):
            Ticket.objects.filter(subject=SUBJECT).delete()
            Outbox.objects.all().delete()
    finally:
        connections.close_all()


@pytest.fixture
def cleanup(db):
    yield
    thread = threading.Thread(target=_cleanup)  # outside this test's rolled-back transaction
    thread.start()
    thread.join()


def _sign_in(browser, url, email, app=None):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(15_000)
    page.goto(url + "/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" not in page.url, f"sign-in failed for {email}"
    if app is not None:
        pass_second_step(page, app)
    return page


def test_customer_ticket_escalated_answered_upstream_and_relayed(
    browser, live_url, cleanup, operator_apps
):
    acme = live_url.format(host="acme.upline.localhost")
    operator_url = live_url.format(host="upline.localhost")

    customer = _sign_in(browser, acme, "customer@acme.test")
    customer.goto(acme + "/portal/support/new/")
    customer.fill("input[name=subject]", SUBJECT)
    customer.fill("textarea[name=body]", "Since 9:00 example.com shows a 502 error.")
    customer.get_by_role("button", name="Open ticket").click()
    customer.wait_for_url(re.compile(r".*/portal/support/\d+/$"))
    ticket_path = re.search(r"/portal/support/(\d+)/", customer.url).group(1)

    reseller = _sign_in(browser, acme, "support@acme.test")
    reseller.goto(f"{acme}/staff/helpdesk/tickets/{ticket_path}/")
    reseller.fill("#escalate-note", "Our node looks fine; please check upstream.")
    reseller.get_by_role("button", name=re.compile("Escalate to")).click()
    # The confirmation is the page's own dialog, answered like any button.
    confirm = reseller.locator("dialog[open]").get_by_role("button", name=re.compile("Escalate"))
    with reseller.expect_navigation():
        confirm.click()
    reseller.wait_for_load_state()
    assert "Escalated upstream" in reseller.content()

    operator = _sign_in(
        browser, operator_url, "support@operator.test", operator_apps["support@operator.test"]
    )
    operator.goto(operator_url + "/console/escalations/")
    operator.get_by_role("link", name=re.compile(re.escape(SUBJECT))).click()
    operator.wait_for_load_state()
    assert "Escalated by Acme" in operator.content()
    assert "customer@acme.test" not in operator.content()  # the customer was not shared
    operator.fill("#id_body", "Upstream router restarted, the 502 is gone.")
    operator.get_by_role("button", name="Send reply").click()
    operator.wait_for_load_state()

    reseller.reload()
    assert "Upstream router restarted" in reseller.content()
    reseller.get_by_role("button", name="Quote into reply").last.click()
    assert "Upstream router restarted" in reseller.input_value("#id_body")
    reseller.fill("#id_body", "We fixed it with our provider: the 502 is gone. Sorry!")
    reseller.get_by_role("button", name="Send reply").click()
    reseller.wait_for_load_state()

    customer.reload()
    page = customer.content()
    assert "We fixed it with our provider" in page
    assert "Upstream router restarted" not in page and "Upstream note" not in page
