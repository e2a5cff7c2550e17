"""The learnuplet lifecycle: the queue's primitives, then the chain moves on.

A learnuplet that ends (done, failed by its worker, failed by an operator, or failed for
good when its lease ran out once too often) releases the next rank of its algo's chain,
in the same transaction, from the best model the chain has trained so far.
"""

import uuid
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, CharField, Exists, Expression, F, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce, Now

from learning.models import Learnuplet
from learning.services import best_model_of
from orchestrator_site.errors import NotFoundError
from orchestrator_site.fields import CANONICAL_UUID
from problems.models import Algo
from tasks import queue
from tasks.lifecycle import Requeued
from tasks.lifecycle import heartbeat
from tasks.models import ACTIVE, ENDED, Status

RELEASED = "previous rank ended"


class AlgoNotFound(NotFoundError):
    """No algo with that UUID (404)."""


def release_next(ended: Sequence[Learnuplet]) -> list[uuid.UUID]:
    """After learnuplets end, make each algo's next rank todo from its best model so far.

    `ended` need only their algo and rank loaded.
    """
    return queue.release(Learnuplet, ended, values=_release_values(), reason=RELEASED)


@cache
def _release_values() -> dict[str, Any]:
    # Built once: building the best-model subquery cost as much CPU as running the release.
    return {"model_start": best_model_of("algo_id")}


class Learnuplets:
    """What the worker protocol, the admin and the operator commands do to learnuplets."""

    model = Learnuplet

    def expire_leases(self) -> None:
        """Give back the learnuplets whose lease ran out; chains whose task failed for good
        move on."""
        if queue.leases_expired(Learnuplet):
            with transaction.atomic():
                release_next(queue.expire_leases(Learnuplet).failed)

    def claim_next(self, *, worker: uuid.UUID, actor: str, site: uuid.UUID | None = None) -> Learnuplet | None:
        self.expire_leases()
        return queue.claim_next(Learnuplet, worker=worker, actor=actor, site=site)

    def claim(
        self,
        pk: uuid.UUID,
        *,
        worker: uuid.UUID,
        actor: str,
        site: uuid.UUID | None = None,
        any_site: bool = False,
        lease_seconds: int | None = None,
    ) -> Learnuplet:
        self.expire_leases()
        return queue.claim(Learnuplet, pk, worker=worker, actor=actor, site=site, any_site=any_site,
                           lease_seconds=lease_seconds)

    def report(
        self,
        pk: uuid.UUID,
        *,
        worker: uuid.UUID | None,
        attempt: int | None,
        status: str,
        perf: float | None = None,
        train_perf: dict[str, float] | None = None,
        test_perf: dict[str, float] | None = None,
        error: str = "",
        retry: bool = False,
        actor: str,
    ) -> Learnuplet:
        """A worker's result; the chain moves on once the learnuplet has ended.

        Scores must be keyed by the task's own data. Keys that are not even a UUID's text
        are refused first (PostgreSQL refuses some of them in JSON, a NUL for one); the
        rest is checked on the row the result moved, inside its transaction (a 400 rolls
        it back): reading the task first cost a query per result.
        """
        values: dict[str, object] = {}
        check: Callable[[Learnuplet], None] | None = None
        if status == Status.DONE:
            if perf is None:
                raise ValidationError({"perf": ["This field is required when status is done."]})
            scores = {"train_perf": train_perf or {}, "test_perf": test_perf or {}}
            _refuse_unknown_keys({field: {k for k in keys if not CANONICAL_UUID.fullmatch(k)}
                                  for field, keys in scores.items()})
            values = {"perf": perf, **scores}

            def keys_are_its_own(task: Learnuplet) -> None:
                _refuse_unknown_keys({
                    "train_perf": set(scores["train_perf"]) - {str(u) for u in task.train_data},
                    "test_perf": set(scores["test_perf"]) - {str(u) for u in task.test_data},
                })

            check = keys_are_its_own

        with transaction.atomic():
            task, ended = queue.finish(Learnuplet, pk, worker=worker, attempt=attempt, status=status,
                                       values=values, error=error, retry=retry, actor=actor, check=check)
            if ended:
                release_next([task])
        return task

    def heartbeat(self, pk: uuid.UUID, *, worker: uuid.UUID, attempt: int) -> Learnuplet:
        return heartbeat(self, Learnuplet, pk, worker=worker, attempt=attempt)

    def cancel(self, where: Q, *, actor: str, reason: str) -> list[uuid.UUID]:
        """Cancel the active learnuplets matching `where` and the later ranks of their
        chains, which then release nothing more (inside the caller's transaction)."""
        queue.lock_chains(Learnuplet, Q(pk__in=Learnuplet.objects.filter(where, status__in=ACTIVE).values("algo_id")))
        return [task.pk for task in queue.cancel(Learnuplet, where=self.cancel_scope(where), actor=actor,
                                                 reason=reason)]

    def cancel_scope(self, where: Q) -> Q:
        """The active learnuplets matching `where`, and every later rank of their chains."""
        chains = Learnuplet.objects.filter(where, status__in=ACTIVE)
        return Q(Exists(chains.filter(algo_id=OuterRef("algo_id"), rank__lte=OuterRef("rank"))))

    def close_algo(self, algo: uuid.UUID) -> bool:
        """Mark an algo canceled: data registered later add no learnuplet to it. False
        when there is no such algo."""
        return bool(Algo.objects.filter(pk=algo).update(canceled_at=Coalesce(F("canceled_at"), Now())))

    def cancel_one(self, pk: uuid.UUID, *, actor: str, reason: str) -> Learnuplet:
        """Cancel one learnuplet and the later ranks of its chain; TaskConflict when it has
        already ended (then nothing is canceled). Its row is locked first: a result
        arriving meanwhile waits, then finds it canceled."""
        with transaction.atomic():
            status = queue.lock_task(Learnuplet, pk)
            if status in ENDED:
                raise queue.TaskConflict(f"learnuplet {pk} has already ended ({status})", status=status)
            self.cancel(Q(pk=pk), actor=actor, reason=reason)
            return Learnuplet.objects.get(pk=pk)

    def cancel_algo(self, algo: uuid.UUID, *, actor: str, reason: str) -> int:
        """Cancel an algo: every active learnuplet of it, and data registered later add
        none (generation skips canceled algos). Return how many were canceled; canceling
        again cancels nothing more. queue.TaskNotFound-like 404 when there is no such algo."""
        with transaction.atomic():
            # Its row lock serialises this with generation, which locks the algo's chain.
            if not self.close_algo(algo):
                raise AlgoNotFound(f"no algo {algo}")
            return len(self.cancel(Q(algo_id=algo), actor=actor, reason=reason))

    def requeue(self, where: Q, *, actor: str, reason: str, reset_attempts: bool) -> Requeued:
        """Back to todo where the start model is known, else to waiting for the chain."""
        todo = queue.requeue(Learnuplet, where=where & Q(model_start__isnull=False), to=Status.TODO,
                             actor=actor, reason=reason, reset_attempts=reset_attempts)
        unready = where & Q(model_start__isnull=True)
        # Lock the chains before looking at them, as a release does: a predecessor
        # finishing meanwhile would otherwise miss its successor (still failed in its
        # snapshot) while we still see it running, and the successor would wait for ever.
        queue.lock_chains(Learnuplet, Q(pk__in=Learnuplet.objects.filter(unready).values("algo_id")))
        waiting = queue.requeue(Learnuplet, where=unready, to=Status.WAITING, actor=actor, reason=reason,
                                reset_attempts=reset_attempts)
        released = _release_orphans(waiting) if waiting else []
        changed: list[tuple[uuid.UUID, str]] = [(pk, Status.TODO) for pk in todo]
        changed += [(pk, Status.WAITING) for pk in waiting]
        return Requeued(changed, released)

    def requeue_target(self) -> Expression:
        return Case(When(model_start__isnull=True, then=Value(Status.WAITING)),
                    default=Value(Status.TODO), output_field=CharField())

    def fail(self, where: Q, *, actor: str, reason: str) -> list[uuid.UUID]:
        failed = queue.fail(Learnuplet, where=where, actor=actor, reason=reason)
        release_next(failed)
        return [task.pk for task in failed]

    def of_algo(self, algo: uuid.UUID) -> Q:
        return Q(algo_id=algo)


LEARNUPLETS = Learnuplets()


def _release_orphans(waiting: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Learnuplets put back to waiting whose previous rank has already ended: nothing else
    would release them, so release them now, the way a finishing predecessor does."""
    waiting_q = Learnuplet.objects.filter(pk__in=list(waiting))
    successor = waiting_q.filter(algo_id=OuterRef("algo_id"), rank=OuterRef("rank") + 1)
    ended = Learnuplet.objects.filter(
        status__in=ENDED, algo_id__in=waiting_q.values("algo_id")
    ).filter(Exists(successor))
    return release_next(list(ended.only("algo_id", "rank")))


def _refuse_unknown_keys(unknown: dict[str, set[str]]) -> None:
    errors = {
        field: [f"keys that are not this learnuplet's {field[:-5]} data: {', '.join(sorted(keys)[:10])}"]
        for field, keys in unknown.items() if keys
    }
    if errors:
        raise ValidationError(errors)
