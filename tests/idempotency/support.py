"""Requests with an Idempotency-Key, for the idempotency tests."""

import uuid
from typing import Any

from tests.conftest import Caller


def keyed(caller: Caller, path: str, body: object = None, *, key: str | None = None, method: str = "post"):
    """`caller`'s request with `Idempotency-Key: key` (a fresh one by default)."""
    send = getattr(caller.http, method)
    return send(path, body if body is not None else {}, format="json",
                headers={"Idempotency-Key": key or str(uuid.uuid4())})


def replayed(response: Any) -> bool:
    return bool(response.headers.get("Idempotent-Replayed") == "true")
