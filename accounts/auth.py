from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored as digests, revocable), refusing undecodable keys with 401."""

    def authenticate_credentials(self, token: bytes):  # type: ignore[no-untyped-def]
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            # Knox would raise UnicodeDecodeError, a 500, on non-UTF-8 header bytes.
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)
