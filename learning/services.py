"""Learnuplet chains: generation at registration, release of the next rank, leaderboards.

Registration (in `problems`) has locked the problems concerned; generation here locks the
algos it extends, and so does the release of a chain's next rank, so an append and a
release of the same algo never interleave (otherwise a rank appended as `waiting` while
its predecessor finishes could be left waiting for ever).
"""

import uuid
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Now

from learning.models import Learnuplet
from orchestrator_site.fields import CANONICAL_UUID
from orchestrator_site.sql import Param, fetch
from problems.models import Algo, Data, Problem
from tasks.models import ACTIVE, Status
from tasks.queue import finish, record_created, transition


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


@dataclass(frozen=True)
class Chain:
    """Where an algo's new learnuplets go: from `first_rank`, the first todo from `start`
    (None: the first is `waiting` too, released by the running chain)."""

    algo: uuid.UUID
    first_rank: int
    start: uuid.UUID | None


def _generate(chains: Sequence[Chain], batches_of: dict[uuid.UUID, list[list[uuid.UUID]]]) -> int:
    """Create the learnuplets of every chain over its problem's batches; return the count.

    One INSERT ... SELECT whatever the numbers of algos and data: the batches travel as
    flat arrays and PostgreSQL builds the rows (at a registration of 10,000 data against
    20 algos, building 20,000 rows in Python and binding 400,000 parameters took seconds).
    New columns of Learnuplet must be listed here too: a missing NOT NULL one fails loudly.
    """
    items = [
        (problem, batch_no, position, data)
        for problem, batches in batches_of.items()
        for batch_no, batch in enumerate(batches)
        for position, data in enumerate(batch)
    ]
    if not chains or not items:
        return 0
    problem_col, batch_col, position_col, data_col = (list(col) for col in zip(*items))
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH items(problem_id, batch_no, position, data) AS (
                SELECT * FROM unnest(%s::uuid[], %s::int[], %s::int[], %s::uuid[])
            ), batches AS (
                SELECT problem_id, batch_no, array_agg(data ORDER BY position) AS train_data
                FROM items GROUP BY problem_id, batch_no
            ), chains(algo_id, first_rank, start) AS (
                SELECT * FROM unnest(%s::uuid[], %s::int[], %s::uuid[])
            )
            INSERT INTO {qn(Learnuplet._meta.db_table)} (
                uuid, problem_id, workflow, train_data, test_data, algo_id, model_start,
                model_end, rank, status, queued_at, perf, test_perf, train_perf,
                training_creation, training_done, worker, attempt, claimed_at, heartbeat_at,
                lease_expires_at, last_error
            )
            SELECT
                gen_random_uuid(), a.problem_id, p.workflow, b.train_data, p.test_dataset,
                c.algo_id, CASE WHEN b.batch_no = 0 THEN c.start END,
                gen_random_uuid(), c.first_rank + b.batch_no,
                CASE WHEN b.batch_no = 0 AND c.start IS NOT NULL THEN %s ELSE %s END,
                CASE WHEN b.batch_no = 0 AND c.start IS NOT NULL THEN now() END,
                NULL, '{{}}'::jsonb, '{{}}'::jsonb,
                now(), NULL, NULL, 0, NULL, NULL,
                NULL, ''
            FROM chains c
            JOIN {qn(Algo._meta.db_table)} a ON a.uuid = c.algo_id
            JOIN {qn(Problem._meta.db_table)} p ON p.uuid = a.problem_id
            JOIN batches b ON b.problem_id = a.problem_id
            RETURNING uuid
            """,
            [
                problem_col, batch_col, position_col, data_col,
                [c.algo for c in chains], [c.first_rank for c in chains], [c.start for c in chains],
                Status.TODO, Status.WAITING,
            ],
        )
        created = [row[0] for row in cursor.fetchall()]
    record_created(Learnuplet, created, reason="generated")
    return len(created)


@transaction.atomic
def learnuplets_for_new_algo(algo: Algo) -> int:
    """Chain of learnuplets over all of the problem's training data, rank 0 todo."""
    problem = algo.problem
    data = list(
        Data.objects.filter(problems__contains=[problem.pk])
        .without_test_data()
        .order_by("seq")
        .values_list("pk", flat=True)
    )
    batches = {problem.pk: mini_batches(data, problem.size_train_dataset)} if data else {}
    return _generate([Chain(algo=algo.pk, first_rank=0, start=algo.pk)], batches)


@transaction.atomic
def learnuplets_for_new_data(data: Sequence[Data], problems: Iterable[Problem]) -> int:
    """Append the new data's mini-batches to every chain of each problem they are for.

    Data that are any problem's test data are never trained on: their UUIDs would reach
    clients in `train_data`, and the models would be scored on what they learnt from.
    """
    secret = Problem.objects.test_data_among([d.pk for d in data])
    train = [d.pk for d in data if d.pk not in secret]
    if not train:
        return 0
    batches_of = {p.pk: mini_batches(train, p.size_train_dataset) for p in problems}
    lock_chains(Q(problem__in=list(batches_of)))
    algos = Algo.objects.filter(problem__in=list(batches_of)).annotate(
        last_rank=Max("learnuplets__rank"),
        running=Exists(Learnuplet.objects.filter(algo=OuterRef("pk"), status__in=ACTIVE)),
        best_model=best_model_of("pk"),
    ).values_list("pk", "last_rank", "running", "best_model")
    chains = [
        Chain(
            algo=pk,
            first_rank=0 if last_rank is None else last_rank + 1,
            # A running chain releases the appended ranks itself when it gets to them.
            start=None if running else best_model,
        )
        for pk, last_rank, running, best_model in algos
    ]
    return _generate(chains, batches_of)


def lock_chains(where: Q, *, params: dict[str, Any] | None = None, key: Hashable | None = None) -> None:
    """Lock the algos matching `where`: whoever extends or moves their chains takes this.

    With a `key`, `where` is written with Params bound from `params` and compiled once.
    """
    # NO KEY UPDATE: exclusive between generation and release, but does not block the
    # KEY SHARE lock that inserting a learnuplet referencing the algo takes.
    def build() -> tuple[str, Sequence[Any]]:
        locking = Algo.objects.select_for_update(no_key=True).filter(where).order_by("pk").values_list("pk")
        return locking.query.sql_with_params()

    fetch(("lock chains", key) if key is not None else None, build, params)


def release_next(ended: Sequence[Learnuplet]) -> list[uuid.UUID]:
    """After learnuplets end, make each algo's next rank todo from its best model so far.

    `ended` need only their algo and rank loaded.
    """
    if not ended:
        return []
    algos = sorted({t.algo_id for t in ended})
    lock_chains(Q(pk__in=RawSQL("SELECT unnest(%s::uuid[])", [Param("algos")])), params={"algos": algos},
                key="by uuid")
    table = connection.ops.quote_name(Learnuplet._meta.db_table)
    successors = RawSQL(
        f"SELECT l.uuid FROM {table} l JOIN unnest(%s::uuid[], %s::integer[]) AS s(algo, rank) "
        "ON l.algo_id = s.algo AND l.rank = s.rank",
        [Param("algos"), Param("ranks")],
    )
    return transition(
        Learnuplet,
        where=Q(pk__in=successors, status=Status.WAITING),
        to=Status.TODO,
        values=_release_values(),
        params={"algos": [t.algo_id for t in ended], "ranks": [t.rank + 1 for t in ended]},
        key="release next",
        actor="system",
        reason="previous rank ended",
    )


@cache
def _release_values() -> dict[str, Any]:
    # Built once: the statement is compiled once, and building the best-model subquery
    # cost as much CPU as running the release.
    return {"model_start": best_model_of("algo_id"), "queued_at": Now()}


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
    """A worker's result for a learnuplet; the chain moves on once it has ended.

    Scores must be keyed by the task's own data. Keys that are not even a UUID's text are
    refused first (PostgreSQL refuses some of them in JSON, a NUL for one); the rest is
    checked on the row the result moved, inside its transaction (a 400 rolls it back):
    reading the task first cost a query per result.
    """
    values: dict[str, object] = {}
    check = None
    if status == Status.DONE:
        if perf is None:
            raise ValidationError({"perf": ["This field is required when status is done."]})
        scores = {"train_perf": train_perf or {}, "test_perf": test_perf or {}}
        _refuse_unknown_keys({field: {k for k in keys if not CANONICAL_UUID.fullmatch(k)}
                              for field, keys in scores.items()})
        values = {"perf": perf, **scores}

        def check(task: Learnuplet) -> None:
            _refuse_unknown_keys({
                "train_perf": set(scores["train_perf"]) - {str(u) for u in task.train_data},
                "test_perf": set(scores["test_perf"]) - {str(u) for u in task.test_data},
            })

    return finish(Learnuplet, pk, worker=worker, attempt=attempt, status=status, values=values,
                  error=error, actor=actor, check=check)


def _refuse_unknown_keys(unknown: dict[str, set[str]]) -> None:
    errors = {
        field: [f"keys that are not this learnuplet's {field[:-5]} data: {', '.join(sorted(keys)[:10])}"]
        for field, keys in unknown.items() if keys
    }
    if errors:
        raise ValidationError(errors)
