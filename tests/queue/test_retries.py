"""Retries with back-off, failure kinds, the run-time limit and priorities (issue 16)."""

import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from predictions.lifecycle import PREDUPLETS
from tasks.models import Status, TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory, ProblemFactory
from tests.helpers import API, claim

pytestmark = pytest.mark.django_db


def fail(caller, task, *, retry: bool, error: str = "storage unreachable"):
    return caller.post(f"{API}/learnuplets/{task['uuid']}/result/",
                       {"attempt": task["attempt"], "status": "failed", "error": error, "retry": retry})


# -- retry with back-off -------------------------------------------------------------------


def test_a_retryable_failure_goes_back_to_todo_after_its_back_off_and_not_before(settings, worker):
    settings.ORCHESTRATOR_RETRY_BASE_SECONDS = 1
    LearnupletFactory.create()
    held = claim(worker)

    r = fail(worker, held, retry=True)

    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["status"], body["error_kind"], body["worker"]) == ("todo", "worker", None)
    not_before = datetime.fromisoformat(body["not_before"])
    # The back-off runs from the result's transaction (its event's time): jitter in [0.5, 1].
    failed_at = TaskEvent.objects.filter(task=held["uuid"], to_status="todo").latest("id").at
    assert timedelta(seconds=0.5) <= not_before - failed_at <= timedelta(seconds=1)
    assert worker.post(f"{API}/learnuplets/claim/").status_code == 204  # not before its back-off
    assert worker.post(f"{API}/learnuplets/{held['uuid']}/claim/").status_code == 409
    time.sleep(max(0.0, (not_before - timezone.now()).total_seconds()) + 0.05)
    again = claim(worker)
    assert (again["uuid"], again["attempt"], again["error_kind"]) == (held["uuid"], 2, "worker")


def test_the_back_off_doubles_with_each_attempt_and_stops_at_the_cap(settings):
    settings.ORCHESTRATOR_RETRY_BASE_SECONDS = 10
    settings.ORCHESTRATOR_RETRY_MAX_SECONDS = 30
    settings.ORCHESTRATOR_MAX_ATTEMPTS = 10
    task = LearnupletFactory.create()
    worker = uuid.uuid4()
    delays = []
    for _ in range(4):
        Learnuplet.objects.filter(pk=task.pk).update(not_before=None)  # skip the wait itself
        held = LEARNUPLETS.claim(task.pk, worker=worker, actor="w")
        back = LEARNUPLETS.report(task.pk, worker=worker, attempt=held.attempt, status="failed", retry=True,
                                  actor="w")
        assert back.not_before is not None
        failed_at = TaskEvent.objects.filter(task=task.pk, to_status="todo").latest("id").at
        delays.append((back.not_before - failed_at).total_seconds())

    for delay, full in zip(delays, [10, 20, 30, 30]):
        assert full * 0.5 <= delay <= full, delays


def test_a_retryable_failure_out_of_attempts_fails_for_good_and_the_chain_moves_on(settings, worker):
    settings.ORCHESTRATOR_MAX_ATTEMPTS = 1
    first = LearnupletFactory.create(rank=0)
    LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None, queued_at=None)
    held = claim(worker)

    r = fail(worker, held, retry=True)

    assert (r.json()["status"], r.json()["error_kind"]) == ("failed", "worker")
    assert Learnuplet.objects.get(algo=first.algo, rank=1).status == Status.TODO


def test_a_failure_without_retry_fails_at_once(worker):
    LearnupletFactory.create()
    held = claim(worker)

    assert fail(worker, held, retry=False, error="bad algorithm").json()["status"] == "failed"


def test_the_same_retryable_failure_sent_twice_answers_200_and_changes_nothing(worker):
    LearnupletFactory.create()
    held = claim(worker)
    first = fail(worker, held, retry=True)
    events = TaskEvent.objects.count()

    second = fail(worker, held, retry=True)

    assert second.status_code == 200, second.content
    assert second.json() == first.json()
    assert TaskEvent.objects.count() == events


def test_retry_must_be_a_boolean(worker):
    LearnupletFactory.create()
    held = claim(worker)

    r = worker.post(f"{API}/learnuplets/{held['uuid']}/result/",
                    {"attempt": held["attempt"], "status": "failed", "retry": "yes"})

    assert r.status_code == 400 and "retry" in r.json()


def test_an_expired_lease_follows_the_same_back_off(settings, worker, other_worker):
    settings.ORCHESTRATOR_LEASE_SECONDS = 1
    settings.ORCHESTRATOR_RETRY_BASE_SECONDS = 30
    task = LearnupletFactory.create()
    claim(worker)
    time.sleep(1.1)

    assert other_worker.post(f"{API}/learnuplets/claim/").status_code == 204  # swept, backing off

    task.refresh_from_db()
    assert (task.status, task.error_kind, task.worker) == (Status.TODO, "lease_expired", None)
    assert task.not_before is not None
    assert timedelta(seconds=14) <= task.not_before - timezone.now() <= timedelta(seconds=30)
    assert task.queued_at == task.not_before  # queued behind what is ready now


def test_a_preduplet_retries_too(worker):
    PredupletFactory.create()
    held = claim(worker, "preduplets")

    r = worker.post(f"{API}/preduplets/{held['uuid']}/result/",
                    {"attempt": held["attempt"], "status": "failed", "retry": True})

    assert (r.json()["status"], r.json()["error_kind"]) == ("todo", "worker")
    assert claim(worker, "preduplets")["attempt"] == 2


# -- run-time limit ------------------------------------------------------------------------


def test_a_heartbeating_task_past_its_run_time_limit_fails_and_its_chain_moves_on(settings, worker):
    settings.ORCHESTRATOR_MAX_RUN_SECONDS = 2
    first = LearnupletFactory.create(rank=0)
    LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None, queued_at=None)
    held = claim(worker)
    assert datetime.fromisoformat(held["lease_expires_at"]) <= timezone.now() + timedelta(seconds=2)

    beats = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = worker.post(f"{API}/learnuplets/{held['uuid']}/heartbeat/", {"attempt": held["attempt"]})
        beats.append(r.status_code)
        if r.status_code != 200:
            break
        time.sleep(0.4)

    assert beats[0] == 200 and beats[-1] == 409, beats
    assert r.json()["status"] == "failed"
    first.refresh_from_db()
    assert (first.status, first.error_kind) == (Status.FAILED, "run_time_exceeded")
    assert Learnuplet.objects.get(algo=first.algo, rank=1).status == Status.TODO
    assert TaskEvent.objects.filter(task=first.pk, to_status="failed", reason="run time exceeded").count() == 1


def test_a_problems_lower_limit_wins_and_a_higher_one_does_not(settings, worker):
    settings.ORCHESTRATOR_MAX_RUN_SECONDS = 3600
    low = ProblemFactory.create(max_run_seconds=60)
    high = ProblemFactory.create(max_run_seconds=10 ** 6)
    for problem in (low, high):
        LearnupletFactory.create(algo=AlgoFactory.create(problem=problem), max_run_seconds=problem.max_run_seconds)

    limits = {}
    for _ in range(2):
        task = Learnuplet.objects.get(pk=claim(worker)["uuid"])
        assert task.run_deadline is not None and task.claimed_at is not None
        limits[task.problem_id] = (task.run_deadline - task.claimed_at).total_seconds()

    assert limits == {low.pk: 60, high.pk: 3600}


def test_a_task_claimed_before_it_expires_is_swept_by_the_next_claim(settings, worker, other_worker):
    settings.ORCHESTRATOR_MAX_RUN_SECONDS = 1
    task = LearnupletFactory.create()
    claim(worker)
    time.sleep(1.1)

    assert other_worker.post(f"{API}/learnuplets/claim/").status_code == 204
    task.refresh_from_db()
    assert (task.status, task.error_kind) == (Status.FAILED, "run_time_exceeded")


# -- priorities ----------------------------------------------------------------------------


def test_claims_take_the_highest_priority_first_then_the_oldest(operator, worker):
    low, high = ProblemFactory.create(), ProblemFactory.create()
    old_low = LearnupletFactory.create(algo=AlgoFactory.create(problem=low))
    new_high = [LearnupletFactory.create(algo=AlgoFactory.create(problem=high)) for _ in range(2)]
    preds = [PredupletFactory.create(problem=p) for p in (low, high)]

    r = operator.http.patch(f"{API}/problems/{high.pk}/", {"priority": 5}, format="json")

    assert r.status_code == 200, r.content
    assert r.json()["priority"] == 5
    order = [claim(worker)["uuid"] for _ in range(3)]
    assert order == [str(new_high[0].pk), str(new_high[1].pk), str(old_low.pk)]
    assert claim(worker, "preduplets")["uuid"] == str(preds[1].pk)


def test_tasks_created_later_take_their_problems_priority(operator, uploader, worker):
    from tests.helpers import create_problem, register_algo, register_data, uuids

    problem = create_problem(uploader, size=1)["uuid"]
    operator.http.patch(f"{API}/problems/{problem}/", {"priority": -3, "max_run_seconds": 90}, format="json")
    register_data(uploader, [problem], uuids(1))
    register_algo(uploader, problem)

    assert set(Learnuplet.objects.values_list("priority", "max_run_seconds")) == {(-3, 90)}


@pytest.mark.parametrize("body, field", [({"priority": "high"}, "priority"), ({"priority": 2 ** 31}, "priority"),
                                         ({"max_run_seconds": 0}, "max_run_seconds"),
                                         ({"priority": True}, "priority")])
def test_bad_settings_are_a_400_naming_the_field(operator, body, field):
    problem = ProblemFactory.create()

    r = operator.http.patch(f"{API}/problems/{problem.pk}/", body, format="json")

    assert r.status_code == 400 and field in r.json(), r.content


def test_only_operators_set_priorities(uploader, worker):
    problem = ProblemFactory.create()
    for caller in (uploader, worker):
        assert caller.http.patch(f"{API}/problems/{problem.pk}/", {"priority": 9}, format="json").status_code == 403
    assert uploader.http.put(f"{API}/problems/{problem.pk}/", {"priority": 9}, format="json").status_code in (403, 405)


def test_a_priority_change_takes_a_bounded_number_of_queries(operator, django_assert_max_num_queries):
    problem = ProblemFactory.create()
    LearnupletFactory.create_batch(50, algo=AlgoFactory.create(problem=problem))
    with django_assert_max_num_queries(8):
        operator.http.patch(f"{API}/problems/{problem.pk}/", {"priority": 1}, format="json")
    assert set(Learnuplet.objects.values_list("priority", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_drain_priorities_in_order_and_wait_out_back_offs():
    """Eight workers on their own connections claim from two problems of different
    priorities while every first attempt fails with retry: each task runs exactly twice,
    and no claim returns a task before its not_before."""
    low, high = ProblemFactory.create(priority=0), ProblemFactory.create(priority=1)
    tasks = [LearnupletFactory.create(algo=AlgoFactory.create(problem=p), priority=p.priority)
             for p in (low, high) for _ in range(30)]
    claims: list[tuple[uuid.UUID, int, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work() -> None:
        worker = uuid.uuid4()
        try:
            start.wait()
            idle_since = None
            while True:
                task = LEARNUPLETS.claim_next(worker=worker, actor="w")
                if task is None:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 1.5:
                        return
                    time.sleep(0.05)
                    continue
                idle_since = None
                early = task.not_before is not None and task.not_before > timezone.now()
                with lock:
                    claims.append((task.pk, task.priority, early))
                LEARNUPLETS.report(task.pk, worker=worker, attempt=task.attempt, status="failed",
                                   retry=task.attempt == 1, actor="w")
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    from django.test import override_settings

    with override_settings(ORCHESTRATOR_RETRY_BASE_SECONDS=0.2, ORCHESTRATOR_MAX_ATTEMPTS=3):
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    assert errors == []
    per_task: dict[uuid.UUID, int] = {}
    for pk, _, early in claims:
        per_task[pk] = per_task.get(pk, 0) + 1
        assert not early
    assert per_task == {t.pk: 2 for t in tasks}
    first_attempts = [priority for pk, priority, _ in claims][: len(tasks) // 2]
    assert first_attempts.count(1) >= len(first_attempts) - 8  # the high priority ones came first
    assert set(Learnuplet.objects.values_list("status", flat=True)) == {Status.FAILED}
    assert PREDUPLETS.model.objects.count() == 0
