import functools
from collections.abc import Sequence
from hmac import compare_digest
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Field, Model
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from accounts.models import ApiClient
from orchestrator_site.compiled import Param, fetch

INVALID = "Invalid token."


class _TokenLookup:
    """The tokens with a token_key, each with its user and the user's ApiClient row (if any).

    `AuthToken.objects.filter(token_key=...).select_related("user__api_client")` costs
    ~0.6 ms more CPU per request than this, in the ORM compiling it again and PostgreSQL
    planning it again: measured back to back, ~20% more CPU per claim-and-result cycle and
    53 against 66 cycles/s in the claims benchmark. So the same query is compiled once
    and prepared (orchestrator_site.compiled), and the instances rebuilt with
    Model.from_db, with the related caches set as select_related sets them: token.user and
    user.api_client do not query.
    """

    def __init__(self) -> None:
        self.user_fk = AuthToken._meta.get_field("user")
        self.client_fk = ApiClient._meta.get_field("user")
        user_model = self.user_fk.related_model
        assert isinstance(user_model, type) and issubclass(user_model, Model)
        # The models in select_related's column order, each with its fields in from_db's.
        self.parts: list[tuple[type[Model], Sequence[Field[Any, Any]]]] = [
            (m, m._meta.concrete_fields) for m in (AuthToken, user_model, ApiClient)
        ]
        # The backend's and fields' from-database converters, as the ORM applies them (usually none).
        self.converters: dict[int, tuple[Any, list[Any]]] = {}
        for i, col in enumerate(f.get_col(m._meta.db_table) for m, fields in self.parts for f in fields):
            funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if funcs:
                self.converters[i] = (col, funcs)

    def __call__(self, token_key: str) -> list[AuthToken]:
        def build() -> tuple[str, Sequence[Any]]:
            tokens = AuthToken.objects.filter(token_key=Param("key")).select_related("user__api_client")
            built: tuple[str, Sequence[Any]] = tokens.order_by().query.sql_with_params()
            return built

        tokens = []
        for row in fetch("token lookup", build, {"key": token_key}):
            values = list(row)
            for i, (col, funcs) in self.converters.items():
                for func in funcs:
                    values[i] = func(values[i], col, connection)
            it = iter(values)
            token, user, client = (
                model.from_db(connection.alias, [f.attname for f in fields], [next(it) for _ in fields])
                for model, fields in self.parts
            )
            if client.pk is None:  # No ApiClient row (a superuser): the LEFT JOIN's NULLs.
                self.client_fk.remote_field.set_cached_value(user, None)
            else:
                self.client_fk.set_cached_value(client, user)
                self.client_fk.remote_field.set_cached_value(user, client)
            self.user_fk.set_cached_value(token, user)
            assert isinstance(token, AuthToken)
            tokens.append(token)
        return tokens


@functools.cache
def _token_lookup() -> _TokenLookup:
    return _TokenLookup()


class TokenAuthentication(KnoxTokenAuthentication):  # type: ignore[misc]  # knox is untyped: its class is Any
    """Knox tokens (stored as digests, revocable), in one query per request.

    Knox's own lookup also reads the user's other tokens to delete expired ones and
    leaves the role to a query of its own; our tokens never expire (TOKEN_TTL None), so
    this reads the token with its user and role at once (see _TokenLookup). Malformed
    keys are a 401.
    """

    def authenticate_credentials(self, token: bytes) -> tuple[AbstractBaseUser, AuthToken]:
        try:
            key = token.decode("ascii")
        except UnicodeDecodeError:
            # Knox would raise UnicodeDecodeError, a 500, on non-UTF-8 header bytes.
            raise exceptions.AuthenticationFailed(INVALID) from None
        if not key.isprintable():
            # A NUL byte would reach PostgreSQL, which refuses it in text (a 500).
            raise exceptions.AuthenticationFailed(INVALID)
        digest = hash_token(key)
        for auth_token in _token_lookup()(key[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if auth_token.expiry is not None and self._cleanup_token(auth_token):
                continue
            if compare_digest(digest, auth_token.digest):
                # Knox is untyped: its answer, (token.user, token), typed here.
                found: tuple[AbstractBaseUser, AuthToken] = self.validate_user(auth_token)
                return found
        raise exceptions.AuthenticationFailed(INVALID)


class TokenScheme(KnoxTokenScheme):  # type: ignore[no-untyped-call]  # untyped in drf-spectacular (__init_subclass__)
    """Describes our subclass in the OpenAPI schema as knox's own (spectacular matches exact classes)."""

    target_class = "accounts.auth.TokenAuthentication"  # imported on first use, as knox's own
