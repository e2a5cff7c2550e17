"""Cancel (issue 16): algos, learnuplets with the rest of their chain, preduplets; who may;
what a worker holding a canceled task hears; a cancel racing a result."""

import threading
import uuid

import pytest
from django.db import connection
from django.db.models import Q

from accounts.models import Role
from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Algo
from tasks.models import ErrorKind, Status, TaskEvent
from tests.conftest import make_caller
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory
from tests.helpers import API, claim, create_problem, register_algo, register_data, report_done, uuids

pytestmark = pytest.mark.django_db


def chain_of(uploader, *, ranks: int = 3) -> tuple[str, list[dict[str, object]]]:
    problem = create_problem(uploader, size=1)["uuid"]
    register_data(uploader, [problem], uuids(ranks))
    algo = register_algo(uploader, problem)["uuid"]
    return algo, [dict(row) for row in Learnuplet.objects.filter(algo_id=algo).order_by("rank").values("uuid", "status")]


def statuses(algo: str) -> list[str]:
    return list(Learnuplet.objects.filter(algo_id=algo).order_by("rank").values_list("status", flat=True))


def test_canceling_an_algo_cancels_every_active_learnuplet_and_answers_how_many(uploader, worker):
    algo, _ = chain_of(uploader, ranks=3)
    first = claim(worker)
    report_done(worker, first, 0.5)  # rank 0 done, rank 1 todo, rank 2 waiting

    r = uploader.post(f"{API}/algos/{algo}/cancel/", {"reason": "wrong features"})

    assert r.status_code == 200, r.content
    assert r.json() == {"canceled": 2}
    assert statuses(algo) == ["done", "canceled", "canceled"]
    events = TaskEvent.objects.filter(to_status="canceled")
    assert events.count() == 2
    assert set(events.values_list("actor", "reason")) == {("uploader", "wrong features")}
    assert set(Learnuplet.objects.filter(status="canceled").values_list("error_kind", flat=True)) == {"canceled"}
    # Again: nothing more to cancel.
    assert uploader.post(f"{API}/algos/{algo}/cancel/").json() == {"canceled": 0}


def test_data_registered_after_an_algo_is_canceled_add_nothing_to_it(uploader):
    algo, _ = chain_of(uploader, ranks=1)
    problem = str(Algo.objects.get(pk=algo).problem_id)
    uploader.post(f"{API}/algos/{algo}/cancel/")
    other = register_algo(uploader, problem, "other")["uuid"]

    added = register_data(uploader, [problem], uuids(2))

    assert added["new_learnuplets"] == 2  # the other algo's
    assert statuses(algo) == ["canceled"]
    assert len(statuses(other)) == 3


def test_canceling_a_learnuplet_cancels_the_later_ranks_of_its_chain_only(uploader):
    algo, chain = chain_of(uploader, ranks=3)
    other, _ = chain_of(uploader, ranks=1)

    r = uploader.post(f"{API}/learnuplets/{chain[1]['uuid']}/cancel/", {})

    assert r.status_code == 200, r.content
    assert r.json()["status"] == "canceled"
    assert r.json()["error_kind"] == "canceled"
    assert statuses(algo) == ["todo", "canceled", "canceled"]
    assert statuses(other) == ["todo"]


def test_a_worker_holding_a_canceled_task_hears_409_canceled_and_its_result_changes_nothing(uploader, worker):
    algo, _ = chain_of(uploader, ranks=2)
    held = claim(worker)
    uploader.post(f"{API}/learnuplets/{held['uuid']}/cancel/")

    heartbeat = worker.post(f"{API}/learnuplets/{held['uuid']}/heartbeat/", {"attempt": held["attempt"]})
    result = worker.post(f"{API}/learnuplets/{held['uuid']}/result/", {
        "attempt": held["attempt"], "status": "done", "perf": 0.9, "train_perf": {}, "test_perf": {}})

    for r in (heartbeat, result):
        assert r.status_code == 409, r.content
        assert r.json()["status"] == "canceled"
        assert "detail" in r.json()
    assert statuses(algo) == ["canceled", "canceled"]  # and rank 1 was never released
    assert not TaskEvent.objects.filter(to_status="done").exists()


def test_canceling_an_ended_task_is_409_and_cancels_nothing(uploader, worker):
    algo, chain = chain_of(uploader, ranks=2)
    report_done(worker, claim(worker), 0.5)

    r = uploader.post(f"{API}/learnuplets/{chain[0]['uuid']}/cancel/")

    assert r.status_code == 409, r.content
    assert statuses(algo) == ["done", "todo"]


def test_a_prediction_is_canceled_by_its_requester(uploader):
    mine = PredupletFactory.create(created_by=uploader.client.user)

    r = uploader.post(f"{API}/preduplets/{mine.pk}/cancel/", {"reason": "not needed"})

    assert r.status_code == 200, r.content
    assert (r.json()["status"], r.json()["last_error"]) == ("canceled", "not needed")
    assert uploader.post(f"{API}/preduplets/{mine.pk}/cancel/").status_code == 409


@pytest.mark.parametrize("kind", ["algos", "learnuplets", "preduplets"])
def test_only_the_asker_and_operators_may_cancel(uploader, worker, operator, kind):
    stranger = make_caller("stranger", Role.CLIENT)
    algo = AlgoFactory.create(created_by=uploader.client.user)
    task = {
        "algos": algo,
        "learnuplets": LearnupletFactory.create(algo=algo),
        "preduplets": PredupletFactory.create(created_by=uploader.client.user),
    }[kind]

    assert stranger.post(f"{API}/{kind}/{task.pk}/cancel/").status_code == 403
    assert worker.post(f"{API}/{kind}/{task.pk}/cancel/").status_code == 403
    assert operator.post(f"{API}/{kind}/{task.pk}/cancel/").status_code == 200
    assert stranger.post(f"{API}/{kind}/{uuid.uuid4()}/cancel/").status_code == 404


def test_an_operator_requeues_canceled_tasks(uploader):
    algo, _ = chain_of(uploader, ranks=2)
    uploader.post(f"{API}/algos/{algo}/cancel/")

    requeued = LEARNUPLETS.requeue(Q(algo_id=algo), actor="ops", reason="by mistake", reset_attempts=False)

    assert sorted(status for _, status in requeued.changed) == ["todo", "waiting"]
    assert statuses(algo) == ["todo", "waiting"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(6))
def test_a_cancel_racing_a_result_leaves_one_winner_and_a_consistent_chain(round_):
    """A worker reports rank 0 while its client cancels it, on two connections: either the
    result wins (rank 0 done, the cancel answers 409, rank 1 released) or the cancel wins
    (both canceled, the result answers 409 canceled); never both, never a half."""
    algo = AlgoFactory.create()
    first = LearnupletFactory.create(algo=algo, rank=0)
    LearnupletFactory.create(algo=algo, rank=1, status=Status.WAITING, model_start=None, queued_at=None)
    worker = uuid.uuid4()
    held = LEARNUPLETS.claim(first.pk, worker=worker, actor="w")
    start = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def report() -> None:
        try:
            start.wait()
            LEARNUPLETS.report(first.pk, worker=worker, attempt=held.attempt, status="done", perf=0.5,
                               train_perf={}, test_perf={}, actor="w")
            outcome["result"] = "ok"
        except Exception as exc:  # noqa: BLE001 - the loser's refusal
            outcome["result"] = f"{type(exc).__name__}: {getattr(exc, 'status', '')}"
        finally:
            connection.close()

    def cancel() -> None:
        try:
            start.wait()
            LEARNUPLETS.cancel_one(first.pk, actor="client", reason="stop")
            outcome["cancel"] = "ok"
        except Exception as exc:  # noqa: BLE001 - as above
            outcome["cancel"] = f"{type(exc).__name__}: {getattr(exc, 'status', '')}"
        finally:
            connection.close()

    threads = [threading.Thread(target=report), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    final = statuses(str(algo.pk))
    events = list(TaskEvent.objects.filter(task=first.pk).order_by("id").values_list("to_status", flat=True))
    if outcome["result"] == "ok":
        assert outcome["cancel"] == "TaskConflict: done"
        assert final == ["done", "todo"]
        assert events == ["pending", "done"]
    else:
        assert outcome == {"result": "TaskConflict: canceled", "cancel": "ok"}
        assert final == ["canceled", "canceled"]
        assert events == ["pending", "canceled"]
    assert not Learnuplet.objects.filter(status=Status.CANCELED).exclude(error_kind=ErrorKind.CANCELED).exists()
    assert Preduplet.objects.count() == 0
