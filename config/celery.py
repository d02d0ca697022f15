"""Celery application. Tasks that touch an instance run through `config.tenant_tasks`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("upline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["provisioning", "shared_apps.tenancy"])
app.autodiscover_tasks()
