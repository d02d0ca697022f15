"""`manage.py pool_refill [--size N]`: build pool schemas now instead of waiting for beat."""

from django.core.management.base import BaseCommand, CommandError

from provisioning import schemas


class Command(BaseCommand):
    help = (
        "Top the warm pool of pre-built instance schemas up to --size (default UPLINE_POOL_SIZE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=None)

    def handle(self, *args, **options):
        if options["size"] is not None and options["size"] < 0:
            raise CommandError("--size must be 0 or more.")
        try:
            built = schemas.pool_refill(options["size"])
        except schemas.ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{built} pool schema(s) built.")
