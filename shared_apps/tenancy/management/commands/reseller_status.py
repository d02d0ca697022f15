"""`manage.py reseller_status SLUG suspend|resume|terminate [--reason …]`."""

from django.core.management.base import BaseCommand

from shared_apps.tenancy import services

from ._common import COMMAND_ACTOR, get_reseller, readable_errors

ACTIONS = {
    "suspend": services.reseller_suspend,
    "resume": services.reseller_resume,
    "terminate": services.reseller_terminate,
}


class Command(BaseCommand):
    help = "Suspend, resume or terminate a reseller (data is always kept)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("action", choices=sorted(ACTIONS))
        parser.add_argument("--reason", default="")

    def handle(self, *args, **options):
        reseller = get_reseller(options["slug"])
        extra = {} if options["action"] == "resume" else {"reason": options["reason"]}
        with readable_errors():
            reseller = ACTIONS[options["action"]](reseller=reseller, actor=COMMAND_ACTOR, **extra)
        self.stdout.write(self.style.SUCCESS(f"{reseller.name} is now {reseller.status}."))
