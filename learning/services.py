"""Learnuplet chains: generation at registration, the best models, leaderboards.

Registration (in `problems`) has locked the problems concerned; generation here locks the
chains it extends (`tasks.queue.lock_chains`), as the release of a chain's next rank does
(`learning.lifecycle`), so an append and a release of the same algo never interleave.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from learning.models import Learnuplet
from problems.models import Algo, Data, DataUpload, Problem
from tasks import queue
from tasks.models import ACTIVE, Status


def mini_batches(data: Sequence[uuid.UUID], size: int) -> list[list[uuid.UUID]]:
    return [list(data[i : i + size]) for i in range(0, len(data), size)]


@dataclass(frozen=True)
class Batch:
    """One learnuplet's training data, all of one site (None: platform data)."""

    site: uuid.UUID | None
    data: list[uuid.UUID]


def site_batches(data: Sequence[tuple[uuid.UUID, uuid.UUID | None]], size: int) -> list[Batch]:
    """Mini-batches of `size` that never mix sites, from (datum, site) in registration order.

    Each site's data are cut in their own order; the chain runs through the batches in the
    order of each batch's first datum. With one site (or none) these are `mini_batches`.
    """
    pks = [datum for datum, _ in data]
    sites = [site for _, site in data]
    if not sites or sites.count(sites[0]) == len(sites):  # one site, the common case: no grouping
        return [Batch(sites[0], batch) for batch in mini_batches(pks, size)] if sites else []
    positions: dict[uuid.UUID | None, list[int]] = {}
    for position, site in enumerate(sites):
        positions.setdefault(site, []).append(position)
    cut = [
        (at[i], Batch(site, [pks[p] for p in at[i : i + size]]))
        for site, at in positions.items()
        for i in range(0, len(at), size)
    ]
    cut.sort(key=lambda first_and_batch: first_and_batch[0])
    return [batch for _, batch in cut]


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


def _generate(chains: Sequence[Chain], batches_of: dict[uuid.UUID, list[Batch]]) -> int:
    """Create the learnuplets of every chain over its problem's batches; return the count.

    One INSERT ... SELECT whatever the numbers of algos and data: the batches travel as
    flat arrays and PostgreSQL builds the rows (at a registration of 10,000 data against
    20 algos, building 20,000 rows in Python and binding 400,000 parameters took seconds).
    It lists only the columns it computes; every other column takes its database default
    (`db_default`, or NULL). Each learnuplet takes its batch's site.
    """
    items = [
        (problem, batch_no, position, data)
        for problem, batches in batches_of.items()
        for batch_no, batch in enumerate(batches)
        for position, data in enumerate(batch.data)
    ]
    if not chains or not items:
        return 0
    problem_col, batch_col, position_col, data_col = (list(col) for col in zip(*items))
    sites = [(problem, batch_no, batch.site) for problem, batches in batches_of.items()
             for batch_no, batch in enumerate(batches)]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH items(problem_id, batch_no, position, data) AS (
                SELECT * FROM unnest(%s::uuid[], %s::int[], %s::int[], %s::uuid[])
            ), sites(problem_id, batch_no, site_id) AS (
                SELECT * FROM unnest(%s::uuid[], %s::int[], %s::uuid[])
            ), batches AS (
                SELECT problem_id, batch_no, array_agg(data ORDER BY position) AS train_data
                FROM items GROUP BY problem_id, batch_no
            ), chains(algo_id, first_rank, start) AS (
                SELECT * FROM unnest(%s::uuid[], %s::int[], %s::uuid[])
            )
            INSERT INTO {qn(Learnuplet._meta.db_table)} (
                uuid, problem_id, workflow, train_data, test_data, algo_id, model_start,
                model_end, rank, status, queued_at, site_id, priority, max_run_seconds
            )
            SELECT
                gen_random_uuid(), a.problem_id, p.workflow, b.train_data, p.test_dataset,
                c.algo_id, CASE WHEN b.batch_no = 0 THEN c.start END,
                gen_random_uuid(), c.first_rank + b.batch_no,
                CASE WHEN b.batch_no = 0 AND c.start IS NOT NULL THEN %s ELSE %s END,
                CASE WHEN b.batch_no = 0 AND c.start IS NOT NULL THEN now() END,
                s.site_id, p.priority, p.max_run_seconds
            FROM chains c
            JOIN {qn(Algo._meta.db_table)} a ON a.uuid = c.algo_id
            JOIN {qn(Problem._meta.db_table)} p ON p.uuid = a.problem_id
            JOIN batches b ON b.problem_id = a.problem_id
            JOIN sites s ON s.problem_id = b.problem_id AND s.batch_no = b.batch_no
            RETURNING uuid
            """,
            [
                problem_col, batch_col, position_col, data_col,
                *(list(col) for col in zip(*sites)),
                [c.algo for c in chains], [c.first_rank for c in chains], [c.start for c in chains],
                Status.TODO, Status.WAITING,
            ],
        )
        created = [row[0] for row in cursor.fetchall()]
    queue.record_created(Learnuplet, created, reason="generated")
    return len(created)


@transaction.atomic
def learnuplets_for_new_algo(algo: Algo) -> int:
    """Chain of learnuplets over all of the problem's training data, rank 0 todo."""
    problem = algo.problem
    data = list(
        Data.objects.filter(problems__contains=[problem.pk])
        .without_test_data()
        .order_by("seq")
        .values_list("pk", "site_id")
    )
    batches = {problem.pk: site_batches(data, problem.size_train_dataset)} if data else {}
    return _generate([Chain(algo=algo.pk, first_rank=0, start=algo.pk)], batches)


@transaction.atomic
def learnuplets_for_upload(upload: DataUpload) -> int:
    """Append the upload's data, in mini-batches, to every chain of each problem it is for.

    Data that are any problem's test data are never trained on: their UUIDs would reach
    clients in `train_data`, and the models would be scored on what they learnt from.
    """
    if not upload.problems:
        return 0  # data for no problem (2017's, to predict on) extend no chain
    data = upload.data
    secret = Problem.objects.test_data_among(data)
    train = [pk for pk in data if pk not in secret]
    if not train:
        return 0
    problems = Problem.objects.filter(pk__in=upload.problems).values_list("pk", "size_train_dataset")
    # One upload, one site: its batches are the seed's mini-batches, of that site.
    batches_of = {pk: [Batch(upload.site_id, batch) for batch in mini_batches(train, size)]
                  for pk, size in problems}
    queue.lock_chains(Learnuplet, Q(problem__in=list(batches_of)))
    # A canceled algo trains on nothing more.
    algos = Algo.objects.filter(problem__in=list(batches_of), canceled_at__isnull=True).annotate(
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
