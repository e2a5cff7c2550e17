"""The token lookup (the ORM's select_related("user__api_client")) loads the token, its
user and the user's ApiClient row in one query, so that neither token.user nor
user.api_client queries again, and keeps every answer of knox's authentication: unknown,
malformed, expired or inactive is a 401."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework import exceptions

from accounts.auth import TokenAuthentication
from accounts.models import ApiClient, Role
from accounts.roles import role_of, worker_of

API = "/api/v1"


def authenticate(key: str):
    return TokenAuthentication().authenticate_credentials(key.encode())


def values(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_it_loads_the_token_user_and_role_in_one_query_as_the_orm_would(worker):
    with CaptureQueriesContext(connection) as ctx:
        user, token = authenticate(worker.token)
        assert token.user is user
        client = user.api_client
        assert client.user is user
        assert role_of(user) == Role.COMPUTE and worker_of(user) == worker.worker
    assert len(ctx.captured_queries) == 1
    orm = AuthToken.objects.select_related("user__api_client").get(digest=token.digest)
    assert values(token) == values(orm)
    assert values(user) == values(orm.user)
    assert values(client) == values(orm.user.api_client)
    for instance in (token, user, client):
        assert instance._state.db == "default" and not instance._state.adding


def test_it_authenticates_a_superuser_without_an_apiclient_row(db):
    user = get_user_model().objects.create_superuser("root", password="root-pw-12345")
    _, key = AuthToken.objects.create(user=user, expiry=None)
    with CaptureQueriesContext(connection) as ctx:
        found, _ = authenticate(key)
        assert getattr(found, "api_client", None) is None
        assert role_of(found) == Role.OPERATOR
    assert len(ctx.captured_queries) == 1
    assert found.pk == user.pk and not ApiClient.objects.filter(user=user).exists()


@pytest.mark.parametrize("key", ["not-a-real-key", "ab" * 32, "abc\x00def"])
def test_it_refuses_unknown_or_malformed_keys(db, key):
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(key)


def test_it_refuses_non_ascii_bytes(db):
    with pytest.raises(exceptions.AuthenticationFailed):
        TokenAuthentication().authenticate_credentials("é".encode("latin-1"))


def test_it_refuses_a_right_prefix_with_a_wrong_digest(worker):
    wrong = worker.token[:-1] + ("0" if worker.token[-1] != "0" else "1")
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(wrong)


def test_it_refuses_an_inactive_user(worker):
    worker.client.user.is_active = False
    worker.client.user.save()
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(worker.token)


def test_it_deletes_an_expired_token_and_refuses_it(worker):
    AuthToken.objects.filter(user=worker.client.user).update(expiry=timezone.now() - timedelta(seconds=1))
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(worker.token)
    assert not AuthToken.objects.filter(user=worker.client.user).exists()


def test_it_accepts_a_token_that_expires_later(worker):
    AuthToken.objects.filter(user=worker.client.user).update(expiry=timezone.now() + timedelta(hours=1))
    user, token = authenticate(worker.token)
    assert user.pk == worker.client.user_id and token.expiry is not None


def test_it_answers_a_claim_with_one_query_for_authentication(worker):
    # 204: nothing to claim; authentication is the only read before the claim's own.
    with CaptureQueriesContext(connection) as ctx:
        assert worker.post(f"{API}/learnuplets/claim/").status_code == 204
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert len([s for s in sqls if AuthToken._meta.db_table in s]) == 1
    # The role came with the token: no query of its own for the ApiClient row.
    assert len([s for s in sqls if ApiClient._meta.db_table in s]) == 1
