"""Wake-ups for requests that wait: claims with `?wait=` and the event feed.

The transaction that makes tasks claimable sends a notification on
`tasks.queue.READY_CHANNEL`, delivered at its commit (none if it rolls back). One thread
per server process LISTENs on its own connection and wakes as many waiting claims as
tasks were made claimable, of the site they are for (platform tasks: waiters of any
site), first come first served; a woken claim that finds nothing claimable (another
worker was quicker) waits again at the back. Tasks that wait out a back-off first wake
claims when it ends.

A claim woken for a task that it then does not take (its time ran out, its client left, or
it had just claimed another) hands the wake-up on to the next waiter, so that a
notification is never spent on a claim that is leaving. Waiting requests hold no database
connection, never query while they wait, and never wake up to look at their client: one
thread per process watches the sockets of the waiting requests and wakes the one whose
client hangs up (HANGUPS). Against a
notification that never came (the listener reconnecting, a task whose back-off ended
while no one was told), the thread asks the database every FALLBACK_SECONDS at most, one
query per kind of task, and only while claims wait. Event-feed waiters are woken by every
notification, and by one probe of the newest event id every FEED_POLL_SECONDS while they
wait (claims and results send no notification: a notification serialises commits).
"""

import heapq
import logging
import selectors
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import psycopg.conninfo
import psycopg.sql
from django.conf import settings
from django.db import connection, connections

from tasks.models import QueueTask, TaskEvent
from tasks.queue import READY_CHANNEL

log = logging.getLogger(__name__)

T = TypeVar("T")

FALLBACK_SECONDS = 5.0
FEED_POLL_SECONDS = 0.5
RECONNECT_SECONDS = 1.0

@dataclass(eq=False)
class Waiter:
    kind: str
    site: uuid.UUID | None
    woken: threading.Event = field(default_factory=threading.Event)
    # Another kind whose tasks end this claim's wait (it answers nothing, at once): a worker
    # waiting for training tasks is told that a prediction task is ready for it.
    interrupt: str | None = None
    # The site and kind of the task whose wake-up it was given (site None: a platform
    # task), to hand it on.
    cause: uuid.UUID | None = None
    cause_kind: str = ""


def closed(sock: socket.socket) -> bool:
    """Whether the client at the other end of `sock` has hung up: it reads as closed."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # open, nothing sent: still waiting for our answer
    except OSError:
        return True
    except ValueError:
        return False  # a TLS socket (gunicorn's certfile) cannot peek: nobody can tell


class HangUps:
    """One thread per process watches the sockets of waiting requests: a socket becomes
    readable when its client hangs up, and its request is woken at once. So 1,000 waiting
    requests sleep until their wake-up, their time or their client's hang-up, instead of
    each waking every second to look (measured: 10 points of a core for 1,000 waiters).

    The server must hand the socket over (gunicorn puts it in the WSGI environ) and not
    watch it itself while the request runs (gthread does not: it watches a connection
    only between its requests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None

    def watch(self, sock: socket.socket, on_hang_up: Callable[[], None]) -> bool:
        """Call `on_hang_up` (from the watching thread) if the client hangs up before
        `unwatch`; False when the socket cannot be watched (closed already)."""
        with self._lock:
            if self._selector is None:
                self._selector = selectors.DefaultSelector()
                threading.Thread(target=self._run, args=(self._selector,), name="orchestrator-hangups",
                                 daemon=True).start()
            try:
                self._selector.register(sock, selectors.EVENT_READ, on_hang_up)
            except (KeyError, ValueError, OSError):
                return False
        return True

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._selector is not None:
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError, OSError):
                    pass

    def _run(self, selector: selectors.BaseSelector) -> None:
        while True:
            # epoll and kqueue see registrations made while they wait; the timeout is for
            # the plain select() fallback of other systems.
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                # Readable and open is a client sending more (a pipelined request): it has
                # not gone, and it would keep the socket readable; stop watching it.
                self.unwatch(sock)
                if closed(sock):
                    key.data()


HANGUPS = HangUps()

@dataclass(order=True)
class _Timer:
    at: float
    kind: str = field(compare=False)
    site: uuid.UUID | None = field(compare=False)
    count: int = field(compare=False)

class Wakeups:
    """The process's listener and its waiting requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: list[Waiter] = []  # in arrival order
        self._feed: list[threading.Event] = []
        self._tables: dict[str, str] = {}  # kind → table, for the fallback probe
        self._timers: list[_Timer] = []
        self._wakes = 0  # wake-ups so far (mark)
        # The latest wake-ups: (number, kind, site); kind None: every waiter (wake_all).
        self._recent: deque[tuple[int, str | None, uuid.UUID | None]] = deque(maxlen=256)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.listening = threading.Event()  # set while the LISTEN connection is up

    # -- waiting requests ------------------------------------------------------------------

    def claim(
        self, attempt: Callable[[], T | None], *, model: type[QueueTask], site: uuid.UUID | None,
        timeout: float, sock: socket.socket | None = None, tried_since: int | None = None,
        interrupt: type[QueueTask] | None = None,
    ) -> T | None:
        """Call `attempt` (a claim) until it returns a task, waiting for wake-ups between
        calls, for up to `timeout` seconds; None at the end, or as soon as the client at
        `sock` (when known) hangs up: its slot is freed and it claims nothing more.

        `tried_since`: the caller made a first attempt after `mark()` returned this; it is
        made again only if a wake-up came since. `interrupt`: a task of this other kind made
        claimable for the waiter ends the wait (None)."""
        deadline = time.monotonic() + timeout
        waiter = Waiter(model.kind, site, interrupt=interrupt.kind if interrupt else None)
        self._start(model)
        if interrupt is not None:
            self._start(interrupt)
        try:
            while True:
                # Enlisted before the attempt: a task made claimable after the attempt's
                # snapshot wakes this waiter, not nobody.
                self._enlist(waiter)
                if tried_since is not None and not self._woken_since(tried_since, waiter):
                    task = None  # no wake-up for this waiter since the caller's attempt
                else:
                    task = attempt()
                tried_since = None
                if task is not None or not timeout:
                    return task
                if not self._wait(waiter.woken, deadline, sock):
                    return None
                if waiter.cause_kind == waiter.interrupt:
                    waiter.woken.clear()  # this wake-up is used: the client claims the other kind
                    return None
        finally:
            self._leave(waiter)

    def events(
        self, attempt: Callable[[], list[T]], *, timeout: float, sock: socket.socket | None = None
    ) -> list[T]:
        """Call `attempt` (a page of the event feed) until it is not empty, waiting for
        wake-ups between calls, for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        woken = threading.Event()
        self._start(None)
        try:
            while True:
                with self._lock:
                    woken.clear()
                    if woken not in self._feed:
                        self._feed.append(woken)
                found = attempt()
                if found or not self._wait(woken, deadline, sock):
                    return found
        finally:
            with self._lock:
                if woken in self._feed:
                    self._feed.remove(woken)

    def _wait(self, woken: threading.Event, deadline: float, sock: socket.socket | None) -> bool:
        """Wait for `woken` until `deadline`, without a database connection; False when
        the time is up or the client has gone."""
        if not connection.in_atomic_block:
            # Back to the pool (or the server): 1,000 waiting requests must not hold
            # 1,000 connections. A keyed request's transaction keeps its own.
            connection.close()
        if sock is None:
            return woken.wait(max(0.0, deadline - time.monotonic()))
        if not HANGUPS.watch(sock, woken.set) or closed(sock):
            return False
        try:
            woken.wait(max(0.0, deadline - time.monotonic()))
        finally:
            HANGUPS.unwatch(sock)
        # A hang-up sets `woken` too.
        return woken.is_set() and not closed(sock)

    def _enlist(self, waiter: Waiter) -> None:
        with self._lock:
            waiter.woken.clear()
            if waiter not in self._claims:
                self._claims.append(waiter)

    def mark(self) -> int:
        """A number that changes with every wake-up (see `claim`)."""
        with self._lock:
            return self._wakes

    def _woken_since(self, mark: int, waiter: Waiter) -> bool:
        """Whether a wake-up since `mark` was for tasks this waiter could have taken."""
        with self._lock:
            if self._wakes == mark:
                return False
            if not self._recent or self._recent[0][0] > mark + 1:
                return True  # older than what is remembered: assume so
            return any(
                seq > mark and (kind is None or kind in (waiter.kind, waiter.interrupt))
                and (site is None or site == waiter.site)
                for seq, kind, site in self._recent
            )

    def _leave(self, waiter: Waiter) -> None:
        with self._lock:
            if waiter in self._claims:
                self._claims.remove(waiter)
            elif waiter.woken.is_set():
                # Woken for a task it will not take: the wake-up goes to the next waiter.
                self._wake(waiter.cause_kind, waiter.cause, 1)

    def waiting(self) -> tuple[int, int]:
        """How many claims and feed requests wait now."""
        with self._lock:
            return len(self._claims), len(self._feed)

    # -- waking ----------------------------------------------------------------------------

    def wake(self, kind: str, site: uuid.UUID | None, count: int) -> int:
        """Wake up to `count` claims waiting for a task of `kind` at `site` (None: a
        platform task, for any waiter), and every feed request; return how many claims."""
        with self._lock:
            woken = self._wake(kind, site, count)
            self._wake_feed()
        return woken

    def _wake(self, kind: str, site: uuid.UUID | None, count: int) -> int:
        self._wakes += 1
        self._recent.append((self._wakes, kind, site))
        chosen = [w for w in self._claims
                  if (w.kind == kind or w.interrupt == kind) and (site is None or w.site == site)][:count]
        for waiter in chosen:
            self._claims.remove(waiter)
            waiter.cause, waiter.cause_kind = site, kind
            waiter.woken.set()
        return len(chosen)

    def wake_all(self) -> None:
        """Every waiting request tries again (after a reconnection: notifications may
        have been missed)."""
        with self._lock:
            self._wakes += 1
            self._recent.append((self._wakes, None, None))
            for waiter in self._claims:
                waiter.cause, waiter.cause_kind = waiter.site, waiter.kind
                waiter.woken.set()
            self._claims.clear()
            self._wake_feed()

    def _wake_feed(self) -> None:
        for woken in self._feed:
            woken.set()
        self._feed.clear()

    def notified(self, payload: str) -> None:
        """A READY_CHANNEL payload: "<kind> <site or -> <count> <epoch or ->"."""
        try:
            kind, site_text, count_text, at_text = payload.split(" ")
            site = None if site_text == "-" else uuid.UUID(site_text)
            count = int(count_text)
            at = None if at_text == "-" else float(at_text)
        except ValueError:
            log.warning("ignored a malformed notification: %r", payload[:200])
            return
        delay = 0.0 if at is None else at - time.time()
        if delay > 0:
            with self._lock:
                heapq.heappush(self._timers, _Timer(time.monotonic() + delay, kind, site, count))
                self._wake_feed()
            return
        self.wake(kind, site, count)

    # -- the listening thread --------------------------------------------------------------

    def _start(self, model: type[QueueTask] | None) -> None:
        with self._lock:
            if model is not None:
                self._tables.setdefault(model.kind, model._meta.db_table)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="orchestrator-wakeups", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Close the listening connection and end its thread (a test database is dropped
        only once nobody is connected to it). The next waiting request starts it again."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout)
            self._stopping.clear()

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                with psycopg.connect(listen_conninfo("orchestrator-wakeups"), autocommit=True) as conn:
                    conn.execute(f"LISTEN {READY_CHANNEL}")
                    self.listening.set()
                    if failures:
                        log.warning("wake-up listener reconnected after %d failed tries", failures)
                    failures = 0
                    self.wake_all()  # what happened while not listening is not lost
                    self._listen(conn)
            except Exception as exc:  # noqa: BLE001 - a lost connection is retried, never fatal
                # The traceback once an outage, then a line a minute: a database that refuses
                # connections must not fill the log every second.
                failures += 1
                if failures == 1:
                    log.warning("wake-up listener disconnected; reconnecting every %.0f s", RECONNECT_SECONDS,
                                exc_info=True)
                elif failures % 60 == 0:
                    log.warning("wake-up listener still disconnected (%d tries): %s", failures, exc)
            finally:
                self.listening.clear()
            self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        probed = time.monotonic()
        newest = _newest_event(conn)
        while not self._stopping.is_set():
            now = time.monotonic()
            timeout = min(self._next_timer(now), FEED_POLL_SECONDS)
            for notify in conn.notifies(timeout=timeout, stop_after=100):
                self.notified(notify.payload)
            now = time.monotonic()
            self._fire_timers(now)
            claims, feed = self.waiting()
            if feed:
                latest = _newest_event(conn)
                if latest != newest:
                    with self._lock:
                        self._wake_feed()
                newest = latest
            if claims and now - probed >= FALLBACK_SECONDS:
                probed = now
                self._probe(conn)

    def _next_timer(self, now: float) -> float:
        with self._lock:
            return max(0.0, self._timers[0].at - now) if self._timers else FALLBACK_SECONDS

    def _fire_timers(self, now: float) -> None:
        due = []
        with self._lock:
            while self._timers and self._timers[0].at <= now:
                due.append(heapq.heappop(self._timers))
        for timer in due:
            self.wake(timer.kind, timer.site, timer.count)

    def _probe(self, conn: psycopg.Connection[Any]) -> None:
        """The fallback: claimable tasks by site, for each kind that claims wait for."""
        with self._lock:
            kinds = {k for w in self._claims for k in (w.kind, w.interrupt) if k in self._tables}
            tables = {kind: self._tables[kind] for kind in kinds}
        for kind, table in tables.items():
            rows = conn.execute(
                psycopg.sql.SQL(
                    "SELECT site_id, count(*) FROM (SELECT site_id FROM {} WHERE status = 'todo'"
                    " AND (not_before IS NULL OR not_before <= now()) LIMIT 1000) claimable GROUP BY site_id"
                ).format(psycopg.sql.Identifier(table))
            ).fetchall()
            for site, count in rows:
                self.wake(kind, site, count)

def _newest_event(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        psycopg.sql.SQL("SELECT max(id) FROM {}").format(psycopg.sql.Identifier(TaskEvent._meta.db_table))
    ).fetchone()
    return int(row[0] or 0) if row else 0

def listen_conninfo(application_name: str) -> str:
    """Where a LISTEN connection goes: DATABASE_LISTEN_URL's server (LISTEN does not pass
    PgBouncer in transaction mode), or the default database's (as the test runner renamed it)."""
    db = settings.ORCHESTRATOR_LISTEN_DATABASE or connections["default"].settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=db.get("NAME") or "", user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=str(db["PORT"]) if db.get("PORT") else None,
        application_name=application_name,
    )

WAKEUPS = Wakeups()
