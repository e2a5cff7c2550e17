from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored as digests, revocable), refusing malformed keys with 401."""

    def authenticate_credentials(self, token: bytes):  # type: ignore[no-untyped-def]
        try:
            key = token.decode("ascii")
        except UnicodeDecodeError:
            # Knox would raise UnicodeDecodeError, a 500, on non-UTF-8 header bytes.
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not key.isprintable():
            # A NUL byte would reach PostgreSQL, which refuses it in text (a 500).
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class TokenScheme(KnoxTokenScheme):
    """Describes our subclass in the OpenAPI schema as knox's own (spectacular matches exact classes)."""

    target_class = TokenAuthentication
