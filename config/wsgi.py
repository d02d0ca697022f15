"""WSGI entry point (gunicorn config.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

from config.boot import urlconfs_load  # noqa: E402  (after Django is set up)

urlconfs_load()
