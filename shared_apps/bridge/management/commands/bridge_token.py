"""`manage.py bridge_token SLUG [--revoke PREFIX]`: create (or revoke) an inbox API key."""

from django.core.management.base import BaseCommand

from shared_apps.bridge import inbox

from ._lookup import get_reseller, readable_errors


class Command(BaseCommand):
    help = (
        "Create an inbox API key for a reseller on other software (printed once), "
        "or revoke its keys starting with PREFIX."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--revoke", metavar="PREFIX", help="first characters of the key")

    def handle(self, *args, **options):
        reseller = get_reseller(options["slug"])
        with readable_errors():
            if options["revoke"] is not None:
                count = inbox.inbox_token_revoke(
                    reseller=reseller, key_prefix=options["revoke"], actor="manage.py"
                )
                self.stdout.write(self.style.SUCCESS(f"Revoked {count} key(s) of {reseller.name}."))
                return
            token, raw_key = inbox.inbox_token_create(reseller=reseller, actor="manage.py")
        self.stdout.write(raw_key)
        self.stderr.write(
            f"Inbox key {token.key_prefix}… for {reseller.name}. It is shown only now: give it "
            "to the reseller, who sends it as “Authorization: Bearer <key>” to /api/bridge/."
        )
