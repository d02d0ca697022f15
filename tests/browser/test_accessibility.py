"""Every page of every role, crawled in a real browser over demo-like data: no serious or
critical axe-core violation, nothing wider than a 390 px phone, no table cut off at
1366 px; keyboard-only sign-in and form submission with a visible focus ring; the
collapsing menu and the confirmation dialog work under the Content-Security-Policy.

The crawl follows the links of each role's start pages (same host, GET only, bounded,
one page per URL shape, no sign-out or downloads), so a new page is audited as soon as a
link leads to it. One live server and one browser serve the whole module; the data is
committed before and taken away after it (tests/browser/walk_data.py).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError

from provisioning.management.commands.upline_demo import PASSWORD as DEMO_PASSWORD
from tests.browser import walk_data
from tests.browser.committed import in_own_connection
from tests.conftest import PASSWORD
from tests.two_factor import app_code

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
MAX_PAGES_PER_ROLE = 90
BLOCKING_IMPACTS = {"serious", "critical"}
# UPLINE_A11Y_EVERY_ROLE=1: audit shared pages (the shop, the staff area) again for each
# role, e.g. after changing what the operator's staff area shows (slower: ~2 minutes).
EVERY_ROLE_EVERY_PAGE = os.environ.get("UPLINE_A11Y_EVERY_ROLE") == "1"
# Not pages: sign-out, files, the API (its docs are ReDoc's), Django's admin, assets.
SKIPPED = re.compile(
    r"/accounts/logout/|/api/|/admin/|/static/|/media/|\.(pdf|csv|xlsx|zip|json|png|svg|ico)$"
    r"|/(pdf|csv|xlsx|xml|download|export|attachments?)/|/logo/$|brand\.css$",
)
# A page that answers these is a broken link; other 4xx pages (a 409 explaining why a bill
# cannot be paid now) are pages like any other and are audited.
BROKEN = {403, 404, 405}
AXE = Axe()
# The WCAG 2.x A/AA rules, plus the "best practice" rules that can report a serious or
# critical problem; the other best-practice rules (landmarks, heading order…) report
# moderate ones at most and would cost a quarter of the audit's time for nothing here.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "rules": {
        rule: {"enabled": True}
        for rule in (
            "aria-dialog-name",
            "aria-text",
            "aria-treeitem-name",
            "frame-tested",
            "label-title-only",
            "scrollable-region-focusable",
            "tabindex",
        )
    },
    "resultTypes": ["violations"],
}


@dataclass
class Role:
    name: str
    host: str
    start: tuple[str, ...]
    screenshot: str  # the representative page photographed at both widths
    email: str | None = None
    password: str = PASSWORD
    second_factor: bool = False


ROLES = {
    "visitor": Role(
        "visitor",
        "acme.upline.localhost",
        ("/", "/accounts/login/", "/shop/sign-up/"),
        screenshot="/shop/cart/",
    ),
    "customer": Role(
        "customer",
        "acme.upline.localhost",
        ("/portal/",),
        screenshot="/portal/",
        email=walk_data.CUSTOMER,
        password=DEMO_PASSWORD,
    ),
    "reseller_staff": Role(
        "reseller_staff",
        "acme.upline.localhost",
        ("/staff/",),
        screenshot="/staff/billing/payments/",
        email=walk_data.RESELLER_STAFF,
    ),
    "operator_staff": Role(
        "operator_staff",
        "upline.localhost",
        ("/console/", "/staff/"),
        screenshot="/console/resellers/acme/",
        email=walk_data.OPERATOR_STAFF,
        second_factor=True,
    ),
}


@dataclass
class Findings:
    pages: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    overflow: list[str] = field(default_factory=list)
    cut_tables: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def report(self, role: str) -> str:
        return "\n".join(
            [
                f"{role}: {len(self.pages)} pages audited in {self.seconds:.1f}s",
                "pages: " + " ".join(self.pages),
                *self.errors,
                *self.violations,
                *(f"page wider than a 390 px phone: {line}" for line in self.overflow),
                *(f"table cut off at 1366 px: {line}" for line in self.cut_tables),
                "screenshots (390 and 1366 px): " + ", ".join(self.screenshots),
            ]
        )


# --------------------------------------------------------------------------------------
# Data and signed-in browser contexts, once for the module


@pytest.fixture(scope="module")
def walk(django_db_setup, django_db_blocker):
    """The demo's data, committed for the live server; the instances as found afterwards."""
    with django_db_blocker.unblock():
        marks = in_own_connection(walk_data.snapshot_take)
        try:
            yield in_own_connection(walk_data.seed)
        finally:
            in_own_connection(walk_data.snapshot_restore, marks)
            _forget_cached_state()


def _forget_cached_state() -> None:
    from django.core.cache import cache

    from shared_apps.tenancy import routing

    cache.clear()
    routing.invalidate()


def _sign_in(page, base: str, role: Role, walk: dict) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", role.email)
    page.fill("input[name=password]", role.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" not in page.url, f"{role.email} could not sign in"
    if role.second_factor:
        page.fill("input[name=code]", app_code(walk["device"]))
        with page.expect_navigation():
            page.get_by_role("button", name="Verify").click()
        assert "/accounts/two-factor/" not in page.url, "the code was refused"


@pytest.fixture(scope="module")
def contexts(browser, live_url, walk):
    """One signed-in browser context per role (the visitor's has a plan in its cart)."""
    opened = {}
    for role in ROLES.values():
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.set_default_timeout(15_000)
        base = live_url.format(host=role.host)
        if role.email:
            _sign_in(page, base, role, walk)
        else:
            page.goto(base + "/")
            add = page.locator("form[action*='/shop/cart/add/'] button").first
            if add.count():
                with page.expect_navigation():
                    add.click()
        opened[role.name] = (context, page, base)
    yield opened
    for context, _page, _base in opened.values():
        context.close()


# --------------------------------------------------------------------------------------
# The crawl


def _shape(path: str) -> str:
    """Pages that differ only by an id, a token or a code share a template: audit one."""
    path = re.sub(r"/[0-9a-f-]{20,}(?=/|$)", "/<key>", path)
    path = re.sub(r"/[a-z0-9]+(?:_[a-z0-9]+)+(?=/|$)", "/<code>", path)
    return re.sub(r"/\d+(?=/|$)", "/<id>", path)


def _links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    host = urlsplit(base).netloc
    found = []
    for href in hrefs:
        parts = urlsplit(urljoin(page.url, href))
        if parts.netloc != host or parts.scheme not in ("http", "https"):
            continue
        if SKIPPED.search(parts.path):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _axe_violations(page, *, chrome_checked: bool) -> list[str]:
    # The top bar and the sidebar are the same on every page of a role: audited on its
    # first page, left out after that (colour contrast is most of axe's time).
    context = {"exclude": [[".topbar"], [".sidebar"]]} if chrome_checked else None
    results = AXE.run(page, context=context, options=AXE_OPTIONS)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        nodes = "; ".join(
            f"{' '.join(node['target'])} {node['html'][:120]}" for node in violation["nodes"][:4]
        )
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {nodes}")
    return lines


PAGE_OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"
# What sticks out past the right edge: the outermost such elements, as short selectors.
STICKING_OUT = """() => {
  const width = window.innerWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + Array.from(el.classList).slice(0, 2).map(c => '.' + c).join('');
  const out = Array.from(document.querySelectorAll('body *')).filter(el => {
    const box = el.getBoundingClientRect();
    const inside = el.parentElement && el.parentElement.closest('.table-scroll, dialog');
    return box.width > 0 && box.right > width + 1 && !inside;
  });
  return out.filter(el => !out.includes(el.parentElement)).slice(0, 4)
    .map(el => (el.parentElement ? name(el.parentElement) + ' > ' : '') + name(el));
}"""
# Tables wider than their box (card or scroll area) at 1366 px, unless the box says the
# table is meant to scroll sideways ([data-wide-table]): the column names of each.
CUT_TABLES = """() => Array.from(document.querySelectorAll('table.table'))
  .filter(t => t.offsetParent !== null && !t.closest('[data-wide-table]'))
  .filter(t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 1)
  .map(t => {
    const box = t.closest('section, .card');
    const title = box && box.querySelector('h2, h3, .card-title');
    const head = Array.from(t.querySelectorAll('th')).map(th => th.innerText.trim());
    return (title ? title.innerText + ' ' : '') + '[' + head.join(', ') + ']';
  })"""


class Audited:
    """The page shapes audited so far. The shop is the same for everyone (the visitor audits
    it), and the staff area is one set of templates in every instance: a shape audited with
    Acme's staff is not audited again in the operator's own staff area."""

    STAFF_ROLES = ("reseller_staff", "operator_staff")

    def __init__(self):
        self.shop: set[str] = set()
        self.staff: set[str] = set()
        self.per_role: dict[str, set[str]] = {}

    def _set(self, role: str, shape: str) -> set[str]:
        if EVERY_ROLE_EVERY_PAGE:
            return self.per_role.setdefault(role, set())
        if shape == "/" or shape.startswith("/shop/"):
            return self.shop
        if role in self.STAFF_ROLES:
            return self.staff
        return self.per_role.setdefault(role, set())

    def seen(self, role: str, shape: str) -> bool:
        return shape in self._set(role, shape)

    def add(self, role: str, shape: str) -> None:
        self._set(role, shape).add(shape)


def crawl(page, base: str, role: Role, shots_dir, audited: Audited) -> Findings:
    """Audit every page of `role` reachable from its start pages that no earlier role with
    the same page audited already."""
    findings = Findings()
    started = time.monotonic()
    queue = list(role.start)
    while queue and len(findings.pages) < MAX_PAGES_PER_ROLE:
        target = queue.pop(0)
        shape = _shape(urlsplit(target).path)
        if audited.seen(role.name, shape):
            continue
        audited.add(role.name, shape)
        try:
            response = page.goto(base + target)
        except PlaywrightError as exc:  # a download, not a page
            if "Download is starting" in str(exc):
                continue
            raise
        if urlsplit(page.url).netloc != urlsplit(base).netloc:
            continue  # sent to another site (a payment provider): not our page
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        if response.status in BROKEN or response.status >= 500:
            findings.errors.append(f"{target} answered {response.status}")
            continue
        findings.pages.append(target)
        for violation in _axe_violations(page, chrome_checked=len(findings.pages) > 1):
            findings.violations.append(f"{target}: {violation}")
        findings.cut_tables += [f"{target}: {table}" for table in page.evaluate(CUT_TABLES)]
        page.set_viewport_size(PHONE)
        overflow = page.evaluate(PAGE_OVERFLOW)
        if overflow > 0:
            culprits = ", ".join(page.evaluate(STICKING_OUT))
            shot = shots_dir / f"{role.name}-overflow-{len(findings.overflow)}.png"
            page.screenshot(path=str(shot), full_page=True)
            findings.overflow.append(f"{target}: {overflow}px too wide ({culprits}) {shot}")
        page.set_viewport_size(DESKTOP)
        queue += [
            link
            for link in _links(page, base)
            if not audited.seen(role.name, _shape(urlsplit(link).path))
        ]
    for viewport, label in ((PHONE, "390"), (DESKTOP, "1366")):
        page.set_viewport_size(viewport)
        page.goto(base + role.screenshot)
        path = shots_dir / f"{role.name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        findings.screenshots.append(str(path))
    page.set_viewport_size(DESKTOP)
    findings.seconds = time.monotonic() - started
    return findings


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("screens")


@pytest.fixture(scope="module")
def audited() -> Audited:
    return Audited()


@pytest.mark.parametrize("role_name", list(ROLES))
def test_every_page_passes_the_audit_and_fits_a_phone(contexts, shots_dir, audited, role_name):
    _context, page, base = contexts[role_name]

    findings = crawl(page, base, ROLES[role_name], shots_dir, audited)

    report = findings.report(role_name)
    print(report)
    assert len(findings.pages) >= 3, report
    assert not findings.errors, report
    assert not findings.violations, report
    assert not findings.overflow, report
    assert not findings.cut_tables, report


# --------------------------------------------------------------------------------------
# Keyboard, menu and confirmation


def _focus_ring(page) -> str:
    """The focused element's outline or box-shadow ring: what shows where the focus is."""
    return page.evaluate(
        """() => {
          const s = getComputedStyle(document.activeElement);
          const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
          return outline ? `outline ${s.outlineWidth} ${s.outlineColor}`
            : (s.boxShadow !== 'none' ? `shadow ${s.boxShadow}` : '');
        }"""
    )


def _tab_to(page, selector: str, limit: int = 25) -> int:
    """Press Tab until `selector` has the focus; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return presses
    raise AssertionError(f"{selector} never got the keyboard focus in {limit} presses")


def test_signing_in_and_saving_a_form_by_keyboard_alone(browser, live_url, walk):
    base = live_url.format(host="acme.upline.localhost")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(base + "/accounts/login/")
        # The e-mail field has the focus from the start (autofocus).
        assert page.evaluate("document.activeElement.name") == "username"
        assert _focus_ring(page), "the e-mail field shows no focus"
        page.keyboard.type(walk_data.CUSTOMER)
        _tab_to(page, "input[name=password]", limit=3)
        page.keyboard.type(DEMO_PASSWORD)
        _tab_to(page, "button[type=submit]", limit=5)
        assert _focus_ring(page).startswith("outline"), "the button shows no focus ring"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/portal/"), page.url

        # The first Tab of a page shows the skip link, which jumps over the navigation.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
        assert page.evaluate("document.activeElement.getBoundingClientRect().width") > 20
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#main"

        page.goto(base + "/portal/profile/")
        _tab_to(page, "input[name=full_name]", limit=40)
        page.keyboard.press("Control+A")
        page.keyboard.type("Alice M. Martin")
        _tab_to(page, "main form button:not([type=button])", limit=5)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "Your profile was saved." in page.inner_text("main")
        assert page.input_value("input[name=full_name]") == "Alice M. Martin"
    finally:
        context.close()


def test_the_menu_button_opens_and_closes_the_navigation_on_a_phone(contexts, live_url):
    _context, page, base = contexts["customer"]
    page.set_viewport_size(PHONE)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    try:
        page.goto(base + "/portal/")
        menu = page.get_by_role("button", name="Menu")
        services = page.get_by_role("link", name="Services", exact=True)
        assert menu.is_visible() and menu.get_attribute("aria-expanded") == "false"
        assert not page.locator("#sidebar").is_visible()

        menu.focus()
        page.keyboard.press("Enter")
        assert menu.get_attribute("aria-expanded") == "true" and services.first.is_visible()
        page.keyboard.press("Escape")
        assert menu.get_attribute("aria-expanded") == "false"
        assert page.evaluate("document.activeElement.hasAttribute('data-nav-toggle')")

        menu.click()
        with page.expect_navigation():
            page.locator("#sidebar").get_by_role("link", name="Services").click()
        assert page.url.endswith("/portal/services/")
        assert refused == []
    finally:
        page.set_viewport_size(DESKTOP)


def test_a_confirmation_is_a_keyboard_dialog_that_cancels_and_confirms(contexts):
    _context, page, base = contexts["customer"]
    page.goto(base + "/portal/support/")
    page.get_by_role("link", name=re.compile("My website shows a 502")).first.click()
    page.wait_for_load_state()
    ticket_url = page.url
    close = page.get_by_role("button", name=re.compile("^Close"))

    close.click()
    dialog = page.get_by_role("dialog", name=re.compile("Close this ticket"))
    assert dialog.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Cancel"
    page.keyboard.press("Escape")
    assert not dialog.is_visible() and page.url == ticket_url  # nothing was sent
    assert page.evaluate("document.activeElement.textContent.trim()").startswith("Close")

    close.click()
    page.keyboard.press("Tab")  # from Cancel to the confirming button
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("button", name="Reopen ticket").is_visible()
