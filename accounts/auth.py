import functools
from hmac import compare_digest
from typing import Any

from django.db import connections, router
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from accounts.models import ApiClient
from orchestrator_site.sql import Param, Statement, run

INVALID = "Invalid token."
_KEY = Param("key")


class _TokenLookup:
    """The tokens with a token_key, each with its user and the user's ApiClient row (if any).

    `AuthToken.objects.filter(token_key=...).select_related("user__api_client")` costs
    ~1 ms of CPU per request in the ORM compiling it to SQL again (a tenth of a worker's
    claim/result cycle). This builds the same one query once per database from the models'
    _meta, and rebuilds the instances with Model.from_db, with the related caches set as
    select_related sets them: token.user and user.api_client do not query.
    """

    def __init__(self) -> None:
        self.user_fk = AuthToken._meta.get_field("user")
        self.client_fk = ApiClient._meta.get_field("user")
        user_model = self.user_fk.related_model
        # (model, alias, fields in from_db's order): the token, its user, the ApiClient row.
        self.parts = [(m, alias, m._meta.concrete_fields)
                      for m, alias in ((AuthToken, "T"), (user_model, "U"), (ApiClient, "C"))]
        self.prepared: dict[str, tuple[str, dict[int, tuple[Any, list[Any]]]]] = {}

    def _prepare(self, connection: Any) -> tuple[str, dict[int, tuple[Any, list[Any]]]]:
        q = connection.ops.quote_name
        token, user, client = (m._meta for m, _, _ in self.parts)
        columns = ", ".join(f"{q(alias)}.{q(f.column)}" for _, alias, fields in self.parts for f in fields)
        sql = (
            f"SELECT {columns} FROM {q(token.db_table)} {q('T')}"
            f" INNER JOIN {q(user.db_table)} {q('U')}"
            f" ON {q('T')}.{q(self.user_fk.column)} = {q('U')}.{q(self.user_fk.target_field.column)}"
            f" LEFT OUTER JOIN {q(client.db_table)} {q('C')}"
            f" ON {q('C')}.{q(self.client_fk.column)} = {q('U')}.{q(self.client_fk.target_field.column)}"
            f" WHERE {q('T')}.{q(token.get_field('token_key').column)} = %s"
        )
        # The backend's and fields' from-database converters, as the ORM applies them (usually none).
        converters = {}
        cols = [f.get_col(alias) for _, alias, fields in self.parts for f in fields]
        for i, col in enumerate(cols):
            funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if funcs:
                converters[i] = (col, funcs)
        return sql, converters

    def __call__(self, token_key: str) -> list[Any]:
        db = router.db_for_read(AuthToken)
        connection = connections[db]
        if db not in self.prepared:
            self.prepared[db] = self._prepare(connection)
        sql, converters = self.prepared[db]
        # Bound server-side: prepared on a connection's second request, not planned each time.
        rows = run(Statement(sql, (_KEY,)), {"key": token_key})
        tokens = []
        for row in rows:
            values = list(row)
            for i, (col, funcs) in converters.items():
                for func in funcs:
                    values[i] = func(values[i], col, connection)
            it = iter(values)
            token, user, client = (
                model.from_db(db, [f.attname for f in fields], [next(it) for _ in fields])
                for model, _, fields in self.parts
            )
            if client.pk is None:  # No ApiClient row (a superuser): the LEFT JOIN's NULLs.
                client = None
            else:
                self.client_fk.set_cached_value(client, user)
            self.client_fk.remote_field.set_cached_value(user, client)
            self.user_fk.set_cached_value(token, user)
            tokens.append(token)
        return tokens


@functools.cache
def _token_lookup() -> _TokenLookup:
    return _TokenLookup()


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored as digests, revocable), in one query per request.

    Knox's own lookup also reads the user's other tokens to delete expired ones and
    leaves the role to a query of its own; our tokens never expire (TOKEN_TTL None), so
    this reads the token with its user and role at once (see _TokenLookup). Malformed
    keys are a 401.
    """

    def authenticate_credentials(self, token: bytes):  # type: ignore[no-untyped-def]
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
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(INVALID)


class TokenScheme(KnoxTokenScheme):
    """Describes our subclass in the OpenAPI schema as knox's own (spectacular matches exact classes)."""

    target_class = TokenAuthentication
