"""The Orchestrator's v1 HTTP API, as a compute worker (and the demo) uses it. Stdlib only."""

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.message import Message
from http.client import HTTPException
from typing import Any

LEARNUPLET = "learnuplet"
PREDUPLET = "preduplet"
KINDS = (LEARNUPLET, PREDUPLET)


class Unreachable(Exception):
    """No answer, a 5xx, or the same key's first request still running: worth retrying
    later, with the same Idempotency-Key."""


class LeaseLost(Exception):
    """409: this worker's claim on the task is no longer current; `status` is the task's
    when the Orchestrator says it (`canceled`: nobody wants the work any more)."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def canceled(self) -> bool:
        return self.status == "canceled"


class ApiError(Exception):
    """Any other answer that is not a success (400, 401, 403, 404)."""

    def __init__(self, status: int, body: Any, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    headers: Message = field(repr=False)


class Orchestrator:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base = url.rstrip("/") + "/api/v1/"
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                *, key: str | None = None, wait: float = 0) -> Response:
        """One request; `key`, its Idempotency-Key, makes a retry with the same key safe: a
        request that was applied is answered again instead of applied twice. `wait`: seconds
        the server may hold it before answering, on top of the timeout."""
        url = urllib.parse.urljoin(self.base, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Token {self.token}",
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
            **({"Idempotency-Key": key} if key is not None else {}),
        })
        try:
            with urllib.request.urlopen(req, timeout=self.timeout + wait) as answer:
                return Response(answer.status, _decode(answer.read()), answer.headers)
        except urllib.error.HTTPError as exc:
            status, content, headers = exc.code, exc.read(), exc.headers
        except (urllib.error.URLError, HTTPException, OSError) as exc:
            raise Unreachable(f"{method} {url}: {exc}") from None
        if status >= 500:
            raise Unreachable(f"{method} {url}: HTTP {status}")
        if status == 409 and key is not None and headers.get("Retry-After"):
            # Not a refusal: the first request with this key is still running.
            raise Unreachable(f"{method} {url}: HTTP 409, still running")
        return Response(status, _decode(content), headers)

    def get(self, path: str, **params: Any) -> Any:
        return self._ok(self.request("GET", path, params=params), f"GET {path}").body

    def post(self, path: str, body: Any) -> Any:
        return self._ok(self.request("POST", path, body), f"POST {path}").body

    @staticmethod
    def _ok(answer: Response, what: str) -> Response:
        if answer.status == 409:
            status = answer.body.get("status") if isinstance(answer.body, dict) else None
            raise LeaseLost(f"{what}: {answer.body}", status if isinstance(status, str) else None)
        if not 200 <= answer.status < 300:
            raise ApiError(answer.status, answer.body, what)
        return answer

    # The worker protocol. Each request takes the Idempotency-Key of its logical request:
    # a retry passes the key of the try it repeats.
    def claim(self, kind: str, *, key: str | None = None, wait: float = 0) -> Response | None:
        """Claim the oldest claimable task of `kind`; None when there is none (204), after
        waiting up to `wait` seconds for one to become claimable (`?wait=`)."""
        params = {"wait": f"{wait:g}"} if wait else None
        answer = self._ok(self.request("POST", f"{kind}s/claim/", {}, params, key=key, wait=wait), f"claim a {kind}")
        return None if answer.status == 204 else answer

    def heartbeat(self, kind: str, task: str, attempt: int, *, key: str | None = None) -> Response:
        return self._ok(self.request("POST", f"{kind}s/{task}/heartbeat/", {"attempt": attempt}, key=key),
                        f"heartbeat {kind} {task}")

    def report(self, kind: str, task: str, result: dict[str, Any], *, key: str | None = None) -> Any:
        path = f"{kind}s/{task}/result/"
        return self._ok(self.request("POST", path, result, key=key), f"POST {path}").body


def new_key() -> str:
    """A fresh Idempotency-Key, for a new logical request."""
    return str(uuid.uuid4())


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")[:500]
