"""`manage.py reseller_create SLUG …`: create a reseller and its instance in one step."""

from django.core.management.base import BaseCommand, CommandError

from shared_apps.tenancy.services import reseller_create

from ._common import COMMAND_ACTOR, readable_errors


class Command(BaseCommand):
    help = "Create a reseller: schema, domain, owner account and issuer identity, in one step."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True, help="trading name")
        parser.add_argument("--legal-name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-name", default="")
        parser.add_argument(
            "--owner-password",
            default=None,
            help="omit to e-mail the owner a link to choose a password",
        )
        parser.add_argument(
            "--domain", action="append", default=[], help="custom domain (repeatable)"
        )
        parser.add_argument(
            "--alloc",
            action="append",
            default=[],
            metavar="RESOURCE=QUANTITY",
            help="allocation, e.g. disk_gb=500 (repeatable)",
        )
        parser.add_argument(
            "--method", choices=["auto", "pool", "template", "migrate"], default="auto"
        )

    def handle(self, *args, **options):
        allocations = {}
        for item in options["alloc"]:
            code, sep, quantity = item.partition("=")
            if not sep or not quantity.strip().isdecimal():
                raise CommandError(
                    f"--alloc takes RESOURCE=QUANTITY with a whole number, not “{item}”."
                )
            allocations[code.strip()] = int(quantity)
        with readable_errors():
            reseller = reseller_create(
                slug=options["slug"],
                name=options["name"],
                legal_name=options["legal_name"],
                owner_email=options["owner_email"],
                owner_name=options["owner_name"],
                owner_password=options["owner_password"],
                custom_domains=options["domain"],
                allocations=allocations,
                actor=COMMAND_ACTOR,
                method=options["method"],
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {reseller.name} at {reseller.primary_domain_name()} "
                f"(schema {reseller.schema_name}, from the {reseller.provisioned_by} in "
                f"{reseller.provisioning_ms} ms)."
            )
        )
