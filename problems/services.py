"""Registration of problems, algos and data: each one transaction, all or nothing."""

import uuid
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from problems.models import Algo, Data, Problem
from problems.signals import algo_registered, data_registered


def _created_by(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def _generated(responses: list[tuple[object, object]]) -> int:
    """Sum what the generation receivers report having created."""
    return sum(r for _, r in responses if isinstance(r, int))


def _duplicates(values: Sequence[uuid.UUID]) -> list[str]:
    seen: set[uuid.UUID] = set()
    dupes: list[str] = []
    for value in values:
        if value in seen:
            dupes.append(str(value))
        seen.add(value)
    return dupes


@transaction.atomic
def problem_create(
    *,
    workflow: uuid.UUID,
    test_dataset: list[uuid.UUID],
    size_train_dataset: int,
    higher_is_better: bool = True,
    pk: uuid.UUID | None = None,
    user: AbstractBaseUser | None = None,
) -> Problem:
    if dupes := _duplicates(test_dataset):
        raise ValidationError({"test_dataset": [f"duplicate UUIDs: {', '.join(dupes[:10])}"]})
    problem = Problem(
        uuid=pk or uuid.uuid4(),
        workflow=workflow,
        test_dataset=test_dataset,
        size_train_dataset=size_train_dataset,
        higher_is_better=higher_is_better,
        created_by=_created_by(user),
    )
    try:
        with transaction.atomic():
            problem.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"uuid": [f"a problem with uuid {problem.uuid} already exists"]}) from None
    return problem


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
    user: AbstractBaseUser | None = None,
) -> tuple[Algo, int]:
    """Register an algo; return it and how many learnuplets were created for it."""
    (locked,) = _lock_problems([problem], field="problem")
    algo = Algo(uuid=pk or uuid.uuid4(), problem=locked, name=name, created_by=_created_by(user))
    try:
        with transaction.atomic():
            algo.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"uuid": [f"an algo with uuid {algo.uuid} already exists"]}) from None
    return algo, _generated(algo_registered.send(sender=Algo, algo=algo))


@transaction.atomic
def data_register(
    *,
    uuids: Sequence[uuid.UUID],
    problems: Sequence[uuid.UUID],
    user: AbstractBaseUser | None = None,
) -> tuple[list[Data], int]:
    """Register data for problems, all or nothing; return the records and the learnuplets made."""
    if dupes := _duplicates(uuids):
        raise ValidationError({"uuid": [f"duplicate UUIDs in the request: {', '.join(dupes[:10])}"]})
    if dupes := _duplicates(problems):
        raise ValidationError({"problems": [f"duplicate UUIDs in the request: {', '.join(dupes[:10])}"]})
    locked = _lock_problems(problems, field="problems")
    records = _insert_data(uuids, problems, created_by=_created_by(user))
    return records, _generated(data_registered.send(sender=Data, data=records, problems=locked))


def _insert_data(
    uuids: Sequence[uuid.UUID], problems: Sequence[uuid.UUID], *, created_by: AbstractBaseUser | None
) -> list[Data]:
    """Insert the data in request order in one statement; refuse any already registered.

    ON CONFLICT DO NOTHING also covers a concurrent registration of the same UUID: the
    caller's transaction is rolled back by the ValidationError, so nothing is registered.
    (bulk_create binds five parameters a row; 10,000 rows took seconds to render.)
    """
    table = connection.ops.quote_name(Data._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (uuid, problems, timestamp_upload, created_by_id)
            SELECT d.uuid, %s::uuid[], now(), %s
            FROM unnest(%s::uuid[]) WITH ORDINALITY AS d(uuid, position)
            ORDER BY d.position
            ON CONFLICT (uuid) DO NOTHING
            RETURNING uuid, timestamp_upload, seq
            """,
            [list(problems), created_by.pk if created_by else None, list(uuids)],
        )
        inserted = {pk: (at, seq) for pk, at, seq in cursor.fetchall()}
    if len(inserted) < len(uuids):
        taken = sorted(str(u) for u in uuids if u not in inserted)
        raise ValidationError({"uuid": [f"already registered: {', '.join(taken[:10])}"]})
    # seq follows the request order: INSERT ... SELECT ... ORDER BY draws it row by row.
    return [
        Data(uuid=u, problems=list(problems), timestamp_upload=inserted[u][0], seq=inserted[u][1],
             created_by=created_by)
        for u in uuids
    ]
