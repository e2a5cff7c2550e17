"""The createclient and revoketokens commands, and how tokens are stored."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import ApiClient


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def get_with(key: str, path: str = "/api/v1/problems/") -> int:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return http.get(path).status_code


def test_it_prints_one_token_line_for_a_client(db):
    lines = run("createclient", "alice", "--role", "client")
    assert len(lines) == 1 and lines[0].startswith("token=")
    assert get_with(lines[0].removeprefix("token=")) == 200


def test_it_prints_the_worker_uuid_for_a_compute_client(db):
    lines = run("createclient", "gpu-1", "--role", "compute")
    assert lines[0].startswith("token=") and lines[1].startswith("worker=")
    assert lines[1] == f"worker={ApiClient.objects.get(user__username='gpu-1').worker}"


def test_it_records_the_printed_worker_on_claims(db):
    from tests.factories import LearnupletFactory

    lines = run("createclient", "gpu-1", "--role", "compute")
    LearnupletFactory.create()
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {lines[0].removeprefix('token=')}")
    assert http.post("/api/v1/learnuplets/claim/", {}, format="json").json()["worker"] == lines[1].removeprefix(
        "worker="
    )


def test_it_gives_an_operator_the_admin(db):
    run("createclient", "root", "--role", "operator", "--password", "a-long-password-1")
    user = ApiClient.objects.get(user__username="root").user
    assert user.is_staff and user.is_superuser and user.check_password("a-long-password-1")


def test_it_sets_no_usable_password_without_one(db):
    run("createclient", "alice", "--role", "client")
    assert not ApiClient.objects.get(user__username="alice").user.has_usable_password()


def test_it_refuses_a_duplicate_name(db):
    run("createclient", "alice", "--role", "client")
    with pytest.raises(CommandError, match="alice"):
        run("createclient", "alice", "--role", "compute")
    assert ApiClient.objects.count() == 1


@pytest.mark.parametrize("args", [("createclient", "x", "--role", "admin"), ("createclient", "x"),
                                  ("createclient", " ", "--role", "client")])
def test_it_refuses_bad_arguments(db, args):
    with pytest.raises(CommandError):
        run(*args)
    assert not ApiClient.objects.exists()


def test_it_stores_only_a_digest_of_the_token(db):
    key = run("createclient", "alice", "--role", "client")[0].removeprefix("token=")
    token = AuthToken.objects.get(user__username="alice")
    assert token.digest != key and len(key) == 64
    # Only a short lookup prefix of the key is kept, never the key itself.
    assert key.startswith(token.token_key) and len(token.token_key) < len(key) // 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM knox_authtoken t")
        (row,) = cursor.fetchone()
    assert key not in row


def test_it_revokes_every_token_of_a_client(db):
    key = run("createclient", "alice", "--role", "client")[0].removeprefix("token=")
    assert run("revoketokens", "alice") == ["revoked 1 token(s) of alice"]
    assert get_with(key) == 401
    assert not AuthToken.objects.exists()


def test_it_leaves_other_clients_tokens_alone(db):
    run("createclient", "alice", "--role", "client")
    bob = run("createclient", "bob", "--role", "client")[0].removeprefix("token=")
    run("revoketokens", "alice")
    assert get_with(bob) == 200


def test_it_previews_a_revocation_with_dry_run(db):
    key = run("createclient", "alice", "--role", "client")[0].removeprefix("token=")
    assert run("revoketokens", "alice", "--dry-run") == ["would revoke 1 token(s) of alice"]
    assert get_with(key) == 200


def test_it_refuses_to_revoke_for_an_unknown_name(db):
    with pytest.raises(CommandError, match="nobody"):
        run("revoketokens", "nobody")
