"""Learnuplet chains: generation at registration, release of the next rank, leaderboards.

Registration (in `problems`) has locked the problems concerned; generation here locks the
algos it extends, and so does the release of a chain's next rank, so an append and a
release of the same algo never interleave (otherwise a rank appended as `waiting` while
its predecessor finishes could be left waiting for ever).
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from learning.models import Learnuplet
from problems.models import Algo, Data, Problem
from tasks.models import ACTIVE, Status
from tasks.queue import TaskNotFound, finish, record_created, transition


def mini_batches(data: Sequence[uuid.UUID], size: int) -> list[list[uuid.UUID]]:
    return [list(data[i : i + size]) for i in range(0, len(data), size)]


def by_performance(learnuplets: QuerySet[Learnuplet]) -> QuerySet[Learnuplet]:
    """The done ones among `learnuplets`, best `perf` first by each problem's metric direction."""
    worst_last = Case(When(problem__higher_is_better=True, then=-F("perf")), default=F("perf"))
    return learnuplets.filter(status=Status.DONE).order_by(
        worst_last.asc(nulls_last=True), "-rank", "training_done"
    )


def best_done(algo: OuterRef | uuid.UUID | Algo) -> QuerySet[Learnuplet]:
    return by_performance(Learnuplet.objects.filter(algo=algo))


def best_model_of_problem(problem: Problem) -> uuid.UUID | None:
    """The problem's best trained model across all its algos, or None."""
    return by_performance(Learnuplet.objects.filter(problem=problem)).values_list(
        "model_end", flat=True
    ).first()


def best_model_of(algo_field: str) -> Coalesce:
    """The model a chain continues from: its best trained model, or the algo itself.

    `algo_field` names the algo's UUID in the outer query ("pk" on Algo, "algo_id" on
    Learnuplet).
    """
    best = Subquery(best_done(OuterRef(algo_field)).values("model_end")[:1])
    return Coalesce(best, F(algo_field))


def _chain(
    algo: Algo, problem: Problem, batches: list[list[uuid.UUID]], *, first_rank: int,
    start: uuid.UUID | None,
) -> list[Learnuplet]:
    """Learnuplets for consecutive batches; the first is todo from `start` when given."""
    now = timezone.now()
    return [
        Learnuplet(
            problem=problem,
            workflow=problem.workflow,
            train_data=batch,
            test_data=problem.test_dataset,
            algo=algo,
            rank=first_rank + offset,
            model_start=start if offset == 0 else None,
            status=Status.TODO if offset == 0 and start is not None else Status.WAITING,
            queued_at=now if offset == 0 and start is not None else None,
        )
        for offset, batch in enumerate(batches)
    ]


def _create(learnuplets: list[Learnuplet]) -> int:
    if learnuplets:
        Learnuplet.objects.bulk_create(learnuplets)
        record_created(Learnuplet, [lu.pk for lu in learnuplets], reason="generated")
    return len(learnuplets)


@transaction.atomic
def learnuplets_for_new_algo(algo: Algo) -> int:
    """Chain of learnuplets over all of the problem's training data, rank 0 todo."""
    problem = algo.problem
    secret = set(problem.test_dataset)
    data = [
        pk
        for pk in Data.objects.filter(problems__contains=[problem.pk])
        .order_by("seq")
        .values_list("pk", flat=True)
        if pk not in secret
    ]
    batches = mini_batches(data, problem.size_train_dataset)
    return _create(_chain(algo, problem, batches, first_rank=0, start=algo.pk))


@transaction.atomic
def learnuplets_for_new_data(data: Sequence[Data], problems: Iterable[Problem]) -> int:
    """Append the new data's mini-batches to every chain of each problem they are for."""
    batches_of: dict[uuid.UUID, list[list[uuid.UUID]]] = {}
    by_pk: dict[uuid.UUID, Problem] = {}
    for problem in problems:
        secret = set(problem.test_dataset)
        train = [d.pk for d in data if d.pk not in secret]
        if train:
            batches_of[problem.pk] = mini_batches(train, problem.size_train_dataset)
            by_pk[problem.pk] = problem
    if not batches_of:
        return 0
    _lock_algos(Q(problem__in=list(batches_of)))
    algos = Algo.objects.filter(problem__in=list(batches_of)).annotate(
        last_rank=Max("learnuplets__rank"),
        running=Exists(Learnuplet.objects.filter(algo=OuterRef("pk"), status__in=ACTIVE)),
        best_model=best_model_of("pk"),
    )
    learnuplets: list[Learnuplet] = []
    for algo in algos:
        first_rank = 0 if algo.last_rank is None else algo.last_rank + 1
        # A running chain releases the appended ranks itself when it gets to them.
        start = None if algo.running else algo.best_model
        learnuplets += _chain(
            algo, by_pk[algo.problem_id], batches_of[algo.problem_id], first_rank=first_rank, start=start
        )
    return _create(learnuplets)


def _lock_algos(where: Q) -> None:
    # NO KEY UPDATE: exclusive between generation and release, but does not block the
    # KEY SHARE lock that inserting a learnuplet referencing the algo takes.
    list(Algo.objects.select_for_update(no_key=True).filter(where).order_by("pk").values_list("pk"))


def release_next(ended: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """After learnuplets end, make each algo's next rank todo from its best model so far."""
    pairs = list(Learnuplet.objects.filter(pk__in=list(ended)).values_list("algo_id", "rank"))
    if not pairs:
        return []
    _lock_algos(Q(pk__in={algo for algo, _ in pairs}))
    successors = reduce(or_, (Q(algo_id=algo, rank=rank + 1) for algo, rank in pairs))
    return transition(
        Learnuplet,
        where=successors & Q(status=Status.WAITING),
        to=Status.TODO,
        values={"model_start": best_model_of("algo_id"), "queued_at": Now()},
        actor="system",
        reason="previous rank ended",
    )


@dataclass(frozen=True)
class LeaderboardRow:
    algo: uuid.UUID
    name: str
    perf: float | None
    model: uuid.UUID | None
    rank: int | None
    done: int
    failed: int
    total: int


def leaderboard(problem: Problem) -> list[LeaderboardRow]:
    """One row per algo of the problem, best trained model first, untrained last."""
    algos = list(
        Algo.objects.filter(problem=problem)
        .annotate(
            best=Subquery(best_done(OuterRef("pk")).values("pk")[:1]),
            done=Count("learnuplets", filter=Q(learnuplets__status=Status.DONE)),
            failed=Count("learnuplets", filter=Q(learnuplets__status=Status.FAILED)),
            total=Count("learnuplets"),
        )
        .order_by("timestamp_upload", "pk")
    )
    best = Learnuplet.objects.in_bulk([a.best for a in algos if a.best is not None])
    rows = [
        LeaderboardRow(
            algo=a.pk,
            name=a.name,
            perf=best[a.best].perf if a.best else None,
            model=best[a.best].model_end if a.best else None,
            rank=best[a.best].rank if a.best else None,
            done=a.done,
            failed=a.failed,
            total=a.total,
        )
        for a in algos
    ]
    sign = -1 if problem.higher_is_better else 1
    return sorted(rows, key=lambda r: (r.perf is None, sign * r.perf if r.perf is not None else 0))


def learnuplet_report(
    pk: uuid.UUID,
    *,
    worker: uuid.UUID | None,
    attempt: int | None,
    status: str,
    perf: float | None = None,
    train_perf: dict[str, float] | None = None,
    test_perf: dict[str, float] | None = None,
    error: str = "",
    actor: str,
) -> Learnuplet:
    """A worker's result for a learnuplet; the chain moves on once it has ended."""
    values: dict[str, object] = {}
    if status == Status.DONE:
        task = Learnuplet.objects.filter(pk=pk).values("train_data", "test_data").first()
        if task is None:
            raise TaskNotFound(f"no learnuplet {pk}")
        errors = {}
        for field, scores, allowed in (
            ("train_perf", train_perf or {}, task["train_data"]),
            ("test_perf", test_perf or {}, task["test_data"]),
        ):
            unknown = set(scores) - {str(u) for u in allowed}
            if unknown:
                errors[field] = [f"keys that are not this learnuplet's {field[:-5]} data: "
                                 f"{', '.join(sorted(unknown)[:10])}"]
        if perf is None:
            errors["perf"] = ["This field is required when status is done."]
        if errors:
            raise ValidationError(errors)
        values = {"perf": perf, "train_perf": train_perf or {}, "test_perf": test_perf or {}}
    return finish(Learnuplet, pk, worker=worker, attempt=attempt, status=status, values=values,
                  error=error, actor=actor)
