"""What an app that owns a kind of task offers the shared tools (the worker protocol's
views, the admin actions, the operator commands).

Each app composes `tasks.queue`'s primitives into its own lifecycle object (for example
`learning.lifecycle.LEARNUPLETS`) and hands it to those tools; `tasks` never imports the
apps.
"""

import uuid
from typing import NamedTuple, Protocol, TypeVar

from django.db.models import Expression, Q

from tasks import queue
from tasks.models import QueueTask, Status

T = TypeVar("T", bound=QueueTask)


class Requeued(NamedTuple):
    """Tasks put back to run, each with its new status; and those released at once
    because the task before them in their chain had already ended."""

    changed: list[tuple[uuid.UUID, str]]
    released: list[uuid.UUID]


class Lifecycle(Protocol):
    @property
    def model(self) -> type[QueueTask]: ...

    def claim_next(self, *, worker: uuid.UUID, actor: str, site: uuid.UUID | None = None) -> QueueTask | None:
        """The oldest todo task a worker of `site` may run, claimed for `worker`; None when
        none is claimable."""

    def claim(
        self,
        pk: uuid.UUID,
        *,
        worker: uuid.UUID,
        actor: str,
        site: uuid.UUID | None = None,
        any_site: bool = False,
        lease_seconds: int | None = None,
    ) -> QueueTask:
        """Claim the task `pk` for `worker` of `site` (TaskConflict unless it is todo,
        SiteForbidden when another site's and not `any_site`)."""

    def heartbeat(self, pk: uuid.UUID, *, worker: uuid.UUID, attempt: int) -> QueueTask:
        """Renew the caller's lease (TaskConflict, with the task's status, when its claim is
        not current, or has run past its run-time limit: then it fails at once)."""

    def cancel(self, where: Q, *, actor: str, reason: str) -> list[uuid.UUID]:
        """Cancel the active tasks matching `where` (inside the caller's transaction)."""

    def cancel_scope(self, where: Q) -> Q:
        """The tasks `cancel(where)` cancels: for a chain, the later ranks too."""

    def cancel_one(self, pk: uuid.UUID, *, actor: str, reason: str) -> QueueTask:
        """Cancel one task (TaskConflict when it has already ended)."""

    def expire_leases(self) -> None:
        """Give back (or fail) the tasks whose lease ran out; the owner moves on what failed."""

    def requeue(self, where: Q, *, actor: str, reason: str, reset_attempts: bool) -> Requeued:
        """Put the tasks matching `where` back to run (inside the caller's transaction)."""

    def requeue_target(self) -> Expression:
        """The status `requeue` would give a task: what a dry run shows."""

    def fail(self, where: Q, *, actor: str, reason: str) -> list[uuid.UUID]:
        """Fail the active tasks matching `where` by hand (inside the caller's transaction)."""

    def of_algo(self, algo: uuid.UUID) -> Q:
        """The tasks that belong to `algo`."""


def heartbeat(tasks: Lifecycle, model: type[T], pk: uuid.UUID, *, worker: uuid.UUID, attempt: int) -> T:
    """A heartbeat, as `tasks.queue.heartbeat`; a claim refused while still pending is past
    its run-time limit (or not the caller's): the sweep fails it now, before the caller
    hears 409, so the status it is told is the task's real one."""
    try:
        return queue.heartbeat(model, pk, worker=worker, attempt=attempt)
    except queue.TaskConflict as refused:
        if refused.status != Status.PENDING:
            raise
        tasks.expire_leases()
        raise queue.TaskConflict(str(refused), status=queue.status_of(model, pk)) from None
