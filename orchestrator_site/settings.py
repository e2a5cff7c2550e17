"""Settings for the Orchestrator: one file, every deployment knob read from the environment.

Required in production (DJANGO_DEBUG unset or false): DJANGO_SECRET_KEY, DATABASE_URL.
See README.md, "Production".
"""

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from orchestrator_site.env import env_bool, env_int, env_list, env_str, env_url

# `admin.ModelAdmin[Problem]`, `Paginator[Model]`: the type arguments mypy checks, accepted at
# run time too (Django's classes take none).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-deploy"

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "orchestrator_site.apps.OrchestratorAdminConfig",  # django.contrib.admin, named for us
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "idempotency",
    "accounts",
    "tasks",
    "problems",
    "learning",
    "predictions",
    "operators",
    "events",
    "morpheo",
    "metrics",
    "demo",
]

MIDDLEWARE = [
    "metrics.middleware.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # DEBUG only: an unmatched path answers as deployed (JSON under /api/), not Django's page.
    "orchestrator_site.errors.DebugNotFoundMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestrator_site.urls"
WSGI_APPLICATION = "orchestrator_site.wsgi.application"
ASGI_APPLICATION = "orchestrator_site.asgi.application"

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

# Database: DATABASE_URL selects the server. Without it, and only outside production,
# an embedded PostgreSQL (pgserver) is started in .pgdata/ inside the checkout.
_database_url = env_str("DATABASE_URL")
if not _database_url:
    if not DEBUG and not env_bool("ORCHESTRATOR_EMBEDDED_DB", default=False):
        raise ImproperlyConfigured(
            "DATABASE_URL is not set. Point it at PostgreSQL "
            "(postgres://user:password@host:5432/name), or set DJANGO_DEBUG=1 or "
            "ORCHESTRATOR_EMBEDDED_DB=1 to use the embedded development server."
        )
    from orchestrator_site.embedded_pg import embedded_database_url

    _database_url = embedded_database_url(
        Path(env_str("ORCHESTRATOR_EMBEDDED_DB_DIR") or BASE_DIR / ".pgdata")
    )

DATABASES = {
    "default": dj_database_url.parse(
        _database_url,
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60, minimum=0),
        # A connection killed by a database restart is replaced on the next request
        # instead of failing it.
        conn_health_checks=True,
    )
}
# The worker protocol's statements are compiled once (orchestrator_site/compiled.py) and run as
# prepared statements from the second use on a connection; Django's own queries bind
# client-side and are never prepared. 0 turns this off (a pooler in transaction mode
# older than PgBouncer 1.21 cannot keep prepared statements).
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    env_int("DJANGO_DB_PREPARE_THRESHOLD", 2, minimum=0) or None
)
# A pool per server process (psycopg_pool through Django's "pool" option): gunicorn runs
# many threads a worker, because a waiting claim holds a thread (not a connection) for up
# to a minute, and a persistent connection per thread would outnumber PostgreSQL's
# max_connections. A request takes a connection from the pool and gives it back at its
# end; prepared statements live on with the pooled connections. 0: no pool, a persistent
# connection per thread (DJANGO_CONN_MAX_AGE), as with few threads.
DB_POOL_SIZE = env_int("DJANGO_DB_POOL_SIZE", 16, minimum=0)
if DB_POOL_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    # A dead connection is dropped when it is given back; checking each one on the way out
    # of the pool would cost a round trip a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 2, "max_size": DB_POOL_SIZE,
        # A request waits this long for a free connection before it fails (503).
        "timeout": env_int("DJANGO_DB_POOL_TIMEOUT", 10, minimum=1),
    }

# Waiting claims and the event feed hold one LISTEN connection per server process
# (tasks/wakeups.py). LISTEN needs a session of its own: behind PgBouncer in transaction
# mode, point DATABASE_LISTEN_URL at PostgreSQL directly. Unset: the default database.
_listen_url = env_str("DATABASE_LISTEN_URL")
ORCHESTRATOR_LISTEN_DATABASE = dj_database_url.parse(_listen_url) if _listen_url else None
if not DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    raise ImproperlyConfigured("The Orchestrator needs PostgreSQL (ArrayField, SKIP LOCKED).")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Date-times to the second with their zone ("2026-12-02 06:00:12 UTC"), wherever Django
# formats one (the admin's lists and pages): the locale's formats win over DATETIME_FORMAT.
FORMAT_MODULE_PATH = "orchestrator_site.formats"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Request bodies: a data registration of 20,000 UUIDs is about 800 kB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Reads need a role (a user without an ApiClient row has none); writes name their roles.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "orchestrator_site.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # drf-spectacular's, plus the error answers of each operation and Idempotency-Key.
    "DEFAULT_SCHEMA_CLASS": "idempotency.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's JSON parser, refusing deep nesting, duplicate keys and lone surrogates (400).
    "DEFAULT_PARSER_CLASSES": ["orchestrator_site.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "orchestrator_site.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

REST_KNOX = {
    # API clients are long-lived services; operators revoke tokens instead.
    "TOKEN_TTL": None,
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Orchestrator API",
    "DESCRIPTION": "Bookkeeper and scheduler of collaborative machine learning on private data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files from drf-spectacular-sidecar, as static files, instead of a CDN at
    # @latest: the docs work without the internet, and on the version pinned here.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from validator.swagger.io, which would fetch our schema's URL from outside.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets share the field name "status"; name both (check --deploy warns otherwise).
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks.models.Status",
        "ResultStatusEnum": ["done", "failed"],
        "ErrorKindEnum": "tasks.models.ErrorKind",
    },
}

# Work queue
ORCHESTRATOR_LEASE_SECONDS = env_int("ORCHESTRATOR_LEASE_SECONDS", 120, minimum=1)
ORCHESTRATOR_MAX_ATTEMPTS = env_int("ORCHESTRATOR_MAX_ATTEMPTS", 3, minimum=1)
# Claims through the 2017 routes: those workers never send heartbeats.
ORCHESTRATOR_MORPHEO_LEASE_SECONDS = env_int("ORCHESTRATOR_MORPHEO_LEASE_SECONDS", 6 * 3600, minimum=1)
# A task back to the queue after a retryable failure or an expired lease waits
# base x 2^(attempt - 1) seconds, at most the cap, times a jitter between 0.5 and 1.
ORCHESTRATOR_RETRY_BASE_SECONDS = env_int("ORCHESTRATOR_RETRY_BASE_SECONDS", 10, minimum=0)
ORCHESTRATOR_RETRY_MAX_SECONDS = env_int("ORCHESTRATOR_RETRY_MAX_SECONDS", 3600, minimum=0)
# A claim older than this fails (run_time_exceeded), heartbeats or not; a problem may set less.
ORCHESTRATOR_MAX_RUN_SECONDS = env_int("ORCHESTRATOR_MAX_RUN_SECONDS", 24 * 3600, minimum=1)

# Push to a 2017 Morpheo Compute (morpheo/outbox.py, `manage.py push_compute`): each task
# made todo is POSTed to <url>/learn or <url>/pred. Unset: nothing is pushed.
ORCHESTRATOR_COMPUTE_URL = env_url("ORCHESTRATOR_COMPUTE_URL")
ORCHESTRATOR_COMPUTE_TIMEOUT_SECONDS = env_int("ORCHESTRATOR_COMPUTE_TIMEOUT_SECONDS", 10, minimum=1)
# After a failed delivery: base x 2^(failures - 1) seconds, at most the cap, times a jitter
# between 0.5 and 1 (the whole dispatcher waits so while the Compute is down or answers 5xx).
ORCHESTRATOR_COMPUTE_RETRY_BASE_SECONDS = env_int("ORCHESTRATOR_COMPUTE_RETRY_BASE_SECONDS", 1, minimum=1)
ORCHESTRATOR_COMPUTE_RETRY_MAX_SECONDS = env_int("ORCHESTRATOR_COMPUTE_RETRY_MAX_SECONDS", 300, minimum=1)

# GET /metrics answers operators only, unless this is set (a scraper without a token).
ORCHESTRATOR_METRICS_PUBLIC = env_bool("ORCHESTRATOR_METRICS_PUBLIC", default=False)

# Production hardening; `manage.py check --deploy` passes with these and DEBUG off.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Load balancers and Prometheus probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 30, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # As cookiecutter-django: opt in to browsers' preload lists unless the deployment says not.
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOG_JSON = env_bool("ORCHESTRATOR_LOG_JSON", default=False)
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_JSON else "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("ORCHESTRATOR_LOG_LEVEL", "INFO")},
    "loggers": {
        # Through the root's handler only: Django's own console handler on this logger
        # printed each django.request line (4xx, 5xx, tracebacks) a second time in debug.
        # runserver's access lines (django.server) keep Django's handler and do not propagate.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # pgserver logs every pg_ctl call, including at interpreter exit.
        "pgserver": {"level": "WARNING"},
    },
}
