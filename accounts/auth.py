from hmac import compare_digest

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

INVALID = "Invalid token."


class TokenAuthentication(KnoxTokenAuthentication):  # type: ignore[misc]  # knox is untyped: its class is Any
    """Knox tokens (stored as digests, revocable), in one query per request.

    Knox's own lookup also reads the user's other tokens to delete expired ones and
    leaves the role to a query of its own; our tokens never expire (TOKEN_TTL None), so
    this reads the token with its user and role at once: the ORM's select_related query,
    so neither token.user nor user.api_client (the role; a superuser has none) queries
    again. Malformed keys are a 401.

    The ORM compiles that query on every request, and psycopg does not prepare it. Against
    the same query compiled once and prepared (dab82d4), measured back to back: ~0.6 ms
    more CPU per authentication in-process, ~20% more CPU per claim and result cycle
    (gunicorn and PostgreSQL), 53 against 66 cycles/s in the claims benchmark (a loaded
    machine: 5 runs of each).
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
        tokens = AuthToken.objects.filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH])
        for auth_token in tokens.select_related("user__api_client"):
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
