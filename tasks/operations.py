"""What operators do to tasks, for any kind: re-queue failed ones, re-queue stale claims,
fail tasks by hand; and the figures they look at.

The management commands and the admin actions call these with the lifecycle of the kind
of task (`tasks.lifecycle.Lifecycle`), which does each change through `tasks.queue`: the
rows are locked and `where` is evaluated again on their current versions, so a run is
safe while workers claim and report, and running it twice changes nothing the second
time. Each task changed gets one TaskEvent row with the operator's name and reason.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Expression,
    ExpressionWrapper,
    Min,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Now

from tasks.lifecycle import Lifecycle, Requeued
from tasks.models import ACTIVE, QueueTask, Status

DEFAULT_BATCH = 5000

Progress = Callable[[int], None]


class SelectionError(ValueError):
    """The operator named something that does not exist, a window that is empty, or no reason."""


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
    """Pending tasks whose lease has run out (and, with `older_than`, silent that long)."""
    return silent(older_than) & Q(lease_expires_at__lt=Now())


def silent(older_than: timedelta | None = None) -> Q:
    """Pending tasks, without a heartbeat (or a claim: it counts as one) for `older_than`."""
    pending = Q(status=Status.PENDING)
    if older_than is None:
        return pending
    return pending & Q(heartbeat_at__lt=ExpressionWrapper(Now() - Value(older_than), output_field=DateTimeField()))


def _preview(model: type[QueueTask], where: Q, target: Expression) -> list[tuple[uuid.UUID, str]]:
    return list(model._default_manager.filter(where).annotate(_to=target).order_by("pk").values_list("pk", "_to"))


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
    candidates = list(model._default_manager.filter(where).order_by().values_list("pk", flat=True))
    changed: list[tuple[uuid.UUID, str]] = []
    for start in range(0, len(candidates), batch_size):
        with transaction.atomic():
            changed += apply(where & Q(pk__in=candidates[start : start + batch_size]))
        if progress is not None:
            progress(len(changed))
    return changed


def requeue_failed(
    tasks: Lifecycle,
    *,
    where: Q | None = None,
    actor: str,
    reason: str,
    reset_attempts: bool = False,
    canceled: bool = False,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Failed tasks (and canceled ones with `canceled`) back to run: todo, or waiting
    while their chain is not ready."""
    where = (where or Q()) & Q(status__in=[Status.FAILED, Status.CANCELED] if canceled else [Status.FAILED])
    return _requeue_run(tasks, where, Outcome(kind=tasks.model.kind, dry_run=dry_run), actor=actor,
                        reason=reason, reset_attempts=reset_attempts, batch_size=batch_size,
                        progress=progress)


def requeue_stale(
    tasks: Lifecycle,
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
    """Pending tasks whose lease ran out back to todo; live leases too only with `force`.

    A live lease means its worker may still be working (workers of the 2017 routes never
    heartbeat, on a lease of hours): re-queueing it runs the task twice, so only `force`
    takes one, never a silence alone. `older_than` narrows either set to the claims
    without a heartbeat for that long; live leases it would take with `force` are counted
    in `refused`.
    """
    where = where or Q()
    target = silent(older_than) if force else stale(older_than)
    outcome = Outcome(kind=tasks.model.kind, dry_run=dry_run)
    if not force:
        outcome.refused = tasks.model._default_manager.filter(where & silent(older_than) & ~target).count()
    return _requeue_run(tasks, where & target, outcome, actor=actor, reason=reason,
                        reset_attempts=reset_attempts, batch_size=batch_size, progress=progress)


def _requeue_run(
    tasks: Lifecycle, where: Q, outcome: Outcome, *, actor: str, reason: str,
    reset_attempts: bool, batch_size: int | None, progress: Progress | None,
) -> Outcome:
    """Re-queue `where` (or only preview it for a dry run) and record it in `outcome`."""
    if outcome.dry_run:
        outcome.changed = _preview(tasks.model, where, tasks.requeue_target())
        return outcome

    def apply(q: Q) -> list[tuple[uuid.UUID, str]]:
        requeued: Requeued = tasks.requeue(q, actor=actor, reason=reason, reset_attempts=reset_attempts)
        outcome.released += requeued.released
        return requeued.changed

    outcome.changed = _in_batches(tasks.model, where, apply, batch_size=batch_size, progress=progress)
    return outcome


def mark_failed(
    tasks: Lifecycle,
    *,
    where: Q | None = None,
    actor: str,
    reason: str,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Fail active tasks by hand, as a worker's failed result would (a chain moves on).

    A worker still holding one of them gets 409 on its next heartbeat or result.
    """
    if not reason.strip():
        raise SelectionError("a reason is required to mark tasks failed")
    return _end_run(tasks, (where or Q()) & Q(status__in=ACTIVE), Status.FAILED,
                    lambda q: tasks.fail(q, actor=actor, reason=reason),
                    dry_run=dry_run, batch_size=batch_size, progress=progress)


def cancel(
    tasks: Lifecycle,
    *,
    where: Q | None = None,
    actor: str,
    reason: str,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Cancel active tasks (for learnuplets, with the later ranks of their chains): they
    end, `canceled`, and release nothing. A worker holding one hears 409 `canceled` at its
    next heartbeat or result."""
    return _end_run(tasks, tasks.cancel_scope((where or Q()) & Q(status__in=ACTIVE)), Status.CANCELED,
                    lambda q: tasks.cancel(q, actor=actor, reason=reason),
                    dry_run=dry_run, batch_size=batch_size, progress=progress)


def _end_run(
    tasks: Lifecycle, where: Q, status: str, end: Callable[[Q], list[uuid.UUID]], *,
    dry_run: bool, batch_size: int | None, progress: Progress | None,
) -> Outcome:
    """End the tasks matching `where` with `status` by `end` (or only preview it for a dry
    run), in batches; the changes in an Outcome."""
    outcome = Outcome(kind=tasks.model.kind, dry_run=dry_run)
    if dry_run:
        outcome.changed = _preview(tasks.model, where, Value(status, output_field=CharField()))
        return outcome
    outcome.changed = _in_batches(tasks.model, where, lambda q: [(pk, status) for pk in end(q)],
                                  batch_size=batch_size, progress=progress)
    return outcome


# What operators look at: the figures of `orchestrator_status` and of /metrics. Each is one
# query whatever the number of tasks.


@dataclass(frozen=True)
class Oldest:
    task: uuid.UUID
    queued_at: datetime | None


@dataclass(frozen=True)
class FailureGroup:
    error: str
    count: int
    example: uuid.UUID


def counts_by_status(model: type[QueueTask]) -> dict[str, int]:
    counts = dict.fromkeys(Status.values, 0)
    rows = model._default_manager.order_by().values_list("status").annotate(n=Count("pk"))
    counts.update({status: n for status, n in rows})
    return counts


def counts_by_problem(model: type[QueueTask], *, per_algo: bool) -> list[dict[str, object]]:
    """Counts by status per problem, and per algo (`per_algo`: the tasks have an `algo`)."""
    keys = ["problem_id", "algo_id", "algo__name"] if per_algo else ["problem_id"]
    rows = model._default_manager.order_by().values(*keys, "status").annotate(n=Count("pk"))
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
    row = model._default_manager.filter(status=Status.TODO).order_by("queued_at", "pk").values_list("pk", "queued_at").first()
    return Oldest(*row) if row else None


def lease_counts(model: type[QueueTask], *, within: timedelta) -> tuple[int, int]:
    """Pending tasks whose lease has run out (not swept yet), and those running out within `within`."""
    soon = ExpressionWrapper(Now() + Value(within), output_field=DateTimeField())
    found = model._default_manager.filter(status=Status.PENDING).aggregate(
        expired=Count("pk", filter=Q(lease_expires_at__lt=Now())),
        expiring=Count("pk", filter=Q(lease_expires_at__gte=Now(), lease_expires_at__lt=soon)),
    )
    return found["expired"], found["expiring"]


def _failed_since(model: type[QueueTask], since: timedelta) -> QuerySet[QueueTask]:
    start = ExpressionWrapper(Now() - Value(since), output_field=DateTimeField())
    return model._default_manager.filter(status=Status.FAILED, **{f"{model.ended_field}__gte": start}).order_by()


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


# A task without a site is the platform's: its name where operators read sites.
PLATFORM_NAME = "platform"


@dataclass(frozen=True)
class SiteCounts:
    """A site's tasks (`site` None: the platform's) of one kind."""

    site: uuid.UUID | None
    name: str | None
    counts: dict[str, int]  # by status, every status
    oldest_todo: datetime | None  # when the site's oldest todo task was queued
    expired: int  # pending, lease run out, not swept yet

    @property
    def label(self) -> str:
        """The site's name, PLATFORM_NAME for none; a site that is itself named so is told
        apart by its UUID, so that no two sites share a label."""
        if self.name is None:
            return PLATFORM_NAME
        return f"{self.name} ({self.site})" if self.name == PLATFORM_NAME else self.name


def counts_by_site(model: type[QueueTask]) -> list[SiteCounts]:
    """Per site with tasks: counts by status, the oldest todo, the expired leases. One query
    (one scan, as counts_by_status), sites by name and the platform last."""
    rows = (
        model._default_manager.order_by().values("site_id", "site__name", "status")
        .annotate(n=Count("pk"), oldest=Min("queued_at", filter=Q(status=Status.TODO)),
                  expired=Count("pk", filter=Q(status=Status.PENDING, lease_expires_at__lt=Now())))
    )
    counts: dict[uuid.UUID | None, dict[str, int]] = {}
    names: dict[uuid.UUID | None, str | None] = {}
    oldest: dict[uuid.UUID | None, datetime] = {}
    expired: dict[uuid.UUID | None, int] = {}
    for row in rows:
        key = row["site_id"]
        counts.setdefault(key, dict.fromkeys(Status.values, 0))[row["status"]] = row["n"]
        names[key] = row["site__name"]
        if row["oldest"] is not None:  # the todo row's
            oldest[key] = row["oldest"]
        expired[key] = expired.get(key, 0) + row["expired"]
    sites = [SiteCounts(site=key, name=names[key], counts=by_status, oldest_todo=oldest.get(key),
                        expired=expired[key]) for key, by_status in counts.items()]
    return sorted(sites, key=lambda s: (s.site is None, s.name or "", str(s.site)))
