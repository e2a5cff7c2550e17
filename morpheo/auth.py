import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.http import HttpRequest
from rest_framework import authentication, exceptions

INVALID = "Invalid username/password."


class BasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic with the username and password given to `createclient --password`.

    2017 workers poll with Basic credentials on every request, and checking a password
    costs Django's hasher about 0.3 s of CPU by design. So a successful check is
    remembered, in this process only, as an HMAC of the user's stored hash and the
    password given: changing the password changes the stored hash and so forgets it, and
    the user row (active or not) is still read on every request.
    """

    www_authenticate_realm = "morpheo"

    def authenticate_credentials(self, userid: str, password: str, request: HttpRequest | None = None) -> Any:
        if "\x00" in userid or "\x00" in password:
            # PostgreSQL refuses NUL in text: the user lookup would be a 500.
            raise exceptions.AuthenticationFailed(INVALID)
        user = (
            get_user_model()._default_manager.select_related("api_client").filter(username=userid).first()
        )
        if user is None or not user.is_active or not user.has_usable_password():
            raise exceptions.AuthenticationFailed(INVALID)
        proof = hmac.new(
            settings.SECRET_KEY.encode(), f"{user.password}\x00{password}".encode(), hashlib.sha256
        ).hexdigest()
        if not _verified(proof):
            if not check_password(password, user.password):
                raise exceptions.AuthenticationFailed(INVALID)
            _remember(proof)
        return (user, None)


_proofs: dict[str, None] = {}
_MAX_PROOFS = 10_000


def _verified(proof: str) -> bool:
    return proof in _proofs


def _remember(proof: str) -> None:
    if len(_proofs) >= _MAX_PROOFS:
        _proofs.pop(next(iter(_proofs)))  # oldest first: dicts keep insertion order
    _proofs[proof] = None
