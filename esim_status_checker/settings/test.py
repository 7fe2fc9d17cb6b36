"""Settings for the test suite: the same module as production, with safe test defaults.

The database still comes from DATABASE_URL, so `.ci/run` runs the suite on SQLite and PostgreSQL.
A developer's `.env` is ignored so that tests never reach real providers or Stripe.
"""

import os

os.environ["ESIM_READ_DOTENV"] = "false"
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django-0123456789")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("ESIM_SANDBOX", "true")
# Each test process gets its own fast in-memory simulator world; tests that need the shared one opt in
# with override_settings(ESIM_SANDBOX_STATE=<a tmp file>).
os.environ.setdefault("ESIM_SANDBOX_STATE", "memory")
os.environ.setdefault("PAYMENT_GATEWAY", "sandbox")
# Tests run with DEBUG off, so the no-money sandbox gateway needs the explicit opt-in.
os.environ.setdefault("SANDBOX_PAYMENTS_ALLOWED", "true")
# Never sleep through the SDK's retry backoff in tests.
os.environ.setdefault("STRIPE_MAX_NETWORK_RETRIES", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# Not the test client's host ("testserver"), so a test can tell the setting from the request's Host.
os.environ.setdefault("PUBLIC_BASE_URL", "https://api.example.test")
os.environ.setdefault("LOG_FILE", "")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# In-process fakes answer within microseconds of each other: a check waits for every one of them, so
# whole-answer tests are deterministic. Tests of answering without the searching providers set it to 0.
os.environ.setdefault("STATUS_SEARCH_GRACE_SECONDS", "2")
# No timer thread writes status-lookup counts behind a test's back; tests write them explicitly.
os.environ.setdefault("LOOKUP_STATS_FLUSH_SECONDS", "0")
# Tests call the API far more often than a person would; throttle tests set their own rates.
for _scope in ("CHECK", "OPTIONS", "CREATE", "CONFIRM", "CURRENCY", "ALERTS", "ALERTS_EMAIL", "ALERT_LINKS"):
    os.environ.setdefault(f"THROTTLE_{_scope}", "100000/min")

from esim_status_checker.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

# When DATABASE_URL names an SQLite file (as .ci/run does), the test database is a file too, so the
# race tests can share it between threads as they do on PostgreSQL. Without DATABASE_URL the test
# database stays in memory (fast; the race tests skip).
_db = DATABASES["default"]  # noqa: F405
if (
    os.environ.get("DATABASE_URL")
    and _db["ENGINE"].endswith("sqlite3")
    and _db["NAME"] not in ("", ":memory:")
):
    _db["TEST"] = {"NAME": f"{_db['NAME']}.test"}

# Unit tests run Celery tasks inline (errors propagate) and never reach a broker. The real-worker
# tests (tests/reliability/test_celery_worker.py) start `celery worker` processes against Redis.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}

# Confirm-payment waits for the background top-up (8 s in production). With eager tasks nothing runs in
# the background, so a wait only ever ends at its limit (an order left FULFILLING by a timed-out top-up,
# reloaded several times): 1 s keeps those tests short without changing what they assert.
CONFIRM_WAIT_SECONDS = 1.0
CONFIRM_FULFIL_AFTER_SECONDS = 0.2
