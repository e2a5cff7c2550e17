"""Appending to a chain while its last task finishes, over two real connections (issue 3).

Without the algo lock, the append would see the task still pending and add `waiting`
ranks, while the finishing task would not yet see them to release: the chain would stall.
"""

import threading
import uuid

import pytest
from django.db import connection, transaction

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from problems.services import data_register
from tests.factories import AlgoFactory, LearnupletFactory, ProblemFactory


def _pending_chain() -> Learnuplet:
    problem = ProblemFactory.create(size_train_dataset=1)
    algo = AlgoFactory.create(problem=problem)
    task = LearnupletFactory.create(algo=algo, rank=0)
    return LEARNUPLETS.claim(task.pk, worker=uuid.uuid4(), actor="w")


def _finish(task: Learnuplet) -> None:
    LEARNUPLETS.report(task.pk, worker=task.worker, attempt=task.attempt, status="done",
                 perf=0.5, train_perf={}, test_perf={}, actor="w")


def _in_thread(target, *args):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.django_db(transaction=True)
def test_it_releases_data_appended_while_the_last_task_was_finishing():
    task = _pending_chain()
    registered, release = threading.Event(), threading.Event()

    def register_and_hold() -> None:
        with transaction.atomic():
            data_register(uuids=[uuid.uuid4()], problems=[task.problem_id])
            registered.set()
            release.wait(10)

    registrar, registrar_errors = _in_thread(register_and_hold)
    assert registered.wait(10)
    finisher, finisher_errors = _in_thread(_finish, task)
    finisher.join(0.5)
    assert finisher.is_alive(), "finishing should wait for the registration's lock"
    release.set()
    registrar.join(10)
    finisher.join(10)

    assert registrar_errors == finisher_errors == []
    appended = Learnuplet.objects.get(algo=task.algo_id, rank=1)
    assert appended.status == "todo"
    assert appended.model_start == task.model_end


@pytest.mark.django_db(transaction=True)
def test_it_starts_appended_data_when_the_chain_ended_first():
    task = _pending_chain()
    finished, release = threading.Event(), threading.Event()

    def finish_and_hold() -> None:
        with transaction.atomic():
            _finish(task)
            finished.set()
            release.wait(10)

    finisher, finisher_errors = _in_thread(finish_and_hold)
    assert finished.wait(10)
    registrar, registrar_errors = _in_thread(
        lambda: data_register(uuids=[uuid.uuid4()], problems=[task.problem_id]))
    registrar.join(0.5)
    assert registrar.is_alive(), "registration should wait for the finishing task's lock"
    release.set()
    finisher.join(10)
    registrar.join(10)

    assert registrar_errors == finisher_errors == []
    appended = Learnuplet.objects.get(algo=task.algo_id, rank=1)
    assert appended.status == "todo"
    assert appended.model_start == task.model_end
