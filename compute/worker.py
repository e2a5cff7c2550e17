"""The worker loop: claim, keep the lease alive, run, report; wait on the claim when idle.

An idle worker claims a learnuplet with `?wait=` (60 s by default, the API's longest, less
up to 10% of jitter so that a fleet started at once drifts apart) and
`&interrupt=preduplet`: the Orchestrator answers as soon as a learnuplet becomes
claimable, or 204 at once when a preduplet is or becomes claimable (the worker then
claims it: predictions go first), or 204 at the end, and the worker claims again at once.
An idle worker makes about one request a minute (against twelve when it polled every
10 s), and a new prediction reaches it in milliseconds. A server that answers a waiting
claim at once (it does not wait) is polled with a back-off instead, up to `idle_max`
seconds, a preduplet claim then a learnuplet claim each time.

A claim is a lease: the Orchestrator gives the task to another worker when this one stops
heartbeating. Reports and heartbeats carry the claim's `attempt`, so a worker that lost its
lease is refused (409) and simply moves on. Outputs are written only after a heartbeat has
just renewed the lease, so a worker that lost its task never overwrites the `model_end`
of the worker that now holds it.

Every claim, heartbeat and result carries an Idempotency-Key, and a retry of the same
request the same key: a claim or result whose answer was lost (a dropped connection, a
503 after the commit) is answered again on retry instead of leaking the task until its
lease expires, or being refused as already done.
"""

import logging
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self

from compute import ml
from compute.api import (
    LEARNUPLET,
    PREDUPLET,
    ApiError,
    LeaseLost,
    Orchestrator,
    Response,
    Unreachable,
    new_key,
)
from compute.storage import Storage

log = logging.getLogger("compute")

# A prediction is a short task someone is waiting for; training chains run in the background.
CLAIM_ORDER = (PREDUPLET, LEARNUPLET)

REPORT_TRIES = 6
CONFIRM_TRIES = 3
ONCE_FAILED_CLAIMS = 5


class Backoff:
    """Exponential delays with jitter, so idle workers do not poll in lockstep."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return delay / 2 + random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.failures = 0


def lease_interval(answer: Response) -> float:
    """A third of the lease the claim granted, measured on the server's clock when it says.

    The claim gives only `lease_expires_at`; the response's Date header tells the server's
    time, so a worker whose clock is off still heartbeats in time.
    """
    expires = datetime.fromisoformat(answer.body["lease_expires_at"])
    try:
        now = parsedate_to_datetime(answer.headers.get("Date", ""))
    except (TypeError, ValueError):
        now = datetime.now(UTC)
    return min(60.0, max(0.2, (expires - now).total_seconds() / 3))


class Lease:
    """Heartbeats a claimed task in a background thread until stopped or refused."""

    def __init__(self, client: Orchestrator, kind: str, task: str, attempt: int, interval: float) -> None:
        self.client, self.kind, self.task, self.attempt = client, kind, task, attempt
        self.interval = interval
        self.lost = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{task[:8]}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Heartbeat now; False once the claim is lost. An unreachable Orchestrator is not a loss."""
        if self.lost.is_set():
            return False
        try:
            self.client.heartbeat(self.kind, self.task, self.attempt, key=new_key())
        except LeaseLost as exc:
            if exc.canceled:
                log.warning("%s %s: canceled; stopping its work", self.kind, self.task)
            else:
                log.warning("%s %s: lease lost (attempt %s); abandoning it", self.kind, self.task, self.attempt)
            self.lost.set()
            return False
        except (Unreachable, ApiError) as exc:
            log.warning("%s %s: heartbeat failed: %s", self.kind, self.task, exc)
            return True
        return True

    def confirm(self) -> bool:
        """Renew the lease and be sure of it; before writing outputs. An unreachable
        Orchestrator is asked again a few times, with the same key."""
        key, retry = new_key(), Backoff(0.2, 2.0)
        for tries in range(1, CONFIRM_TRIES + 1):
            try:
                self.client.heartbeat(self.kind, self.task, self.attempt, key=key)
                return True
            except LeaseLost:
                self.lost.set()
                return False
            except (Unreachable, ApiError) as exc:
                if isinstance(exc, ApiError) or tries == CONFIRM_TRIES:
                    log.warning("%s %s: cannot confirm the lease (%s); giving the task back", self.kind,
                                self.task, exc)
                    return False
                time.sleep(retry.next())
        return False


class Worker:
    def __init__(
        self,
        client: Orchestrator,
        storage: Storage,
        *,
        concurrency: int = 1,
        once: bool = False,
        idle_max: float = 10.0,
        wait: float = 60.0,
        heartbeat_seconds: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.client, self.storage = client, storage
        self.concurrency, self.once = concurrency, once
        self.idle_max, self.heartbeat_seconds = idle_max, heartbeat_seconds
        # A draining worker (--once) does not wait: nothing claimable means done.
        self.wait = 0.0 if once else wait
        self._claiming: set[threading.Thread] = set()  # in a claim, holding no task
        self.stop = stop or threading.Event()
        self.exit_code = 0

    def run(self) -> int:
        threads = [threading.Thread(target=self._loop, name=f"worker-{i}", daemon=True)
                   for i in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            # Short joins keep the main thread responsive to signals. Once stopped, a thread
            # that holds no task (it waits on a claim) is not waited for: the server frees
            # its claim when the connection closes.
            while thread.is_alive() and not (self.stop.is_set() and thread in self._claiming):
                thread.join(0.5)
        return self.exit_code

    def _loop(self) -> None:
        idle = Backoff(0.2, self.idle_max)
        failures = 0
        unanswered: dict[str, str] = {}
        while not self.stop.is_set():
            asked = time.monotonic()
            self._claiming.add(threading.current_thread())
            try:
                claimed = self.claim_one(unanswered, wait=self.wait)
            except ApiError as exc:
                # 401/403: a wrong token or role; polling again will not fix it.
                log.error("cannot claim: %s", exc)
                self.exit_code = 2
                self.stop.set()
                return
            except Exception as exc:
                # Unreachable, or an answer the worker does not understand: a long-running
                # worker waits and tries again; a draining one gives up after a few tries.
                failures += 1
                log.warning("cannot claim: %s: %s", type(exc).__name__, exc)
                if self.once and failures >= ONCE_FAILED_CLAIMS:
                    self.exit_code = 1
                    return
                self.stop.wait(idle.next())
                continue
            finally:
                self._claiming.discard(threading.current_thread())
            failures = 0
            if claimed is None:
                if self.once:
                    return
                if self.wait and time.monotonic() - asked >= self.wait / 2:
                    idle.reset()  # the server waited: ask again at once
                    continue
                self.stop.wait(idle.next())
                continue
            idle.reset()
            self.process(*claimed)

    def claim_one(self, unanswered: dict[str, str] | None = None, *, wait: float = 0
                  ) -> tuple[str, Response] | None:
        """Claim a task, a preduplet first. With `wait`: a learnuplet claim waiting up to
        `wait` seconds (less jitter) that a claimable preduplet interrupts, then a preduplet
        claim if it was; without: a preduplet claim, then a learnuplet claim. `unanswered`
        keeps, by kind, the key of a claim that got no answer, for its retry: that claim may
        have been granted."""
        unanswered = {} if unanswered is None else unanswered
        order: tuple[str, ...] = CLAIM_ORDER
        if wait:
            key = unanswered.setdefault(LEARNUPLET, new_key())
            # The jitter follows the key: a retry sends the same request (the same ?wait=).
            waited = round(wait * random.Random(key).uniform(0.9, 1.0), 1)
            asked = time.monotonic()
            answer = self.client.claim(LEARNUPLET, key=key, wait=waited, interrupt=PREDUPLET)
            del unanswered[LEARNUPLET]
            if answer is not None:
                return LEARNUPLET, answer
            if time.monotonic() - asked >= waited - min(1.0, waited / 5):
                return None  # a whole wait, and nothing
            order = (PREDUPLET,)  # answered early: a preduplet is claimable (or the server does not wait)
        for kind in order:
            key = unanswered.setdefault(kind, new_key())
            answer = self.client.claim(kind, key=key)
            del unanswered[kind]
            if answer is not None:
                return kind, answer
        return None

    def process(self, kind: str, claim: Response) -> str:
        """Run one claimed task to its report; return what became of it."""
        task: dict[str, Any] = claim.body
        key, attempt = task["uuid"], task["attempt"]
        started = time.monotonic()
        try:
            interval = self.heartbeat_seconds or lease_interval(claim)
            with Lease(self.client, kind, key, attempt, interval) as lease:
                outcome = self._run_and_report(kind, task, lease)
        except Exception:
            # The worker's own fault (storage unwritable, a bug): not the task's. Giving it
            # back, by letting the lease lapse, lets another worker try.
            log.exception("%s %s: worker error; the lease will lapse", kind, key)
            outcome = "given back"
        log.info("%s %s (attempt %s): %s in %.2fs", kind, key, attempt, outcome,
                 time.monotonic() - started)
        return outcome

    def _run_and_report(self, kind: str, task: dict[str, Any], lease: Lease) -> str:
        attempt = task["attempt"]
        try:
            result = self._run(kind, task, lease)
        except ml.Stopped:
            return "stopped"  # canceled, or the lease lost: told at a heartbeat
        except ml.TaskFailed as exc:
            # A transient fault asks for another attempt (after the Orchestrator's back-off).
            result = {"status": "failed", "error": str(exc), **({"retry": True} if exc.retryable else {})}
        if result is None or lease.lost.is_set():
            return "lost"
        return self._report(kind, task["uuid"], {"attempt": attempt, **result})

    def _run(self, kind: str, task: dict[str, Any], lease: Lease) -> dict[str, Any] | None:
        """The task's result, or None when the lease was lost before outputs were written."""
        if kind == LEARNUPLET:
            learnt = ml.learn(
                self.storage, workflow=task["workflow"], algo=task["algo"],
                model_start=task["model_start"], train_data=task["train_data"],
                test_data=task.get("test_data") or [], stop=lease.lost.is_set,
            )
            if not lease.confirm():
                return None
            self.storage.write(uuid.UUID(task["model_end"]), learnt.model)
            return {"status": "done", "perf": learnt.perf, "train_perf": learnt.train_perf,
                    "test_perf": learnt.test_perf}
        outputs = ml.predict(self.storage, workflow=task["workflow"], model=task["model"],
                             data=task["data"], stop=lease.lost.is_set)
        if not lease.confirm():
            return None
        keys = [uuid.uuid4() for _ in outputs]
        for k, content in zip(keys, outputs, strict=True):
            self.storage.write(k, content)
        return {"status": "done", "prediction_storage_uuid": [str(k) for k in keys]}

    def _report(self, kind: str, key: str, result: dict[str, Any]) -> str:
        status: str = result["status"]
        retry = Backoff(0.5, 10.0)
        idempotency_key = new_key()
        for _ in range(REPORT_TRIES):
            try:
                self.client.report(kind, key, result, key=idempotency_key)
                if status == "failed":
                    log.warning("%s %s failed: %s", kind, key, result.get("error", ""))
                return status
            except LeaseLost as exc:
                log.warning("%s %s: result refused, the lease was lost: %s", kind, key, exc)
                return "lost"
            except Unreachable as exc:
                log.warning("%s %s: cannot report yet: %s", kind, key, exc)
                time.sleep(retry.next())
            except ApiError as exc:
                if result["status"] == "failed":
                    raise
                # The Orchestrator refused this result (400): record why instead.
                result = {"attempt": result["attempt"], "status": "failed",
                          "error": f"result refused: {exc.body}"}
                idempotency_key = new_key()  # another request
        log.error("%s %s: gave up reporting; the lease will lapse", kind, key)
        return "given back"
