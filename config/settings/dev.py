"""Development settings: debug on, console e-mail, localhost serves the operator too."""

import os

from .base import *  # noqa: F401,F403
from .base import INSTALLED_APPS, UPLINE_OPERATOR_HOSTS

DEBUG = True
UPLINE_OPERATOR_HOSTS = [*UPLINE_OPERATOR_HOSTS, "localhost", "127.0.0.1"]
# A callback receiver on this machine (127.0.0.1, ::1, localhost, any port, http).
UPLINE_CALLBACKS_ALLOW_LOCAL = True
# An instance may try its own SMTP server on this machine (e.g. mailpit on 127.0.0.1:1025).
UPLINE_MAIL_ALLOW_PRIVATE_SMTP = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the apps and static/ (no collectstatic needed).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A fake Stripe (localstripe, which `make demo` starts) has no Connect: the demo answers
# Connect's account calls itself (devtools/demo_connect.py).
if os.environ.get("UPLINE_STRIPE_API_BASE"):
    INSTALLED_APPS = [*INSTALLED_APPS, "devtools.demo_connect.DemoConnectConfig"]
