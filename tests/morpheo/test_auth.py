"""The 2017 routes: HTTP Basic with the createclient password, and the same roles as v1."""

import base64
import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.factories import LearnupletFactory, ProblemFactory
from tests.morpheo_support import basic_header, m_client, m_compute, m_operator, post_problem  # noqa: F401

UPLOADS = ["/problem", "/algo", "/data", "/prediction"]


def reports() -> list[str]:
    return [f"/worker/learnuplet/{uuid.uuid4()}", f"/learndone/{uuid.uuid4()}", f"/preddone/{uuid.uuid4()}"]


@pytest.mark.parametrize("path", ["/problem", "/learnuplet", f"/data/{uuid.uuid4()}"])
def test_it_answers_401_with_a_basic_challenge_without_credentials(db, path):
    r = APIClient().get(path)
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == 'Basic realm="morpheo"'
    assert "Error" in r.json()


@pytest.mark.parametrize("path", [*UPLOADS, f"/learndone/{uuid.uuid4()}"])
def test_it_answers_401_to_an_anonymous_write(db, path):
    assert APIClient().post(path, {}, format="json").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        basic_header("analytics", "not-the-password"),
        basic_header("nobody", "s3cret-pass-word"),
        basic_header("analy\x00tics", "s3cret-pass-word"),
        basic_header("analytics", "s3cret-pass-word\x00"),
        "Basic not-base64!",
        "Basic",
    ],
)
def test_it_answers_401_to_wrong_or_malformed_credentials(m_client, header):  # noqa: F811
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=header)
    r = http.get("/problem")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Basic")


def test_it_does_not_take_v1_tokens(uploader):
    r = uploader.get("/problem")
    assert r.status_code == 401


def test_it_lets_a_client_read_with_its_password(m_client):  # noqa: F811
    assert m_client.get("/problem").status_code == 200


@pytest.mark.parametrize("path", UPLOADS)
def test_it_forbids_a_compute_worker_to_register(m_compute, path):  # noqa: F811
    r = m_compute.post(path, {})
    assert r.status_code == 403
    assert "Error" in r.json()


@pytest.mark.parametrize("path", reports())
def test_it_forbids_a_client_to_claim_or_report(m_client, path):  # noqa: F811
    r = m_client.post(path, {"worker": str(uuid.uuid4()), "status": "failed"})
    assert r.status_code == 403


def test_it_forbids_a_user_without_a_role(db):
    get_user_model().objects.create_user("plain", password="plain-pass-123")
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=basic_header("plain", "plain-pass-123"))
    assert http.get("/problem").status_code == 403


def test_it_lets_an_operator_register(m_operator):  # noqa: F811
    post_problem(m_operator)


def test_it_lets_an_operator_claim_and_report(m_operator):  # noqa: F811
    task = LearnupletFactory.create()
    r = m_operator.post(f"/worker/learnuplet/{task.pk}", {"worker": str(uuid.uuid4())})
    assert r.status_code == 200, r.json()
    r = m_operator.post(f"/learndone/{task.pk}", {"status": "failed"})
    assert r.status_code == 200, r.json()


def test_it_lets_a_compute_worker_read(m_compute):  # noqa: F811
    problem = ProblemFactory.create()
    r = m_compute.get(f"/problem/{problem.pk}")
    assert r.status_code == 200
    assert r.json()["uuid"] == str(problem.pk)


def test_it_decodes_latin_1_credentials_without_a_500(m_client):  # noqa: F811
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode("é:\xff".encode("latin-1")).decode())
    assert http.get("/problem").status_code == 401



def _basic(name: str, password: str):
    import base64

    from rest_framework.test import APIClient

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{name}:{password}".encode()).decode())
    return http


def test_it_remembers_a_checked_password_so_polling_skips_the_hasher(db):
    from accounts.models import Role
    from accounts.services import client_create
    from morpheo import auth

    client_create(name="poller", role=Role.COMPUTE, password="first-password-1")
    http = _basic("poller", "first-password-1")
    before = len(auth._proofs)

    for _ in range(3):
        assert http.get("/learnuplet").status_code == 200

    assert len(auth._proofs) == before + 1
    assert _basic("poller", "wrong-password").get("/learnuplet").status_code == 401


def test_it_forgets_a_remembered_password_once_it_is_changed(db):
    from django.contrib.auth import get_user_model

    from accounts.models import Role
    from accounts.services import client_create

    client_create(name="poller", role=Role.COMPUTE, password="first-password-1")
    http = _basic("poller", "first-password-1")
    assert http.get("/learnuplet").status_code == 200
    user = get_user_model().objects.get(username="poller")
    user.set_password("second-password-2")
    user.save()

    assert http.get("/learnuplet").status_code == 401
    assert _basic("poller", "second-password-2").get("/learnuplet").status_code == 200


def test_it_refuses_a_remembered_password_of_a_deactivated_user(db):
    from django.contrib.auth import get_user_model

    from accounts.models import Role
    from accounts.services import client_create

    client_create(name="poller", role=Role.COMPUTE, password="first-password-1")
    http = _basic("poller", "first-password-1")
    assert http.get("/learnuplet").status_code == 200
    get_user_model().objects.filter(username="poller").update(is_active=False)

    assert http.get("/learnuplet").status_code == 401
