"""`manage.py upline_demo`: operator + two resellers with staff and customers; prints logins.

Idempotent: running it again leaves existing demo data as it is and prints the same logins.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.naming import primary_domain_for_slug
from shared_apps.tenancy.services import reseller_create
from tenant_apps.accounts.models import Role
from tenant_apps.billing.services import issuer_identity_set

PASSWORD = "upline-demo-2026"

RESELLERS = [
    {
        "slug": "acme",
        "name": "Acme Hosting",
        "legal_name": "Acme Hosting Ltd",
        "allocations": {
            "disk_gb": 2000,
            "bandwidth_gb": 20000,
            "hosting_accounts": 200,
            "domains": 400,
            "email_accounts": 2000,
        },
        "staff": [
            ("support@acme.test", "Sam Support", Role.SUPPORT),
            ("billing@acme.test", "Bea Billing", Role.BILLING),
        ],
        "customers": [("alice@example.com", "Alice Martin"), ("bob@example.com", "Bob Chen")],
    },
    {
        "slug": "bluebird",
        "name": "Bluebird Web",
        "legal_name": "Bluebird Web GmbH",
        "allocations": {
            "disk_gb": 500,
            "bandwidth_gb": 5000,
            "hosting_accounts": 50,
            "domains": 100,
            "email_accounts": 500,
        },
        "staff": [("help@bluebird.test", "Hana Help", Role.SUPPORT)],
        "customers": [("carol@example.com", "Carol Weber"), ("dave@example.com", "Dave Novak")],
    },
]


class Command(BaseCommand):
    help = (
        "Create demo data (operator and two resellers with staff and customers) and print logins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def _user(self, email, name, role):
        User = get_user_model()
        if not User.objects.filter(email=email).exists():
            User.objects.create_user(email=email, password=PASSWORD, full_name=name, role=role)

    def handle(self, *args, **options):
        base = settings.UPLINE_BASE_DOMAIN
        port = options["port"]
        suffix = "" if port == 80 else f":{port}"
        User = get_user_model()
        if not User.objects.filter(email=f"owner@{base}").exists():
            User.objects.create_superuser(
                email=f"owner@{base}", password=PASSWORD, full_name="Olivia Operator"
            )
        self._user(f"support@{base}", "Sid Support", Role.SUPPORT)
        issuer_identity_set(
            legal_name=f"{settings.UPLINE_OPERATOR_NAME} SAS",
            trading_name=settings.UPLINE_OPERATOR_NAME,
            city="Lyon",
            country="FR",
            currency="EUR",
        )
        for spec in RESELLERS:
            owner = f"owner@{spec['slug']}.test"
            if not Reseller.objects.filter(slug=spec["slug"]).exists():
                reseller_create(
                    slug=spec["slug"],
                    name=spec["name"],
                    legal_name=spec["legal_name"],
                    owner_email=owner,
                    owner_password=PASSWORD,
                    owner_name="Owner",
                    allocations=spec["allocations"],
                    actor="upline_demo",
                )
            with schema_context(Reseller.objects.get(slug=spec["slug"]).schema_name):
                for email, name, role in spec["staff"]:
                    self._user(email, name, role)
                for email, name in spec["customers"]:
                    self._user(email, name, Role.CUSTOMER)

        lines = [
            "",
            "Upline demo is ready. Every password is: " + PASSWORD,
            "",
            f"  Operator console   http://{base}{suffix}/console/    "
            f"owner@{base} (owner), support@{base}",
        ]
        for spec in RESELLERS:
            url = f"http://{primary_domain_for_slug(spec['slug'])}{suffix}/"
            people = ", ".join(
                [f"owner@{spec['slug']}.test (owner)"] + [s[0] for s in spec["staff"]]
            )
            lines.append(f"  {spec['name']:<18} {url:<34} staff: {people}")
            customers = ", ".join(c[0] for c in spec["customers"])
            lines.append(f"  {'':<18} {url + 'portal/':<34} customers: {customers}")
        lines += [
            "",
            f"  API docs           http://{base}{suffix}/api/docs/  (each instance has its own)",
            "",
        ]
        self.stdout.write("\n".join(lines))
