import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.roles import User, account_of, site_of
from learning.models import Learnuplet
from learning.services import best_model_of_problem
from predictions.models import Preduplet
from problems.models import Data, Problem
from orchestrator_site.fields import refuse_duplicates
from tasks import queue
from tasks.models import Status


@transaction.atomic
def preduplet_request(
    *,
    problem: uuid.UUID,
    data: Sequence[uuid.UUID],
    model: uuid.UUID | None = None,
    user: User | None = None,
) -> Preduplet:
    """Ask for predictions on `data` with the problem's best trained model, or `model`."""
    target = Problem.objects.filter(pk=problem).first()
    if target is None:
        raise ValidationError({"problem": [f"unknown problem: {problem}"]})
    refuse_duplicates("data", data)
    if Problem.objects.test_data_among(list(data)):
        # Predictions on secret test data would let a client score itself against them.
        raise ValidationError({"data": ["test data of a problem cannot be predicted on"]})
    trained = Learnuplet.objects.filter(problem=target, status=Status.DONE)
    chosen: uuid.UUID | None = model
    if chosen is not None:
        if not trained.filter(model_end=chosen).exists():
            raise ValidationError({"model": [f"{chosen} is not a trained model of problem {problem}"]})
    else:
        chosen = best_model_of_problem(target)
        if chosen is None:
            raise ValidationError(
                {"problem": [f"problem {problem} has no trained model yet: no learnuplet is done"]}
            )
    preduplet = Preduplet.objects.create(
        site_id=_site_of_data(data, user),
        priority=target.priority,
        max_run_seconds=target.max_run_seconds,
        problem=target,
        workflow=target.workflow,
        data=list(data),
        model=chosen,
        status=Status.TODO,
        queued_at=timezone.now(),
        created_by=account_of(user),
    )
    queue.record_created(Preduplet, [preduplet.pk], reason="prediction requested")
    return preduplet


def _site_of_data(data: Sequence[uuid.UUID], user: User | None) -> uuid.UUID | None:
    """The one site of `data` (None: platform data), where the prediction runs. Data that
    are not registered count as the requesting client's; data of several sites cannot be
    predicted on in one task (no worker may read them all)."""
    # One array parameter: a list compiles one placeholder per UUID (up to 10,000).
    among = RawSQL("SELECT unnest(%s::uuid[])", [list(data)])
    registered = dict(Data.objects.filter(pk__in=among).values_list("pk", "site_id"))
    requester = site_of(user) if user is not None else None
    sites = {registered[d] if d in registered else requester for d in data}
    if len(sites) > 1:
        raise ValidationError({"data": ["data of several sites (or of a site and the platform): "
                                        "request one prediction per site"]})
    (site,) = sites
    return site
