"""`manage.py requeue_failed` (issue 5)."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db


def failed_learnuplet(**kwargs: object) -> Learnuplet:
    defaults: dict[str, object] = {"status": "failed", "worker": uuid.uuid4(), "attempt": 3,
                                   "training_done": timezone.now(), "last_error": "boom", "queued_at": None}
    return LearnupletFactory.create(**{**defaults, **kwargs})


def failed_preduplet(**kwargs: object) -> Preduplet:
    defaults: dict[str, object] = {"status": "failed", "worker": uuid.uuid4(), "attempt": 1,
                                   "timestamp_done": timezone.now(), "last_error": "boom", "queued_at": None}
    return PredupletFactory.create(**{**defaults, **kwargs})


def run(*args: str) -> str:
    out = StringIO()
    call_command("requeue_failed", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_puts_a_failed_learnuplet_with_a_start_model_back_to_todo():
    task = failed_learnuplet()

    run()

    task.refresh_from_db()
    assert (task.status, task.worker, task.training_done, task.lease_expires_at) == ("todo", None, None, None)
    assert task.queued_at is not None


def test_it_puts_a_failed_learnuplet_without_a_start_model_back_to_waiting():
    algo = AlgoFactory.create()
    LearnupletFactory.create(algo=algo, rank=0, status="pending", worker=uuid.uuid4(),
                      lease_expires_at=timezone.now() + timedelta(minutes=5))
    task = failed_learnuplet(algo=algo, rank=1, model_start=None)

    out = run()

    task.refresh_from_db()
    assert task.status == "waiting"
    assert "1 to waiting" in out


def test_it_releases_a_learnuplet_put_back_to_waiting_when_its_previous_rank_has_ended():
    algo = AlgoFactory.create()
    previous = LearnupletFactory.create(algo=algo, rank=0, status="done", perf=0.7, training_done=timezone.now())
    task = failed_learnuplet(algo=algo, rank=1, model_start=None)

    out = run()

    task.refresh_from_db()
    assert (task.status, task.model_start) == ("todo", previous.model_end)
    assert "released at once" in out


def test_it_prints_the_count_per_kind():
    failed_learnuplet()
    failed_learnuplet()
    failed_preduplet()

    out = run()

    assert "re-queued 2 failed learnuplet(s) (2 to todo)" in out
    assert "re-queued 1 failed preduplet(s) (1 to todo)" in out


def test_it_lists_each_task_at_verbosity_2():
    task = failed_learnuplet()

    out = run("-v", "2", "--kind", "learn")

    assert f"learnuplet {task.pk} -> todo" in out


def test_it_changes_nothing_on_a_dry_run():
    task = failed_learnuplet()
    events = TaskEvent.objects.count()

    out = run("--dry-run", "-v", "2")

    task.refresh_from_db()
    assert task.status == "failed"
    assert TaskEvent.objects.count() == events
    assert "would re-queue 1 failed learnuplet(s)" in out
    assert f"learnuplet {task.pk} -> todo" in out


def test_it_writes_one_event_per_task_with_the_reason():
    task = failed_learnuplet()

    run("--reason", "disk was full on worker 7")

    event = TaskEvent.objects.filter(task=task.pk).latest("id")
    assert (event.from_status, event.to_status, event.reason) == ("failed", "todo", "disk was full on worker 7")
    assert event.actor.endswith("(shell)")
    assert TaskEvent.objects.filter(task=task.pk).count() == 1


def test_it_is_idempotent():
    failed_learnuplet()
    run()
    events = TaskEvent.objects.count()

    out = run()

    assert "re-queued 0 failed learnuplet(s)" in out
    assert TaskEvent.objects.count() == events


def test_it_leaves_tasks_that_are_not_failed():
    others = [LearnupletFactory.create(status=s, perf=0.5 if s == "done" else None) for s in ("todo", "done", "waiting")]

    run()

    assert [Learnuplet.objects.get(pk=t.pk).status for t in others] == ["todo", "done", "waiting"]


def test_it_keeps_the_attempt_count_unless_asked_to_reset_it():
    kept = failed_learnuplet(attempt=3)
    reset = failed_preduplet(attempt=3)

    run("--kind", "learn")
    run("--kind", "pred", "--reset-attempts")

    kept.refresh_from_db()
    reset.refresh_from_db()
    assert (kept.attempt, reset.attempt) == (3, 0)


def test_it_takes_only_the_kind_asked_for():
    learn = failed_learnuplet()
    pred = failed_preduplet()

    run("--kind", "pred")

    learn.refresh_from_db()
    pred.refresh_from_db()
    assert (learn.status, pred.status) == ("failed", "todo")


def test_it_takes_only_the_problem_asked_for():
    mine = failed_learnuplet()
    other = failed_learnuplet()

    run("--problem", str(mine.problem_id))

    assert Learnuplet.objects.get(pk=mine.pk).status == "todo"
    assert Learnuplet.objects.get(pk=other.pk).status == "failed"


def test_it_takes_the_algo_asked_for_and_the_predictions_made_with_its_models():
    mine = LearnupletFactory.create(status="done", perf=0.5, training_done=timezone.now())
    failed = failed_learnuplet(algo=mine.algo)
    other = failed_learnuplet()
    pred = failed_preduplet(problem=mine.problem, model=mine.model_end)
    other_pred = failed_preduplet()

    run("--algo", str(mine.algo_id))

    statuses = {t.pk: t.status for t in [*Learnuplet.objects.all(), *Preduplet.objects.all()]}
    assert (statuses[failed.pk], statuses[pred.pk]) == ("todo", "todo")
    assert (statuses[other.pk], statuses[other_pred.pk]) == ("failed", "failed")


def test_it_takes_only_the_uuids_named():
    first, second, third = failed_learnuplet(), failed_learnuplet(), failed_learnuplet()

    run("--uuid", str(first.pk), "--uuid", str(third.pk))

    assert [Learnuplet.objects.get(pk=t.pk).status for t in (first, second, third)] == ["todo", "failed", "todo"]


def test_it_takes_only_tasks_that_ended_in_the_window():
    now = timezone.now()
    old = failed_learnuplet(training_done=now - timedelta(days=2))
    recent = failed_learnuplet(training_done=now - timedelta(hours=3))
    latest = failed_learnuplet(training_done=now - timedelta(minutes=5))

    run("--since", "1d", "--before", "1h")

    assert [Learnuplet.objects.get(pk=t.pk).status for t in (old, recent, latest)] == ["failed", "todo", "failed"]


def test_it_accepts_iso_dates_for_the_window():
    task = failed_learnuplet(training_done=timezone.now() - timedelta(days=1))
    today = timezone.now().date()

    run("--since", (today - timedelta(days=3)).isoformat(), "--before", f"{today.isoformat()}T23:59:59")

    assert Learnuplet.objects.get(pk=task.pk).status == "todo"


def test_it_works_through_a_large_set_in_batches():
    tasks = [failed_learnuplet() for _ in range(7)]
    err = StringIO()

    call_command("requeue_failed", "--batch-size", "2", stdout=StringIO(), stderr=err)

    assert set(Learnuplet.objects.filter(pk__in=[t.pk for t in tasks]).values_list("status", flat=True)) == {"todo"}
    assert "re-queued learnuplets: 6" in err.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--problem", "nope"], "is not a UUID"),
    (["--uuid", "123"], "is not a UUID"),
    (["--kind", "everything"], "invalid choice"),
    (["--since", "yesterday"], "neither an ISO date/time"),
    (["--since", "1h", "--before", "2h"], "is not before"),
    (["--batch-size", "0"], "not a positive integer"),
    (["--problem", "00000000-0000-0000-0000-000000000000"], "no problem"),
    (["--algo", "00000000-0000-0000-0000-000000000000"], "no algo"),
])
def test_it_refuses_bad_arguments_and_changes_nothing(args: list[str], message: str):
    task = failed_learnuplet()

    with pytest.raises(CommandError, match=message):
        run(*args)

    assert Learnuplet.objects.get(pk=task.pk).status == "failed"
