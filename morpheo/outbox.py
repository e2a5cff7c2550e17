"""The push to a 2017 Compute: a transactional outbox whose records are the event log.

Every change that makes a task todo (generation of a rank 0 or of a preduplet, the
release of a rank, a re-queue, a retry) appends its `TaskEvent` in its own transaction
(tasks.queue), so that event is the outbox record: written with the change, gone with a
rollback, and costing the change nothing more. The dispatcher (morpheo/dispatcher.py)
reads the log in id order from a stored cursor, only below `FEED_HORIZON` (an event whose
transaction may still commit, and every later one, waits: none is skipped), and keeps a
`Delivery` row for each task it owes the Compute: its retry state, what operators see.

Every statement here is one round trip, and none is on a request's path. Several
dispatchers may run: the cursor row is read by one at a time (SKIP LOCKED: the others go
on sending), and deliveries are claimed with SKIP LOCKED and a lease. A lease ends when
its batch is done, when it runs out, or at once when the database session that took it is
gone (its dispatcher died), so a killed dispatcher's deliveries go out again at once.
"""

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from rest_framework import serializers

from learning.models import Learnuplet
from morpheo.models import Delivery, PushCursor
from morpheo.serializers import LearnupletDocument, PredupletDocument
from predictions.models import Preduplet
from tasks.models import FEED_HORIZON, QueueTask, Status, TaskEvent

log = logging.getLogger(__name__)

# Events read per statement; the dispatcher reads on while a batch comes back full.
READ_BATCH = 1000
# The status and metrics count unread events up to this many (the log is read by range).
UNREAD_COUNT_CAP = 100_000


@dataclass(frozen=True)
class Kind:
    model: type[QueueTask]
    document: type[serializers.ModelSerializer[Any]]
    route: str  # the Compute's path: 2017's post_uplet sent to <url>/learn and <url>/pred


KINDS: Final[dict[str, Kind]] = {
    k.model.kind: k for k in (Kind(Learnuplet, LearnupletDocument, "learn"), Kind(Preduplet, PredupletDocument, "pred"))
}


def _tables() -> tuple[str, str, str]:
    qn = connection.ops.quote_name
    return qn(Delivery._meta.db_table), qn(PushCursor._meta.db_table), qn(TaskEvent._meta.db_table)


def _owed(alias: str) -> tuple[str, list[Any]]:
    """SQL true when the task `alias.kind`/`alias.task` names is todo and of no site: the
    tasks a 2017 worker may claim (they have no site)."""
    qn = connection.ops.quote_name
    clauses, params = [], []
    for kind in KINDS.values():
        clauses.append(f"({alias}.kind = %s AND EXISTS (SELECT FROM {qn(kind.model._meta.db_table)} t"
                       f" WHERE t.uuid = {alias}.task AND t.status = %s AND t.site_id IS NULL))")
        params += [kind.model.kind, Status.TODO]
    return "(" + " OR ".join(clauses) + ")", params


def start() -> int | None:
    """At the first start of any dispatcher: create the cursor at the log's horizon and
    queue every task todo now (older events are not read); return how many were queued.
    None when a dispatcher started before."""
    deliveries, cursors, events = _tables()
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        # The horizon first: whatever the later statements see beyond it is also read
        # from the log, and the unique (kind, task) keeps one delivery of it.
        cursor.execute(
            f"INSERT INTO {cursors} (id, event, started_at, read_at) SELECT 1, ({FEED_HORIZON}) - 1, now(), now()"
            " ON CONFLICT (id) DO NOTHING RETURNING event"
        )
        if cursor.fetchone() is None:
            return None
        queued = 0
        for kind in KINDS.values():
            cursor.execute(
                f"""
                INSERT INTO {deliveries} (kind, task, event, ready_at, due_at, attempts, last_error)
                SELECT %s, t.uuid,
                       coalesce((SELECT max(e.id) FROM {events} e WHERE e.kind = %s AND e.task = t.uuid), 0),
                       least(coalesce(t.queued_at, now()), now()), now(), 0, ''
                FROM {qn(kind.model._meta.db_table)} t
                WHERE t.status = %s AND t.site_id IS NULL
                ON CONFLICT (kind, task) DO NOTHING
                """,
                [kind.model.kind, kind.model.kind, Status.TODO],
            )
            queued += cursor.rowcount
    return queued


def read_log(limit: int = READ_BATCH) -> int | None:
    """Read the next events of the log, at most `limit`: queue a delivery for each task
    they made todo that still is todo (and of no site), and move the cursor on. Return
    how many events were read; None when another dispatcher is reading (or none started).

    One statement. A task made todo again before its delivery went out moves its row to
    the later event (and is due at once): the row in flight, if any, is then not deleted
    when its send succeeds, and goes again with the task's new document.
    """
    deliveries, cursors, events = _tables()
    owed, owed_params = _owed("latest")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH reader AS (SELECT event FROM {cursors} WHERE id = 1 FOR UPDATE SKIP LOCKED),
            horizon AS MATERIALIZED (SELECT ({FEED_HORIZON}) AS h),
            batch AS MATERIALIZED (
                SELECT e.id, e.kind, e.task, e.at FROM {events} e, reader, horizon
                WHERE e.id > reader.event AND e.id < horizon.h AND e.to_status = %s AND e.kind = ANY(%s)
                ORDER BY e.id LIMIT %s
            ),
            latest AS (SELECT DISTINCT ON (kind, task) id, kind, task, at FROM batch ORDER BY kind, task, id DESC),
            queued AS (
                INSERT INTO {deliveries} (kind, task, event, ready_at, due_at, attempts, last_error)
                SELECT latest.kind, latest.task, latest.id, latest.at, now(), 0, '' FROM latest WHERE {owed}
                ON CONFLICT (kind, task) DO UPDATE SET event = EXCLUDED.event, due_at = EXCLUDED.due_at
                RETURNING 1
            ),
            -- A full batch stops at its last event; a short one read everything below the
            -- horizon, final by then.
            advanced AS (
                UPDATE {cursors} c SET event = moved.event, read_at = now()
                FROM (SELECT CASE WHEN (SELECT count(*) FROM batch) >= %s THEN (SELECT max(id) FROM batch)
                                  ELSE (SELECT h FROM horizon) - 1 END AS event) moved
                WHERE c.id = 1 AND EXISTS (SELECT FROM reader) AND moved.event > c.event
                RETURNING c.event
            )
            SELECT (SELECT count(*) FROM reader), (SELECT count(*) FROM batch), (SELECT count(*) FROM queued)
            """,
            [Status.TODO, list(KINDS), limit, *owed_params, limit],
        )
        row = cursor.fetchone()
    assert row is not None
    locked, read, queued = row
    if not locked:
        return None
    if queued:
        log.debug("queued %d deliveries from %d events", queued, read)
    return int(read)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    task: uuid.UUID
    event: int
    attempts: int


def claim(*, limit: int, hold: timedelta) -> tuple[uuid.UUID, list[Claimed]]:
    """Claim up to `limit` due deliveries, oldest readiness first, for `hold` at most;
    return the claim's token and them, in send order."""
    deliveries, _, _ = _tables()
    token = uuid.uuid4()
    with connection.cursor() as cursor:
        # A lease is free once its holder's session is gone: pid and start time name a
        # session (a pid alone may be reused).
        cursor.execute(
            f"""
            WITH picked AS (
                SELECT d.id FROM {deliveries} d
                WHERE d.due_at <= now()
                  AND (d.lease IS NULL OR d.leased_until < now()
                       OR NOT EXISTS (SELECT FROM pg_stat_activity a
                                      WHERE a.pid = d.leased_pid AND a.backend_start = d.leased_since))
                ORDER BY d.event LIMIT %s
                FOR UPDATE OF d SKIP LOCKED
            )
            UPDATE {deliveries} d SET lease = %s, leased_until = now() + make_interval(secs => %s),
                leased_pid = pg_backend_pid(),
                leased_since = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
            FROM picked WHERE d.id = picked.id
            RETURNING d.id, d.kind, d.task, d.event, d.attempts
            """,
            [limit, token, hold.total_seconds()],
        )
        rows = cursor.fetchall()
    return token, sorted((Claimed(*row) for row in rows), key=lambda c: c.event)


@dataclass(frozen=True)
class Send:
    route: str
    body: bytes


@dataclass(frozen=True)
class Skip:
    """Nothing to tell the Compute: the task is no longer todo (claimed, ended) or gone."""

    reason: str


@dataclass(frozen=True)
class Later:
    """The task backs off until then: a worker told now could not claim it yet."""

    until: datetime


Step = Send | Skip | Later


def prepare(claimed: Sequence[Claimed]) -> list[Step]:
    """What to do with each delivery, in order: send the task's 2017 document as it is
    now, or skip it, or put it off. One query per kind of task."""
    now = timezone.now()
    tasks: dict[tuple[str, uuid.UUID], QueueTask] = {}
    for name, kind in KINDS.items():
        wanted = [c.task for c in claimed if c.kind == name]
        if wanted:
            tasks.update(((name, t.pk), t) for t in kind.model._default_manager.filter(pk__in=wanted))
    steps: list[Step] = []
    for item in claimed:
        task = tasks.get((item.kind, item.task))
        if task is None:
            steps.append(Skip("no such task"))
        elif task.status != Status.TODO:
            steps.append(Skip(f"{task.status}, no longer todo"))
        elif task.site_id is not None:
            steps.append(Skip("a site's task: only that site's own workers run it"))
        elif task.not_before is not None and task.not_before > now:
            steps.append(Later(task.not_before))
        else:
            kind = KINDS[item.kind]
            # The Compute is a compute worker: it reads test data.
            document = kind.document(task, context={"reveal_test_data": True}).data
            steps.append(Send(kind.route, json.dumps(document, cls=DjangoJSONEncoder).encode()))
    return steps


_UNLEASED = "lease = NULL, leased_until = NULL, leased_pid = NULL, leased_since = NULL"


def done(item: Claimed, token: uuid.UUID) -> bool:
    """The Compute has the task (or needs nothing): forget the delivery, unless the task
    was made ready again since it was claimed; then it goes again, and False."""
    deliveries, _, _ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH gone AS (DELETE FROM {deliveries} WHERE id = %s AND event = %s RETURNING id),
            kept AS (UPDATE {deliveries} SET {_UNLEASED}
                     WHERE id = %s AND lease = %s AND NOT EXISTS (SELECT FROM gone) RETURNING id)
            SELECT (SELECT count(*) FROM gone)
            """,
            [item.id, item.event, item.id, token],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def failed(item: Claimed, token: uuid.UUID, *, error: str, retry_in: float) -> None:
    """A send failed: count it, keep the error, and send again in `retry_in` seconds."""
    deliveries, _, _ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {deliveries} SET attempts = attempts + 1, last_error = %s, last_attempt_at = now(),"
            f" due_at = now() + make_interval(secs => %s), {_UNLEASED} WHERE id = %s AND lease = %s",
            [error[:2000], retry_in, item.id, token],
        )


def postpone(item: Claimed, token: uuid.UUID, until: datetime) -> None:
    deliveries, _, _ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {deliveries} SET due_at = %s, {_UNLEASED} WHERE id = %s AND lease = %s",
                       [until, item.id, token])


def release(items: Sequence[Claimed], token: uuid.UUID) -> None:
    """Give back deliveries claimed and not sent (the Compute is down, the dispatcher stops)."""
    if not items:
        return
    deliveries, _, _ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {deliveries} SET {_UNLEASED} WHERE id = ANY(%s) AND lease = %s",
                       [[i.id for i in items], token])


@dataclass(frozen=True)
class Backlog:
    """What the Compute is owed: deliveries never tried and failing, events not read yet
    (up to UNREAD_COUNT_CAP; some may owe nothing), and since when the oldest has waited."""

    started: bool
    queued: int
    failing: int
    unread: int
    oldest_ready_at: datetime | None

    @property
    def total(self) -> int:
        return self.queued + self.failing + self.unread


def backlog() -> Backlog:
    """One statement, whatever the backlog: deliveries are few unless the Compute is down,
    and unread events are counted up to a cap."""
    deliveries, cursors, events = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (SELECT count(*) FROM {deliveries} WHERE attempts = 0),
                   (SELECT count(*) FROM {deliveries} WHERE attempts > 0),
                   (SELECT min(ready_at) FROM {deliveries}),
                   c.id IS NOT NULL,
                   (SELECT count(*) FROM (SELECT FROM {events} e WHERE e.id > c.event AND e.to_status = %s
                                          AND e.kind = ANY(%s) LIMIT %s) unread),
                   (SELECT e.at FROM {events} e WHERE e.id > c.event AND e.to_status = %s AND e.kind = ANY(%s)
                    ORDER BY e.id LIMIT 1)
            FROM (SELECT 1) one LEFT JOIN {cursors} c ON c.id = 1
            """,
            [Status.TODO, list(KINDS), UNREAD_COUNT_CAP, Status.TODO, list(KINDS)],
        )
        row = cursor.fetchone()
    assert row is not None
    queued, failing, oldest, started, unread, oldest_unread = row
    oldest_ready = min((t for t in (oldest, oldest_unread) if t is not None), default=None)
    return Backlog(started=bool(started), queued=queued, failing=failing, unread=unread or 0,
                   oldest_ready_at=oldest_ready)


def due(limit: int) -> list[Delivery]:
    """The deliveries due now, in send order (what a dry run shows)."""
    return list(Delivery.objects.filter(due_at__lte=Now()).order_by("event")[:limit])


def retry_now(pks: Sequence[int]) -> int:
    """Operators: send these deliveries at the next pass, their back-off cut short."""
    return Delivery.objects.filter(pk__in=list(pks)).update(due_at=Now())


def drop(pks: Sequence[int], *, actor: str) -> int:
    """Operators: the Compute will never be sent these (it has them another way, or the
    task is handled elsewhere). The tasks themselves are not changed."""
    with transaction.atomic():
        dropped = list(Delivery.objects.select_for_update().filter(pk__in=list(pks)).values_list("kind", "task"))
        Delivery.objects.filter(pk__in=list(pks)).delete()
    for kind, task in dropped[:100]:
        log.warning("delivery of %s %s to the Compute dropped by %s", kind, task, actor)
    return len(dropped)


def hold(batch: int, timeout: float) -> timedelta:
    """A batch's lease: each send may take the whole timeout. A live dispatcher's lease is
    never taken over; a dead one's ends with its database session."""
    return timedelta(seconds=batch * timeout + 30)
