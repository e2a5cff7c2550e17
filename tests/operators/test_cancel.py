"""`manage.py cancel`, the admin's cancel action, and re-queueing canceled tasks (issue 16)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.db import connection
from django.urls import reverse

from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Algo
from tasks.models import Status, TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db

LEARNUPLETS = reverse("admin:learning_learnuplet_changelist")


def run(*args: str) -> str:
    out = StringIO()
    call_command("cancel", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def chain(length: int = 3) -> list[Learnuplet]:
    algo = AlgoFactory.create()
    first = LearnupletFactory.create(algo=algo, rank=0)
    return [first, *(LearnupletFactory.create(algo=algo, rank=r, status=Status.WAITING, model_start=None,
                                              queued_at=None) for r in range(1, length))]


def statuses(tasks: list[Learnuplet]) -> list[str]:
    return [Learnuplet.objects.get(pk=t.pk).status for t in tasks]


def test_it_cancels_an_algos_tasks_and_closes_the_algo():
    tasks = chain()
    other = chain(1)

    out = run("--algo", str(tasks[0].algo_id), "--kind", "learn", "--reason", "superseded")

    assert "canceled 3 active learnuplet(s) (3 to canceled)" in out
    assert statuses(tasks) == ["canceled"] * 3
    assert statuses(other) == ["todo"]
    assert Algo.objects.get(pk=tasks[0].algo_id).canceled_at is not None
    assert set(TaskEvent.objects.filter(to_status="canceled").values_list("reason", flat=True)) == {"superseded"}


def test_a_task_takes_the_later_ranks_of_its_chain_with_it():
    tasks = chain(4)

    run("--uuid", str(tasks[2].pk))

    assert statuses(tasks) == ["todo", "waiting", "canceled", "canceled"]


def test_a_dry_run_shows_what_it_would_cancel_and_changes_nothing():
    tasks = chain()
    pred = PredupletFactory.create(problem=tasks[0].problem)

    out = run("--problem", str(tasks[0].problem_id), "--dry-run", "-v", "2")

    assert "would cancel 3 active learnuplet(s)" in out and "would cancel 1 active preduplet(s)" in out
    assert f"preduplet {pred.pk} -> canceled" in out
    assert statuses(tasks) == ["todo", "waiting", "waiting"]
    assert Algo.objects.get(pk=tasks[0].algo_id).canceled_at is None


def test_it_refuses_to_cancel_everything_unnamed():
    with pytest.raises(CommandError, match="name what to cancel"):
        run()


def test_it_leaves_ended_tasks_alone():
    done = LearnupletFactory.create(status=Status.DONE, perf=0.5)

    assert "canceled 0 active" in run("--uuid", str(done.pk), "--kind", "learn")
    assert statuses([done]) == ["done"]


def test_its_queries_do_not_grow_with_the_tasks():
    def queries(n: int) -> int:
        tasks = [t for _ in range(n) for t in chain(2)]
        problem = str(tasks[0].problem_id)
        Learnuplet.objects.filter(pk__in=[t.pk for t in tasks]).update(problem_id=problem)
        with CaptureQueriesContext(connection) as captured:
            run("--problem", problem)
        return len(captured)

    assert queries(2) == queries(20)


def test_requeue_failed_takes_canceled_tasks_with_canceled():
    tasks = chain(2)
    run("--algo", str(tasks[0].algo_id))
    out = StringIO()

    call_command("requeue_failed", "--canceled", "--algo", str(tasks[0].algo_id), stdout=out)

    assert statuses(tasks) == ["todo", "waiting"]
    call_command("requeue_failed", stdout=StringIO())  # without --canceled: failed ones only
    assert Preduplet.objects.count() == 0


def test_the_admin_cancels_the_selected_tasks(admin_browser: Client):
    tasks = chain(2)

    page = admin_browser.post(LEARNUPLETS, {"action": "cancel", "index": "0", "reason": "by hand",
                                            "_selected_action": [str(tasks[0].pk)]}, follow=True)

    assert statuses(tasks) == ["canceled", "canceled"]
    assert "Canceled 2 of the 1 selected learnuplets." in [str(m) for m in page.context["messages"]]
    page = admin_browser.post(LEARNUPLETS, {"action": "requeue_failed", "index": "0",
                                            "_selected_action": [str(t.pk) for t in tasks]}, follow=True)
    assert statuses(tasks) == ["todo", "waiting"]
