"""Registration of problems, algos and data: each one transaction, all or nothing.

Saving an Algo, or the DataUpload record of a data registration, sends Django's
post_save; `learning` receives it and generates the learnuplets in the same transaction
(an exception there rolls the registration back). `problems` never imports `learning`.
"""

import uuid
from collections.abc import Sequence

from django.contrib.auth.models import User as Account
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.models import Site
from accounts.roles import User, account_of
from orchestrator_site.errors import NotFoundError
from orchestrator_site.fields import refuse_duplicates
from problems.models import Algo, Data, DataUpload, Problem


@transaction.atomic
def problem_create(
    *,
    workflow: uuid.UUID,
    test_dataset: list[uuid.UUID],
    size_train_dataset: int,
    higher_is_better: bool = True,
    pk: uuid.UUID | None = None,
    user: User | None = None,
) -> Problem:
    refuse_duplicates("test_dataset", test_dataset)
    problem = Problem(
        uuid=pk or uuid.uuid4(),
        workflow=workflow,
        test_dataset=test_dataset,
        size_train_dataset=size_train_dataset,
        higher_is_better=higher_is_better,
        created_by=account_of(user),
    )
    try:
        with transaction.atomic():
            problem.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"uuid": [f"a problem with uuid {problem.uuid} already exists"]}) from None
    return problem


@transaction.atomic
def problem_configure(pk: uuid.UUID, *, priority: int | None = None, **limits: int | None) -> Problem:
    """Change a problem's priority and/or run-time limit (`max_run_seconds`, None for the
    platform's); its post_save makes its tasks follow, in this transaction."""
    problem = Problem.objects.select_for_update(no_key=True).filter(pk=pk).first()
    if problem is None:
        raise ProblemNotFound(f"no problem {pk}")
    changed = []
    if priority is not None:
        problem.priority = priority
        changed.append("priority")
    if "max_run_seconds" in limits:
        problem.max_run_seconds = limits["max_run_seconds"]
        changed.append("max_run_seconds")
    if changed:
        problem.save(update_fields=changed)
    return problem


class ProblemNotFound(NotFoundError):
    """No problem with that UUID (404)."""


def _lock_problems(pks: Sequence[uuid.UUID], *, field: str) -> list[Problem]:
    """Lock the problems a registration touches, in a fixed order to avoid deadlocks.

    Algo and data registrations of one problem are serialised on this lock: otherwise an
    algo registered while data of its problem are being registered would see neither the
    data (not committed yet) nor be seen by them, and would never train on them.
    """
    problems = list(
        Problem.objects.select_for_update(no_key=True).filter(pk__in=list(pks)).order_by("pk")
    )
    missing = set(pks) - {p.pk for p in problems}
    if missing:
        names = ", ".join(sorted(str(m) for m in missing))
        raise ValidationError({field: [f"unknown problem: {names}"]})
    return problems


@transaction.atomic
def algo_register(
    *,
    problem: uuid.UUID,
    name: str,
    pk: uuid.UUID | None = None,
    user: User | None = None,
) -> tuple[Algo, int]:
    """Register an algo; return it and how many learnuplets were created for it."""
    (locked,) = _lock_problems([problem], field="problem")
    algo = Algo(uuid=pk or uuid.uuid4(), problem=locked, name=name, created_by=account_of(user))
    # Its post_save generates the learnuplets, inside this savepoint: an IntegrityError is
    # a taken UUID only if an algo has it.
    try:
        with transaction.atomic():
            algo.save(force_insert=True)
    except IntegrityError:
        if not Algo.objects.filter(pk=algo.uuid).exists():
            raise
        raise ValidationError({"uuid": [f"an algo with uuid {algo.uuid} already exists"]}) from None
    return algo, algo.new_learnuplets


@transaction.atomic
def data_register(
    *,
    uuids: Sequence[uuid.UUID],
    problems: Sequence[uuid.UUID],
    user: User | None = None,
    site: uuid.UUID | None = None,
) -> tuple[list[Data], int]:
    """Register data of `site` (None: platform data) for problems, all or nothing; return
    the records and the learnuplets made. Who may name which site is the caller's check."""
    refuse_duplicates("uuid", uuids)
    refuse_duplicates("problems", problems)
    _lock_problems(problems, field="problems")
    upload = DataUpload(problems=list(problems), data=list(uuids), created_by=account_of(user), site_id=site)
    records = _insert_data(uuids, problems, created_by=upload.created_by, site=site)
    # Its post_save generates the learnuplets of the whole upload, its data now inserted.
    upload.save(force_insert=True)
    return records, upload.new_learnuplets


def _insert_data(
    uuids: Sequence[uuid.UUID], problems: Sequence[uuid.UUID], *, created_by: Account | None,
    site: uuid.UUID | None,
) -> list[Data]:
    """Insert the data in request order in one statement; refuse any already registered.

    ON CONFLICT DO NOTHING also covers a concurrent registration of the same UUID: the
    caller's transaction is rolled back by the ValidationError, so nothing is registered.
    (bulk_create binds five parameters a row; 10,000 rows took seconds to render.)
    """
    table = connection.ops.quote_name(Data._meta.db_table)
    sites = connection.ops.quote_name(Site._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (uuid, problems, timestamp_upload, created_by_id, site_id)
            SELECT d.uuid, %s::uuid[], now(), %s, %s
            FROM unnest(%s::uuid[]) WITH ORDINALITY AS d(uuid, position)
            -- An unknown site inserts nothing (rather than fail the constraint at commit).
            WHERE %s::uuid IS NULL OR EXISTS (SELECT FROM {sites} WHERE uuid = %s::uuid)
            ORDER BY d.position
            ON CONFLICT (uuid) DO NOTHING
            RETURNING uuid, timestamp_upload, seq
            """,
            [list(problems), created_by.pk if created_by else None, site, list(uuids), site, site],
        )
        inserted = {pk: (at, seq) for pk, at, seq in cursor.fetchall()}
    if len(inserted) < len(uuids):
        if site is not None and not inserted and not Site.objects.filter(pk=site).exists():
            raise ValidationError({"site": [f"unknown site: {site}"]})
        taken = sorted(str(u) for u in uuids if u not in inserted)
        raise ValidationError({"uuid": [f"already registered: {', '.join(taken[:10])}"]})
    # seq follows the request order: INSERT ... SELECT ... ORDER BY draws it row by row.
    return [
        Data(uuid=u, problems=list(problems), timestamp_upload=inserted[u][0], seq=inserted[u][1],
             created_by=created_by, site_id=site)
        for u in uuids
    ]
