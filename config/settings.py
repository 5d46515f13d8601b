"""Settings, read from the environment in this one place.

Every value has a safe default for a laptop with no server running: SQLite
under ``var/``, a Celery broker on the local filesystem and e-mails written
as files under ``var/mail/``. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``EMAIL_URL`` and a real ``DJANGO_SECRET_KEY``; with ``DJANGO_DEBUG`` off the
process refuses to start on the insecure default secret.
"""

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("DJANGO_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

INSECURE_SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_SECRET_KEY)
if not DEBUG and (SECRET_KEY == INSECURE_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 32 characters when DJANGO_DEBUG is off."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "auditlog",
    "encrypted_model_fields",
    "audit",
    # Staff authentication: lockout after failed sign-ins, two-factor (TOTP) sign-in.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "notifications",
    "accounts",
    # The domain, bottom to top (docs/architecture.md): people and cases, the
    # programmes they go through, the justice track, and what spans them (closure, retention).
    "casework",
    "programmes",
    "justice",
    "lifecycle",
    # The caseworkers' admin pages for every domain app.
    "backoffice",
    # Content-Security-Policy on every answer.
    "csp",
    # Project wiring: makes the database cache's table on migrate.
    "config.apps.SiteConfig",
]

MIDDLEWARE = [
    # First, so that every log line of the request, the HTTPS redirect's too, carries its id.
    "core.request_log.RequestIdMiddleware",
    # Latency of every answer, by URL pattern name (config.metrics).
    "config.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from gunicorn, before anything that touches the session or database.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Each role question about the caller is asked of the database once per request.
    "core.roles.RolesOncePerRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # After OTPMiddleware, and before anything that acts for the user.
    "accounts.middleware.StaffTwoFactorMiddleware",
    "audit.context.AuditContextMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.base.NoStoreMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file in local use.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode a cursor may not outlive its transaction:
    # `.iterator()` (the reminder sweep) then fetches in chunks without a server-side cursor.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DJANGO_DISABLE_SERVER_SIDE_CURSORS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский"), ("kk", "Қазақша"), ("ar", "العربية")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE is not a known time zone: {TIME_ZONE!r}") from exc
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static files ----------------------------------------------------------------
# Production serves them from gunicorn through WhiteNoise: `collectstatic` (run when the
# image is built) writes each file under a name with its content's hash, beside a gzip copy
# served to browsers that ask for it; hashed names are cached by browsers for a year. In local use and the tests
# the files come from the apps' own folders, with no collectstatic.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# The hashed names come from STATIC_ROOT's manifest: on by default with DJANGO_DEBUG off once
# collectstatic has written one (the image always has), or forced either way by the variable.
STATIC_MANIFEST = env.bool("DJANGO_STATIC_MANIFEST", default=not DEBUG and (STATIC_ROOT / "staticfiles.json").is_file())
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Read from the apps' folders on every request in local use; indexed once at start in production.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
# Files without a hash in their name (favicon-style paths) may be cached for an hour.
WHITENOISE_MAX_AGE = 0 if DEBUG else 3600

# --- E-mail ------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587?tls=True) wins; otherwise the usual
# EMAIL_* settings; otherwise e-mails are written as files under var/mail/.
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
elif "EMAIL_HOST" in env:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="casework@rehab.example")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ------------------------------------------------------------------
# With REDIS_URL the broker is Redis; without it, kombu's filesystem transport
# so that `make run` needs no server and reminders still go out on schedule.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the task time limit below, so that a running task is
        # never handed to a second worker while the first still works on it.
        "visibility_timeout": 3600,
    }
else:
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Integration tests give each run its own queue so that nothing else consumes it.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Cache ---------------------------------------------------------------------
# API throttle counters live here, so they must be shared by every process (gunicorn
# runs several workers): Redis when there is one, the database otherwise (its table is
# made by `manage.py migrate`, see config.apps). Never a per-process memory cache.


def _next_redis_database(url: str) -> str:
    """The broker's Redis URL with the next database number: the cache never shares the
    broker's database, so clearing the cache can never drop queued tasks."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    current = parts.path.strip("/")
    number = int(current) if current.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{(number + 1) % 16}"))


# REDIS_CACHE_URL overrides where the cache lives (by default the broker's server, next database).
REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default=_next_redis_database(REDIS_URL) if REDIS_URL else "")
if REDIS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": "rehab",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            # Culling drops entries at random: keep it rare, or throttle counters reset early.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- REST framework ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its challenge makes anonymous calls answer 401, not 403.
        "api.policies.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "api.policies.StableOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.policies.PagePagination",
    "DEFAULT_THROTTLE_CLASSES": ["api.policies.TokenRateThrottle", "api.policies.AnonymousRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env.str("API_THROTTLE_TOKEN", default="1200/minute"),
        "anonymous": env.str("API_THROTTLE_ANONYMOUS", default="30/minute"),
    },
    # JSON nested too deep to be a resource of this API answers 400, not a stack overflow.
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.base.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Bodies larger than this answer 413 before anything parses them.
API_MAX_REQUEST_BODY_BYTES = env.int("API_MAX_REQUEST_BODY_BYTES", default=256 * 1024)
# API tokens (django-rest-knox): stored as a SHA-512 digest, expiring, revocable in the admin.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rehabilitation case management API",
    "DESCRIPTION": (
        "For partner agencies and the programmes' own tools. Every collection is scoped to what "
        "the caller may see (404 for anything else) and every resource redacts fields by role; "
        "each schema component lists which role reads and writes which field."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema lists every field of every role: for signed-in users and token holders only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "GET_MOCK_REQUEST": "api.schema.mock_request",
    "ENUM_NAME_OVERRIDES": {
        "StageKindEnum": "programmes.models.StageKind",
        "StageStatusEnum": "programmes.models.StageStatus",
        "RelationshipEnum": "casework.models.Relationship",
    },
}

# --- Security ----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp) for the admin, the API and its docs. Scripts come only
# from our own static files: neither the admin nor Swagger UI (served as separate files by
# config.urls) has an inline script. Inline styles are allowed: the admin's own pages and
# the stage-report preview use them, and a style cannot run code. Images may be data: URLs
# (the report chart, the two-factor QR code).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Reverse proxies in front of the app that append to X-Forwarded-For (0: none, use the peer address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Probes from the orchestrator speak plain HTTP to the container.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    if TRUSTED_PROXY_COUNT > 0:
        # Only a proxy we run may say the client used HTTPS; without one, any client could.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logging and observability --------------------------------------------------
# One JSON object a line by default (DJANGO_LOG_FORMAT=plain for people reading a terminal).
# Every line carries the request id (core.request_log) and nothing of the request itself:
# no path parameters beyond the path, no query string, no body (config.log_format).
DJANGO_LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="json")
if DJANGO_LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("DJANGO_LOG_FORMAT must be json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.request_log.RequestIdFilter"},
        "no_query_string": {"()": "config.log_format.NoQueryStringFilter"},
    },
    "formatters": {
        "json": {"()": "config.log_format.SafeJsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": DJANGO_LOG_FORMAT,
            "filters": ["request_id", "no_query_string"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own lines go to the one handler only (not also to its debug console or to e-mail).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # The development server's request lines: through the same handler, without query strings.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# /readyz fails when a due e-mail has waited longer than this since it fell due.
READYZ_OUTBOX_MAX_AGE_SECONDS = env.int("READYZ_OUTBOX_MAX_AGE_SECONDS", default=1800)
# /readyz fails when the periodic sweep's heartbeat is older than this...
READYZ_BEAT_MAX_AGE_SECONDS = env.int("READYZ_BEAT_MAX_AGE_SECONDS", default=300)
# ...and, with this on, when there is none yet (a deployment whose beat never ran).
READYZ_REQUIRE_BEAT = env.bool("READYZ_REQUIRE_BEAT", default=False)
# Clients that may read /metrics without signing in (administrators always may).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])

# --- Notifications (the outbox) -----------------------------------------------
# Absolute links in e-mails point here.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# How many due notifications one sweep claims.
NOTIFICATION_BATCH_SIZE = env.int("NOTIFICATION_BATCH_SIZE", default=500)
# How long one sweep may go on claiming batches (below the one-minute beat interval).
NOTIFICATION_SWEEP_SECONDS = env.int("NOTIFICATION_SWEEP_SECONDS", default=45)
# A claimed row whose send task has not started by then was lost (broker restart,
# flushed Redis): it goes back to pending.
NOTIFICATION_CLAIM_TIMEOUT_SECONDS = env.int("NOTIFICATION_CLAIM_TIMEOUT_SECONDS", default=600)
# A row still "sending" after this (longer than the task time limit) belongs to a
# dead worker: it is re-sent under the same Message-ID.
NOTIFICATION_SENDING_TIMEOUT_SECONDS = env.int("NOTIFICATION_SENDING_TIMEOUT_SECONDS", default=900)
# Back-off after a failed send: base * 2^(attempt-1), capped.
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=60)
NOTIFICATION_RETRY_MAX_SECONDS = env.int("NOTIFICATION_RETRY_MAX_SECONDS", default=3600)
if NOTIFICATION_SENDING_TIMEOUT_SECONDS <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("NOTIFICATION_SENDING_TIMEOUT_SECONDS must exceed the Celery task time limit.")

# --- Staff authentication ------------------------------------------------------
# The lockout backend goes first: it refuses a locked-out sign-in before the password is checked.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins (admin and the browsable API's sign-in page) are counted per username
# and address together, so that one address cannot lock everybody out and a guesser
# elsewhere cannot lock a user out of their own desk. A success clears the count;
# administrators see and lift lockouts in the admin ("Access attempts").
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The cool-off runs from the lockout; more wrong guesses do not keep extending it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
# Successful sign-ins are not recorded with address and browser: the lockout does not need
# them. Axes's log lines then mask the username and address and leave out the browser.
AXES_DISABLE_ACCESS_LOG = env.bool("AXES_DISABLE_ACCESS_LOG", default=True)
AXES_VERBOSE = False
# Failed attempts and lockouts are rows in the database, shared by every web process.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_CACHE = "default"
# Administrators and supervisors give a TOTP code after the password (accounts.two_factor);
# with this on, every user who signs in with a password does. API tokens are not concerned.
STAFF_OTP_REQUIRED_FOR_ALL = env.bool("STAFF_OTP_REQUIRED_FOR_ALL", default=False)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Rehabilitation casework")
# Device keys are secrets of their owners; administrators may remove a device, not read its key.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Data protection -----------------------------------------------------------
# Identifier values (passport, national ID, ...) are encrypted at rest with this
# Fernet key (comma-separated keys: the first encrypts, all decrypt, for rotation),
# and found by exact match through a keyed hash (HMAC-SHA256) with the lookup key.
INSECURE_FIELD_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U="
INSECURE_IDENTIFIER_LOOKUP_KEY = "insecure-local-identifier-lookup-key"
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[INSECURE_FIELD_ENCRYPTION_KEY])
IDENTIFIER_LOOKUP_KEY = env.str("IDENTIFIER_LOOKUP_KEY", default=INSECURE_IDENTIFIER_LOOKUP_KEY)
if not DEBUG and (
    INSECURE_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEY or IDENTIFIER_LOOKUP_KEY == INSECURE_IDENTIFIER_LOOKUP_KEY
):
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY and IDENTIFIER_LOOKUP_KEY must be set when DJANGO_DEBUG is off.")
# The change log (django-auditlog): who changed what, through which door.
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = True  # addresses are personal data too; the actor is enough
AUDITLOG_LOGENTRY_MODEL = "audit.AuditEntry"
# auditlog's migrations create its default table even when the model is swapped; with
# none of its migrations, the app has no table of its own (the swapped model is skipped).
MIGRATION_MODULES = {"auditlog": None}
# Reads of cases, people, families and notes are audited; off only to measure what auditing costs.
AUDIT_READS = env.bool("AUDIT_READS", default=True)

# --- Domain defaults ---------------------------------------------------------
# Days a returnee spends in supervised accommodation after arrival.
SUPERVISED_ACCOMMODATION_DAYS = 30
