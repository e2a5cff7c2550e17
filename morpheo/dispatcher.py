"""The dispatcher of the push to a 2017 Compute (`manage.py push_compute` runs one).

It reads the event log into deliveries (morpheo/outbox.py), then sends the due ones in
the order their tasks became ready, each as its task's 2017 document as it is at the
send, each acknowledged in the database once the Compute answers 2xx: a dispatcher killed
between the answer and the acknowledgement sends that one again (at least once).

Failures: a Compute that cannot be reached, times out or answers 5xx, 408 or 429 is down
for every delivery. The dispatcher stops its batch, gives the rest back and waits (a
back-off of its own that doubles while it stays down, with jitter), then tries the same
first delivery again: nothing goes ahead of it, so the Compute back up receives the
tasks in order. Any other answer (4xx, a redirect) refuses that document only: the
delivery backs off on its own and the others go on. Operators see both in the admin.

It sleeps on the READY notification that tasks.queue sends when a transaction makes tasks
todo (delivered at commit), with a poll as a fallback: a release reaches the Compute in
milliseconds, not at the next poll.
"""

import base64
import http.client
import logging
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection

from morpheo import outbox
from tasks.queue import READY_CHANNEL
from tasks.wakeups import listen_conninfo

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
# A stop (SIGTERM) is noticed this often while the dispatcher sleeps.
STOP_SLICE = 0.5
# Statuses that say the Compute as a whole cannot take work now, not this document.
DOWN_STATUSES = frozenset({408, 429})


def backoff(failures: int, *, base: float, cap: float) -> float:
    """base x 2^(failures - 1) seconds, at most `cap`, times a jitter in [0.5, 1]: several
    dispatchers (or orchestrators) do not come back at the same instant."""
    return float(min(cap, base * 2.0 ** max(failures - 1, 0))) * random.uniform(0.5, 1.0)


def redacted(url: str) -> str:
    """The URL without its password, for logs and the status."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")).geturl()


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (unreachable, timed out)
    text: str

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def compute_down(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.status in DOWN_STATUSES


class ComputeAPI:
    """The 2017 Compute API's POST routes over one kept-alive connection (stdlib only).

    Credentials in the URL (`http://user:password@host`) are sent as HTTP Basic. Redirects
    are not followed: a POST redirected would be resent as a GET without its body.
    """

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": "orchestrator-push-compute"}
        if parts.username is not None:
            secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        self._connection: http.client.HTTPConnection | None = None

    def post(self, route: str, body: bytes) -> Answer:
        for fresh in (False, True):
            reused = self._connection is not None
            try:
                conn = self._connect()
                conn.request("POST", f"{self.base}/{route}", body=body, headers=self.headers)
                response = conn.getresponse()
                text = response.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if reused and not fresh:
                    continue  # the server closed the kept-alive connection meanwhile: once more, anew
                return Answer(0, f"unreachable: {exc!r}")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                return Answer(0, f"unreachable: {exc!r}")
            if response.will_close:
                self.close()
            return Answer(response.status, text)
        raise AssertionError("unreachable")  # the loop returns on its second turn

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            conn.connect()
            # A body over 2,000 bytes leaves in a second write: without this, Nagle's
            # algorithm holds it for the server's delayed ACK (40 ms a delivery).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connection = conn
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class Report:
    sent: int = 0
    refused: int = 0  # the Compute refused the document (4xx): it backs off on its own
    down: int = 0  # the Compute could not take it (unreachable, 5xx): everything waits
    skipped: int = 0  # the task was no longer todo when its turn came
    postponed: int = 0  # the task backs off itself
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Report") -> None:
        self.sent += other.sent
        self.refused += other.refused
        self.down += other.down
        self.skipped += other.skipped
        self.postponed += other.postponed
        self.errors += other.errors[: 20 - len(self.errors)]


class ReadyListener:
    """LISTEN on tasks.queue's READY channel, on a connection of its own
    (DATABASE_LISTEN_URL, else the database), to wake the dispatcher when tasks are made
    todo. A lost connection is opened again at the next wait; meanwhile waits are plain
    sleeps, and the poll finds the work."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> None:
        """Until a notification, `timeout`, or the stop (looked at every STOP_SLICE s)."""
        deadline = time.monotonic() + timeout
        try:
            conn = self._connect()
            while not self.stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
                if any(True for _ in conn.notifies(timeout=min(remaining, STOP_SLICE), stop_after=1)):
                    break
            # Those that came meanwhile are one wake-up, not several.
            for _ in conn.notifies(timeout=0.0):
                pass
        except psycopg.Error:
            log.warning("push: the wake-up listener lost its connection; polling meanwhile", exc_info=True)
            self.close()
            self.stop.wait(timeout)

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(listen_conninfo("orchestrator-push"), autocommit=True)
            self._conn.execute(f"LISTEN {READY_CHANNEL}")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None


class Dispatcher:
    def __init__(
        self,
        *,
        url: str,
        timeout: float,
        batch: int = 20,
        poll: float = 1.0,
        retry_base: float = 1.0,
        retry_max: float = 300.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.compute = ComputeAPI(url, timeout)
        self.batch = batch
        self.poll = poll
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.hold = outbox.hold(batch, timeout)
        self.stop = stop or threading.Event()
        self.failures = 0  # the Compute down, in a row
        self.started = False
        self.total = Report()  # since this dispatcher started

    @classmethod
    def from_settings(cls, **options: Any) -> "Dispatcher":
        url = settings.ORCHESTRATOR_COMPUTE_URL
        if not url:
            raise ValueError("ORCHESTRATOR_COMPUTE_URL is not set")
        return cls(url=url, timeout=settings.ORCHESTRATOR_COMPUTE_TIMEOUT_SECONDS,
                   retry_base=settings.ORCHESTRATOR_COMPUTE_RETRY_BASE_SECONDS,
                   retry_max=settings.ORCHESTRATOR_COMPUTE_RETRY_MAX_SECONDS, **options)

    def run_once(self) -> Report:
        """Read the log, send everything due now; stop early if the Compute is down."""
        self._start()
        self._read_log()
        report = Report()
        while not self.stop.is_set():
            batch, down = self._send_batch()
            report.add(batch)
            if down or not (batch.sent or batch.refused or batch.skipped or batch.postponed):
                break
        return report

    def run_forever(self) -> None:
        """Until `stop` is set: send, then sleep until tasks are made todo, the poll, or
        the end of a back-off."""
        listener = ReadyListener(self.stop)
        try:
            while not self.stop.is_set():
                try:
                    close_old_connections()
                    self._start()
                    self._read_log()
                    down = self._send_due()
                except (DatabaseError, InterfaceError):
                    log.warning("push: the database failed; trying again", exc_info=True)
                    connection.close()
                    self.stop.wait(RECONNECT_SECONDS)
                    continue
                if down:
                    pause = backoff(self.failures, base=self.retry_base, cap=self.retry_max)
                    log.warning("push: the Compute is down (%d failures in a row); next try in %.1f s",
                                self.failures, pause)
                    self.stop.wait(pause)
                else:
                    listener.wait(self.poll)
        finally:
            listener.close()
            self.compute.close()
            connection.close()

    def _start(self) -> None:
        if not self.started:
            queued = outbox.start()
            if queued is not None:
                log.info("push: first start; %d tasks todo now queued for the Compute", queued)
            self.started = True

    def _read_log(self) -> None:
        while (read := outbox.read_log()) is not None and read >= outbox.READ_BATCH:
            pass

    def _send_due(self) -> bool:
        """Send batches until none is due; True when the Compute turned out to be down."""
        while not self.stop.is_set():
            report, down = self._send_batch()
            if down:
                return True
            if not (report.sent or report.refused or report.skipped or report.postponed):
                return False
        return False

    def _send_batch(self) -> tuple[Report, bool]:
        report = Report()
        token, claimed = outbox.claim(limit=self.batch, hold=self.hold)
        if not claimed:
            return report, False
        steps = outbox.prepare(claimed)
        delivered: list[str] = []
        try:
            return self._send(token, claimed, steps, report, delivered)
        finally:
            self.total.add(report)
            if delivered:
                log.info("push: %d delivered to the Compute: %s%s", len(delivered), ", ".join(delivered[:5]),
                         " ..." if len(delivered) > 5 else "")

    def _send(self, token: uuid.UUID, claimed: list[outbox.Claimed], steps: list[outbox.Step], report: Report,
              delivered: list[str]) -> tuple[Report, bool]:
        for position, (item, step) in enumerate(zip(claimed, steps, strict=True)):
            if self.stop.is_set():
                outbox.release(claimed[position:], token)
                break
            if isinstance(step, outbox.Skip):
                outbox.done(item, token)
                report.skipped += 1
                log.debug("push: %s %s not sent: %s", item.kind, item.task, step.reason)
            elif isinstance(step, outbox.Later):
                outbox.postpone(item, token, step.until)
                report.postponed += 1
            else:
                started = time.monotonic()
                answer = self.compute.post(step.route, step.body)
                if answer.delivered:
                    outbox.done(item, token)
                    self.failures = 0
                    report.sent += 1
                    delivered.append(f"{item.kind} {item.task}")
                    log.debug("push: %s %s delivered to /%s (%d, %.0f ms)", item.kind, item.task, step.route,
                              answer.status, (time.monotonic() - started) * 1000)
                    continue
                error = f"{answer.status or 'no answer'}: {' '.join(answer.text.split())[:500]}"
                report.errors.append(f"{item.kind} {item.task}: {error}")
                if answer.compute_down:
                    # Everything waits: this one first again, once the dispatcher's back-off ends.
                    self.failures += 1
                    outbox.failed(item, token, error=error, retry_in=0)
                    outbox.release(claimed[position + 1:], token)
                    report.down += 1
                    return report, True
                retry_in = backoff(item.attempts + 1, base=self.retry_base, cap=self.retry_max)
                outbox.failed(item, token, error=error, retry_in=retry_in)
                report.refused += 1
                log.warning("push: the Compute refused %s %s (%s); again in %.1f s", item.kind, item.task,
                            error, retry_in)
        return report, False
