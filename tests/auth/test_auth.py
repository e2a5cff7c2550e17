"""Authentication (401), roles (403), sessions and the browsable API, and bodies that are
not JSON: every one answers a clear 4xx, never a 500."""

import base64
import io
import uuid

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import LearnupletFactory, PredupletFactory, ProblemFactory

API = "/api/v1"
U = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"

READS = ["/problems/", f"/problems/{U}/", f"/problems/{U}/leaderboard/", "/algos/", f"/algos/{U}/",
         "/data/", f"/data/{U}/", "/learnuplets/", f"/learnuplets/{U}/", "/preduplets/",
         f"/preduplets/{U}/"]
WRITES = ["/problems/", "/algos/", "/data/", "/preduplets/", "/learnuplets/claim/",
          f"/learnuplets/{U}/claim/", f"/learnuplets/{U}/heartbeat/", f"/learnuplets/{U}/result/",
          "/preduplets/claim/", f"/preduplets/{U}/claim/", f"/preduplets/{U}/heartbeat/",
          f"/preduplets/{U}/result/"]
UPLOADER_WRITES = WRITES[:4]
WORKER_WRITES = WRITES[4:]
# Endpoints that read a JSON body.
BODY_WRITES = ["/problems/", "/algos/", "/data/", "/preduplets/", f"/learnuplets/{U}/heartbeat/",
               f"/learnuplets/{U}/result/", f"/preduplets/{U}/heartbeat/", f"/preduplets/{U}/result/"]


def with_token(key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return http


@pytest.fixture
def plain_static(settings):
    # Production serves hashed names from collectstatic's manifest; tests have not run it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# 401

@pytest.mark.parametrize("path", READS)
def test_it_answers_401_to_reads_without_credentials(anonymous, db, path):
    r = anonymous.get(f"{API}{path}")
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("path", WRITES)
def test_it_answers_401_to_writes_without_credentials(anonymous, db, path):
    assert anonymous.post(f"{API}{path}", {}, format="json").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Token not-a-real-key",
        "Token " + "ab" * 32,
        "Token",
        "Token two parts",
        "Token abc\x00def",
        "Token " + "é" * 20,
    ],
)
def test_it_answers_401_to_a_bad_token(db, header):
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=header)
    r = http.get(f"{API}/problems/")
    assert r.status_code == 401
    assert "detail" in r.json()


def test_it_answers_401_to_http_basic_on_v1(uploader):
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"uploader:uploader-pw-123").decode())
    assert http.get(f"{API}/problems/").status_code == 401


def test_it_answers_401_once_revoketokens_has_revoked_the_token(uploader):
    assert uploader.get(f"{API}/problems/").status_code == 200
    call_command("revoketokens", "uploader", stdout=io.StringIO())
    assert uploader.get(f"{API}/problems/").status_code == 401


def test_it_answers_401_to_a_deactivated_user(uploader):
    uploader.client.user.is_active = False
    uploader.client.user.save()
    assert uploader.get(f"{API}/problems/").status_code == 401


# 403

@pytest.mark.parametrize("path", UPLOADER_WRITES)
def test_it_forbids_compute_workers_to_register(worker, path):
    assert worker.post(f"{API}{path}", {}).status_code == 403


@pytest.mark.parametrize("path", WORKER_WRITES)
def test_it_forbids_clients_to_work_on_tasks(uploader, path):
    LearnupletFactory.create(uuid=U)
    PredupletFactory.create(uuid=U)
    r = uploader.post(f"{API}{path}", {"attempt": 1, "status": "failed"})
    assert r.status_code == 403
    assert "detail" in r.json()


def test_it_forbids_a_user_without_a_role(db):
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    user = get_user_model().objects.create_user("nobody")
    _, key = AuthToken.objects.create(user=user, expiry=None)
    assert with_token(key).get(f"{API}/problems/").status_code == 403


@pytest.mark.parametrize("role", [Role.CLIENT, Role.COMPUTE, Role.OPERATOR])
def test_it_lets_every_role_read(callers, role):
    for path in ("/problems/", "/algos/", "/data/", "/learnuplets/", "/preduplets/"):
        assert callers[role].get(f"{API}{path}").status_code == 200


def test_it_lets_an_operator_claim(operator):
    assert operator.post(f"{API}/learnuplets/claim/").status_code == 204
    assert operator.post(f"{API}/preduplets/claim/").status_code == 204


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("path", [f"/problems/{U}/", f"/algos/{U}/", f"/data/{U}/", f"/learnuplets/{U}/"])
def test_it_changes_no_record_through_other_methods(operator, method, path):
    r = getattr(operator.http, method)(f"{API}{path}", {}, format="json")
    if (method, path) == ("patch", f"/problems/{U}/"):
        assert r.status_code == 404  # operators set a problem's priority (issue 16): this one is unknown
    else:
        assert r.status_code == 405


# Sessions and the browsable API

def test_it_serves_the_browsable_api_to_an_operator_logged_in_by_session(operator, plain_static):
    ProblemFactory.create()
    browser = APIClient()
    r = browser.post("/api-auth/login/", {"username": "ops", "password": "ops-pw-123456", "next": "/api/v1/"})
    assert r.status_code == 302
    for path in ("/", "/problems/", "/learnuplets/", "/data/"):
        r = browser.get(f"{API}{path}", HTTP_ACCEPT="text/html")
        assert r.status_code == 200, path
        assert r["Content-Type"].startswith("text/html")


def test_it_answers_json_to_a_session_without_an_html_accept(operator):
    browser = APIClient()
    browser.force_login(operator.client.user)
    r = browser.get(f"{API}/problems/")
    assert r.status_code == 200 and r.json()["count"] == 0


def test_it_requires_a_csrf_token_for_session_writes(operator):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(operator.client.user)
    r = browser.post(f"{API}/problems/", {}, format="json")
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]


def test_it_does_not_need_csrf_for_token_writes(operator):
    http = APIClient(enforce_csrf_checks=True)
    http.credentials(HTTP_AUTHORIZATION=f"Token {operator.token}")
    body = {"workflow": str(uuid.uuid4()), "test_dataset": [], "size_train_dataset": 1}
    assert http.post(f"{API}/problems/", body, format="json").status_code == 201


# Schema, docs and health (no authentication: see the contract note in the report)

def test_it_serves_the_openapi_schema_without_credentials(anonymous, db):
    r = anonymous.get(f"{API}/schema/")
    assert r.status_code == 200
    assert b"openapi: 3" in r.content and b"/api/v1/learnuplets/{uuid}/result/" in r.content


def test_it_describes_token_authentication_in_the_schema(anonymous, db):
    assert b"knoxApiToken" in anonymous.get(f"{API}/schema/").content


def test_it_serves_swagger_ui(anonymous, db):
    r = anonymous.get(f"{API}/docs/")
    assert r.status_code == 200 and b"swagger" in r.content.lower()


def test_it_answers_health_without_credentials(anonymous, db):
    r = anonymous.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


# Bodies that are not a JSON object

@pytest.mark.parametrize("path", BODY_WRITES)
@pytest.mark.parametrize(
    "raw", [b'{"workflow": ', b"\xff\xfe{}", '{"name": "\u00e9"}'.encode("latin-1"), b"NaN", b'{"attempt": NaN}', b""]
)
def test_it_answers_400_to_a_body_that_is_not_json(operator, path, raw):
    r = operator.http.post(f"{API}{path}", raw, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()


@pytest.mark.parametrize("path", BODY_WRITES)
def test_it_answers_400_to_a_json_body_that_is_not_an_object(operator, path):
    r = operator.http.post(f"{API}{path}", b"[1, 2]", content_type="application/json")
    assert r.status_code == 400


def test_it_answers_415_to_a_form_body(operator):
    r = operator.http.post(f"{API}/problems/", "workflow=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


def test_it_answers_413_to_an_oversized_body(operator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    problem = ProblemFactory.create()
    many = [str(uuid.uuid4()) for _ in range(100)]
    r = operator.post(f"{API}/data/", {"uuid": many, "problems": [str(problem.uuid)]})
    assert r.status_code == 413

