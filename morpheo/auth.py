from typing import Any

from django.http import HttpRequest
from rest_framework import authentication, exceptions


class BasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic with the username and password given to `createclient --password`."""

    www_authenticate_realm = "morpheo"

    def authenticate_credentials(self, userid: str, password: str, request: HttpRequest | None = None) -> Any:
        if "\x00" in userid:
            # PostgreSQL refuses NUL in text: the user lookup would be a 500.
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return super().authenticate_credentials(userid, password, request)
