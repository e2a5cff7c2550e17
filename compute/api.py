"""The worker's side of the v1 protocol: claim, heartbeat, result.

Spoken through `orchestrator_client`, the repository's one HTTP client (its transport sends
the Idempotency-Key, decodes answers and tells a refusal from no answer). What is the
worker's own: the kind-generic routes, and its retries. The client's transport does not
retry here (`NO_RETRY`): the worker retries each request by its own rules (worker.py), a
claim at its next round and a result a few times, with the key of the try it repeats.

The exceptions, by what the worker does about them:
- `Unreachable`: no answer, a 5xx, or the same key's first request still running (409 with
  Retry-After): worth retrying later, with the same Idempotency-Key.
- `LeaseLost`: 409, the worker's claim on the task is no longer current (`canceled`:
  nobody wants the work any more).
- `ApiError`: any other refusal (400, 401, 403, 404).
"""

from typing import Any

from orchestrator_client import NO_RETRY, ApiError, Response, new_key
from orchestrator_client import Conflict as LeaseLost
from orchestrator_client import Unavailable as Unreachable
from orchestrator_client.errors import error_for
from orchestrator_client.transport import Transport

LEARNUPLET = "learnuplet"
PREDUPLET = "preduplet"
KINDS = (LEARNUPLET, PREDUPLET)

__all__ = ["KINDS", "LEARNUPLET", "PREDUPLET", "ApiError", "LeaseLost", "Orchestrator", "Response", "Unreachable",
           "new_key"]


class Orchestrator:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = Transport(url, token, timeout=timeout, retry=NO_RETRY)

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                *, key: str | None = None, wait: float = 0) -> Response:
        """One try; `key`, its Idempotency-Key, makes a retry with the same key safe: a
        request that was applied is answered again instead of applied twice. `wait`: seconds
        the server may hold it before answering, on top of the timeout."""
        return self.http.send(method, path, json_body=body, params=params, key=key, wait=wait)

    @staticmethod
    def _ok(answer: Response, what: str) -> Response:
        if not 200 <= answer.status < 300:
            raise error_for(answer.status, answer.body, what)
        return answer

    # The worker protocol. Each request takes the Idempotency-Key of its logical request:
    # a retry passes the key of the try it repeats.
    def claim(self, kind: str, *, key: str | None = None, wait: float = 0, interrupt: str | None = None
              ) -> Response | None:
        """Claim the oldest claimable task of `kind`; None when there is none (204), after
        waiting up to `wait` seconds for one to become claimable (`?wait=`), or as soon as
        a task of the kind `interrupt` is claimable (`&interrupt=`)."""
        params: dict[str, Any] | None = {"wait": wait} if wait else None
        if params is not None and interrupt:
            params["interrupt"] = interrupt
        answer = self._ok(self.request("POST", f"{kind}s/claim/", {}, params, key=key, wait=wait), f"claim a {kind}")
        return None if answer.status == 204 else answer

    def heartbeat(self, kind: str, task: str, attempt: int, *, key: str | None = None) -> Response:
        return self._ok(self.request("POST", f"{kind}s/{task}/heartbeat/", {"attempt": attempt}, key=key),
                        f"heartbeat {kind} {task}")

    def report(self, kind: str, task: str, result: dict[str, Any], *, key: str | None = None) -> Any:
        path = f"{kind}s/{task}/result/"
        return self._ok(self.request("POST", path, result, key=key), f"POST {path}").body
