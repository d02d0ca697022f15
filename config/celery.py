"""Celery application. Tasks that touch an instance run through `config.tenant_tasks`.

Which settings a worker or beat runs with is never guessed in production: without
DJANGO_SETTINGS_MODULE, Celery falls back to the development settings only when nothing
says this is production. Production is declared by `UPLINE_ENV=production` or by a
DJANGO_SECRET_KEY in the environment (development never needs one); then a missing
DJANGO_SETTINGS_MODULE stops Celery with a sentence instead of a worker on dev settings.
"""

import os
from collections.abc import Mapping

from celery import Celery
from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT_SETTINGS = "config.settings.dev"


def settings_module_for_celery(environ: Mapping[str, str]) -> str:
    """The settings module Celery must load, or ImproperlyConfigured (see the module doc)."""
    explicit = environ.get("DJANGO_SETTINGS_MODULE", "").strip()
    if explicit:
        return explicit
    if environ.get("UPLINE_ENV", "").strip().lower() == "production" or environ.get(
        "DJANGO_SECRET_KEY"
    ):
        raise ImproperlyConfigured(
            "Celery refuses to start: this looks like production (UPLINE_ENV=production or "
            "DJANGO_SECRET_KEY is set) but DJANGO_SETTINGS_MODULE is not; set it explicitly, "
            "e.g. DJANGO_SETTINGS_MODULE=config.settings.production."
        )
    return DEVELOPMENT_SETTINGS


os.environ["DJANGO_SETTINGS_MODULE"] = settings_module_for_celery(os.environ)

app = Celery("upline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["provisioning", "shared_apps.tenancy"])
app.autodiscover_tasks()
