"""The task queue's primitives: claims, heartbeats, results, lease expiry, re-queues,
releases, and the event log.

One implementation for every QueueTask model; the apps that own the tasks (learning,
predictions) compose these into their lifecycles. Each public function is a named action
of the status machine (`tasks.models.TRANSITIONS`), and they are the only code that
changes a status: every change is one statement that locks the rows it changes, updates
them and writes one event row per task, whatever the number of rows. Workers race on
claims, so those lock with SKIP LOCKED; nothing reads a status and then writes it.
"""

import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Field, ForeignKey, Q, UUIDField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Least, Now
from django.db.models.lookups import Exact
from django.db.models.sql import UpdateQuery

from orchestrator_site.errors import NotFoundError, StateConflict
from tasks import observe
from orchestrator_site.compiled import Param, fetch
from tasks.models import PLATFORM, TRANSITIONS, ErrorKind, QueueTask, Status, TaskEvent, claim_site

T = TypeVar("T", bound=QueueTask)

LEASE_EXPIRED = "lease expired"

# Workers waiting for a task listen on this channel (tasks.wakeups). A payload is
# "<kind> <site or -> <count> <epoch when claimable, or ->", one per site of the tasks
# made claimable; the time is set when they wait out a back-off first.
READY_CHANNEL = "orchestrator_ready"
READY_NOTIFY = (
    "SELECT count(pg_notify(%s, ready.payload)) FROM ("
    " SELECT concat_ws(' ', %s::text, coalesce(ready_site::text, '-'), count(*),"
    "  coalesce(extract(epoch FROM min(ready_at))::text, '-')) AS payload"
    " FROM moved GROUP BY ready_site) ready"
)


class TaskNotFound(NotFoundError):
    """No task with that UUID (404)."""


class TaskConflict(StateConflict):
    """The task is not in a state that allows this change now (409); `status`, when given,
    is its status (a worker told `canceled` stops the task's work)."""


def lease_end() -> "ExpressionWrapper[Any]":
    """When a lease taken now runs out; binds the `lease` parameter (a timedelta)."""
    return ExpressionWrapper(Now() + Param("lease", DurationField()), output_field=DateTimeField())


def lease_length(seconds: int | None = None) -> timedelta:
    return timedelta(seconds=seconds or settings.ORCHESTRATOR_LEASE_SECONDS)


_STATE_FIELDS = ("uuid", "status", "attempt", "worker")


def _transition(
    model: type[T],
    action: str,
    *,
    where: Q,
    to: str,
    values: Mapping[str, Any] | None = None,
    actor: str,
    reason: str = "",
    order_by: Sequence[str] = (),
    limit: int | None = None,
    skip_locked: bool = False,
    params: dict[str, Any] | None = None,
    key: Hashable | None = None,
    whole_rows: bool = True,
) -> list[T]:
    """Move the tasks matching `where` and `action`'s source statuses to `to`, setting
    `values`; return the moved tasks as they are now (no query to read them).

    One statement: a CTE picks and locks the rows (`FOR UPDATE`, skipping rows other
    transactions hold when `skip_locked`), so `where` is evaluated on the current row
    versions and two callers can never both move one task; the UPDATE moves them and the
    INSERT appends their events (by `actor`, with `reason`). Alone it is atomic; a caller
    with follow-up work (a chain's release) runs both in one transaction.

    The hot paths give a `key` and write `where` and `values` with `Param`s bound from
    `params`: the statement is then compiled once (see orchestrator_site.compiled). Without
    `whole_rows`, only the state fields are loaded.
    """
    move = TRANSITIONS[action]
    if to not in move.targets:
        raise ValueError(f"{action!r} cannot move a {model.kind} to {to!r}: see tasks.models.TRANSITIONS")
    sources = sorted(move.sources)
    from_status = Q(status=sources[0]) if len(sources) == 1 else Q(status__in=sources)
    # In the model's order: Model.from_db takes a partial row in that order.
    fields = [f for f in model._meta.concrete_fields if whole_rows or f.attname in _STATE_FIELDS]

    def build() -> tuple[str, list[Any]]:
        # of=self: lock only the task rows, never rows of tables a filter or ordering joins.
        picked = (
            model._default_manager.select_for_update(skip_locked=skip_locked, of=("self",))
            .filter(from_status & where)
            .order_by(*order_by)
        )
        if limit is not None:
            picked = picked[:limit]
        picked_sql, picked_params = picked.values_list("pk", "status").query.sql_with_params()
        update = cast(UpdateQuery, model._default_manager.filter(pk__in=RawSQL("SELECT uuid FROM picked", []))
                      .query.chain(UpdateQuery))
        update.add_update_values({"status": to, **(values or {})})
        update_sql, update_params = update.get_compiler(connection=connection).as_sql()
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        events = qn(TaskEvent._meta.db_table)
        columns = [qn(_column(f)) for f in fields]
        returning = ", ".join(f"{table}.{c}" for c in columns)
        links = "".join(f", {qn(field)}" for field in model.event_links)
        link_values = "".join(f", moved.link_{field}" for field in model.event_links)
        returning += "".join(f", {table}.{qn(column)} AS link_{field}" for field, column in model.event_links.items())
        notify, notify_params = "", []
        if to == Status.TODO:
            # Tasks made claimable wake the workers waiting for them (tasks.wakeups), at
            # commit: NOTIFY is transactional. One notification per site; an uncorrelated
            # subquery, so it runs once, and not at all when nothing moved.
            returning += f", {table}.site_id AS ready_site, {table}.not_before AS ready_at"
            notify = f", ({READY_NOTIFY})"
            notify_params = [READY_CHANNEL, model.kind]
        # MATERIALIZED: the picked rows are read once, so LIMIT with SKIP LOCKED cannot
        # pick different rows for the UPDATE and for the events. A data-modifying CTE
        # runs to completion whether or not the main query reads it.
        sql = f"""
            WITH picked(uuid, from_status) AS MATERIALIZED ({picked_sql}),
            moved AS ({update_sql} RETURNING {returning}),
            logged AS (
                INSERT INTO {events} (kind, task, from_status, to_status, attempt, worker, actor, reason, at{links})
                SELECT %s, moved.uuid, picked.from_status, moved.status, moved.attempt, moved.worker, %s, %s, now()
                    {link_values}
                FROM moved JOIN picked USING (uuid)
            )
            SELECT picked.from_status, {", ".join(f"moved.{c}" for c in columns)}{notify}
            FROM moved JOIN picked USING (uuid)
            """
        return sql, [*picked_params, *update_params, Param("kind"), Param("actor"), Param("reason"), *notify_params]

    rows = fetch((model, action, to, key, whole_rows) if key is not None else None, build,
                 {**(params or {}), "kind": model.kind, "actor": actor, "reason": reason})
    if not rows:
        return []
    tasks = _load(model, fields, [row[1 : 1 + len(fields)] for row in rows])
    observe.status_changed(
        model.kind,
        [(t.pk, row[0], t.status, t.worker, t.attempt) for t, row in zip(tasks[: observe.LOG_MAX_TASKS], rows)],
        count=len(rows), actor=actor, reason=reason,
    )
    return tasks


def _column(field: "Field[Any, Any]") -> str:
    assert field.column is not None, field  # every concrete field has a column
    return field.column


def _field(model: type[QueueTask], name: str) -> "Field[Any, Any]":
    field = model._meta.get_field(name)
    assert isinstance(field, Field), name  # a column, not a reverse relation
    return field


def _load(model: type[T], fields: "Sequence[Field[Any, Any]]", rows: Sequence[Sequence[Any]]) -> list[T]:
    """Model instances from raw rows of `fields`' columns, converted as the ORM would."""
    names = [f.attname for f in fields]
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    tasks = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i], None, connection)
        tasks.append(model.from_db(connection.alias, names, values))
    return tasks


def record_created(
    model: type[QueueTask], pks: Sequence[uuid.UUID], *, actor: str = "system", reason: str
) -> None:
    """History starts at creation: one event per new task, from no status, in one statement."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    events = qn(TaskEvent._meta.db_table)
    selected_links = "".join(f", t.{qn(column)} AS link_{field}" for field, column in model.event_links.items())
    links = "".join(f", {qn(field)}" for field in model.event_links)
    link_values = "".join(f", link_{field}" for field in model.event_links)
    with connection.cursor() as cursor:
        # The todo ones wake the workers waiting for them, as in `_transition`.
        cursor.execute(
            f"""
            WITH created AS (
                SELECT t.uuid, t.status, t.attempt, t.worker, t.site_id AS ready_site, t.not_before AS ready_at
                    {selected_links}
                FROM {table} t WHERE t.uuid = ANY(%s::uuid[])
            ), logged AS (
                INSERT INTO {events}
                    (kind, task, from_status, to_status, attempt, worker, actor, reason, at{links})
                SELECT %s, uuid, '', status, attempt, worker, %s, %s, now(){link_values} FROM created
                RETURNING task, from_status, to_status, worker, attempt
            ), moved AS (SELECT * FROM created WHERE status = %s)
            SELECT logged.*, ({READY_NOTIFY}) FROM logged
            """,
            [list(pks), model.kind, actor, reason, Status.TODO, READY_CHANNEL, model.kind],
        )
        rows = [row[:-1] for row in cursor.fetchmany(observe.LOG_MAX_TASKS)]
        observe.status_changed(model.kind, rows, count=len(pks), actor=actor, reason=reason)


class Expired(NamedTuple):
    requeued: list[uuid.UUID]
    failed: list[Any]  # the tasks that failed for good, whole


def leases_expired(model: type[QueueTask]) -> bool:
    """Whether some claim's lease has run out: one probe on the partial index of leases.

    Every claim asks first, and almost always finds none: cheaper than the two locking
    statements of `expire_leases`.
    """
    def build() -> tuple[str, Sequence[Any]]:
        probe = model._default_manager.filter(status=Status.PENDING, lease_expires_at__lt=Now()).order_by().values("pk")[:1]
        return probe.query.sql_with_params()

    return bool(fetch((model, "any lease expired"), build))


RUN_TIME_EXCEEDED = "run time exceeded"


def expire_leases(model: type[T]) -> Expired:
    """Give back the tasks whose lease ran out, after a back-off; fail for good those out
    of attempts, and those whose claim ran past its run-time limit (heartbeats or not: a
    lease never outlives that limit).

    Run by the owning app before each claim, so abandoned tasks return to the queue while
    workers poll, without a cron job or an operator; the app moves on what failed (a
    chain's next rank) in the same transaction.
    """
    expired = Q(lease_expires_at__lt=Now())
    overran = Q(run_deadline__lte=Now())
    max_attempts = settings.ORCHESTRATOR_MAX_ATTEMPTS
    ended = {model.ended_field: Now(), "lease_expires_at": None}
    # No savepoint: inside a claim's transaction it would cost two round trips a claim
    # and buy nothing, as a failure here fails the claim anyway.
    with transaction.atomic(savepoint=False):
        too_long = _transition(
            model, "expire",
            where=expired & overran,
            to=Status.FAILED,
            values={**ended, "last_error": RUN_TIME_EXCEEDED, "error_kind": ErrorKind.RUN_TIME_EXCEEDED},
            actor="system",
            reason=RUN_TIME_EXCEEDED,
            skip_locked=True,
        )
        requeued = _transition(
            model, "expire",
            where=expired & ~overran & Q(attempt__lt=max_attempts),
            to=Status.TODO,
            values={**_retry_values(), "error_kind": ErrorKind.LEASE_EXPIRED},
            params=_backoff_params(),
            actor="system",
            reason=LEASE_EXPIRED,
            skip_locked=True,
            whole_rows=False,
        )
        failed = _transition(
            model, "expire",
            where=expired & ~overran & Q(attempt__gte=max_attempts),
            to=Status.FAILED,
            values={**ended, "last_error": LEASE_EXPIRED, "error_kind": ErrorKind.LEASE_EXPIRED},
            actor="system",
            reason=f"{LEASE_EXPIRED} after {max_attempts} attempts",
            skip_locked=True,
        )
        observe.expired(model.kind, requeued=len(requeued), failed=len(failed) + len(too_long))
    return Expired([t.pk for t in requeued], too_long + failed)


def _run_limit() -> RawSQL:
    """The run-time limit of a claim taken now: the task's (its problem's) when lower than
    the platform's. Binds `max_run` (seconds)."""
    return RawSQL("make_interval(secs => LEAST(COALESCE(max_run_seconds, %s::integer), %s::integer))",
                  [Param("max_run"), Param("max_run")], output_field=DurationField())


def _claim_values() -> dict[str, Any]:
    """Binds `worker`, `lease` and `max_run`. The lease never outlives the run-time limit,
    so the one probe of expired leases also finds claims that ran too long."""
    return {
        "worker": Param("worker", UUIDField()),
        "attempt": F("attempt") + 1,
        "claimed_at": Now(),
        "heartbeat_at": Now(),
        "run_deadline": ExpressionWrapper(Now() + _run_limit(), output_field=DateTimeField()),
        "lease_expires_at": Least(lease_end(), ExpressionWrapper(Now() + _run_limit(), output_field=DateTimeField())),
    }


def _claim_params(lease: timedelta) -> dict[str, Any]:
    return {"lease": lease, "max_run": settings.ORCHESTRATOR_MAX_RUN_SECONDS}


# Claimable now: todo, and past its back-off if it has one.
_READY = Q(not_before__isnull=True) | Q(not_before__lte=Now())


def backoff() -> RawSQL:
    """When a task that failed at its current attempt may run again: base x 2^(attempt - 1)
    seconds, capped, times a jitter in [0.5, 1] drawn from the task and attempt (the same
    value for `not_before` and `queued_at` in one statement). Binds `retry_base` and
    `retry_max`."""
    return RawSQL(
        "now() + make_interval(secs => LEAST(%s::float8, %s::float8 * power(2, GREATEST(attempt, 1) - 1))"
        " * (0.5 + (hashtext(uuid::text || ':' || attempt::text) & 1023) / 2046.0))",
        [Param("retry_max"), Param("retry_base")], output_field=DateTimeField(),
    )


def _backoff_params() -> dict[str, Any]:
    return {"retry_base": settings.ORCHESTRATOR_RETRY_BASE_SECONDS, "retry_max": settings.ORCHESTRATOR_RETRY_MAX_SECONDS}


def _retry_values() -> dict[str, Any]:
    """Back to the queue after the back-off: ordered as if queued when it ends."""
    return {"worker": None, "lease_expires_at": None, "run_deadline": None,
            "not_before": backoff(), "queued_at": backoff()}


def claim_next(
    model: type[T], *, worker: uuid.UUID, actor: str, site: uuid.UUID | None = None
) -> T | None:
    """Claim the todo task that a worker of `site` may run first, or return None when none
    is claimable: its site's first, then the platform's (tasks without a site); in each,
    the highest priority, then the oldest, and none before its back-off has ended. A
    worker without a site claims only platform tasks.

    One statement for each, one scan of the claim index (which leads with the site, see
    tasks.models.claim_site). No transaction around them: BEGIN and COMMIT would be two
    of a claim's five round trips.
    """
    claimed: list[T] = []
    for key in (site, PLATFORM) if site is not None else (PLATFORM,):
        claimed = _transition(
            model, "claim",
            where=Q(Exact(claim_site(), Param("site", UUIDField()))) & _READY,
            to=Status.PENDING,
            values=_claim_values(),
            params={"worker": worker, "site": key, **_claim_params(lease_length())},
            key="next",
            actor=actor,
            order_by=("-priority", "queued_at", "pk"),
            limit=1,
            skip_locked=True,
        )
        if claimed:
            break
    observe.claimed(model.kind, len(claimed))
    return claimed[0] if claimed else None


def claimable(model: type[QueueTask], *, site: uuid.UUID | None = None) -> bool:
    """Whether a worker of `site` could claim a task of `model` now (claim_next's rule, one
    query on the claim index)."""
    sites = [site, PLATFORM] if site is not None else [PLATFORM]
    ready = model._default_manager.filter(status=Status.TODO).alias(at=claim_site()).filter(_READY, at__in=sites)
    return ready.exists()


class SiteForbidden(PermissionDenied):
    """A worker asked for a task of a site it does not belong to (403): training data
    never leave their site."""


def claim(
    model: type[T],
    pk: uuid.UUID,
    *,
    worker: uuid.UUID,
    actor: str,
    site: uuid.UUID | None = None,
    any_site: bool = False,
    lease_seconds: int | None = None,
) -> T:
    """Claim one named task; TaskConflict unless it is todo right now, SiteForbidden when
    it belongs to a site other than the worker's `site` (unless `any_site`: operators).
    One statement, as `claim_next`.

    `lease_seconds` overrides ORCHESTRATOR_LEASE_SECONDS (2017 workers never heartbeat).
    """
    where = Q(pk=Param("pk", UUIDField())) & _READY
    if not any_site:
        where &= Q(site__isnull=True) | Q(site_id=Param("site", UUIDField()))
    claimed = _transition(
        model, "claim",
        where=where,
        to=Status.PENDING,
        values=_claim_values(),
        params={"pk": pk, "worker": worker, "site": site, **_claim_params(lease_length(lease_seconds))},
        key=("named", any_site),
        actor=actor,
    )
    if not claimed:
        status, task_site, not_before = _state_of(model, pk)
        if not (any_site or task_site is None or task_site == site):
            raise SiteForbidden(f"{model.kind} {pk} belongs to another site: only its own compute workers "
                                "may run it")
        if status == Status.TODO and not_before is not None:
            raise TaskConflict(f"{model.kind} {pk} is backing off until {not_before.isoformat()}", status=status)
        raise TaskConflict(f"{model.kind} {pk} is {status}, not todo", status=status)
    observe.claimed(model.kind)
    return claimed[0]


@transaction.atomic
def heartbeat(model: type[T], pk: uuid.UUID, *, worker: uuid.UUID, attempt: int) -> T:
    """Renew the lease of the caller's current claim (the status stays pending), never past
    its run-time limit: a claim past it is not renewed (TaskConflict), and fails at the
    next sweep of expired leases."""
    renewed = model._default_manager.filter(
        Q(run_deadline__isnull=True) | Q(run_deadline__gt=Now()),
        pk=pk, status=Status.PENDING, worker=worker, attempt=attempt,
    ).update(heartbeat_at=Now(), lease_expires_at=Least(Now() + lease_length(), F("run_deadline")))
    if not renewed:
        status = status_of(model, pk)
        raise TaskConflict(f"this worker's claim (attempt {attempt}) on {model.kind} {pk} is not current"
                           f" ({model.kind} is {status})", status=status)
    return model._default_manager.get(pk=pk)


def finish(
    model: type[T],
    pk: uuid.UUID,
    *,
    worker: uuid.UUID | None,
    attempt: int | None,
    status: str,
    values: Mapping[str, Any],
    error: str = "",
    retry: bool = False,
    actor: str,
    check: Callable[[T], None] | None = None,
) -> tuple[T, bool]:
    """Record the result of the caller's claim: `done` with `values`, or `failed`. Return
    the task and whether this call ended it.

    A failure with `retry` (a transient fault) sends the task back to todo after a
    back-off while attempts remain (it has not ended then), and fails it for good after.
    Fenced by worker and attempt: a worker whose lease expired and whose task was given
    to another gets TaskConflict and changes nothing. The same result sent again changes
    nothing and returns the task as not ended by this call. `worker`/`attempt` None skip
    the fence (2017 clients report without them). `check` sees the task as the result
    left it; what it raises undoes the result. The caller's transaction, if any, holds
    what it does next (no savepoint of its own: a failure fails the caller's whole work).
    """
    fence = Q(pk=Param("pk", UUIDField()))
    if worker is not None:
        fence &= Q(worker=Param("worker", UUIDField()))
    if attempt is not None:
        fence &= Q(attempt=Param("attempt"))
    params = {**values, "pk": pk, "worker": worker, "attempt": attempt, "error": error}
    key = (worker is None, attempt is None, tuple(values))
    failure = {"last_error": Param("error"), "error_kind": ErrorKind.WORKER} if status == Status.FAILED else {}
    with transaction.atomic(savepoint=False):
        if retry and status == Status.FAILED:
            retried = _transition(
                model, "finish",
                where=fence & Q(attempt__lt=Param("max_attempts")),
                to=Status.TODO,
                values={**_retry_values(), **failure},
                params={**params, **_backoff_params(), "max_attempts": settings.ORCHESTRATOR_MAX_ATTEMPTS},
                key=key,
                actor=actor,
                reason=f"retry: {error}" if error else "retry",
            )
            if retried:
                observe.finished(model.kind, "retried")
                return retried[0], False
        ended = _transition(
            model, "finish",
            where=fence,
            to=status,
            values={
                **{name: Param(name, _field(model, name)) for name in values},
                model.ended_field: Now(),
                "lease_expires_at": None,
                "last_error": Param("error"),
                **failure,
            },
            params=params,
            key=key,
            actor=actor,
            reason=error,
        )
        if ended:
            if check is not None:
                check(ended[0])
            observe.finished(model.kind, status)
            return ended[0], True
    try:
        task = model._default_manager.get(pk=pk)
    except model.DoesNotExist:
        raise TaskNotFound(f"no {model.kind} {pk}") from None
    if _is_same_result(task, worker=worker, attempt=attempt, status=status, values=values, error=error,
                       retry=retry):
        return task, False
    raise TaskConflict(
        f"{model.kind} {pk} is {task.status} (attempt {task.attempt}); "
        f"this result for attempt {attempt} is not current",
        status=task.status,
    )


def _is_same_result(
    task: QueueTask,
    *,
    worker: uuid.UUID | None,
    attempt: int | None,
    status: str,
    values: Mapping[str, Any],
    error: str,
    retry: bool,
) -> bool:
    if worker is None or attempt is None or task.attempt != attempt or task.last_error != error:
        return False
    if retry and status == Status.FAILED and task.status == Status.TODO:
        # Sent back to the queue by this result: its claim is gone, the attempt and error stay.
        return task.worker is None and task.error_kind == ErrorKind.WORKER
    if task.status != status or task.worker != worker:
        return False
    return all(getattr(task, name) == value for name, value in values.items())


def lock_task(model: type[QueueTask], pk: uuid.UUID) -> str:
    """Lock one task's row until the end of the caller's transaction (a result or another
    change waits); return its status. TaskNotFound when there is no such task."""
    status: str | None = model._default_manager.select_for_update().filter(pk=pk).values_list(
        "status", flat=True).first()
    if status is None:
        raise TaskNotFound(f"no {model.kind} {pk}")
    return status


def status_of(model: type[QueueTask], pk: uuid.UUID) -> str:
    """The task's status now; TaskNotFound when there is no such task."""
    return _state_of(model, pk)[0]


def _state_of(model: type[QueueTask], pk: uuid.UUID) -> tuple[str, uuid.UUID | None, datetime | None]:
    """The task's status, site and back-off; TaskNotFound when there is no such task."""
    state: tuple[str, uuid.UUID | None, datetime | None] | None = (
        model._default_manager.filter(pk=pk).values_list("status", "site_id", "not_before").first()
    )
    if state is None:
        raise TaskNotFound(f"no {model.kind} {pk}")
    return state


def requeue(
    model: type[QueueTask],
    *,
    where: Q,
    to: str = Status.TODO,
    actor: str,
    reason: str,
    reset_attempts: bool = False,
) -> list[uuid.UUID]:
    """Put failed, canceled or pending tasks matching `where` back to `to`: todo, or waiting
    (a chained task whose start is not known yet), with no back-off. Operator tools build
    `where`."""
    values: dict[str, Any] = {
        "worker": None,
        "lease_expires_at": None,
        "run_deadline": None,
        "not_before": None,
        model.ended_field: None,
        "queued_at": Now() if to == Status.TODO else None,
    }
    if reset_attempts:
        values["attempt"] = 0
    moved = _transition(model, "requeue", where=where, to=to, values=values, actor=actor, reason=reason,
                        whole_rows=False)
    return [task.pk for task in moved]


def fail(model: type[T], *, where: Q, actor: str, reason: str) -> list[T]:
    """Fail active tasks matching `where` by hand, as a worker's failed result would.

    A worker still holding one of them gets 409 on its next heartbeat or result.
    """
    return _transition(
        model, "fail", where=where, to=Status.FAILED,
        values={model.ended_field: Now(), "lease_expires_at": None, "last_error": reason},
        actor=actor, reason=reason,
    )


def cancel(model: type[T], *, where: Q, actor: str, reason: str) -> list[T]:
    """Cancel the active tasks matching `where`: they end, `canceled`, and release nothing
    (a chain's owner locks it first). A worker still holding one gets 409 with the status
    `canceled` at its next heartbeat or result."""
    return _transition(
        model, "cancel", where=where, to=Status.CANCELED,
        values={model.ended_field: Now(), "lease_expires_at": None, "last_error": reason or "canceled",
                "error_kind": ErrorKind.CANCELED},
        actor=actor, reason=reason,
    )


def _chain_of(model: type[QueueTask]) -> "tuple[ForeignKey[Any, Any], Field[Any, Any]]":
    if model.chain is None:
        raise TypeError(f"{model.kind}s do not form chains")
    parent, position = model.chain
    fk = model._meta.get_field(parent)
    assert isinstance(fk, ForeignKey)
    return fk, _field(model, position)


def lock_chains(model: type[QueueTask], where: Q) -> None:
    """Lock the chains whose parents (rows of the chain's parent model) match `where`.

    Whoever extends a chain or moves it on takes this lock first, so an append and a
    release of one chain never interleave: a task appended as waiting while its
    predecessor ends would otherwise be left waiting for ever.
    """
    fk, _ = _chain_of(model)
    _lock(fk, where, key=None)


def _lock(fk: "ForeignKey[Any, Any]", where: Q, *, key: Hashable | None, params: Mapping[str, Any] | None = None) -> None:
    # In primary-key order, so two lockers never wait on each other. NO KEY UPDATE:
    # exclusive between appends and releases, but does not block the KEY SHARE lock
    # that inserting a task referencing the parent takes.
    def build() -> tuple[str, Sequence[Any]]:
        parents = fk.related_model._default_manager.select_for_update(no_key=True)
        return parents.filter(where).order_by("pk").values_list("pk").query.sql_with_params()

    fetch(key, build, params)


def release(
    model: type[T], after: Sequence[T], *, values: Mapping[str, Any], reason: str
) -> list[uuid.UUID]:
    """Lock the chains of the tasks `after` (which need only their chain fields loaded),
    then make todo the waiting task next to each in its chain, setting `values`.

    `values` must be the same expressions at every call for a model: the statement is
    compiled once.
    """
    if not after:
        return []
    fk, position = _chain_of(model)
    parents = [getattr(t, fk.attname) for t in after]
    _lock(fk, Q(pk__in=RawSQL("SELECT unnest(%s::uuid[])", [Param("parents")])),
          key=(model, "lock chains"), params={"parents": sorted(set(parents))})
    qn = connection.ops.quote_name
    successors = RawSQL(
        f"SELECT t.uuid FROM {qn(model._meta.db_table)} t "
        "JOIN unnest(%s::uuid[], %s::integer[]) AS s(parent, position) "
        f"ON t.{qn(_column(fk))} = s.parent AND t.{qn(_column(position))} = s.position",
        [Param("parents"), Param("positions")],
    )
    released = _transition(
        model, "release",
        where=Q(pk__in=successors),
        to=Status.TODO,
        values={**values, "queued_at": Now()},
        params={"parents": parents, "positions": [getattr(t, position.attname) + 1 for t in after]},
        key="next in chain",
        actor="system",
        reason=reason,
        whole_rows=False,
    )
    return [task.pk for task in released]
