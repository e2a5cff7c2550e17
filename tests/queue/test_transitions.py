"""The status machine is one table (tasks.models.TRANSITIONS), and the queue's actions
keep to it: an action cannot take a task from a status it does not list, nor to one."""

import uuid

import pytest
from django.db.models import Q

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks import queue
from tasks.models import ALLOWED, TRANSITIONS, Status, TaskEvent
from tests.factories import LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db

W, T, P, D, F, C = Status.WAITING, Status.TODO, Status.PENDING, Status.DONE, Status.FAILED, Status.CANCELED


def test_the_table_allows_exactly_the_changes_of_the_lifecycle():
    assert ALLOWED == {
        ("", T), ("", W),  # created
        (T, P),  # claimed
        (P, D), (P, F),  # a result; a lease out of attempts or past its run-time limit
        (P, T),  # a lease ran out; a retryable failure; a stale claim re-queued
        (W, T),  # released by the chain
        (F, T), (F, W), (P, W), (C, T), (C, W),  # re-queued by an operator
        (W, F), (T, F),  # failed by an operator
        (W, C), (T, C), (P, C),  # canceled
    }


def test_nothing_leaves_done():
    assert not {target for source, target in ALLOWED if source == D}


def test_an_action_refuses_to_build_a_change_the_table_does_not_list():
    task = LearnupletFactory.create(status=F)
    with pytest.raises(ValueError, match="TRANSITIONS"):
        queue.requeue(Learnuplet, where=Q(pk=task.pk), to=D, actor="ops", reason="no such change")
    task.refresh_from_db()
    assert task.status == F


@pytest.mark.parametrize("status", [W, T, D])
def test_requeue_moves_only_its_source_statuses_whatever_the_where(status):
    # `where` says which tasks the operator means; the table says which of them may move.
    task = LearnupletFactory.create(status=status, perf=0.5 if status == D else None)

    moved = queue.requeue(Learnuplet, where=Q(pk=task.pk), actor="ops", reason="r")

    assert moved == []
    task.refresh_from_db()
    assert task.status == status
    assert not TaskEvent.objects.filter(task=task.pk).exists()


def test_a_claim_takes_only_todo_tasks():
    waiting = LearnupletFactory.create(status=W, model_start=None, queued_at=None)
    with pytest.raises(queue.TaskConflict, match="is waiting, not todo"):
        LEARNUPLETS.claim(waiting.pk, worker=uuid.uuid4(), actor="w")


def test_a_release_takes_only_waiting_tasks():
    first = LearnupletFactory.create(status=D, perf=0.5)
    failed_next = LearnupletFactory.create(algo=first.algo, rank=first.rank + 1, status=F, model_start=None)

    released = queue.release(Learnuplet, [first], values={}, reason="previous rank ended")

    assert released == []
    failed_next.refresh_from_db()
    assert failed_next.status == F


def test_fail_by_hand_takes_only_active_tasks():
    done = PredupletFactory.create(status=D)
    todo = PredupletFactory.create()

    failed = queue.fail(Preduplet, where=Q(pk__in=[done.pk, todo.pk]), actor="ops", reason="bad input")

    assert [t.pk for t in failed] == [todo.pk]
    done.refresh_from_db()
    assert done.status == D


def test_every_action_is_a_declared_move():
    # The public actions and the table name the same things.
    assert set(TRANSITIONS) == {"create", "claim", "finish", "expire", "release", "requeue", "fail", "cancel"}
    for name, move in TRANSITIONS.items():
        assert move.targets, name
        assert not move.sources & {D}, f"{name} moves tasks out of done"
