"""`manage.py bridge_callback SLUG URL [--new-secret]`: where a reseller's callbacks go."""

from django.core.management.base import BaseCommand

from shared_apps.bridge import inbox

from ._lookup import get_reseller, readable_errors


class Command(BaseCommand):
    help = (
        "Set the https URL the operator's answers are POSTed to for a reseller on other "
        "software, and print the secret that signs them."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("url")
        parser.add_argument("--new-secret", action="store_true", help="replace the signing secret")

    def handle(self, *args, **options):
        reseller = get_reseller(options["slug"])
        with readable_errors():
            endpoint = inbox.callback_endpoint_set(
                reseller=reseller,
                url=options["url"],
                new_secret=options["new_secret"],
                actor="manage.py",
            )
        self.stdout.write(endpoint.secret)
        self.stderr.write(
            f"Callbacks for {reseller.name} go to {endpoint.url}, signed with the secret above "
            '(X-Upline-Signature: sha256=<HMAC-SHA256 of "<X-Upline-Timestamp>.<body>">; '
            "refuse timestamps more than 5 minutes off, see the README)."
        )
