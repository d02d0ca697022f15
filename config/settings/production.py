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
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("DJANGO_EMAIL_PORT", "25"))
