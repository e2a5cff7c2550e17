"""The preduplet lifecycle: the queue's primitives as they are (a preduplet stands alone)."""

import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, Expression, Q, Value

from learning.models import Learnuplet
from orchestrator_site.fields import refuse_duplicates
from predictions.models import Preduplet
from tasks import queue
from tasks.lifecycle import Requeued, heartbeat
from tasks.models import Status


class Preduplets:
    """What the worker protocol, the admin and the operator commands do to preduplets."""

    model = Preduplet

    def expire_leases(self) -> None:
        if queue.leases_expired(Preduplet):
            queue.expire_leases(Preduplet)

    def claim_next(self, *, worker: uuid.UUID, actor: str, site: uuid.UUID | None = None) -> Preduplet | None:
        self.expire_leases()
        return queue.claim_next(Preduplet, worker=worker, actor=actor, site=site)

    def claim(
        self,
        pk: uuid.UUID,
        *,
        worker: uuid.UUID,
        actor: str,
        site: uuid.UUID | None = None,
        any_site: bool = False,
        lease_seconds: int | None = None,
    ) -> Preduplet:
        self.expire_leases()
        return queue.claim(Preduplet, pk, worker=worker, actor=actor, site=site, any_site=any_site,
                           lease_seconds=lease_seconds)

    def report(
        self,
        pk: uuid.UUID,
        *,
        worker: uuid.UUID | None,
        attempt: int | None,
        status: str,
        prediction_storage_uuid: Sequence[uuid.UUID] = (),
        error: str = "",
        retry: bool = False,
        actor: str,
    ) -> Preduplet:
        """A worker's result: where the predictions are stored, or the failure."""
        values: dict[str, object] = {}
        if status == Status.DONE:
            if not prediction_storage_uuid:
                raise ValidationError({"prediction_storage_uuid": ["Required when status is done."]})
            refuse_duplicates("prediction_storage_uuid", prediction_storage_uuid)
            values = {"prediction_storage_uuid": list(prediction_storage_uuid)}
        task, _ = queue.finish(Preduplet, pk, worker=worker, attempt=attempt, status=status, values=values,
                               error=error, retry=retry, actor=actor)
        return task

    def heartbeat(self, pk: uuid.UUID, *, worker: uuid.UUID, attempt: int) -> Preduplet:
        return heartbeat(self, Preduplet, pk, worker=worker, attempt=attempt)

    def cancel(self, where: Q, *, actor: str, reason: str) -> list[uuid.UUID]:
        return [task.pk for task in queue.cancel(Preduplet, where=where, actor=actor, reason=reason)]

    def cancel_scope(self, where: Q) -> Q:
        return where

    def cancel_one(self, pk: uuid.UUID, *, actor: str, reason: str) -> Preduplet:
        """Cancel one prediction; TaskConflict when it has already ended."""
        with transaction.atomic():
            canceled = queue.cancel(Preduplet, where=Q(pk=pk), actor=actor, reason=reason)
        if not canceled:
            status = queue.status_of(Preduplet, pk)
            raise queue.TaskConflict(f"preduplet {pk} has already ended ({status})", status=status)
        return canceled[0]

    def requeue(self, where: Q, *, actor: str, reason: str, reset_attempts: bool) -> Requeued:
        todo = queue.requeue(Preduplet, where=where, to=Status.TODO, actor=actor, reason=reason,
                             reset_attempts=reset_attempts)
        return Requeued([(pk, Status.TODO) for pk in todo], [])

    def requeue_target(self) -> Expression:
        return Value(Status.TODO, output_field=CharField())

    def fail(self, where: Q, *, actor: str, reason: str) -> list[uuid.UUID]:
        return [task.pk for task in queue.fail(Preduplet, where=where, actor=actor, reason=reason)]

    def of_algo(self, algo: uuid.UUID) -> Q:
        # A preduplet belongs to an algo through the trained model it applies.
        return Q(model__in=Learnuplet.objects.filter(algo_id=algo).values("model_end"))


PREDUPLETS = Preduplets()
