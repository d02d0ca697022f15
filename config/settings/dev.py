"""Development settings: debug on, console e-mail, localhost serves the operator too."""

from .base import *  # noqa: F401,F403
from .base import UPLINE_OPERATOR_HOSTS

DEBUG = True
UPLINE_OPERATOR_HOSTS = [*UPLINE_OPERATOR_HOSTS, "localhost", "127.0.0.1"]
# A callback receiver on this machine (127.0.0.1, ::1, localhost, any port, http).
UPLINE_CALLBACKS_ALLOW_LOCAL = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the apps and static/ (no collectstatic needed).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
