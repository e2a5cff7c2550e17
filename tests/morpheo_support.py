"""Callers of the 2017 routes: users made by `createclient --password`, speaking HTTP Basic."""

import base64
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient


def basic_header(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


@dataclass
class Morpheo:
    """A 2017 client: JSON over HTTP Basic, paths at the root."""

    http: APIClient
    worker: uuid.UUID | None

    def get(self, path: str, **params: Any):
        return self.http.get(path, params)

    def post(self, path: str, body: Any = None):
        return self.http.post(path, body if body is not None else {}, format="json")


def morpheo_caller(name: str, role: str, password: str = "s3cret-pass-word") -> Morpheo:
    out = io.StringIO()
    call_command("createclient", name, role=role, password=password, stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=basic_header(name, password))
    return Morpheo(http=http, worker=uuid.UUID(lines["worker"]) if "worker" in lines else None)


@pytest.fixture
def m_client(db: Any) -> Morpheo:
    return morpheo_caller("analytics", "client")


@pytest.fixture
def m_compute(db: Any) -> Morpheo:
    return morpheo_caller("compute", "compute")


@pytest.fixture
def m_operator(db: Any) -> Morpheo:
    return morpheo_caller("operator", "operator")


def new_uuids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def post_problem(caller: Morpheo, *, test: list[str] | None = None, size: int = 2) -> str:
    pk = str(uuid.uuid4())
    r = caller.post("/problem", {"uuid": pk, "workflow": str(uuid.uuid4()),
                                 "test_dataset": test if test is not None else new_uuids(2),
                                 "size_train_dataset": size})
    assert r.status_code == 201, r.content
    return pk
