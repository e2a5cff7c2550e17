import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiClient, Role
from accounts.services import client_create


@dataclass
class Caller:
    """An API client of one role, with its HTTP client authenticated by its token."""

    http: APIClient
    client: ApiClient
    token: str

    @property
    def worker(self) -> uuid.UUID:
        return self.client.worker

    def get(self, path: str, **params: Any):
        return self.http.get(path, params, format="json")

    def post(self, path: str, body: object = None):
        return self.http.post(path, body if body is not None else {}, format="json")


def make_caller(name: str, role: str, password: str | None = None, site: str | None = None) -> Caller:
    client, token = client_create(name=name, role=role, password=password, site=site)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return Caller(http=http, client=client, token=token)


@pytest.fixture
def uploader(db) -> Caller:
    return make_caller("uploader", Role.CLIENT, password="uploader-pw-123")


@pytest.fixture
def worker(db) -> Caller:
    return make_caller("worker", Role.COMPUTE, password="worker-pw-123")


@pytest.fixture
def other_worker(db) -> Caller:
    return make_caller("worker-2", Role.COMPUTE)


@pytest.fixture
def operator(db) -> Caller:
    return make_caller("ops", Role.OPERATOR, password="ops-pw-123456")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def callers(uploader: Caller, worker: Caller, operator: Caller) -> dict[str, Caller]:
    return {Role.CLIENT: uploader, Role.COMPUTE: worker, Role.OPERATOR: operator}


@pytest.fixture
def admin_browser(operator: Caller, settings) -> Client:
    """The operator logged in to the admin. Static files are served without the manifest
    that `collectstatic` writes in production."""
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    browser = Client()
    browser.force_login(operator.client.user)
    return browser


@pytest.fixture(scope="session", autouse=True)
def _stop_wakeups(django_db_setup, django_db_blocker):
    """The wake-up listener holds a connection to the test database: closed before the
    database is dropped."""
    yield
    from tasks.wakeups import WAKEUPS

    WAKEUPS.stop()
