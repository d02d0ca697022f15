"""Production settings: refuses to start with development secrets or debug on."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DEBUG, REST_FRAMEWORK, SECRET_KEY, env, env_bool

if SECRET_KEY.startswith("dev-insecure") or len(SECRET_KEY) < 40:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY to a random value of 40+ characters.")
if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
if not env("DATABASE_URL"):
    raise ImproperlyConfigured("Set DATABASE_URL for production.")

# Read by commands that must never run here (upline_demo) and documented for operators.
UPLINE_PRODUCTION = True
# nginx (deploy/nginx) appends the client to X-Forwarded-For: one trusted proxy.
UPLINE_TRUSTED_PROXY_COUNT = int(env("UPLINE_TRUSTED_PROXY_COUNT", "1"))
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": UPLINE_TRUSTED_PROXY_COUNT}
UPLINE_HTTPS = env_bool("UPLINE_HTTPS", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("DJANGO_HSTS_SECONDS", "31536000"))
SECURE_CONTENT_TYPE_NOSNIFF = True
# E-mail: the operator's relay, SMTP (EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD, EMAIL_USE_TLS or EMAIL_USE_SSL, read in base.py) unless
# UPLINE_EMAIL_PROVIDER names a provider (anymail), whose key must then be set.
from .base import ANYMAIL, EMAIL_USE_SSL, EMAIL_USE_TLS, UPLINE_EMAIL_PROVIDER  # noqa: E402

if not UPLINE_EMAIL_PROVIDER:
    EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
elif not all(ANYMAIL.values()):
    raise ImproperlyConfigured(
        f"UPLINE_EMAIL_PROVIDER is {UPLINE_EMAIL_PROVIDER}: set UPLINE_EMAIL_PROVIDER_API_KEY."
    )
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "Set EMAIL_USE_TLS (STARTTLS, port 587) or EMAIL_USE_SSL (port 465), not both."
    )

# Logs: one JSON object per line with the request id and the instance schema
# (shared_apps/observability/logs.py); Celery workers log through the same handler.
from .base import LOGGING  # noqa: E402

UPLINE_TRUST_REQUEST_ID = env_bool("UPLINE_TRUST_REQUEST_ID", True)
UPLINE_ACCESS_LOG = env_bool("UPLINE_ACCESS_LOG", True)
LOGGING = {
    **LOGGING,
    "filters": {"context": {"()": "shared_apps.observability.logs.ContextFilter"}},
    "formatters": {"json": {"()": "shared_apps.observability.logs.JsonLinesFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context"],
        }
    },
}
# Celery would replace the root handler with its own plain-text one.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
