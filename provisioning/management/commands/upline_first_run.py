"""`manage.py upline_first_run`: the operator's first owner and issuer identity, once.

Asks for each detail and asks again when an answer is wrong; `--no-input` takes every
detail from the flags and the password from UPLINE_OWNER_PASSWORD instead. Writes both or
neither (`shared_apps.tenancy.first_run`), refuses on an installation that is already set
up, then prints where to sign in and what to configure next.

Exit codes: 0 set up, 1 database not migrated, 2 a detail is missing or wrong, 3 already
set up (safe to run on every deploy: anything but 0 and 3 is a failure).
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from shared_apps.tenancy import first_run
from shared_apps.tenancy.first_run import AlreadySetUp, FirstRunDetails, NotMigrated
from tenant_apps.billing.taxes import EU_COUNTRIES
from tenant_apps.cards import gateway

PASSWORD_ENV = "UPLINE_OWNER_PASSWORD"
EXIT_NOT_MIGRATED, EXIT_BAD_INPUT, EXIT_ALREADY_SET_UP = 1, 2, 3
REQUIRED_FLAGS = ("owner_email", "legal_name", "address_line1", "postal_code", "city", "country")


@dataclass(frozen=True)
class Question:
    field: str
    flag: str
    prompt: str
    clean: Callable[[str, dict], str]
    default: Callable[[dict], str] = lambda answers: ""


def _optional(value: str, answers: dict) -> str:
    return (value or "").strip()


QUESTIONS = [
    Question(
        "owner_email",
        "--owner-email",
        "Owner's e-mail address (you sign in with it)",
        lambda v, a: first_run.clean_email(v, "owner's e-mail address"),
    ),
    Question("owner_name", "--owner-name", "Owner's full name (optional)", _optional),
    Question(
        "legal_name",
        "--legal-name",
        "Legal name of the business (printed on invoices)",
        lambda v, a: first_run.clean_required(v, "full legal name"),
    ),
    Question("trading_name", "--trading-name", "Trading name (optional)", _optional),
    Question(
        "address_line1",
        "--address",
        "Street address",
        lambda v, a: first_run.clean_required(v, "street address"),
    ),
    Question("address_line2", "--address-line2", "Address line 2 (optional)", _optional),
    Question(
        "postal_code",
        "--postal-code",
        "Postal code",
        lambda v, a: first_run.clean_required(v, "postal code"),
    ),
    Question("city", "--city", "City", lambda v, a: first_run.clean_required(v, "city")),
    Question(
        "country",
        "--country",
        "Country (two-letter code such as FR, or its name)",
        lambda v, a: first_run.clean_country(v),
    ),
    Question(
        "tax_id",
        "--vat-id",
        "VAT identification number",
        lambda v, a: first_run.clean_tax_id(v, a["country"]),
    ),
    Question(
        "registration_number",
        "--registration-number",
        "Company registration number (optional)",
        _optional,
    ),
    Question(
        "email",
        "--billing-email",
        "Billing e-mail shown on invoices",
        lambda v, a: first_run.clean_email(v, "billing e-mail address"),
        default=lambda answers: answers.get("owner_email", ""),
    ),
    Question(
        "currency",
        "--currency",
        "Currency of the operator's invoices",
        lambda v, a: first_run.clean_currency(v),
        default=lambda answers: "EUR",
    ),
    Question(
        "time_zone",
        "--time-zone",
        "Time zone of the business, e.g. Europe/Paris (optional)",
        lambda v, a: first_run.clean_time_zone(v),
    ),
]


class InputEnded(Exception):
    """stdin closed before every question was answered."""


class Command(BaseCommand):
    help = (
        "Set up a new installation: the operator's first owner (a staff account that signs "
        "in on the base domain) and its issuer identity. Runs once."
    )

    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help=f"Ask nothing: take every detail from the flags and the owner's password "
            f"from the {PASSWORD_ENV} environment variable.",
        )
        for question in QUESTIONS:
            parser.add_argument(question.flag, dest=question.field, default=None)

    def handle(self, *args, **options):
        # As createsuperuser does: tests (and scripts through call_command) hand in stdin.
        self.stdin = options.get("stdin") or sys.stdin
        refusal = first_run.first_run_refusal()
        if refusal is not None:
            raise self._refused(refusal)
        given = {q.field: options.get(q.field) for q in QUESTIONS}
        if options["interactive"]:
            try:
                details = self._ask(given)
            except ValidationError as exc:
                raise CommandError(
                    self._problems(exc) + "\nNothing was created.", returncode=EXIT_BAD_INPUT
                ) from exc
            except InputEnded as exc:
                raise CommandError(
                    "The input ended before every question was answered (without a terminal, "
                    "use --no-input and the flags); nothing was created.",
                    returncode=EXIT_BAD_INPUT,
                ) from exc
        else:
            details = self._from_flags(given)
        try:
            result = first_run.operator_first_run(details=details)
        except (AlreadySetUp, NotMigrated) as exc:
            raise self._refused(exc) from exc
        except ValidationError as exc:
            raise CommandError(
                self._problems(exc) + "\nNothing was created.", returncode=EXIT_BAD_INPUT
            ) from exc
        self.stdout.write(self.style.SUCCESS(self._summary(result)))
        self.stdout.write(self._next_steps(result))

    # -- input -----------------------------------------------------------------------

    def _from_flags(self, given: dict) -> FirstRunDetails:
        values = {field: value for field, value in given.items() if value is not None}
        missing = [
            q.flag
            for q in QUESTIONS
            if q.field in REQUIRED_FLAGS and not (values.get(q.field) or "").strip()
        ]
        if missing:
            raise CommandError(
                f"With --no-input, give {', '.join(missing)}; nothing was created.",
                returncode=EXIT_BAD_INPUT,
            )
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise CommandError(
                f"With --no-input, put the owner's password in the {PASSWORD_ENV} environment "
                "variable (never on the command line, where other users of the machine can "
                "read it); nothing was created.",
                returncode=EXIT_BAD_INPUT,
            )
        try:
            return first_run.clean_details(FirstRunDetails(password=password, **values))
        except ValidationError as exc:
            raise CommandError(
                self._problems(exc) + "\nNothing was created.", returncode=EXIT_BAD_INPUT
            ) from exc

    def _ask(self, given: dict) -> FirstRunDetails:
        self.stdout.write(
            "Setting up Upline: the operator's first owner, then the business that issues "
            "the operator's invoices. Press Enter to keep a [default]."
        )
        answers: dict[str, str] = {}
        for question in QUESTIONS:
            answers[question.field] = self._answer(question, given[question.field], answers)
            if question.field == "owner_email":
                answers["password"] = self._ask_password(answers)
        return first_run.clean_details(FirstRunDetails(**answers))

    def _answer(self, question: Question, flag_value: str | None, answers: dict) -> str:
        prompt = question.prompt
        if question.field == "tax_id" and answers.get("country") not in EU_COUNTRIES:
            prompt = "Tax identification number (optional)"
        value = flag_value
        while True:
            if value is None:
                default = question.default(answers)
                suffix = f" [{default}]" if default else ""
                value = self._read(f"{prompt}{suffix}: ") or default
            try:
                return question.clean(value, answers)
            except ValidationError as exc:
                self.stderr.write(" ".join(exc.messages))
                value = None

    def _ask_password(self, answers: dict) -> str:
        while True:
            password = self._read("Owner's password: ", secret=True)
            try:
                first_run.clean_password(password, email=answers["owner_email"])
            except ValidationError as exc:
                self.stderr.write(" ".join(exc.messages))
                continue
            if self._read("Password again: ", secret=True) != password:
                self.stderr.write("The two passwords differ; type them again.")
                continue
            return password

    def _read(self, prompt: str, *, secret: bool = False) -> str:
        if secret and self.stdin is sys.stdin and sys.stdin.isatty():
            return getpass.getpass(prompt)
        self.stdout.write(prompt, ending="")
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise InputEnded
        if not getattr(self.stdin, "isatty", lambda: False)():
            self.stdout.write("")  # piped answers are not echoed: end the prompt's line
        return line.rstrip("\r\n").strip()

    # -- output ----------------------------------------------------------------------

    def _refused(self, error: Exception) -> CommandError:
        code = EXIT_ALREADY_SET_UP if isinstance(error, AlreadySetUp) else EXIT_NOT_MIGRATED
        return CommandError(str(error), returncode=code)

    @staticmethod
    def _problems(error: ValidationError) -> str:
        flags = {q.field: q.flag for q in QUESTIONS} | {"password": PASSWORD_ENV}
        if not hasattr(error, "error_dict"):
            return " ".join(error.messages)
        return "\n".join(
            f"{flags.get(field, field)}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        )

    @staticmethod
    def _summary(result: first_run.FirstRunResult) -> str:
        return (
            f"Upline is set up: {result.owner_email} owns the operator's instance, and "
            f"{result.legal_name} ({result.country}) issues its invoices."
        )

    @staticmethod
    def _next_steps(result: first_run.FirstRunResult) -> str:
        scheme = "https" if settings.UPLINE_HTTPS else "http"
        login = reverse("accounts:login", urlconf=settings.PUBLIC_SCHEMA_URLCONF)
        mail_backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
        if mail_backend in {"console", "locmem", "dummy", "filebased"}:
            mail = (
                "Mail is NOT sent yet (the backend is “" + mail_backend + "”): set the mail "
                "variables described under “Mail” in deploy/README.md; invoices and password "
                "links need them."
            )
        else:
            mail = (
                "Mail goes out through the configured backend; send yourself a password "
                "reset link to check it arrives."
            )
        if gateway.keys_configured():
            cards = "Card payments: Stripe keys are set; connect resellers from the console."
        else:
            cards = (
                "Card payments are off until UPLINE_STRIPE_SECRET_KEY, "
                "UPLINE_STRIPE_PUBLISHABLE_KEY and the webhook secrets are set (deploy/README.md, "
                "“Stripe”); manual payments work meanwhile."
            )
        steps = [
            f"Sign in at {scheme}://{settings.UPLINE_BASE_DOMAIN}{login} as {result.owner_email}.",
            "Set up two-factor sign-in there: the operator's staff must, so the first "
            "sign-in asks you to scan a QR code with an authenticator app and shows "
            "recovery codes; keep them somewhere safe and offline.",
            mail,
            cards,
            "Complete the issuer identity (logo, bank details, invoice footer) under Staff "
            "→ Issuer identity, add tax rates and products, then create resellers from the "
            "console.",
        ]
        return "\nNext steps:\n" + "\n".join(f"  {n}. {step}" for n, step in enumerate(steps, 1))
