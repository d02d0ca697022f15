"""Settings shared by every environment; values come from environment variables."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = env("DJANGO_SECRET_KEY", "dev-insecure-upline-secret-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)

# The operator's console answers on the base domain; instance N answers on N.<base domain>.
UPLINE_BASE_DOMAIN = env("UPLINE_BASE_DOMAIN", "upline.localhost")
UPLINE_OPERATOR_NAME = env("UPLINE_OPERATOR_NAME", "Upline Hosting")
# Extra hosts that also serve the operator's own instance (e.g. "localhost" in development).
UPLINE_OPERATOR_HOSTS = [
    h.strip() for h in env("UPLINE_OPERATOR_HOSTS", "").split(",") if h.strip()
]
# Links in e-mails (password set/reset) use https when on.
UPLINE_HTTPS = env_bool("UPLINE_HTTPS", False)
ALLOWED_HOSTS = ["*"]  # the tenant middleware is the real host filter: unknown hosts get a 404

# Warm pool of pre-built instance schemas kept ready for instant provisioning.
UPLINE_POOL_SIZE = int(env("UPLINE_POOL_SIZE", "5"))
# Directory holding pg_dump when the server is not the system one (embedded server).
UPLINE_PG_BIN = env("UPLINE_PG_BIN", "")
UPLINE_EXPORT_DIR = Path(env("UPLINE_EXPORT_DIR", str(BASE_DIR / ".var" / "exports")))
# Instance archives are signed with this key (empty: one derived from SECRET_KEY); servers
# that move instances between them share it. Import refuses members past these sizes.
UPLINE_ARCHIVE_KEY = env("UPLINE_ARCHIVE_KEY", "")
UPLINE_ARCHIVE_MAX_MEMBER_BYTES = int(env("UPLINE_ARCHIVE_MAX_MEMBER_BYTES", str(2 * 1024**3)))
UPLINE_ARCHIVE_MAX_MEMBERS = int(env("UPLINE_ARCHIVE_MAX_MEMBERS", "200000"))
UPLINE_ARCHIVE_MAX_TOTAL_BYTES = int(env("UPLINE_ARCHIVE_MAX_TOTAL_BYTES", str(20 * 1024**3)))
# How long a process trusts its cached host -> instance map before checking for changes.
UPLINE_ROUTING_CACHE_SECONDS = float(env("UPLINE_ROUTING_CACHE_SECONDS", "2"))
# How old a VIES confirmation of a customer's VAT id may be before reverse charge relies on
# it again: older ones are checked on schedule and again when an invoice is issued.
UPLINE_VIES_RECONFIRM_DAYS = int(env("UPLINE_VIES_RECONFIRM_DAYS", "30"))
# Callbacks to resellers' software go to public addresses on port 443 only; port 80 too
# when this is on. A receiver on this machine is reachable only in development (dev.py).
UPLINE_CALLBACKS_ALLOW_PLAIN_HTTP = env_bool("UPLINE_CALLBACKS_ALLOW_PLAIN_HTTP", False)
UPLINE_CALLBACKS_ALLOW_LOCAL = False

# ---------------------------------------------------------------------------------------
# Applications. Tenant apps run in every instance schema AND in the public schema, where
# the operator's own instance lives; shared apps live only in the public schema.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "rest_framework",
    "rest_framework.authtoken",
    "tenant_apps.instance",
    "tenant_apps.mail",
    "tenant_apps.accounts",
    "tenant_apps.clients",
    "tenant_apps.catalog",
    "tenant_apps.referrals",
    "tenant_apps.orders",
    "tenant_apps.billing",
    "tenant_apps.cards",
    "tenant_apps.einvoice",
    "tenant_apps.recurring",
    "tenant_apps.helpdesk",
    "tenant_apps.commissions",
    "tenant_apps.dashboard",
    "tenant_apps.portal",
    "tenant_apps.storefront",
    # Failed sign-ins (django-axes): its tables live in each instance's schema, so a
    # lockout on one instance never locks the same e-mail on another.
    "axes",
    # Second sign-in factor (django-otp): authenticator-app devices and recovery codes
    # live beside the users they belong to, in each instance's schema and in public.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

SHARED_APPS = [
    "django_tenants",
    "shared_apps.tenancy",
    "shared_apps.console",
    "shared_apps.bridge",
    "shared_apps.stripe_webhooks",
    "shared_apps.observability",
    "provisioning",
    "shared_apps.backups",
    *TENANT_APPS,
    "django.contrib.staticfiles",
    "django_tables2",
    "django_countries",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

INSTALLED_APPS = list(dict.fromkeys(["whitenoise.runserver_nostatic", *SHARED_APPS]))

TENANT_MODEL = "tenancy.Reseller"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
# SET search_path only when the instance changes, not on every cursor.
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    # /health/live, /health/ready and /metrics answer on any host, before any routing.
    "shared_apps.observability.middleware.OperationsEndpointsMiddleware",
    # Request id (echoed as X-Request-ID), log context, request metrics, access line.
    "shared_apps.observability.middleware.RequestContextMiddleware",
    # Static files are the same on every host and answer before routing, so a suspended,
    # closed or unknown instance's page still gets its stylesheet (rather than a 503).
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "shared_apps.tenancy.middleware.InstanceRoutingMiddleware",
    # A NUL character in an API query string is a 400 before any view reads it.
    "config.api_input.ApiQueryGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(); then a session that still owes its second sign-in step
    # reaches only that step (and sign-out), and counts as anonymous in the API.
    "django_otp.middleware.OTPMiddleware",
    "tenant_apps.accounts.middleware.SecondStepMiddleware",
    # The reader's language (their choice, the switch's cookie, then the browser's).
    "tenant_apps.accounts.middleware.LanguageMiddleware",
    "tenant_apps.referrals.middleware.RefererCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Turns a sign-in refused for too many failures into the lockout page (after auth).
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shared_apps.tenancy.context_processors.instance",
                "tenant_apps.referrals.context_processors.partner",
                # The instance's name, logo and palette (cached per schema).
                "tenant_apps.instance.branding.branding",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# ---------------------------------------------------------------------------------------
# Database: DATABASE_URL, else the local server (make demo / make test resolve it first).
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upline"),
        conn_max_age=int(env("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "config.db_backend"
# DATABASE_URL points at PgBouncer in transaction pooling: the schema is set inside each
# transaction (SET LOCAL, see config/db_backend), and neither server-side cursors nor
# prepared statements are used (both live on one server connection, which PgBouncer does
# not keep for a client between transactions). upline_migrate/upline_setup need a direct
# connection (docs/scaling.md).
UPLINE_PGBOUNCER_TRANSACTION_POOLING = env_bool("UPLINE_PGBOUNCER_TRANSACTION_POOLING", False)
if UPLINE_PGBOUNCER_TRANSACTION_POOLING:
    DATABASES["default"]["PGBOUNCER_TRANSACTION_POOLING"] = True
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
ORIGINAL_BACKEND = "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------------------
# Cache and Celery broker: REDIS_URL, else in-process memory (no Redis reachable).
REDIS_URL = env("REDIS_URL", "")
if REDIS_URL and env("UPLINE_CACHE", "redis") != "locmem":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Keys are prefixed with the current schema, so instances never share entries.
            "KEY_FUNCTION": "django_tenants.cache.make_key",
            "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        },
        # Platform-wide keys (routing generation): deliberately not prefixed per schema.
        "routing": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        },
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "KEY_FUNCTION": "django_tenants.cache.make_key",
            "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        },
        "routing": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "routing",
        },
    }

# Celery cannot read redis unix:// URLs (embedded Redis): devtools writes a separate one.
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Bounded work: every task gets SoftTimeLimitExceeded after 4 minutes and is killed after 5
# (long ones set their own limits on the task). acks_late redelivers a task whose worker
# vanished; a task that kills its worker process (a hard limit, out of memory) must not be
# redelivered to kill the next one, so it is acknowledged as failed, never requeued, and a
# failed or timed-out task is acknowledged too. Retries are explicit and bounded per task
# (tests/test_bounded_work.py checks every registered task).
CELERY_TASK_SOFT_TIME_LIMIT = int(env("CELERY_TASK_SOFT_TIME_LIMIT", "240"))
CELERY_TASK_TIME_LIMIT = int(env("CELERY_TASK_TIME_LIMIT", "300"))
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
# A child process is replaced after this many tasks or this much memory (KiB): a leak in
# one task slows nothing down for long.
CELERY_WORKER_MAX_TASKS_PER_CHILD = 200
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 512_000
# Redis redelivers an unacknowledged task after this long: longer than any hard limit, so
# a task still running is never started a second time beside itself.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "refill-instance-pool": {
        "task": "provisioning.tasks.pool_refill",
        "schedule": 60.0,
    },
    "billing-run-everywhere": {
        "task": "recurring.billing_run_all_instances",
        "schedule": crontab(hour=3, minute=0),
    },
    # Automatic card charges and failure e-mails a broker outage or a dead worker left.
    "card-auto-charges-sweep-everywhere": {
        "task": "cards.auto_charges_sweep_all_instances",
        "schedule": 60 * 60.0,
    },
    # Commission posts a lost settlement announcement left out (the sync is idempotent).
    "commissions-sweep-everywhere": {
        "task": "commissions.sweep_all_instances",
        "schedule": 60 * 60.0,
    },
    "finalise-stray-documents-everywhere": {
        "task": "billing.documents_sweep_all_instances",
        "schedule": 15 * 60.0,
    },
    # Shop sign-ups whose confirmation link expired (they never made an account).
    "storefront-signups-purge-everywhere": {
        "task": "storefront.signups_purge_all_instances",
        "schedule": 6 * 60 * 60.0,
    },
    "recheck-unverified-vat-ids-everywhere": {
        "task": "tenant_apps.clients.tasks.tax_ids_recheck_all_instances",
        "schedule": 60 * 60.0,
    },
    "helpdesk-outbox-drain-everywhere": {
        "task": "helpdesk.outbox_drain_all_instances",
        "schedule": 60.0,
    },
    "bridge-callbacks-deliver": {
        "task": "bridge.callbacks_deliver",
        "schedule": 60.0,
    },
    # Stripe events a broker outage left unprocessed (each is applied once whatever happens).
    "stripe-events-sweep": {
        "task": "stripe_webhooks.events_sweep",
        "schedule": 5 * 60.0,
    },
    "helpdesk-sla-sweep-everywhere": {
        "task": "helpdesk.sla_sweep_all_instances",
        "schedule": 5 * 60.0,
    },
    # Outgoing e-mail: retries that are due and messages a broker outage left queued.
    "mail-outbox-sweep-everywhere": {
        "task": "mail.outbox_sweep_all_instances",
        "schedule": 60.0,
    },
    "mail-bodies-purge-everywhere": {
        "task": "mail.bodies_purge_all_instances",
        "schedule": crontab(hour=4, minute=30),
    },
    "clear-expired-sessions-everywhere": {
        "task": "shared_apps.tenancy.tasks.sessions_clear_all_instances",
        "schedule": 6 * 60 * 60.0,
    },
}

# ---------------------------------------------------------------------------------------
# Sessions and auth. Sessions live in each instance's own table and the cookie is
# host-only, so a session made on one instance means nothing on another.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
# Axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------------------------------
# E-mail. The operator's relay: SMTP (EMAIL_HOST …) or a provider through django-anymail
# (UPLINE_EMAIL_PROVIDER + UPLINE_EMAIL_PROVIDER_API_KEY). Instances without their own SMTP
# server or provider send through it, From "<instance name> <UPLINE_EMAIL_RELAY_FROM>" with
# Reply-To the instance's address (tenant_apps/mail). The DJANGO_EMAIL_* names still work.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "no-reply@upline.localhost")
EMAIL_HOST = env("EMAIL_HOST") or env("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT") or env("DJANGO_EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)  # STARTTLS (port 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # TLS from the first byte (port 465)
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "30"))
# A provider instead of SMTP for the relay: postmark, mailgun, sendgrid or brevo.
UPLINE_EMAIL_PROVIDERS = {
    "postmark": ("anymail.backends.postmark.EmailBackend", "POSTMARK_SERVER_TOKEN"),
    "mailgun": ("anymail.backends.mailgun.EmailBackend", "MAILGUN_API_KEY"),
    "sendgrid": ("anymail.backends.sendgrid.EmailBackend", "SENDGRID_API_KEY"),
    "brevo": ("anymail.backends.brevo.EmailBackend", "BREVO_API_KEY"),
}
UPLINE_EMAIL_PROVIDER = (env("UPLINE_EMAIL_PROVIDER", "") or "").strip().lower()
ANYMAIL: dict[str, str] = {}
if UPLINE_EMAIL_PROVIDER:
    if UPLINE_EMAIL_PROVIDER not in UPLINE_EMAIL_PROVIDERS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"UPLINE_EMAIL_PROVIDER={UPLINE_EMAIL_PROVIDER!r} is not one we know; use one of "
            + ", ".join(UPLINE_EMAIL_PROVIDERS)
            + " (or leave it empty for SMTP)."
        )
    EMAIL_BACKEND, _provider_key_setting = UPLINE_EMAIL_PROVIDERS[UPLINE_EMAIL_PROVIDER]
    ANYMAIL = {_provider_key_setting: env("UPLINE_EMAIL_PROVIDER_API_KEY", "") or ""}
    if env("MAILGUN_API_URL"):  # Mailgun's EU region: https://api.eu.mailgun.net/v3
        ANYMAIL["MAILGUN_API_URL"] = env("MAILGUN_API_URL") or ""
# The relay's sender address on the operator's own sending domain (default: the address of
# DEFAULT_FROM_EMAIL); instances on the relay show their own name in front of it.
UPLINE_EMAIL_RELAY_FROM = env("UPLINE_EMAIL_RELAY_FROM", "")
# How long an instance's own SMTP server may take to answer, in seconds.
UPLINE_MAIL_SMTP_TIMEOUT = int(env("UPLINE_MAIL_SMTP_TIMEOUT", "20"))
# An instance's own SMTP server must have a public address (it was chosen by a reseller);
# development and tests may allow servers on this machine or the private network.
UPLINE_MAIL_ALLOW_PRIVATE_SMTP = env_bool("UPLINE_MAIL_ALLOW_PRIVATE_SMTP", False)
# Fernet key encrypting instances' SMTP passwords and API keys (empty: derived from
# SECRET_KEY). Generate one with: python -c "from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())"
UPLINE_MAIL_SECRET_KEY = env("UPLINE_MAIL_SECRET_KEY", "")
# Text, HTML and attachments of sent e-mails are kept this many days; the log row stays.
UPLINE_EMAIL_BODY_RETENTION_DAYS = int(env("UPLINE_EMAIL_BODY_RETENTION_DAYS", "90"))
# The port of the instances' public addresses when it is not the scheme's default (links
# in e-mails: https://<domain>:<port>/…); empty behind a proxy on 443 or 80.
UPLINE_PUBLIC_PORT = env("UPLINE_PUBLIC_PORT", "")

# ---------------------------------------------------------------------------------------
# API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token check, noting when each token was last used.
        "tenant_apps.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenant_apps.accounts.permissions.IsInstanceStaff"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.api_input.ApiPagination",
    # JSON, form and multipart bodies alike refuse text PostgreSQL cannot store (NUL …).
    "DEFAULT_PARSER_CLASSES": [
        "config.api_input.GuardedJSONParser",
        "config.api_input.GuardedFormParser",
        "config.api_input.GuardedMultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    # Per user (or per address when anonymous), per instance: the default cache prefixes
    # every key with the schema (KEY_FUNCTION above). The inbox API sets its own scope.
    "DEFAULT_THROTTLE_CLASSES": ["config.api_throttling.InstanceApiThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api": env("UPLINE_API_RATE", "600/min"),
        "api_anonymous": env("UPLINE_API_ANONYMOUS_RATE", "60/min"),
        "bridge_inbox": env("UPLINE_BRIDGE_INBOX_RATE", "120/min"),
    },
    # The client's address is REMOTE_ADDR unless trusted proxies are declared (see below).
    "NUM_PROXIES": int(env("UPLINE_TRUSTED_PROXY_COUNT", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Upline API",
    "DESCRIPTION": "Per-instance API: each reseller instance answers on its own domain with "
    "its own tokens; the operator's console API answers on the base domain.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema (and the docs page, see config.api_schema) is for the instance's staff.
    "SERVE_PERMISSIONS": ["tenant_apps.accounts.permissions.IsInstanceStaff"],
    # Every operation documents the refusals it can answer (400, 401, 403, 404, 409, 429 …).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.document_error_responses",
    ],
    # API docs are served from the sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One clear name per choice set (several models have a "kind", "status" or "source").
    "ENUM_NAME_OVERRIDES": {
        "ResellerStatusEnum": "shared_apps.tenancy.models.Reseller.Status",
        "CustomerKindEnum": "tenant_apps.clients.models.Customer.Kind",
        "CustomerStatusEnum": "tenant_apps.clients.models.Customer.Status",
        "ProductKindEnum": "tenant_apps.catalog.models.Product.Kind",
        "InvoiceKindEnum": "tenant_apps.billing.models.Invoice.Kind",
        "InvoiceStatusEnum": "tenant_apps.billing.models.Invoice.Status",
        "InvoiceLineKindEnum": "tenant_apps.billing.models.InvoiceLine.Kind",
        "TaxTreatmentEnum": "tenant_apps.billing.models.Invoice.TaxTreatment",
        "BillingRunKindEnum": "tenant_apps.recurring.models.BillingRun.Kind",
        "BillingRunStatusEnum": "tenant_apps.recurring.models.BillingRun.Status",
        "OrderStatusEnum": "tenant_apps.orders.models.Order.Status",
        "OrderSourceEnum": "tenant_apps.orders.models.Order.Source",
        "ServiceStatusEnum": "tenant_apps.orders.models.Service.Status",
        "TicketStatusEnum": "tenant_apps.helpdesk.models.Ticket.Status",
        "TicketSourceEnum": "tenant_apps.helpdesk.models.Ticket.Source",
        "MessageKindEnum": "tenant_apps.helpdesk.models.Message.Kind",
        "CardPaymentStatusEnum": "tenant_apps.cards.models.CardPayment.Status",
        "CardRefundStatusEnum": "tenant_apps.cards.models.CardRefund.Status",
        "CommissionKindEnum": "tenant_apps.commissions.models.CommissionRule.Kind",
        "CommissionDurationEnum": "tenant_apps.commissions.models.CommissionRule.Duration",
        "CommissionEntryKindEnum": "tenant_apps.commissions.models.CommissionEntry.Kind",
        "PayoutMethodEnum": "tenant_apps.commissions.models.Payout.Method",
        # Named once two "method" choice sets exist (payments and payouts).
        "PaymentMethodEnum": "tenant_apps.billing.models.Payment.Method",
    },
}

# ---------------------------------------------------------------------------------------
# Security: sign-in lockouts, password e-mail limits, Content-Security-Policy.
# production.py turns this on; commands that only make sense elsewhere refuse to run then.
UPLINE_PRODUCTION = False
# How many proxies in front of Upline append to X-Forwarded-For (nginx: 1). 0 means the
# client is REMOTE_ADDR and the header, which anyone can send, is never read.
UPLINE_TRUSTED_PROXY_COUNT = int(env("UPLINE_TRUSTED_PROXY_COUNT", "0"))

# django-axes: ten failures lock the e-mail (from any address) and the address (for any
# e-mail) of that instance for the cool-off; the attempts table is in the instance schema.
AXES_FAILURE_LIMIT = int(env("UPLINE_SIGNIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("UPLINE_SIGNIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_CALLABLE = "tenant_apps.accounts.throttling.signin_username"
AXES_CLIENT_IP_CALLABLE = "tenant_apps.accounts.throttling.signin_client_ip"
AXES_RESET_ON_SUCCESS = True
# Tries while locked out do not extend the lockout: the page's "try again in" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "tenant_apps.accounts.throttling.lockout_response"
AXES_VERBOSE = False
# Successful sign-ins are in the instance's audit trail already (accounts.signins).
AXES_DISABLE_ACCESS_LOG = True

# Two-factor sign-in (django-otp): wrong codes slow the device down (1, 2, 4 … seconds);
# the admin never shows a device's secret or a user's recovery codes.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Password e-mails (reset links, invitations) per instance in a sliding hour.
UPLINE_PASSWORD_MAIL_LIMITS = {
    "reset": {
        "per_address": int(env("UPLINE_RESET_MAILS_PER_ADDRESS", "3")),
        "per_ip": int(env("UPLINE_RESET_MAILS_PER_IP", "20")),
    },
    "invitation": {
        "per_address": int(env("UPLINE_INVITATION_MAILS_PER_ADDRESS", "3")),
        "per_ip": int(env("UPLINE_INVITATION_MAILS_PER_IP", "100")),
    },
}
UPLINE_PASSWORD_MAIL_WINDOW_SECONDS = 3600
# Storefront sign-ups (tenant_apps.storefront): form posts per client address and
# confirmation e-mails per address, each per hour.
UPLINE_SIGNUP_POSTS_PER_IP = int(env("UPLINE_SIGNUP_POSTS_PER_IP", "20"))
UPLINE_SIGNUP_MAILS_PER_ADDRESS = int(env("UPLINE_SIGNUP_MAILS_PER_ADDRESS", "3"))
UPLINE_SIGNUP_LINK_HOURS = int(env("UPLINE_SIGNUP_LINK_HOURS", "48"))

# Card payments (Stripe Connect; tenant_apps/cards). Every instance is the merchant of
# record of its own invoices: resellers are connected accounts of this platform account,
# the operator's own instance uses the platform account. No secret key: the card screens
# say "Card payments are not set up" and manual payments carry on. The API base is empty
# for Stripe itself; tests and the demo point it at localstripe.
UPLINE_STRIPE_SECRET_KEY = env("UPLINE_STRIPE_SECRET_KEY", "")
UPLINE_STRIPE_PUBLISHABLE_KEY = env("UPLINE_STRIPE_PUBLISHABLE_KEY", "")
UPLINE_STRIPE_API_BASE = env("UPLINE_STRIPE_API_BASE", "")
UPLINE_STRIPE_JS_URL = env("UPLINE_STRIPE_JS_URL", "https://js.stripe.com/v3/")
UPLINE_STRIPE_WEBHOOK_SECRET = env("UPLINE_STRIPE_WEBHOOK_SECRET", "")
UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET = env("UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET", "")

# Content-Security-Policy (django-csp): scripts only from our own static files, never
# inline. Inline style attributes remain (meters, PDF previews) and cannot run code. The
# card payment page alone adds the origin of UPLINE_STRIPE_JS_URL (and Stripe's API and
# 3-D Secure frames) to script-src, connect-src and frame-src (tenant_apps/cards).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],  # the API docs page (ReDoc) searches in a worker
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
}

# ---------------------------------------------------------------------------------------
# Static files are served by whitenoise from packages and the project; no CDN.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploaded files and stored PDFs, under a per-schema prefix (served only through views).
MEDIA_ROOT = Path(env("UPLINE_MEDIA_ROOT", str(BASE_DIR / ".var" / "media")))

# ---------------------------------------------------------------------------------------
# Backups (shared_apps/backups, deploy/README.md "Backups and restore"): a whole-database
# dump with the media files, and one signed archive per reseller instance, on a cron-style
# schedule ("minute hour day-of-month month day-of-week", UTC; "off" turns it off), kept
# UPLINE_BACKUP_KEEP_DAYS days (the newest successful one of each is always kept), in a
# folder or an S3-compatible bucket (django-storages).
UPLINE_BACKUP_SCHEDULE = env("UPLINE_BACKUP_SCHEDULE", "30 2 * * *")
UPLINE_BACKUP_KEEP_DAYS = int(env("UPLINE_BACKUP_KEEP_DAYS", "14"))
UPLINE_BACKUP_INSTANCE_ARCHIVES = env_bool("UPLINE_BACKUP_INSTANCE_ARCHIVES", True)
UPLINE_BACKUP_STORAGE = env("UPLINE_BACKUP_STORAGE", "file")  # file | s3
UPLINE_BACKUP_DIR = Path(env("UPLINE_BACKUP_DIR", str(BASE_DIR / ".var" / "backups")))
UPLINE_BACKUP_S3_BUCKET = env("UPLINE_BACKUP_S3_BUCKET", "")
UPLINE_BACKUP_S3_PREFIX = env("UPLINE_BACKUP_S3_PREFIX", "upline-backups")
UPLINE_BACKUP_S3_ENDPOINT_URL = env("UPLINE_BACKUP_S3_ENDPOINT_URL", "")
UPLINE_BACKUP_S3_REGION = env("UPLINE_BACKUP_S3_REGION", "")
UPLINE_BACKUP_S3_ACCESS_KEY_ID = env("UPLINE_BACKUP_S3_ACCESS_KEY_ID", "")
UPLINE_BACKUP_S3_SECRET_ACCESS_KEY = env("UPLINE_BACKUP_S3_SECRET_ACCESS_KEY", "")
# Where dumps are written before they go to the storage (empty: the system's temp folder).
UPLINE_BACKUP_WORK_DIR = env("UPLINE_BACKUP_WORK_DIR", "")


def _cron(expression: str | None) -> crontab | None:
    fields = (expression or "").split()
    if not fields or fields == ["off"]:
        return None
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


if (_backup_schedule := _cron(UPLINE_BACKUP_SCHEDULE)) is not None:
    CELERY_BEAT_SCHEDULE["backups-run"] = {"task": "backups.run", "schedule": _backup_schedule}
# Marks backups whose worker died as failed, and removes those past UPLINE_BACKUP_KEEP_DAYS.
CELERY_BEAT_SCHEDULE["backups-sweep"] = {"task": "backups.sweep", "schedule": 60 * 60.0}

DJANGO_TABLES2_TEMPLATE = "components/table.html"

LANGUAGE_CODE = "en"
# The languages of screens, e-mails and documents: each user and each customer picks one
# (tenant_apps/accounts/middleware.py LanguageMiddleware); catalogs live in locale/.
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "upline_language"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------------------------------
# Operations (shared_apps/observability; deploy/README.md "Health, metrics and logs").
# Health details and /metrics: for `Authorization: Bearer <UPLINE_OPS_TOKEN>`, or for a
# direct (not proxied) request from this machine while UPLINE_OPS_LOCALHOST is on.
UPLINE_OPS_TOKEN = env("UPLINE_OPS_TOKEN", "")
UPLINE_OPS_LOCALHOST = env_bool("UPLINE_OPS_LOCALHOST", True)
# Timeout of each readiness check (PostgreSQL, Redis, storage, worker ping), in seconds.
UPLINE_HEALTH_TIMEOUT_SECONDS = float(env("UPLINE_HEALTH_TIMEOUT_SECONDS", "1.5"))
# Whether readiness fails when no Celery worker answers a ping (web keeps serving if not).
UPLINE_HEALTH_REQUIRE_WORKER = env_bool("UPLINE_HEALTH_REQUIRE_WORKER", False)
# Scrape-time metrics (outboxes of every instance, queues, webhooks) are read at most
# this often per process; Celery queues whose length is reported; Redis key prefix.
UPLINE_METRICS_SCAN_SECONDS = float(env("UPLINE_METRICS_SCAN_SECONDS", "30"))
UPLINE_METRICS_QUEUES = [
    q.strip() for q in env("UPLINE_METRICS_QUEUES", "celery").split(",") if q.strip()
]
UPLINE_METRICS_PREFIX = env("UPLINE_METRICS_PREFIX", "upline:metrics:")
# Take the proxy's X-Request-ID (nginx sets it) instead of making one; on in production.
UPLINE_TRUST_REQUEST_ID = env_bool("UPLINE_TRUST_REQUEST_ID", False)
# One JSON access line per request (logger "upline.access"); on in production.
UPLINE_ACCESS_LOG = env_bool("UPLINE_ACCESS_LOG", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "weasyprint.progress": {"level": "WARNING"},  # seven INFO lines per PDF otherwise
        "axes": {"level": "WARNING"},  # failures and lockouts only, not every sign-in
        "stripe": {"level": "WARNING"},  # not a line per API call (cards log refusals)
    },
}
