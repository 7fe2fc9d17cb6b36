"""Django settings, read from the environment (or a `.env` file beside manage.py) only.

Every name read here is listed, with a comment, in `.env.example`; the README has the table.
Nothing in this module has a credential as default. With DEBUG off, a missing or development
SECRET_KEY and an empty ALLOWED_HOSTS stop the process at start-up with a message naming the fix.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv
from kombu import Exchange, Queue

from esim_status_checker.env import (
    env_amounts,
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_optional_bool,
    env_str,
)
from providers.base import PROVIDER_NAMES

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# OS environment variables win over `.env` (override=False). Tests switch the file off.
if env_bool("ESIM_READ_DOTENV", True):
    load_dotenv(BASE_DIR / ".env", override=False)

# ---------------------------------------------------------------------------------------------
# Core Django
# ---------------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)

DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = DEV_SECRET_KEY
if not DEBUG and (not SECRET_KEY or SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of 32 or more characters when DEBUG=False. "
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))' "
        "and put it in the environment or .env (or set DEBUG=True for local development)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],0.0.0.0,testserver" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must list the host names this service answers to when DEBUG=False, "
        "e.g. ALLOWED_HOSTS=api.example.com"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "pulse",
]

MIDDLEWARE = [
    "pulse.middleware.RequestIdMiddleware",
    "pulse.metrics.MetricsMiddleware",
    "pulse.middleware.NulByteGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "esim_status_checker.urls"
WSGI_APPLICATION = "esim_status_checker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project templates win over the apps': admin/base_site.html adds the sales-pause banner.
        "DIRS": [BASE_DIR / "esim_status_checker" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pulse.context_processors.sales_pauses",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (runserver, provider fan-out) write to one file: wait for the lock instead
    # of failing at once with "database is locked". IMMEDIATE transactions take the write lock at
    # BEGIN, so a read-then-write transaction never has to upgrade (which SQLite refuses at once).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# System check ids to accept on purpose (e.g. pulse.W006 for a single-process deployment without
# Redis); `manage.py check --deploy` lists them all (docs/reliability.md).
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a locked-out username+IP before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve the admin and Swagger UI assets straight from the app directories under gunicorn,
# so a fresh clone works without a collectstatic step.
WHITENOISE_USE_FINDERS = True
# With finders on, an absent STATIC_ROOT (no collectstatic yet) is expected, not a problem.
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

# ---------------------------------------------------------------------------------------------
# Cache: Redis when REDIS_URL is set (shared by every worker), else this process's memory.
# ---------------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "esim_status_checker.cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "esim"),
            "TIMEOUT": 300,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "esim-status-checker",
            "TIMEOUT": 300,
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }

# ---------------------------------------------------------------------------------------------
# HTTP security (driven by settings so `check --deploy` is clean in production)
# ---------------------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health probe of a load balancer speaks plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/esim/health/$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# ---------------------------------------------------------------------------------------------
# Admin login brute force (django-axes; docs/operations.md "Locked out of the admin")
# ---------------------------------------------------------------------------------------------
# Failed logins of one username from one client IP before that pair is locked out.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(f"AXES_FAILURE_LIMIT must be 1 or more, got {AXES_FAILURE_LIMIT}")
# Minutes a locked-out pair waits; 0 = locked until staff unlock it (axes_reset_username).
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
if AXES_COOLOFF_MINUTES < 0:
    raise ImproperlyConfigured(f"AXES_COOLOFF_MINUTES must be 0 or more, got {AXES_COOLOFF_MINUTES}")
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES) if AXES_COOLOFF_MINUTES else None
# Username and IP together: a guesser is stopped without locking the real person out everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The same client IP as the rate limits: X-Forwarded-For only as far as TRUSTED_PROXY_COUNT allows.
AXES_CLIENT_IP_CALLABLE = "pulse.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "pulse/admin_locked_out.html"
# Attempts live in the database, so every worker sees the same count.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"

# ---------------------------------------------------------------------------------------------
# Frontend and CORS
# ---------------------------------------------------------------------------------------------
FRONTEND_URL = env_str("FRONTEND_URL", "http://localhost:3000").rstrip("/")
# Where this API's own pages live (the sandbox checkout page, the alert pages), e.g. https://api.example.com. Every
# URL the service hands out is built from this or FRONTEND_URL, never from the request's Host header.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:8000" if DEBUG else "").rstrip("/")
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "http://localhost:3000")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
# A browser client may name itself on create with Idempotency-Key (docs/renewals.md).
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key")

# ---------------------------------------------------------------------------------------------
# Django REST framework and OpenAPI
# ---------------------------------------------------------------------------------------------
# Proxies in front of the app that append to X-Forwarded-For: the client IP rule shared by the rate
# limits and the admin lockout (pulse.client_ip). 0 = the client is the connection's address and the
# header is ignored; N = the N-th address from the right.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, answering 400 malformed_json (not 500) for bodies nested too deeply.
    "DEFAULT_PARSER_CLASSES": ["pulse.parsers.ApiJSONParser"],
    # The API is public by contract (the React frontend calls it without credentials);
    # staff work in the Django admin, which has its own session login.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["pulse.throttles.ScopedIpThrottle"],
    # The same rule as pulse.client_ip for any DRF code that reads it (0 = REMOTE_ADDR, never None:
    # None would make DRF trust the whole client-controlled X-Forwarded-For header).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "pulse.exception_handlers.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# Per client IP and endpoint ("N/sec|min|hour|day"); empty switches a limit off. The webhook is exempt.
THROTTLE_RATES = {
    "check": env_str("THROTTLE_CHECK", "30/min", keep_blank=True),
    "options": env_str("THROTTLE_OPTIONS", "60/min", keep_blank=True),
    "create": env_str("THROTTLE_CREATE", "10/min", keep_blank=True),
    "confirm": env_str("THROTTLE_CONFIRM", "60/min", keep_blank=True),
    "currency": env_str("THROTTLE_CURRENCY", "120/min", keep_blank=True),
    # Alert subscriptions: per client IP, and per e-mail address (pulse.throttles.AlertEmailThrottle).
    "alerts": env_str("THROTTLE_ALERTS", "10/hour", keep_blank=True),
    "alerts_email": env_str("THROTTLE_ALERTS_EMAIL", "5/day", keep_blank=True),
    # The confirm and unsubscribe pages (signed links), per client IP.
    "alert_links": env_str("THROTTLE_ALERT_LINKS", "60/min", keep_blank=True),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "eSIM Status Checker API",
    "DESCRIPTION": (
        "Unified eSIM status across AirHub, eSIMCard and TravelRoam, renewal bundles priced "
        "server-side, Stripe Checkout payments and exactly-once provider top-ups."
    ),
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every currency field lists the same sale currencies: one component for them.
    "ENUM_NAME_OVERRIDES": {"CurrencyEnum": "pulse.views.input_fields.sale_currency_codes"},
}

# ---------------------------------------------------------------------------------------------
# Providers
# ---------------------------------------------------------------------------------------------
AIRHUB_BASE_URL = env_str("AIRHUB_BASE_URL", "https://api.airhubapp.com").rstrip("/")
AIRHUB_USERNAME = env_str("AIRHUB_USERNAME")
AIRHUB_PASSWORD = env_str("AIRHUB_PASSWORD")
ESIMCARD_BASE_URL = env_str("ESIMCARD_BASE_URL", "https://portal.esimcard.com/api/developer/reseller").rstrip(
    "/"
)
ESIMCARD_EMAIL = env_str("ESIMCARD_EMAIL")
ESIMCARD_PASSWORD = env_str("ESIMCARD_PASSWORD")
TRAVELROAM_BASE_URL = env_str("TRAVELROAM_BASE_URL", "https://travelroam.com/api/whitelabel").rstrip("/")
TRAVELROAM_API_KEY = env_str("TRAVELROAM_API_KEY")
TRAVELROAM_CLIENT_SECRET = env_str("TRAVELROAM_CLIENT_SECRET")
# TravelRoam prices its catalogue in the account's currency, which the API does not name.
TRAVELROAM_ACCOUNT_CURRENCY = env_str("TRAVELROAM_ACCOUNT_CURRENCY", "USD").upper()
# A TravelRoam eSIM's network location (operator and country where it last attached) changes rarely:
# each process re-reads it at most this often (seconds; 0 = on every check). Status and usage are
# always read live.
TRAVELROAM_LOCATION_MAX_AGE = env_float("TRAVELROAM_LOCATION_MAX_AGE", 300.0)

_ANY_PROVIDER_CREDENTIAL = any(
    (AIRHUB_USERNAME, AIRHUB_PASSWORD, ESIMCARD_EMAIL, ESIMCARD_PASSWORD, TRAVELROAM_API_KEY)
)
_sandbox = env_optional_bool("ESIM_SANDBOX")
# Never silently on in production: DEBUG=False needs an explicit ESIM_SANDBOX=true.
ESIM_SANDBOX = _sandbox if _sandbox is not None else (DEBUG and not _ANY_PROVIDER_CREDENTIAL)
# Where the simulators keep their state, so that every process of this deployment (web workers,
# management commands, background workers) sees one simulated world: a file path (relative paths are
# under the project), or "memory" for a separate world per process (the test settings' default).
# `manage.py sandbox_reset` starts it afresh (providers/sandbox/README.md).
_sandbox_state = env_str("ESIM_SANDBOX_STATE", "var/sandbox-world.sqlite3")
ESIM_SANDBOX_STATE = "" if _sandbox_state.lower() == "memory" else str(BASE_DIR / _sandbox_state)

PROVIDER_TIMEOUT = env_float("PROVIDER_TIMEOUT", 10.0)
PROVIDER_CONNECT_TIMEOUT = env_float("PROVIDER_CONNECT_TIMEOUT", min(3.05, PROVIDER_TIMEOUT))
STATUS_DEADLINE = env_float("STATUS_DEADLINE", 12.0)
STATUS_CACHE_SECONDS = env_int("STATUS_CACHE_SECONDS", 60)
# Once one provider has found the eSIM, the others get this long to add what they know.
STATUS_GRACE_SECONDS = env_float("STATUS_GRACE_SECONDS", 2.0)
# ...but a provider still searching without a stored reference (usually building a proof of absence,
# which can take many round trips on a large account) gets only this long; its result is merged into
# the cached answer when it arrives.
STATUS_SEARCH_GRACE_SECONDS = env_float("STATUS_SEARCH_GRACE_SECONDS", 0.01)
# Lifetime of the provider list indexes (eSIMCard ICCID index, AirHub order history): a stale index
# keeps answering while one worker rebuilds it in the background (or `manage.py rebuild_indexes`).
PROVIDER_INDEX_MAX_AGE = env_float("PROVIDER_INDEX_MAX_AGE", 3600.0)
# How long "provider X does not know ICCID Y" is remembered, so checks skip that provider's search.
STATUS_NOT_FOUND_CACHE_SECONDS = env_int("STATUS_NOT_FOUND_CACHE_SECONDS", 300)
ICCID_REQUIRE_LUHN = env_bool("ICCID_REQUIRE_LUHN", True)
# Circuit breaker per provider (state shared through the cache): open after this many consecutive
# availability failures, try again after the cooldown.
PROVIDER_BREAKER_THRESHOLD = env_int("PROVIDER_BREAKER_THRESHOLD", 5)
PROVIDER_BREAKER_COOLDOWN = env_float("PROVIDER_BREAKER_COOLDOWN", 30.0)

# Bearer token for GET /metrics (Prometheus). With DEBUG=False the endpoint is off without it.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# ---------------------------------------------------------------------------------------------
# Payments, pricing, currency
# ---------------------------------------------------------------------------------------------
STRIPE_PUBLIC_KEY = env_str("STRIPE_PUBLIC_KEY")
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_CURRENCY = env_str("STRIPE_CURRENCY", "USD").upper()
STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY") or ("sandbox" if DEBUG and not STRIPE_SECRET_KEY else "stripe")
if PAYMENT_GATEWAY not in {"stripe", "sandbox"}:
    raise ImproperlyConfigured(f"PAYMENT_GATEWAY must be 'stripe' or 'sandbox', got {PAYMENT_GATEWAY!r}")
# The sandbox gateway takes no money: with DEBUG off it needs this explicit opt-in (CI, demos).
SANDBOX_PAYMENTS_ALLOWED = env_bool("SANDBOX_PAYMENTS_ALLOWED", False)
if PAYMENT_GATEWAY == "sandbox" and not DEBUG and not SANDBOX_PAYMENTS_ALLOWED:
    raise ImproperlyConfigured(
        "PAYMENT_GATEWAY=sandbox takes no money and is refused when DEBUG=False. Set PAYMENT_GATEWAY=stripe "
        "with STRIPE_SECRET_KEY, or SANDBOX_PAYMENTS_ALLOWED=true for a CI or demo deployment."
    )
# Largest payment webhook body accepted, bytes: Stripe events are a few KB; anything near this is
# refused (413) from its Content-Length before it is read or its signature computed.
PAYMENT_WEBHOOK_MAX_BYTES = env_int("PAYMENT_WEBHOOK_MAX_BYTES", 512 * 1024)
# Checkout Session lifetime; Stripe accepts 30 minutes to 24 hours.
STRIPE_CHECKOUT_EXPIRY_MINUTES = min(max(env_int("STRIPE_CHECKOUT_EXPIRY_MINUTES", 60), 30), 1440)
# Read timeout of one Stripe API call, seconds (connect: the smaller of 3.05 and this).
STRIPE_TIMEOUT = env_float("STRIPE_TIMEOUT", 15.0)
# The SDK's own retries of a failed call (connection error, 409, 5xx), reusing our idempotency key.
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2)

CURRENCYFREAKS_API_KEY = env_str("CURRENCYFREAKS_API_KEY")
CURRENCYFREAKS_API_BASE_URL = env_str(
    "CURRENCYFREAKS_API_BASE_URL", "https://api.currencyfreaks.com/v2.0"
).rstrip("/")
SUPPORTED_CURRENCIES = [code.upper() for code in env_list("SUPPORTED_CURRENCIES", "USD,EUR")]
EXCHANGE_RATE_CACHE_SECONDS = env_int("EXCHANGE_RATE_CACHE_SECONDS", 3600)

RENEWAL_MARKUP_PERCENT = env_decimal("RENEWAL_MARKUP_PERCENT", "30")
RENEWAL_AUTO_REFUND = env_bool("RENEWAL_AUTO_REFUND", True)
# How long a worker owns an order while it places the top-up; after that the reconciler may take over.
FULFILMENT_LEASE_SECONDS = env_int("FULFILMENT_LEASE_SECONDS", 300)
# Top-up attempts before an order with an unclear provider outcome goes to staff.
RENEWAL_MAX_ATTEMPTS = env_int("RENEWAL_MAX_ATTEMPTS", 5)
# Minutes the reconciler keeps asking the provider about a top-up whose outcome is unknown (timeout,
# lost answer) when the provider cannot tell, counted from the claim after payment (or a staff
# retry); then the order goes to MANUAL_REVIEW instead of waiting in FULFILLING for ever. At least 1.
RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES = max(env_int("RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES", 15), 1)

# ---------------------------------------------------------------------------------------------
# Background work: Celery worker + beat (docs/background.md)
# ---------------------------------------------------------------------------------------------
# The broker: Redis or RabbitMQ (amqp://) URL. Default: REDIS_URL when set, else kombu's file-system
# transport in CELERY_FILESYSTEM_DIR, which needs no server but only works when the web process and
# the worker share one machine (the embedded `make run` setup; `check --deploy` warns about it).
CELERY_FILESYSTEM_DIR = Path(env_str("CELERY_FILESYSTEM_DIR", str(BASE_DIR / "var" / "celery")))
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
# Seconds to wait for the broker to accept a connection, and (Redis) for an answer. They bound how
# long a webhook can wait to hand a task over; when that fails the order stays PAID and the
# reconciler (or the customer's confirm call) places the top-up.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 1.0)
CELERY_BROKER_SOCKET_TIMEOUT = env_float("CELERY_BROKER_SOCKET_TIMEOUT", 2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # seconds between looks at the folder: a paid order waits at most this
    }
elif CELERY_BROKER_URL.startswith(("redis", "rediss")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
        # More than the 1 s a worker's BRPOP blocks for.
        "socket_timeout": max(CELERY_BROKER_SOCKET_TIMEOUT, 1.5),
        # An unacknowledged task (acks late) goes back to the queue after this many seconds; it
        # must exceed the longest task time limit or a running task would be handed out twice.
        "visibility_timeout": 3600,
    }
elif CELERY_BROKER_URL.startswith(("amqp", "pyamqp")):
    # RabbitMQ confirms each published task, so "handed over" means stored by the broker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Queue names start with this, so deployments can share a broker (Redis: use another DB instead).
CELERY_QUEUE_PREFIX = env_str("CELERY_QUEUE_PREFIX", "esim")
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}.jobs"
CELERY_FULFILMENT_QUEUE = f"{CELERY_QUEUE_PREFIX}.fulfilment"
# Each queue with its own exchange and key: Celery would otherwise bind both to the default key.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (CELERY_TASK_DEFAULT_QUEUE, CELERY_FULFILMENT_QUEUE)
]
# Top-ups have their own queue: a long catalogue sync never delays a paid order.
CELERY_TASK_ROUTES = {"pulse.tasks.fulfil_order": {"queue": CELERY_FULFILMENT_QUEUE}}
CELERY_CONTROL_EXCHANGE = f"{CELERY_QUEUE_PREFIX}.control"
# At-least-once: a task is acknowledged after it ran, and handed out again when its worker dies.
# Every task is safe to run twice (compare-and-set transitions, leases, claimed e-mails).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Hard and soft time limits of a scheduled job, seconds (the soft one raises inside the task).
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 900)
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_TASK_TIME_LIMIT - 30, 1)
# Hard time limit of one top-up task, seconds; must stay below FULFILMENT_LEASE_SECONDS.
CELERY_FULFIL_TIME_LIMIT = env_int("CELERY_FULFIL_TIME_LIMIT", 120)
CELERY_TASK_IGNORE_RESULT = True  # no result backend: state lives in our tables
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # settings.LOGGING stays in charge
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(CELERY_FILESYSTEM_DIR / "beat-schedule")
)

# Scheduled jobs (Celery beat; `manage.py run_job NAME` for cron), seconds between runs; 0 = off.
SCHEDULE_RECONCILER_SECONDS = env_int("SCHEDULE_RECONCILER_SECONDS", 60)
SCHEDULE_CATALOG_SYNC_SECONDS = env_int("SCHEDULE_CATALOG_SYNC_SECONDS", 6 * 3600)
SCHEDULE_EMAIL_SWEEP_SECONDS = env_int("SCHEDULE_EMAIL_SWEEP_SECONDS", 300)
SCHEDULE_ESIM_INDEX_SECONDS = env_int("SCHEDULE_ESIM_INDEX_SECONDS", 300)
# The usage-alert scanner (docs/alerts.md): one pass per tick; each pass does at most the budget.
SCHEDULE_ALERT_SCAN_SECONDS = env_int("SCHEDULE_ALERT_SCAN_SECONDS", 60)
SCHEDULE_WALLETS_SECONDS = env_int("SCHEDULE_WALLETS_SECONDS", 600)
# Writes the worker's own status-lookup counts and prunes old hourly rows (pulse.services.lookup_stats).
SCHEDULE_LOOKUP_STATS_SECONDS = env_int("SCHEDULE_LOOKUP_STATS_SECONDS", 300)
# Each process writes its status-lookup counts (staff overview) this long after the first unwritten
# one, seconds; 0 = only the lookup_stats job writes them (the test suite).
LOOKUP_STATS_FLUSH_SECONDS = env_int("LOOKUP_STATS_FLUSH_SECONDS", 60)
# Hourly lookup rows older than this are pruned by the lookup_stats job, days; 0 = keep them all.
LOOKUP_STATS_RETENTION_DAYS = env_int("LOOKUP_STATS_RETENTION_DAYS", 400)
# PAID orders no worker has claimed after this long are fulfilled by the reconciler, seconds.
RECONCILER_STUCK_AFTER_SECONDS = env_int("RECONCILER_STUCK_AFTER_SECONDS", 60)
# Confirm-payment waits up to CONFIRM_WAIT_SECONDS for the background top-up to finish; if no worker
# has claimed the order after CONFIRM_FULFIL_AFTER_SECONDS, confirm places the top-up itself.
CONFIRM_WAIT_SECONDS = env_float("CONFIRM_WAIT_SECONDS", 8.0)
CONFIRM_FULFIL_AFTER_SECONDS = env_float("CONFIRM_FULFIL_AFTER_SECONDS", 2.0)

# Job name -> (seconds between runs, task, arguments). The names are what health and the admin show.
SCHEDULED_JOBS = {
    "reconciler": (SCHEDULE_RECONCILER_SECONDS, "pulse.tasks.reconcile", ()),
    "email_sweep": (SCHEDULE_EMAIL_SWEEP_SECONDS, "pulse.tasks.send_due_emails", ()),
    "esim_index": (SCHEDULE_ESIM_INDEX_SECONDS, "pulse.tasks.rebuild_esim_index", ()),
    "alert_scan": (SCHEDULE_ALERT_SCAN_SECONDS, "pulse.tasks.scan_alerts", ()),
    "check_wallets": (SCHEDULE_WALLETS_SECONDS, "pulse.tasks.check_wallets", ()),
    "lookup_stats": (SCHEDULE_LOOKUP_STATS_SECONDS, "pulse.tasks.flush_lookup_stats", ()),
    **{
        f"catalog_sync:{provider}": (SCHEDULE_CATALOG_SYNC_SECONDS, "pulse.tasks.sync_catalogue", (provider,))
        for provider in PROVIDER_NAMES
    },
}
CELERY_BEAT_SCHEDULE = {
    name: {
        "task": task,
        "schedule": float(seconds),
        "args": args,
        # A run still queued when the next one is due is dropped: no pile-up behind a slow worker.
        "options": {"expires": float(seconds)},
    }
    for name, (seconds, task, args) in SCHEDULED_JOBS.items()
    if seconds > 0
}

# ---------------------------------------------------------------------------------------------
# Usage and expiry alerts (docs/alerts.md)
# ---------------------------------------------------------------------------------------------
# How often each confirmed subscription is looked at (sooner near a threshold or the plan's end), s.
ALERT_SCAN_INTERVAL = env_int("ALERT_SCAN_INTERVAL", 3600)
if ALERT_SCAN_INTERVAL < 60:
    raise ImproperlyConfigured(f"ALERT_SCAN_INTERVAL must be at least 60 seconds, got {ALERT_SCAN_INTERVAL}")
# Provider lookups per minute the scanner may make, whatever the number of subscriptions (answers
# from the status cache are free). 0 stops the scanner's lookups.
ALERT_PROVIDER_BUDGET = env_int("ALERT_PROVIDER_BUDGET", 30)
if ALERT_PROVIDER_BUDGET < 0:
    raise ImproperlyConfigured(f"ALERT_PROVIDER_BUDGET must be 0 or more, got {ALERT_PROVIDER_BUDGET}")
# A confirmed subscription ends by itself after this many days.
ALERT_MAX_DAYS = env_int("ALERT_MAX_DAYS", 90)
if ALERT_MAX_DAYS < 1:
    raise ImproperlyConfigured(f"ALERT_MAX_DAYS must be at least 1, got {ALERT_MAX_DAYS}")
# Where the renewal link of an alert e-mail points: FRONTEND_URL + this path ({iccid} is filled in).
ALERT_RENEWAL_PATH = env_str("ALERT_RENEWAL_PATH", "/?iccid={iccid}")
if not ALERT_RENEWAL_PATH.startswith("/"):
    raise ImproperlyConfigured(f"ALERT_RENEWAL_PATH must start with /, got {ALERT_RENEWAL_PATH!r}")

# ---------------------------------------------------------------------------------------------
# E-mail: every standard Django EMAIL_* setting (docs/operations.md, "What the customer receives")
# ---------------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
# Implicit TLS (SMTPS, usually port 465) or STARTTLS (usually 587): one or the other, never both.
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL are both true, and Django then sends no e-mail at all. Port 587 "
        "usually means EMAIL_USE_TLS=true (STARTTLS), port 465 EMAIL_USE_SSL=true (implicit TLS): set the other "
        "one to false."
    )
EMAIL_PORT = env_int("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587)
if not 0 < EMAIL_PORT < 65536:
    raise ImproperlyConfigured(f"EMAIL_PORT must be a port number (1-65535), got {EMAIL_PORT}")
# Client certificate for the SMTP server (PEM files), only if it asks for one; unset = none.
EMAIL_SSL_CERTFILE = env_str("EMAIL_SSL_CERTFILE") or None
EMAIL_SSL_KEYFILE = env_str("EMAIL_SSL_KEYFILE") or None
# Seconds before a silent SMTP server counts as failed; never "wait for ever".
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)
if EMAIL_TIMEOUT <= 0:
    raise ImproperlyConfigured(f"EMAIL_TIMEOUT must be more than 0 seconds, got {EMAIL_TIMEOUT:g}")
# Directory of the file backend (django.core.mail.backends.filebased.EmailBackend), relative to the
# project directory unless absolute. Unset with that backend: `check` reports pulse.E011.
_email_file_path = env_str("EMAIL_FILE_PATH")
EMAIL_FILE_PATH = str(BASE_DIR / _email_file_path) if _email_file_path else None
# Subject prefix of Django's mails to ADMINS/MANAGERS (customer e-mails have their own subjects).
_email_subject_prefix = env_str("EMAIL_SUBJECT_PREFIX", "[eSIM Status Checker]")
EMAIL_SUBJECT_PREFIX = f"{_email_subject_prefix} "
# The Date header in TIME_ZONE instead of UTC.
EMAIL_USE_LOCALTIME = env_bool("EMAIL_USE_LOCALTIME", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "eSIM Support <noreply@example.com>")
# Sender of Django's own error mails to ADMINS; default: the customer sender.
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Provider wallets and the sales pause (docs/operations.md, "Provider wallets and the sales pause").
# Who is e-mailed when a provider's sales pause or its wallet runs low (comma-separated addresses).
STAFF_ALERT_EMAILS = env_list("STAFF_ALERT_EMAILS")
# Low-balance warning per provider, in the wallet's currency: "airhub=50,esimcard=20,travelroam=30"
# (a bare number applies to every provider not named). Unset: no warning (the pause still works).
WALLET_WARN_BELOW = env_amounts("WALLET_WARN_BELOW", PROVIDER_NAMES)
# How long a process trusts its cached copy of which providers are paused (seconds; the database is
# the truth, and a pause or resume clears the shared cache at once).
WALLET_PAUSE_CACHE_SECONDS = env_float("WALLET_PAUSE_CACHE_SECONDS", 5.0)

# ---------------------------------------------------------------------------------------------
# Logging: console + rotating file, optional JSON lines, request id on every line.
# ---------------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FILE = env_str("LOG_FILE", "esim_checker.log", keep_blank=True)
LOG_JSON = env_bool("LOG_JSON", False)

_log_handlers = ["console"]
_handlers: dict[str, dict] = {
    "console": {
        "class": "logging.StreamHandler",
        "formatter": "json" if LOG_JSON else "text",
        "filters": ["request_id"],
    }
}
if LOG_FILE:
    _handlers["file"] = {
        "class": "logging.handlers.RotatingFileHandler",
        "filename": LOG_FILE if Path(LOG_FILE).is_absolute() else str(BASE_DIR / LOG_FILE),
        "maxBytes": env_int("LOG_FILE_MAX_BYTES", 10 * 1024 * 1024),
        "backupCount": env_int("LOG_FILE_BACKUPS", 5),
        "encoding": "utf-8",
        "delay": True,
        "formatter": "json" if LOG_JSON else "text",
        "filters": ["request_id"],
    }
    _log_handlers.append("file")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "esim_status_checker.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "esim_status_checker.logging.JsonFormatter"},
    },
    "handlers": _handlers,
    "root": {"handlers": _log_handlers, "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
    },
}
