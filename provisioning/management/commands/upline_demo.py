"""`manage.py upline_demo`: an operator and two resellers with staff, customers, catalogs,
orders, services, invoices and payments — all made through the real services — then the
URLs and logins.

Card payments follow the Stripe settings (`make demo` sets them, devtools/demo_stripe.py):
with a fake Stripe (an API base such as localstripe's) each reseller is given a connected
account that takes charges, through the real connect service with Connect's account calls
answered here (localstripe has none); with real test keys resellers connect their own from
*Card payments*; without keys the summary says card payments are not set up.

Acme's instance also runs a referral programme: a commission rule, an external partner
with a portal login and a link code, and one customer who came through that link and paid —
so the Commissions ledger shows a pending entry. The summary lists each instance's shop
(its home page for visitors) and the partner's link.

Idempotent: a second run leaves existing demo data alone and prints the same logins.
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from devtools.demo_connect import DemoConnectAccounts
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.naming import primary_domain_for_slug
from shared_apps.tenancy.services import reseller_create
from tenant_apps.accounts import services as accounts
from tenant_apps.accounts.models import Role
from tenant_apps.billing import services as billing
from tenant_apps.billing import settlement
from tenant_apps.billing.models import Refund, TaxRate
from tenant_apps.cards import gateway
from tenant_apps.cards import selectors as card_selectors
from tenant_apps.cards import services as card_services
from tenant_apps.catalog.models import Price, Product, TaxClass
from tenant_apps.clients import services as clients
from tenant_apps.clients.models import Customer
from tenant_apps.commissions import services as commissions
from tenant_apps.commissions.models import CommissionRule
from tenant_apps.instance import services as instance_services
from tenant_apps.orders import services as orders
from tenant_apps.referrals import services as referrals
from tenant_apps.referrals.models import Referer

PASSWORD = "upline-demo-2026"

OPERATOR_PLANS = [
    # code, name, monthly price, resources
    (
        "reseller-start",
        "Reseller Start",
        "149.00",
        {
            "disk_gb": 500,
            "bandwidth_gb": 5000,
            "hosting_accounts": 50,
            "domains": 100,
            "email_accounts": 500,
        },
    ),
    (
        "reseller-pro",
        "Reseller Pro",
        "449.00",
        {
            "disk_gb": 2000,
            "bandwidth_gb": 20000,
            "hosting_accounts": 200,
            "domains": 400,
            "email_accounts": 2000,
        },
    ),
]

RESELLER_PLANS = [
    (
        "web-s",
        "Web S",
        "4.90",
        "49.00",
        {"disk_gb": 10, "hosting_accounts": 1, "domains": 1, "email_accounts": 5},
    ),
    (
        "web-m",
        "Web M",
        "9.90",
        "99.00",
        {"disk_gb": 25, "hosting_accounts": 1, "domains": 3, "email_accounts": 20},
    ),
    (
        "web-l",
        "Web L",
        "19.90",
        "199.00",
        {"disk_gb": 60, "hosting_accounts": 1, "domains": 10, "email_accounts": 100},
    ),
]

RESELLERS = [
    {
        "slug": "acme",
        "name": "Acme Hosting",
        "legal_name": "Acme Hosting SARL",
        "country": "FR",
        "vat_id": "FR13542107651",
        "plan": "reseller-pro",
        "pays": True,
        "staff": [
            ("support@acme.test", "Sam Support", Role.SUPPORT),
            ("billing@acme.test", "Bea Billing", Role.BILLING),
        ],
        "customers": [
            ("alice@example.com", "Alice Martin", "FR", "web-m", True),
            ("bob@example.com", "Bob Chen", "BE", "web-s", False),
        ],
    },
    {
        "slug": "bluebird",
        "name": "Bluebird Web",
        "legal_name": "Bluebird Web GmbH",
        "country": "DE",
        "vat_id": "DE287465393",
        "plan": "reseller-start",
        "pays": False,
        "staff": [("help@bluebird.test", "Hana Help", Role.SUPPORT)],
        "customers": [
            ("carol@example.com", "Carol Weber", "DE", "web-l", True),
            ("dave@example.com", "Dave Novak", "AT", "web-s", True),
        ],
    },
]

# Stripe's test cards, which localstripe knows too (any future expiry date, any CVC).
TEST_CARDS = [
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0002", "is declined"),
    ("4000 0025 0000 3155", "asks for 3-D Secure (the fake bank's buttons), then succeeds"),
]

# Acme's referral programme: an external partner (a web agency) with its own link code and
# portal login, and the customer it brought in, whose paid order earned it a commission.
PARTNER = {
    "slug": "acme",
    "code": "partner-demo",
    "name": "Pixel Studio",
    "email": "partner@pixelstudio.test",
    "country": "FR",
    "rule": "Partners: 10 % of recurring invoices for 12 months",
    "referred": ("erin@example.com", "Erin Petit", "FR", "web-m"),
}

TAX_RATES = {"FR": "20", "DE": "19", "BE": "21", "AT": "20", "IT": "22", "ES": "21", "NL": "21"}


def stripe_is_local() -> bool:
    """Keys for a Stripe API other than Stripe's own: a fake (localstripe in the demo)."""
    return gateway.keys_configured() and bool(settings.UPLINE_STRIPE_API_BASE)


def _user(email: str, name: str, role: str):
    User = get_user_model()
    user = User.objects.filter(email=email).first()
    return user or User.objects.create_user(
        email=email, password=PASSWORD, full_name=name, role=role
    )


def _tax_rates() -> None:
    standard = TaxClass.objects.get(code="standard")
    for country, rate in TAX_RATES.items():
        TaxRate.objects.get_or_create(
            country=country, tax_class=standard, defaults={"rate": Decimal(rate)}
        )


def _product(code, name, monthly, annual, resources, **extra) -> Product:
    product = Product.objects.filter(code=code).first()
    if product is None:
        product = Product.objects.create(
            code=code,
            name=name,
            resources=resources,
            tax_class=TaxClass.objects.get(code="standard"),
            **extra,
        )
        Price.objects.create(
            product=product, currency="EUR", cycle="monthly", amount=Decimal(monthly)
        )
        if annual:
            Price.objects.create(
                product=product, currency="EUR", cycle="annual", amount=Decimal(annual)
            )
    return product


def _partner_can_sign_in() -> bool:
    schema = Reseller.objects.get(slug=PARTNER["slug"]).schema_name
    with schema_context(schema):
        return Referer.objects.filter(
            code__iexact=PARTNER["code"], customer__user__isnull=False
        ).exists()


class Command(BaseCommand):
    help = (
        "Create demo data (operator, two resellers, customers, orders, invoices) and print logins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        if settings.UPLINE_PRODUCTION:
            # Demo data has known passwords: in production it would be a way in.
            raise CommandError(
                "upline_demo creates accounts with a published password and refuses to run "
                "with production settings."
            )
        base = settings.UPLINE_BASE_DOMAIN
        today = timezone.localdate()
        start = today - datetime.timedelta(days=20)
        with transaction.atomic():
            self._operator(base)
        for spec in RESELLERS:
            with transaction.atomic():
                self._reseller(spec, start)
        with transaction.atomic():
            self._helpdesk(base)
        self._referral_programme(options["port"], start)
        self._card_accounts(options["port"])
        self._print(base, options["port"])

    def _card_accounts(self, port: int) -> None:
        """With a fake Stripe, each reseller's instance gets its connected account (the
        operator's instance takes cards on the platform account: nothing to connect)."""
        if not stripe_is_local():
            return
        with gateway.connect_accounts.plugged(DemoConnectAccounts()):
            for spec in RESELLERS:
                schema = Reseller.objects.get(slug=spec["slug"]).schema_name
                with schema_context(schema):
                    row = card_selectors.connection_get()
                    if row is not None and row.account_id:
                        continue
                    suffix = "" if port == 80 else f":{port}"
                    url = f"http://{primary_domain_for_slug(spec['slug'])}{suffix}/"
                    card_services.card_connection_connect(
                        return_url=url, refresh_url=url, actor="command"
                    )

    def _referral_programme(self, port: int, start: datetime.date) -> None:
        """Acme's commission rule, its partner (with a portal login) and one referred paid
        order, whose invoice the ledger is synced with here: billing announces the payment
        only after the commit, and the sync posts nothing when run again.

        The transaction is opened inside the instance's schema: the invitation e-mail is
        sent on commit and must still be written in Acme's name."""
        schema = Reseller.objects.get(slug=PARTNER["slug"]).schema_name
        with schema_context(schema), transaction.atomic():
            if not CommissionRule.objects.filter(product__isnull=True).exists():
                commissions.commission_rule_create(
                    name=PARTNER["rule"],
                    kind=CommissionRule.Kind.PERCENT,
                    rate=Decimal("10"),
                    duration=CommissionRule.Duration.RECURRING,
                    months=12,
                    actor="command",
                )
            partner = Referer.objects.filter(code__iexact=PARTNER["code"]).first()
            if partner is None:
                partner = referrals.referer_create(
                    code=PARTNER["code"],
                    name=PARTNER["name"],
                    email=PARTNER["email"],
                    actor="command",
                )
            if partner.customer_id is None:
                # An external partner's login is a customer record of its own; the invitation
                # mails a set-password link, and the demo sets its published password too.
                suffix = "" if port == 80 else f":{port}"
                try:
                    user = referrals.referer_portal_invite(
                        referer=partner,
                        domain=f"{primary_domain_for_slug(PARTNER['slug'])}{suffix}",
                        use_https=False,
                        country=PARTNER["country"],
                        actor="command",
                    )
                except ValidationError as exc:
                    # Invitations per address are limited per hour, counted in Redis, which
                    # demo databases built one after another share: the demo goes on, and
                    # a later run invites the partner.
                    message = " ".join(exc.messages)
                    self.stderr.write(f"The demo partner gets no portal login this time: {message}")
                else:
                    accounts.user_password_set(user=user, password=PASSWORD, actor="command")
            email, name, country, plan_code = PARTNER["referred"]
            if Customer.objects.filter(email=email).exists():
                return
            customer = clients.customer_create(
                name=name, email=email, country=country, currency="EUR", actor="command"
            )
            referrals.signup_attribute(
                customer=customer, referer=partner, source="link", actor="command"
            )
            order = orders.order_place(
                customer=customer,
                referer=partner,
                referer_source="link",
                items=[
                    {
                        "product": Product.objects.get(code=plan_code),
                        "cycle": "monthly",
                        "label": f"{name.split()[0].lower()}.example.com",
                    }
                ],
                actor="command",
            )
            invoice = orders.order_accept(order=order, today=start)
            billing.payment_record(
                customer=customer,
                invoice=invoice,
                amount=invoice.total,
                method="bank_transfer",
                received_on=start,
            )
            commissions.commission_sync_invoice(invoice_id=invoice.pk)

    def _helpdesk(self, base: str) -> None:
        """Tickets in both resellers, and one escalated to the operator and answered there."""
        from shared_apps.bridge.services import ticket_escalate
        from tenant_apps.helpdesk import services as helpdesk
        from tenant_apps.helpdesk.models import Ticket

        User = get_user_model()
        for slug, staff_email, tickets in (
            (
                "acme",
                "support@acme.test",
                [
                    (
                        "alice@example.com",
                        "My website shows a 502 error",
                        "Since this morning alice.example.com answers 502 Bad Gateway.",
                        True,
                    ),
                    (
                        "bob@example.com",
                        "How do I add a mailbox?",
                        "I would like a second address for my shop.",
                        False,
                    ),
                ],
            ),
            (
                "bluebird",
                "help@bluebird.test",
                [
                    (
                        "carol@example.com",
                        "Invoice address change",
                        "Please put our new street on the next invoice.",
                        False,
                    ),
                ],
            ),
        ):
            schema = Reseller.objects.get(slug=slug).schema_name
            with schema_context(schema):
                if Ticket.objects.exists():
                    continue
                staff = User.objects.get(email=staff_email)
                escalate = []
                for email, subject, body, upstream in tickets:
                    customer = Customer.objects.get(email=email)
                    ticket = helpdesk.ticket_open(
                        subject=subject, body=body, customer=customer, requester=customer.user
                    )
                    helpdesk.ticket_reply(
                        ticket=ticket, author=staff, body="Thanks, we are looking into it."
                    )
                    if upstream:
                        escalate.append(ticket.pk)
            for ticket_id in escalate:
                link = ticket_escalate(
                    reseller_schema=schema,
                    ticket_id=ticket_id,
                    escalated_by=staff_email,
                    note="Our web node is healthy; the 502 seems to come from upstream.",
                )
                operator_support = User.objects.get(email=f"support@{base}")
                helpdesk.ticket_reply(
                    ticket=Ticket.objects.get(pk=link.operator_ticket_id),
                    author=operator_support,
                    body="A load balancer in front of your node was restarting; fixed at 10:42.",
                )

    def _operator(self, base: str) -> None:
        User = get_user_model()
        if not User.objects.filter(email=f"owner@{base}").exists():
            User.objects.create_superuser(
                email=f"owner@{base}", password=PASSWORD, full_name="Olivia Operator"
            )
        _user(f"support@{base}", "Sid Support", Role.SUPPORT)
        instance_services.issuer_identity_set(
            legal_name=f"{settings.UPLINE_OPERATOR_NAME} SAS",
            trading_name=settings.UPLINE_OPERATOR_NAME,
            address_line1="12 quai Perrache",
            postal_code="69002",
            city="Lyon",
            country="FR",
            tax_id="FR40303265045",
            currency="EUR",
            email=f"billing@{base}",
            bank_details="IBAN FR76 3000 6000 0112 3456 7890 189 · BIC AGRIFRPP",
        )
        _tax_rates()
        billing.billing_settings_update(reminder_days=[3, 10], late_fee_amount=Decimal("10.00"))
        for code, name, monthly, resources in OPERATOR_PLANS:
            _product(code, name, monthly, None, resources, is_reseller_plan=True)

    def _reseller(self, spec: dict, start: datetime.date) -> None:
        public = get_public_schema_name()
        reseller = Reseller.objects.filter(slug=spec["slug"]).first()
        if reseller is None:
            reseller = reseller_create(
                slug=spec["slug"],
                name=spec["name"],
                legal_name=spec["legal_name"],
                owner_email=f"owner@{spec['slug']}.test",
                owner_password=PASSWORD,
                owner_name="Owner",
                actor="command",
            )
            # The operator bills it: a customer of the operator's instance on a reseller plan,
            # whose activation gives the instance its allocations.
            with schema_context(public):
                customer = Customer.objects.create(
                    kind="company",
                    name=spec["name"],
                    company_name=spec["legal_name"],
                    email=f"owner@{spec['slug']}.test",
                    country=spec["country"],
                    currency="EUR",
                    reseller_id=reseller.pk,
                )
                plan = Product.objects.get(code=spec["plan"])
                order = orders.order_place(
                    customer=customer, items=[{"product": plan, "cycle": "monthly"}]
                )
                invoice = orders.order_accept(order=order, today=start)
                if spec["pays"]:
                    billing.payment_record(
                        customer=customer,
                        invoice=invoice,
                        amount=invoice.total,
                        method="bank_transfer",
                        received_on=start,
                        reference="SEPA-DEMO",
                    )
        with schema_context(reseller.schema_name):
            self._reseller_instance(spec, start)

    def _reseller_instance(self, spec: dict, start: datetime.date) -> None:
        for email, name, role in spec["staff"]:
            _user(email, name, role)
        instance_services.issuer_identity_set(
            legal_name=spec["legal_name"],
            trading_name=spec["name"],
            country=spec["country"],
            address_line1="3 rue du Port" if spec["country"] == "FR" else "Hafenstraße 3",
            postal_code="13002" if spec["country"] == "FR" else "20457",
            city="Marseille" if spec["country"] == "FR" else "Hamburg",
            # With the address, what Art. 226 requires of an issuer: invoices need it.
            tax_id=spec["vat_id"],
            email=f"billing@{spec['slug']}.test",
            currency="EUR",
            bank_details="IBAN on request",
            invoice_footer=f"{spec['name']} — thank you for your trust.",
        )
        _tax_rates()
        billing.billing_settings_update(reminder_days=[3, 10])
        for code, name, monthly, annual, resources in RESELLER_PLANS:
            _product(code, name, monthly, annual, resources)
        referer = Referer.objects.filter(code="partner").first() or referrals.referer_create(
            code="partner", name="Web agency partner", actor="command"
        )
        for email, name, country, plan_code, pays in spec["customers"]:
            if Customer.objects.filter(email=email).exists():
                continue
            user = _user(email, name, Role.CUSTOMER)
            customer = Customer.objects.create(
                kind="person", name=name, email=email, country=country, currency="EUR", user=user
            )
            order = orders.order_place(
                customer=customer,
                referer=referer,
                referer_source="staff",
                items=[
                    {
                        "product": Product.objects.get(code=plan_code),
                        "cycle": "monthly",
                        "label": f"{name.split()[0].lower()}.example.com",
                    }
                ],
            )
            invoice = orders.order_accept(order=order, today=start)
            if pays:
                payment = billing.payment_record(
                    customer=customer,
                    invoice=invoice,
                    amount=invoice.total,
                    method="bank_transfer",
                    received_on=start,
                )
                if not Refund.objects.exists():
                    # One partial refund per instance, so the payment page shows one.
                    settlement.payment_refund(
                        payment=payment,
                        amount=Decimal("5.00"),
                        reason="Goodwill: the setup took two days",
                        refunded_on=start,
                        actor="command",
                    )

    def _print(self, base: str, port: int) -> None:
        suffix = "" if port == 80 else f":{port}"
        lines = [
            "",
            "Upline demo is ready. Every password is: " + PASSWORD,
            "",
            f"  Operator console   http://{base}{suffix}/console/    "
            f"owner@{base} (owner), support@{base}",
            "                     The operator's staff always sign in with two factors: at "
            "the first sign-in each is asked",
            "                     to set up an authenticator app (scan the QR code, or type "
            "the key shown) and to save recovery codes.",
        ]
        for spec in RESELLERS:
            url = f"http://{primary_domain_for_slug(spec['slug'])}{suffix}/"
            people = ", ".join(
                [f"owner@{spec['slug']}.test (owner)"] + [s[0] for s in spec["staff"]]
            )
            lines.append(f"  {spec['name']:<18} {url:<34} staff: {people}")
            customers = ", ".join(c[0] for c in spec["customers"])
            lines.append(f"  {'':<18} {url + 'portal/':<34} customers: {customers}")
        lines += ["", *self._shop_lines(suffix)]
        lines += ["", *self._card_lines()]
        lines += [
            "",
            f"  API docs           http://{base}{suffix}/api/docs/  (each instance has its own)",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _shop_lines(self, suffix: str) -> list[str]:
        pad = f"  {'':<18} "
        lines = []
        for index, spec in enumerate(RESELLERS):
            url = f"http://{primary_domain_for_slug(spec['slug'])}{suffix}/"
            label = "Shop" if index == 0 else ""
            lines.append(
                f"  {label:<18} {url:<34} {spec['name']}'s shop: its home page for visitors"
            )
        if settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
            mail = (
                "the confirmation e-mail is printed, link included, in the web server's output",
                "(the terminal running `make demo`): open its link to finish the sign-up.",
            )
        else:
            mail = (f"the confirmation e-mail goes out through {settings.EMAIL_BACKEND}.",)
        lines += [
            pad + "Signed out (or in a private window), visitors see the shop at / and sign up "
            "there;",
            *(pad + line for line in mail),
        ]
        shop = f"http://{primary_domain_for_slug(PARTNER['slug'])}{suffix}/"
        referred = PARTNER["referred"][0]
        lines += [
            "",
            f"  {'Partner link':<18} {shop}?ref={PARTNER['code']}",
            pad + f"{PARTNER['name']}, an external partner of Acme: 10 % of the recurring "
            "invoices of the customers",
            pad + "it brings, for 12 months. Visitors through its link who sign up are "
            "credited to it.",
            pad
            + (
                f"Partner portal: {PARTNER['email']} at {shop}portal/partner/ (clicks, "
                "sign-ups, commission)."
                if _partner_can_sign_in()
                else "No partner portal login yet (see the message above): run the demo "
                "again later."
            ),
            pad + f"Staff: owner@acme.test → Referrals, Commissions ({referred}'s paid order "
            "earned a pending entry).",
        ]
        return lines

    def _card_lines(self) -> list[str]:
        if not gateway.keys_configured():
            return [
                "  Card payments      not set up (no Stripe keys): the card screens say so, and "
                "manual payments work.",
            ]
        if stripe_is_local():
            where = (
                "go to a local fake Stripe (localstripe at "
                f"{settings.UPLINE_STRIPE_API_BASE}): no money moves"
            )
            how = (
                "each reseller's Stripe account is connected. Try it: bob@example.com owes Acme "
                "an invoice",
                "(portal → Invoices → the invoice → Pay by card), and Bluebird owes the operator "
                "one (owner@bluebird.test → Supplier bills).",
            )
        else:
            where = "use the Stripe test keys from the environment (Stripe's test mode)"
            how = (
                "the operator's instance takes cards; a reseller's owner connects its own "
                "Stripe account",
                "under Card payments in the staff area.",
            )
        lines = [f"  Card payments      {where};", *(f"  {'':<18} {line}" for line in how)]
        lines += [f"  {'':<18} {number}  {outcome}" for number, outcome in TEST_CARDS]
        lines.append(f"  {'':<18} (any future expiry date, any CVC and postcode)")
        return lines
