"""The test suite's settings: production settings, plus what a test run supplies itself.

A throw-away secret key, the embedded PostgreSQL when DATABASE_URL is unset, plain HTTP
for the test client, no retry back-off unless a test sets one, and static files named as they are in the apps (the suite runs no
`collectstatic`, without which the production storage cannot name a file: the admin and
the API docs would fail; tests/api/test_docs_static.py collects with the production
storage). Everything else is exactly as deployed.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("ORCHESTRATOR_EMBEDDED_DB", "1")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# A task back from an expired lease or a retryable failure is claimable at once: the
# back-off's own tests (tests/queue/test_retries.py) set a base; every other test sees the
# queue without waiting.
os.environ.setdefault("ORCHESTRATOR_RETRY_BASE_SECONDS", "0")
# Race and load tests run dozens of threads in this process, each with a connection of its
# own, as the workers they stand for; no pool (the server processes of tests/live.py
# inherit this; the tests of the pool set it).
os.environ.setdefault("DJANGO_DB_POOL_SIZE", "0")

from orchestrator_site.settings import *  # noqa: E402,F403

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

# Password hashing dominates fixture set-up time; tests do not need its cost.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
