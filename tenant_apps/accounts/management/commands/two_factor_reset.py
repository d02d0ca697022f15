"""`manage.py two_factor_reset EMAIL [--schema S]`: clear one user's two-factor sign-in, for
when no owner can do it on the team screen (the last owner lost their phone and codes)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from tenant_apps.instance import ports

from ... import services
from ...models import User


class Command(BaseCommand):
    help = (
        "Clear a user's authenticator app and recovery codes (audited). Where two-factor is "
        "required, they set up a new app at their next sign-in."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--schema", help="The instance's schema (default: the operator's, public)"
        )

    def handle(self, *args, email: str, schema: str | None = None, **options):
        schema = schema or get_public_schema_name()
        if schema != get_public_schema_name() and schema not in ports.reseller_schemas():
            raise CommandError(f"No instance has the schema “{schema}”.")
        with schema_context(schema):
            user = User.objects.filter(email__iexact=email.strip()).first()
            if user is None:
                raise CommandError(f"No user with the e-mail “{email}” in {schema}.")
            services.two_factor_reset(user=user, actor="command")
        self.stdout.write(
            f"Two-factor sign-in of {user.email} ({schema}) was reset: their app and recovery "
            "codes no longer work."
        )
