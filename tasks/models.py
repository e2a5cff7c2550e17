"""What queued tasks share: a status machine worked by leased claims, and its history.

`QueueTask` is abstract; each concrete task table lives in the app that owns its
lifecycle. `TRANSITIONS` is the status machine, the one place that says which changes of
status exist; `tasks.queue` checks every statement it builds against it. Every status
change of any task is appended to `TaskEvent`.
"""

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from django.apps import apps
from django.db import models
from django.db.models.functions import Coalesce


class Status(models.TextChoices):
    WAITING = "waiting"
    TODO = "todo"
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


ENDED = (Status.DONE, Status.FAILED, Status.CANCELED)
ACTIVE = (Status.WAITING, Status.TODO, Status.PENDING)


class ErrorKind(models.TextChoices):
    """Why a task last failed; kept when a retry sends it back to the queue."""

    NONE = "", "none"
    WORKER = "worker", "the worker reported a failure"
    LEASE_EXPIRED = "lease_expired", "its lease expired"
    RUN_TIME_EXCEEDED = "run_time_exceeded", "it ran longer than its run-time limit"
    CANCELED = "canceled", "canceled"


@dataclass(frozen=True)
class Move:
    """The statuses an action takes tasks from, and those it may take them to."""

    sources: frozenset[str]
    targets: frozenset[str]


def _move(sources: tuple[str, ...], targets: tuple[str, ...]) -> Move:
    return Move(frozenset(sources), frozenset(targets))


# The status machine: every action of `tasks.queue` that changes a status, from where to
# where. A change that is not here cannot be made: `queue` refuses to build it.
TRANSITIONS: Final[Mapping[str, Move]] = {
    # New tasks: todo, or waiting for the task before them in their chain.
    "create": _move((), (Status.TODO, Status.WAITING)),
    # A worker takes the oldest todo task, or a named one.
    "claim": _move((Status.TODO,), (Status.PENDING,)),
    # The worker holding the claim reports: done, failed, or failed and to be retried
    # (back to todo after a back-off while attempts remain).
    "finish": _move((Status.PENDING,), (Status.DONE, Status.FAILED, Status.TODO)),
    # A lease ran out: back to the queue after a back-off, or failed once out of attempts
    # or past the run-time limit.
    "expire": _move((Status.PENDING,), (Status.TODO, Status.FAILED)),
    # The task before it in its chain has ended.
    "release": _move((Status.WAITING,), (Status.TODO,)),
    # Operators: failed, canceled or stale tasks back to run (waiting while their chain is
    # not ready).
    "requeue": _move((Status.FAILED, Status.CANCELED, Status.PENDING), (Status.TODO, Status.WAITING)),
    # Operators: fail active tasks by hand.
    "fail": _move(ACTIVE, (Status.FAILED,)),
    # Whoever asked for the work no longer wants it: it ends, and releases nothing.
    "cancel": _move(ACTIVE, (Status.CANCELED,)),
}

# Every (from, to) pair some action makes; "" is "no status yet" (creation).
ALLOWED: Final[frozenset[tuple[str, str]]] = frozenset(
    (source, target)
    for move in TRANSITIONS.values()
    for source in (move.sources or {""})
    for target in move.targets
)


# The claim index's key for tasks without a site (platform tasks).
PLATFORM = uuid.UUID(int=0)


def claim_site() -> Coalesce:
    """The claim index's leading key: the task's site, or PLATFORM when it has none.

    An expression, not the column: a scan of `site IS NULL` does not come out of the
    index in queue order (PostgreSQL sorts every platform task), an equality does.
    """
    return Coalesce(models.F("site"), models.Value(PLATFORM, output_field=models.UUIDField()))


class QueueTask(models.Model):
    # Set on each concrete model: its kind (the name in events, logs and metrics) and the
    # column that records when it ended.
    kind: ClassVar[str]
    ended_field: ClassVar[str]
    # A task that belongs to a chain: (the parent foreign key, the position in the chain).
    # The task at position n + 1 waits until the one at n has ended; the parent's row is
    # the lock of its chain.
    chain: ClassVar[tuple[str, str] | None] = None
    # The columns copied onto each of its events, so the event feed filters without a
    # join: event field → this model's column.
    event_links: ClassVar[dict[str, str]] = {}

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.TODO)
    worker = models.UUIDField(null=True, blank=True, db_index=True)
    attempt = models.PositiveIntegerField(default=0, db_default=0, help_text="Claims so far.")
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When it last became todo: claims take the oldest first."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Not claimable before this time (a retry's back-off)."
    )
    error_kind = models.CharField(
        max_length=24, choices=ErrorKind.choices, blank=True, default="", db_default="",
        help_text="Why it last failed: kept when a retry sends it back to the queue.",
    )
    # The problem's, copied: the claim index orders by them without a join.
    priority = models.IntegerField(default=0, db_default=0, help_text="Its problem's: higher is claimed first.")
    max_run_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Its problem's run-time limit, if lower than the platform's."
    )
    run_deadline = models.DateTimeField(
        null=True, blank=True, help_text="When the current claim fails for running too long."
    )
    # Data locality: only compute workers of this site may claim the task (any worker when
    # it has none). No index of its own: the claim index leads with it (claim_site).
    site = models.ForeignKey(
        "accounts.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False, help_text="The site of its data; none for platform data.",
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=Status.PENDING)
                | models.Q(worker__isnull=False, lease_expires_at__isnull=False),
                name="%(app_label)s_%(class)s_pending_has_lease",
            ),
        ]
        indexes = [
            # The claim query: a site's (or the platform's) todo tasks, highest priority
            # then oldest first, over only the claimable rows.
            models.Index(
                claim_site(), models.F("priority").desc(), models.F("queued_at"), models.F("uuid"),
                condition=models.Q(status="todo"),
                name="%(class)s_claimable",
            ),
            # Lease expiry sweeps only look at pending rows.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="pending"),
                name="%(class)s_leases",
            ),
        ]


def follow_problem(model: type[QueueTask], problem: uuid.UUID, *, priority: int, max_run_seconds: int | None) -> int:
    """Copy a problem's priority and run-time limit onto its tasks (model: a task kind with
    a `problem`), in one statement; return how many changed. The claim index orders by the
    copy, so a claim joins nothing."""
    return (
        model._default_manager.filter(**{"problem_id": problem})  # not a field of QueueTask: of `model`
        .exclude(priority=priority, max_run_seconds=max_run_seconds)
        .update(priority=priority, max_run_seconds=max_run_seconds)
    )


class EventId(models.Func):
    """An event's id, in commit-safe order: its transaction's id, then a counter.

    The event feed hands out events after an id. Ids drawn from a sequence follow the
    inserts, not the commits: an event whose transaction commits after a later one's would
    be skipped by a reader that already went past it. Every transaction older than the
    oldest one still running has ended, so the feed serves only ids below that horizon
    (`FEED_HORIZON`), and nothing can appear there later. A transaction that writes for
    long (a large re-queue) holds the feed back until it ends. The counter (a sequence, 20
    bits) orders the events of one transaction.
    """

    template = "((pg_current_xact_id()::text::bigint << 20) | (nextval('tasks_taskevent_local') & 1048575))"
    output_field = models.BigIntegerField()


# Ids below this are final: every transaction of this database that was running when the
# statement's snapshot was taken (and any of unknown database: it may have just ended) is
# younger (see EventId). Transactions of other databases on the server do not hold it back.
FEED_HORIZON = """(
    SELECT COALESCE(
        (SELECT min(running) FROM pg_snapshot_xip(s.snap) running
         WHERE NOT EXISTS (SELECT FROM pg_stat_activity a
                           WHERE a.datname <> current_database()
                             AND a.backend_xid::text::bigint = mod(running::text::bigint, 4294967296))),
        pg_snapshot_xmax(s.snap)
    )::text::bigint << 20
    FROM (SELECT pg_current_snapshot() AS snap) s
)"""


class TaskEvent(models.Model):
    """Append-only history of every status change of every task."""

    id = models.BigIntegerField(primary_key=True, db_default=EventId(), editable=False)
    kind = models.CharField(max_length=16, help_text="The task's kind: learnuplet, preduplet.")
    task = models.UUIDField()
    problem = models.UUIDField(null=True, blank=True, help_text="The task's problem.")
    algo = models.UUIDField(null=True, blank=True, help_text="The task's algo (a learnuplet's).")
    from_status = models.CharField(max_length=8, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=8, choices=Status.choices)
    attempt = models.PositiveIntegerField(default=0)
    worker = models.UUIDField(null=True, blank=True)
    actor = models.CharField(max_length=150, help_text="User name, or 'system'.")
    reason = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "task", "at"]),
            # The event feed, filtered: `?problem=` and `?algo=` after an id.
            models.Index(fields=["problem", "id"], name="taskevent_problem_feed"),
            models.Index(fields=["algo", "id"], name="taskevent_algo_feed", condition=models.Q(algo__isnull=False)),
        ]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.task}: {self.from_status or '-'} → {self.to_status}"


@functools.cache
def task_models() -> dict[str, type[QueueTask]]:
    """The installed task models by kind: `tasks` imports none of the apps that own them."""
    return {m.kind: m for m in apps.get_models() if issubclass(m, QueueTask)}
