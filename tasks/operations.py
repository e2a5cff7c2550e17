"""What operators do to tasks: re-queue failed ones, re-queue stale claims, fail tasks by hand.

The management commands and the admin actions call these and nothing else. Every change
goes through `tasks.queue` (`requeue`, `transition`): the rows are locked and `where` is
evaluated again on their current versions, so a run is safe while workers claim and
report, and running it twice changes nothing the second time. Each task changed gets one
TaskEvent row with the operator's name and reason.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Now

from learning.models import Learnuplet
from learning.services import lock_chains, release_next
from predictions.models import Preduplet
from problems.models import Algo, Problem
from tasks.models import ACTIVE, ENDED, QueueTask, Status
from tasks.queue import requeue, transition_rows

KINDS: dict[str, tuple[type[QueueTask], ...]] = {
    "learn": (Learnuplet,),
    "pred": (Preduplet,),
    "all": (Learnuplet, Preduplet),
}

# A learnuplet without a start model cannot run: it goes back to waiting for its chain.
WAITING_UNLESS: dict[str, str] = {Learnuplet.kind: "model_start"}

DEFAULT_BATCH = 5000

Progress = Callable[[int], None]


class SelectionError(ValueError):
    """The operator named something that does not exist or a window that is empty."""


@dataclass(frozen=True)
class Selection:
    """Which tasks the operator means; every criterion given must hold."""

    problem: uuid.UUID | None = None
    algo: uuid.UUID | None = None
    uuids: tuple[uuid.UUID, ...] = ()
    since: datetime | None = None
    before: datetime | None = None

    def check(self) -> None:
        if self.problem is not None and not Problem.objects.filter(pk=self.problem).exists():
            raise SelectionError(f"no problem {self.problem}")
        if self.algo is not None and not Algo.objects.filter(pk=self.algo).exists():
            raise SelectionError(f"no algo {self.algo}")
        if self.since is not None and self.before is not None and self.since >= self.before:
            raise SelectionError(f"empty window: since {self.since.isoformat()} is not before {self.before.isoformat()}")

    def where(self, model: type[QueueTask], *, time_field: str) -> Q:
        q = Q()
        if self.problem is not None:
            q &= Q(problem_id=self.problem)
        if self.algo is not None:
            if model is Learnuplet:
                q &= Q(algo_id=self.algo)
            else:
                # A preduplet belongs to an algo through the trained model it applies.
                q &= Q(model__in=Learnuplet.objects.filter(algo_id=self.algo).values("model_end"))
        if self.uuids:
            q &= Q(pk__in=list(self.uuids))
        if self.since is not None:
            q &= Q(**{f"{time_field}__gte": self.since})
        if self.before is not None:
            q &= Q(**{f"{time_field}__lt": self.before})
        return q


@dataclass
class Outcome:
    """What a run changed (or, for a dry run, would change): (task, new status) pairs."""

    kind: str
    changed: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    refused: int = 0  # stale re-queue: pending tasks left alone because their lease is live
    released: list[uuid.UUID] = field(default_factory=list)  # re-queued as waiting, then released
    dry_run: bool = False

    @property
    def count(self) -> int:
        return len(self.changed)


def stale(older_than: timedelta | None = None) -> Q:
    """Pending tasks nobody works on: lease run out, or no heartbeat for `older_than`."""
    gone = Q(lease_expires_at__lt=Now())
    if older_than is not None:
        gone |= Q(heartbeat_at__lt=ExpressionWrapper(Now() - Value(older_than), output_field=DateTimeField()))
    return Q(status=Status.PENDING) & gone


def _requeue_target(model: type[QueueTask]) -> Case | Value:
    waiting_unless = WAITING_UNLESS.get(model.kind)
    if waiting_unless is None:
        return Value(Status.TODO, output_field=CharField())
    return Case(When(**{f"{waiting_unless}__isnull": True}, then=Value(Status.WAITING)),
                default=Value(Status.TODO), output_field=CharField())


def _preview(model: type[QueueTask], where: Q, target: Case | Value) -> list[tuple[uuid.UUID, str]]:
    return list(model.objects.filter(where).annotate(_to=target).order_by("pk").values_list("pk", "_to"))


def _in_batches(
    model: type[QueueTask], where: Q, apply: Callable[[Q], list[tuple[uuid.UUID, str]]],
    *, batch_size: int | None, progress: Progress | None,
) -> list[tuple[uuid.UUID, str]]:
    """Apply a set-based change to `where`, in one transaction or in batches.

    Batches keep each transaction (and its row locks) short on large sets, so workers
    are never held up for long. The candidates are read once, up front; each batch's
    change re-checks `where` under the row locks, so a task that moved meanwhile is
    skipped, and one that started to match meanwhile is left for the next run.
    """
    if batch_size is None:
        with transaction.atomic():
            return apply(where)
    candidates = list(model.objects.filter(where).order_by().values_list("pk", flat=True))
    changed: list[tuple[uuid.UUID, str]] = []
    for start in range(0, len(candidates), batch_size):
        with transaction.atomic():
            changed += apply(where & Q(pk__in=candidates[start : start + batch_size]))
        if progress is not None:
            progress(len(changed))
    return changed


def _requeue(
    model: type[QueueTask], where: Q, *, actor: str, reason: str, reset_attempts: bool,
    released: list[uuid.UUID],
) -> list[tuple[uuid.UUID, str]]:
    """Inside a transaction: `requeue` the tasks, saying which went to todo and which to waiting."""
    waiting_unless = WAITING_UNLESS.get(model.kind)
    if waiting_unless is None:
        moved = requeue(model, where=where, actor=actor, reason=reason, reset_attempts=reset_attempts)
        return [(pk, Status.TODO) for pk in moved]
    ready = requeue(model, where=where & Q(**{f"{waiting_unless}__isnull": False}), actor=actor,
                    reason=reason, reset_attempts=reset_attempts, waiting_unless=waiting_unless)
    unready = where & Q(**{f"{waiting_unless}__isnull": True})
    # Lock the chains before looking at them, as release_next does: a predecessor
    # finishing meanwhile would otherwise miss its successor (still failed in its
    # snapshot) while we still see it running, and the successor would wait for ever.
    lock_chains(Q(pk__in=model.objects.filter(unready).values("algo_id")))
    waiting = requeue(model, where=unready, actor=actor, reason=reason, reset_attempts=reset_attempts,
                      waiting_unless=waiting_unless)
    if waiting:
        released += _release_orphans(waiting)
    return [(pk, Status.TODO) for pk in ready] + [(pk, Status.WAITING) for pk in waiting]


def _release_orphans(waiting: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Learnuplets put back to waiting whose previous rank has already ended: nothing else
    would release them, so release them now, the way a finishing predecessor does."""
    waiting_q = Learnuplet.objects.filter(pk__in=list(waiting))
    successor = waiting_q.filter(algo_id=OuterRef("algo_id"), rank=OuterRef("rank") + 1)
    ended = Learnuplet.objects.filter(
        status__in=ENDED, algo_id__in=waiting_q.values("algo_id")
    ).filter(Exists(successor))
    return release_next(list(ended.only("algo_id", "rank")))


def requeue_failed(
    model: type[QueueTask],
    *,
    where: Q | None = None,
    actor: str,
    reason: str,
    reset_attempts: bool = False,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Failed tasks back to run: todo, or waiting for a learnuplet with no start model."""
    where = (where or Q()) & Q(status=Status.FAILED)
    return _requeue_run(model, where, Outcome(kind=model.kind, dry_run=dry_run), actor=actor,
                        reason=reason, reset_attempts=reset_attempts, batch_size=batch_size,
                        progress=progress)


def requeue_stale(
    model: type[QueueTask],
    *,
    where: Q | None = None,
    actor: str,
    reason: str,
    older_than: timedelta | None = None,
    force: bool = False,
    reset_attempts: bool = False,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Pending tasks whose worker is gone back to todo; live leases only with `force`."""
    where = where or Q()
    target = Q(status=Status.PENDING) if force else stale(older_than)
    outcome = Outcome(kind=model.kind, dry_run=dry_run)
    if not force:
        outcome.refused = model.objects.filter(where & Q(status=Status.PENDING) & ~target).count()
    return _requeue_run(model, where & target, outcome, actor=actor, reason=reason,
                        reset_attempts=reset_attempts, batch_size=batch_size, progress=progress)


def _requeue_run(
    model: type[QueueTask], where: Q, outcome: Outcome, *, actor: str, reason: str,
    reset_attempts: bool, batch_size: int | None, progress: Progress | None,
) -> Outcome:
    """Re-queue `where` (or only preview it for a dry run) and record it in `outcome`."""
    if outcome.dry_run:
        outcome.changed = _preview(model, where, _requeue_target(model))
        return outcome

    def apply(q: Q) -> list[tuple[uuid.UUID, str]]:
        return _requeue(model, q, actor=actor, reason=reason, reset_attempts=reset_attempts,
                        released=outcome.released)

    outcome.changed = _in_batches(model, where, apply, batch_size=batch_size, progress=progress)
    return outcome


def mark_failed(
    model: type[QueueTask],
    *,
    where: Q | None = None,
    actor: str,
    reason: str,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Fail active tasks by hand, as a worker's failed result would (the chain moves on).

    A worker still holding one of them gets 409 on its next heartbeat or result.
    """
    if not reason.strip():
        raise SelectionError("a reason is required to mark tasks failed")
    where = (where or Q()) & Q(status__in=ACTIVE)
    outcome = Outcome(kind=model.kind, dry_run=dry_run)
    if dry_run:
        outcome.changed = _preview(model, where, Value(Status.FAILED, output_field=CharField()))
        return outcome

    def apply(q: Q) -> list[tuple[uuid.UUID, str]]:
        failed = transition_rows(
            model, where=q, to=Status.FAILED,
            values={model.ended_field: Now(), "lease_expires_at": None, "last_error": reason},
            actor=actor, reason=reason,
        )
        if failed:
            model.on_ended(failed)
        return [(task.pk, Status.FAILED) for task in failed]

    outcome.changed = _in_batches(model, where, apply, batch_size=batch_size, progress=progress)
    return outcome


# What operators look at: the figures of `orchestrator_status` and of /metrics. Each is one
# query whatever the number of tasks.


@dataclass(frozen=True)
class Oldest:
    task: uuid.UUID
    queued_at: datetime


@dataclass(frozen=True)
class FailureGroup:
    error: str
    count: int
    example: uuid.UUID


def counts_by_status(model: type[QueueTask]) -> dict[str, int]:
    counts = dict.fromkeys(Status.values, 0)
    rows = model.objects.order_by().values_list("status").annotate(n=Count("pk"))
    counts.update({status: n for status, n in rows})
    return counts


def counts_by_problem(model: type[QueueTask]) -> list[dict[str, object]]:
    """Counts by status per problem, and per algo for learnuplets (which have one)."""
    keys = ["problem_id", "algo_id", "algo__name"] if model is Learnuplet else ["problem_id"]
    rows = model.objects.order_by().values(*keys, "status").annotate(n=Count("pk"))
    grouped: dict[tuple[object, ...], dict[str, object]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        entry = grouped.setdefault(key, {
            "problem": row["problem_id"], "algo": row.get("algo_id"), "algo_name": row.get("algo__name"),
            **dict.fromkeys(Status.values, 0),
        })
        entry[row["status"]] = row["n"]
    return sorted(grouped.values(), key=lambda e: (str(e["problem"]), str(e["algo_name"] or ""), str(e["algo"])))


def oldest_todo(model: type[QueueTask]) -> Oldest | None:
    # Reads the first entry of the claim index (status = 'todo', ordered by queued_at).
    row = model.objects.filter(status=Status.TODO).order_by("queued_at", "pk").values_list("pk", "queued_at").first()
    return Oldest(*row) if row else None


def lease_counts(model: type[QueueTask], *, within: timedelta) -> tuple[int, int]:
    """Pending tasks whose lease has run out (not swept yet), and those running out within `within`."""
    soon = ExpressionWrapper(Now() + Value(within), output_field=DateTimeField())
    found = model.objects.filter(status=Status.PENDING).aggregate(
        expired=Count("pk", filter=Q(lease_expires_at__lt=Now())),
        expiring=Count("pk", filter=Q(lease_expires_at__gte=Now(), lease_expires_at__lt=soon)),
    )
    return found["expired"], found["expiring"]


def _failed_since(model: type[QueueTask], since: timedelta) -> QuerySet[QueueTask]:
    start = ExpressionWrapper(Now() - Value(since), output_field=DateTimeField())
    return model.objects.filter(status=Status.FAILED, **{f"{model.ended_field}__gte": start}).order_by()


def failure_count(model: type[QueueTask], *, since: timedelta) -> int:
    return _failed_since(model, since).count()


def recent_failures(model: type[QueueTask], *, since: timedelta, limit: int = 10) -> list[FailureGroup]:
    """Failures ended within `since`, grouped by error text, most frequent first."""
    rows = (
        _failed_since(model, since)
        .values("last_error")
        .annotate(n=Count("pk"), example=Min(Cast("pk", output_field=CharField())))
        .order_by("-n", "last_error")[:limit]
    )
    return [FailureGroup(error=r["last_error"], count=r["n"], example=uuid.UUID(r["example"])) for r in rows]
