"""What can go wrong, as exceptions a caller can catch by kind.

`ApiError` and its subclasses are the Orchestrator's refusals (a 4xx): they carry the
answer's `detail` and its field messages (`{"field": ["message", ...]}`, api.md "Errors").
`Unavailable` is no answer at all, a 5xx, or a keyed request still running, after the
client's retries: the request may or may not have been applied, and a retry with the same
Idempotency-Key is safe.
"""

from typing import Any


class OrchestratorError(Exception):
    """Any failure of a call to the Orchestrator."""


class Unavailable(OrchestratorError):
    """No usable answer after the retries: connection refused or cut, a timeout, a 5xx, or
    409 with Retry-After (the first request with this Idempotency-Key is still running).
    `status` is the last answer's HTTP status, 0 when none came."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class WaitTimeout(OrchestratorError, TimeoutError):
    """A wait (a chain, a prediction) did not end within its timeout."""


class ApiError(OrchestratorError):
    """The Orchestrator refused the request (4xx). `body` is its JSON answer; `what` names
    the call, for the message."""

    def __init__(self, status: int, body: Any, what: str = "") -> None:
        self.status = status
        self.body = body
        self.what = what
        super().__init__(f"{what + ': ' if what else ''}HTTP {status}: {describe(body)}")

    @property
    def detail(self) -> str | None:
        """The answer's `detail` message, when it has one."""
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        return str(detail) if detail is not None else None

    @property
    def fields(self) -> dict[str, list[str]]:
        """The messages by field of a 400 (`{"size_train_dataset": ["Ensure ..."]}`); `detail`
        and other scalar keys are not fields."""
        if not isinstance(self.body, dict):
            return {}
        return {key: _messages(value) for key, value in self.body.items()
                if key != "detail" and isinstance(value, list | dict)}


class BadRequest(ApiError):
    """400: invalid input; `fields` says which and why."""


class Unauthorized(ApiError):
    """401: no token, or a token that is unknown or revoked."""


class Forbidden(ApiError):
    """403: this client's role (or site) may not do that."""


class NotFound(ApiError):
    """404: no such object."""


class Conflict(ApiError):
    """409: a state change that is not allowed now (the task has ended, the claim is no
    longer this worker's). `task_status` is the task's status when the answer says it."""

    @property
    def task_status(self) -> str | None:
        status = self.body.get("status") if isinstance(self.body, dict) else None
        return status if isinstance(status, str) else None

    @property
    def canceled(self) -> bool:
        return self.task_status == "canceled"


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit (2 MiB by default, about 20,000 UUIDs)."""


class KeyReused(ApiError):
    """422: this Idempotency-Key was used before with another method, path or body."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 422: KeyReused,
}


def error_for(status: int, body: Any, what: str = "") -> ApiError:
    """The exception for a refusal, by its status."""
    return _BY_STATUS.get(status, ApiError)(status, body, what)


def describe(body: Any) -> str:
    """An answer's messages on one line: `detail`, then `field: message` pairs."""
    if isinstance(body, dict):
        parts = [str(body["detail"])] if "detail" in body else []
        parts += [f"{key}: {'; '.join(_messages(value))}" for key, value in body.items() if key != "detail"]
        return "; ".join(parts) if parts else "{}"
    return str(body) if body not in (None, "") else "(no body)"


def _messages(value: Any) -> list[str]:
    """A field's messages, flattened (DRF nests them for list items and dict values)."""
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, inner in value.items() for message in _messages(inner)]
    if isinstance(value, list):
        return [message for item in value for message in _messages(item)]
    return [str(value)]
