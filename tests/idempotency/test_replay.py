"""The same Idempotency-Key again answers the first answer, with Idempotent-Replayed: true,
without doing anything; for every kind of write of v1 (api.md, "Idempotent requests")."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from idempotency.models import IdempotencyKey
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Algo, Data, Problem
from tasks.models import Status, TaskEvent
from tests.conftest import Caller
from tests.factories import AlgoFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory
from tests.helpers import API
from tests.idempotency.support import keyed, replayed

pytestmark = pytest.mark.django_db


@dataclass
class Write:
    """One write: who sends it, where, what, and a measure of its effect."""

    caller: Caller
    path: str
    body: dict[str, Any]
    effect: Callable[[], Any]
    # Run between the first request and its repetition (a 204 claim: a task to claim now).
    between: Callable[[], Any] | None = None


def held(kind: type[Learnuplet] | type[Preduplet], worker: Caller) -> Any:
    fields = {"worker": worker.worker, "attempt": 1, "status": Status.PENDING,
              "lease_expires_at": timezone.now() + timedelta(hours=1)}
    if kind is Learnuplet:
        return LearnupletFactory.create(**fields)
    return PredupletFactory.create(**fields)


def events() -> list[tuple[Any, ...]]:
    return list(TaskEvent.objects.order_by("id").values_list("task", "to_status", "attempt"))


def problem_write(uploader: Caller, worker: Caller) -> Write:
    body = {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())], "size_train_dataset": 1}
    return Write(uploader, f"{API}/problems/", body, lambda: Problem.objects.count())


def algo_write(uploader: Caller, worker: Caller) -> Write:
    problem = ProblemFactory.create(size_train_dataset=1)
    DataFactory.create(problems=[problem.uuid])
    return Write(uploader, f"{API}/algos/", {"problem": str(problem.uuid), "name": "logistic"},
                 lambda: (Algo.objects.count(), Learnuplet.objects.count()))


def data_write(uploader: Caller, worker: Caller) -> Write:
    problem = ProblemFactory.create(size_train_dataset=1)
    AlgoFactory.create(problem=problem)
    body = {"uuid": [str(uuid.uuid4()), str(uuid.uuid4())], "problems": [str(problem.uuid)]}
    return Write(uploader, f"{API}/data/", body, lambda: (Data.objects.count(), Learnuplet.objects.count()))


def prediction_write(uploader: Caller, worker: Caller) -> Write:
    problem = ProblemFactory.create()
    LearnupletFactory.create(algo=AlgoFactory.create(problem=problem), status=Status.DONE, perf=0.5)
    body = {"problem": str(problem.uuid), "data": str(uuid.uuid4())}
    return Write(uploader, f"{API}/preduplets/", body, lambda: Preduplet.objects.count())


def claim_next_write(uploader: Caller, worker: Caller) -> Write:
    LearnupletFactory.create_batch(2)
    return Write(worker, f"{API}/learnuplets/claim/", {}, events)


def claim_nothing_write(uploader: Caller, worker: Caller) -> Write:
    return Write(worker, f"{API}/preduplets/claim/", {}, lambda: (events(), Preduplet.objects.count()),
                 between=PredupletFactory.create)


def claim_write(uploader: Caller, worker: Caller) -> Write:
    task = PredupletFactory.create()
    return Write(worker, f"{API}/preduplets/{task.pk}/claim/", {}, events)


def heartbeat_write(uploader: Caller, worker: Caller) -> Write:
    task = held(Learnuplet, worker)
    return Write(worker, f"{API}/learnuplets/{task.pk}/heartbeat/", {"attempt": 1},
                 lambda: Learnuplet.objects.get(pk=task.pk).lease_expires_at)


def result_write(uploader: Caller, worker: Caller) -> Write:
    task = held(Learnuplet, worker)
    body = {"attempt": 1, "status": "done", "perf": 0.8,
            "train_perf": {str(d): 0.9 for d in task.train_data},
            "test_perf": {str(d): 0.8 for d in task.test_data}}
    return Write(worker, f"{API}/learnuplets/{task.pk}/result/", body, events)


def prediction_result_write(uploader: Caller, worker: Caller) -> Write:
    task = held(Preduplet, worker)
    body = {"attempt": 1, "status": "done", "prediction_storage_uuid": [str(uuid.uuid4())]}
    return Write(worker, f"{API}/preduplets/{task.pk}/result/", body, events)


WRITES = {
    "problem": (problem_write, 201),
    "algo": (algo_write, 201),
    "data": (data_write, 201),
    "prediction request": (prediction_write, 201),
    "claim of the next task": (claim_next_write, 200),
    "claim when there is none": (claim_nothing_write, 204),
    "claim of a named task": (claim_write, 200),
    "heartbeat": (heartbeat_write, 200),
    "learning result": (result_write, 200),
    "prediction result": (prediction_result_write, 200),
}


@pytest.mark.parametrize("name", WRITES)
def test_it_answers_a_repeated_key_with_the_first_answer_and_does_nothing_again(name, uploader, worker):
    make, status = WRITES[name]
    write = make(uploader, worker)
    before = write.effect()

    first = keyed(write.caller, write.path, write.body, key="retry-1")
    if write.between:
        write.between()
    after = write.effect()
    again = keyed(write.caller, write.path, write.body, key="retry-1")

    assert first.status_code == status, first.content
    assert after != before, "the first request did something"
    assert not replayed(first)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert replayed(again)
    assert write.effect() == after


def test_it_replays_a_refusal_too(uploader):
    body = {"problem": str(uuid.uuid4()), "name": "no such problem"}

    first = keyed(uploader, f"{API}/algos/", body, key="k")
    ProblemFactory.create(uuid=body["problem"])
    again = keyed(uploader, f"{API}/algos/", body, key="k")

    assert first.status_code == 400
    assert (again.status_code, again.content) == (400, first.content)
    assert replayed(again)
    assert not Algo.objects.exists()


def test_it_replays_a_refused_state_change(worker, other_worker):
    task = LearnupletFactory.create()
    worker.post(f"{API}/learnuplets/{task.pk}/claim/")

    first = keyed(other_worker, f"{API}/learnuplets/{task.pk}/claim/", key="k")
    again = keyed(other_worker, f"{API}/learnuplets/{task.pk}/claim/", key="k")

    assert first.status_code == 409
    assert "Retry-After" not in first.headers  # a refusal, not a request still running
    assert (again.status_code, again.content, replayed(again)) == (409, first.content, True)


@pytest.mark.parametrize("change", ["body", "path", "query"])
def test_it_refuses_the_same_key_with_another_request(change, uploader):
    body = {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())], "size_train_dataset": 1}
    assert keyed(uploader, f"{API}/problems/", body, key="k").status_code == 201
    other = {
        "body": (f"{API}/problems/", {**body, "size_train_dataset": 2}),
        "path": (f"{API}/algos/", {"problem": str(uuid.uuid4()), "name": "x"}),
        "query": (f"{API}/problems/?page=2", body),
    }[change]

    r = keyed(uploader, *other, key="k")

    assert r.status_code == 422
    assert set(r.json()) == {"detail"}
    assert not replayed(r)
    assert Problem.objects.count() == 1


def test_it_refuses_a_key_stored_for_another_method(uploader):
    body = {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())], "size_train_dataset": 1}
    keyed(uploader, f"{API}/problems/", body, key="k")
    # No v1 route serves two write methods yet: the stored request says PATCH.
    IdempotencyKey.objects.update(method="PATCH")

    r = keyed(uploader, f"{API}/problems/", body, key="k")

    assert r.status_code == 422
    assert Problem.objects.count() == 1


def test_keys_belong_to_their_user(uploader, operator):
    body = {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())], "size_train_dataset": 1}
    first = keyed(uploader, f"{API}/problems/", {**body, "uuid": str(uuid.uuid4())}, key="k")

    other = keyed(operator, f"{API}/problems/", {**body, "uuid": str(uuid.uuid4())}, key="k")

    assert (first.status_code, other.status_code) == (201, 201)
    assert not replayed(other)
    assert Problem.objects.count() == 2


def test_a_key_older_than_24_hours_is_a_new_request(worker):
    LearnupletFactory.create_batch(2)
    first = keyed(worker, f"{API}/learnuplets/claim/", key="k")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    again = keyed(worker, f"{API}/learnuplets/claim/", key="k")

    assert (first.status_code, again.status_code) == (200, 200)
    assert not replayed(again)
    assert again.json()["uuid"] != first.json()["uuid"]
    assert IdempotencyKey.objects.get().created_at > timezone.now() - timedelta(minutes=1)


def test_a_key_younger_than_24_hours_is_replayed(worker):
    LearnupletFactory.create_batch(2)
    first = keyed(worker, f"{API}/learnuplets/claim/", key="k")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))

    again = keyed(worker, f"{API}/learnuplets/claim/", key="k")

    assert replayed(again)
    assert again.json()["uuid"] == first.json()["uuid"]


@pytest.mark.parametrize("key", [
    "", " ", "a b", "x" * 256, "é", "tab\there", "\x7f", "ключ",
], ids=["empty", "space", "inner space", "256 characters", "latin-1", "tab", "DEL", "cyrillic"])
def test_it_refuses_a_key_that_is_not_1_to_255_visible_ascii_characters(key, uploader):
    r = uploader.http.post(f"{API}/problems/", {}, format="json", headers={"Idempotency-Key": key})

    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()
    assert not IdempotencyKey.objects.exists()


def test_it_takes_255_visible_characters(uploader):
    key = ("!~" * 128)[:255]
    body = {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())], "size_train_dataset": 1}

    first = keyed(uploader, f"{API}/problems/", body, key=key)
    again = keyed(uploader, f"{API}/problems/", body, key=key)

    assert (first.status_code, replayed(again)) == (201, True)


def test_reads_ignore_the_header(uploader):
    r = uploader.http.get(f"{API}/problems/", headers={"Idempotency-Key": ""})

    assert r.status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_a_write_the_route_does_not_serve_is_not_kept(uploader):
    problem = ProblemFactory.create()

    r = keyed(uploader, f"{API}/problems/{problem.pk}/", {}, key="k", method="put")

    assert r.status_code == 405
    assert not IdempotencyKey.objects.exists()


def test_refusals_before_the_view_are_not_kept(uploader, anonymous):
    anonymous_answer = anonymous.post(f"{API}/problems/", {}, format="json", headers={"Idempotency-Key": "k"})
    wrong_role = keyed(uploader, f"{API}/learnuplets/claim/", key="k")

    assert (anonymous_answer.status_code, wrong_role.status_code) == (401, 403)
    assert not IdempotencyKey.objects.exists()
