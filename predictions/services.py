import uuid
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from learning.models import Learnuplet
from learning.services import best_model_of_problem
from predictions.models import Preduplet
from problems.models import Problem
from tasks.models import Status
from tasks.queue import finish, record_created


@transaction.atomic
def preduplet_request(
    *,
    problem: uuid.UUID,
    data: Sequence[uuid.UUID],
    model: uuid.UUID | None = None,
    user: AbstractBaseUser | None = None,
) -> Preduplet:
    """Ask for predictions on `data` with the problem's best trained model, or `model`."""
    target = Problem.objects.filter(pk=problem).first()
    if target is None:
        raise ValidationError({"problem": [f"unknown problem: {problem}"]})
    if len(set(data)) != len(data):
        raise ValidationError({"data": ["duplicate UUIDs in the request"]})
    if Problem.objects.test_data_among(list(data)):
        # Predictions on secret test data would let a client score itself against them.
        raise ValidationError({"data": ["test data of a problem cannot be predicted on"]})
    trained = Learnuplet.objects.filter(problem=target, status=Status.DONE)
    if model is not None:
        if not trained.filter(model_end=model).exists():
            raise ValidationError({"model": [f"{model} is not a trained model of problem {problem}"]})
        chosen = model
    else:
        chosen = best_model_of_problem(target)
        if chosen is None:
            raise ValidationError(
                {"problem": [f"problem {problem} has no trained model yet: no learnuplet is done"]}
            )
    preduplet = Preduplet.objects.create(
        problem=target,
        workflow=target.workflow,
        data=list(data),
        model=chosen,
        status=Status.TODO,
        queued_at=timezone.now(),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    record_created(Preduplet, [preduplet.pk], reason="prediction requested")
    return preduplet


def preduplet_report(
    pk: uuid.UUID,
    *,
    worker: uuid.UUID | None,
    attempt: int | None,
    status: str,
    prediction_storage_uuid: Sequence[uuid.UUID] = (),
    error: str = "",
    actor: str,
) -> Preduplet:
    """A worker's result for a preduplet: where the predictions are stored, or the failure."""
    values: dict[str, object] = {}
    if status == Status.DONE:
        if not prediction_storage_uuid:
            raise ValidationError({"prediction_storage_uuid": ["Required when status is done."]})
        if len(set(prediction_storage_uuid)) != len(prediction_storage_uuid):
            raise ValidationError({"prediction_storage_uuid": ["duplicate UUIDs in the request"]})
        values = {"prediction_storage_uuid": list(prediction_storage_uuid)}
    return finish(Preduplet, pk, worker=worker, attempt=attempt, status=status, values=values,
                  error=error, actor=actor)
