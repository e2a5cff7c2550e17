"""One logical request to the v1 API, retried when that is safe and worth it.

Every POST carries an Idempotency-Key, the same one on each of its tries: the Orchestrator
applies a keyed request once and answers its retries with the first answer (header
`Idempotent-Replayed: true`), so a try whose connection died after the commit is answered,
not applied twice (api.md, "Idempotent requests"). GETs change nothing and are retried as
they are.

Retried: no answer (refused, reset, timed out, cut mid-answer), a 5xx (which commits
nothing), and 409 with Retry-After on a keyed request (its first try is still running).
Anything else below 500 is the answer.
"""

import json
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from orchestrator_client.errors import Unavailable, error_for

API_PREFIX = "/api/v1/"


def new_key() -> str:
    """A fresh Idempotency-Key, for a new logical request."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a request is tried: `tries` in all, the first included,
    with exponential back-off from `base` to `cap` seconds, jittered so that many clients
    cut off together do not come back together. A Retry-After header longer than the
    back-off is waited instead."""

    tries: int = 6
    base: float = 0.25
    cap: float = 8.0

    def delays(self) -> Iterator[float]:
        """The pauses between tries: one fewer than `tries`."""
        for failures in range(self.tries - 1):
            delay = min(self.cap, self.base * 2.0 ** failures)
            yield delay / 2 + random.uniform(0, delay / 2)


# For a caller that retries by its own rules (the reference worker).
NO_RETRY = Retry(tries=1)


@dataclass(frozen=True)
class Response:
    """An answer: its status, its decoded JSON body (None when empty), its headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def replayed(self) -> bool:
        """True when this is the stored answer of an earlier try with the same key."""
        return self.headers.get("Idempotent-Replayed") == "true"


class Transport:
    """HTTP to one Orchestrator, as one user (its token), over kept-alive connections.

    `timeout` bounds each try; a request that asks the server to wait (`wait`) gets that
    much more. `transport` replaces httpx's own, for tests or a proxy of one's own.
    Thread-safe: httpx's client is.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0, retry: Retry = Retry(),
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base = url.rstrip("/") + API_PREFIX
        self.timeout = timeout
        self.retry = retry
        self._http = httpx.Client(
            base_url=self.base, transport=transport, timeout=timeout,
            headers={"Authorization": f"Token {token}", "Accept": "application/json",
                     "User-Agent": "orchestrator-client"},
        )

    def close(self) -> None:
        self._http.close()

    def send(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None,
             key: str | None = None, wait: float = 0.0, retry: Retry | None = None) -> Response:
        """The answer to one logical request, whatever its status below 500. A POST without
        a `key` gets a fresh one, kept for its retries. Raises Unavailable when the last
        try got no usable answer."""
        if method == "POST" and key is None:
            key = new_key()
        headers = {"Idempotency-Key": key} if key is not None else {}
        content = json.dumps(json_body).encode() if json_body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        timeout = httpx.Timeout(self.timeout + wait)
        pauses = (retry or self.retry).delays()
        while True:
            try:
                answer = self._http.request(method, path, content=content, params=_query(params),
                                            headers=headers, timeout=timeout)
            except httpx.TransportError as exc:
                problem, status, retry_after = f"{method} {self.base}{path}: {type(exc).__name__}: {exc}", 0, 0.0
            else:
                response = Response(answer.status_code, _decode(answer.content), answer.headers)
                still_running = answer.status_code == 409 and key is not None and "Retry-After" in answer.headers
                if answer.status_code < 500 and not still_running:
                    return response
                what = "still running (the first request with this key)" if still_running else "server error"
                problem = f"{method} {self.base}{path}: HTTP {answer.status_code}, {what}"
                status, retry_after = answer.status_code, _seconds(answer.headers.get("Retry-After"))
            pause = next(pauses, None)
            if pause is None:
                raise Unavailable(problem, status)
            time.sleep(max(pause, retry_after))

    def call(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None,
             key: str | None = None, wait: float = 0.0) -> Response:
        """As `send`, raising the ApiError of a refusal (4xx)."""
        response = self.send(method, path, json_body=json_body, params=params, key=key, wait=wait)
        if response.status >= 400:
            raise error_for(response.status, response.body, f"{method} {path}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params).body

    def post(self, path: str, body: Any, *, key: str | None = None) -> Any:
        return self.call("POST", path, json_body=body, key=key).body


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query parameters as the API reads them: lists comma-separated, None left out."""
    if not params:
        return None
    query = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, float):
            value = f"{value:g}"
        query[name] = str(value)
    return query


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        # Not JSON (a proxy's error page): keep a readable start of it for the message.
        return content.decode("utf-8", "replace")[:500]


def _seconds(value: str | None) -> float:
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else 0.0
    except ValueError:
        return 0.0  # an HTTP date: rare here, and the back-off applies anyway
