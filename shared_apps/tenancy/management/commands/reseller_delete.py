"""`manage.py reseller_delete SLUG`: drop an instance for good, only after an export."""

from django.core.management.base import BaseCommand, CommandError

from shared_apps.tenancy.services import reseller_delete

from ._common import COMMAND_ACTOR, get_reseller, readable_errors


class Command(BaseCommand):
    help = "Delete a reseller and its schema. Requires an earlier export and a typed confirmation."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--confirm", default=None, help="the slug again, to confirm without a prompt"
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="never prompt (then --confirm is required)",
        )

    def handle(self, *args, **options):
        reseller = get_reseller(options["slug"])
        confirm = options["confirm"]
        if confirm is None:
            if not options["interactive"]:
                raise CommandError("Pass --confirm SLUG to delete without a prompt.")
            try:
                confirm = input(
                    f"Type “{reseller.slug}” to delete {reseller.name} and all its data: "
                )
            except EOFError as exc:
                raise CommandError("No confirmation given; nothing was deleted.") from exc
        with readable_errors():
            reseller_delete(reseller=reseller, confirm_slug=confirm.strip(), actor=COMMAND_ACTOR)
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {reseller.name} (schema {reseller.schema_name}).")
        )
