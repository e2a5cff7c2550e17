"""`manage.py requeue_stale` (issue 5)."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from learning.lifecycle import LEARNUPLETS
from operators.management.commands.requeue_stale import Command
from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks import queue
from tasks.models import TaskEvent
from tests.factories import LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db


def claimed(factory=LearnupletFactory, *, lease: timedelta, heartbeat: timedelta = timedelta(0),
            **kwargs: object):
    now = timezone.now()
    return factory(status="pending", worker=uuid.uuid4(), attempt=1, claimed_at=now - heartbeat,
                   heartbeat_at=now - heartbeat, lease_expires_at=now + lease, **kwargs)


def run(*args: str) -> str:
    out = StringIO()
    call_command("requeue_stale", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def status(task: Learnuplet | Preduplet) -> str:
    task.refresh_from_db()
    return task.status


def test_it_puts_a_claim_whose_lease_expired_back_to_todo():
    task = claimed(lease=-timedelta(seconds=5))

    run()

    task.refresh_from_db()
    assert (task.status, task.worker, task.lease_expires_at) == ("todo", None, None)


def test_it_leaves_a_live_lease_alone_and_says_so():
    task = claimed(lease=timedelta(minutes=2))

    out = run("--kind", "learn")

    assert status(task) == "pending"
    assert "re-queued 0 stale learnuplet(s)" in out
    assert "left 1 pending learnuplet(s) alone: their lease is live" in out


def test_it_takes_a_live_lease_with_force():
    task = claimed(lease=timedelta(minutes=2))

    run("--force")

    assert status(task) == "todo"


def test_older_than_leaves_a_live_lease_alone_however_long_its_worker_was_silent():
    # A live lease means its worker may still be working (a 2017 worker never heartbeats).
    silent = claimed(lease=timedelta(hours=1), heartbeat=timedelta(minutes=45))
    beating = claimed(lease=timedelta(hours=1), heartbeat=timedelta(minutes=5))

    out = run("--older-than", "30m", "--kind", "learn")

    assert (status(silent), status(beating)) == ("pending", "pending")
    assert "re-queued 0 stale learnuplet(s)" in out
    assert "left 1 pending learnuplet(s) alone: their lease is live (--force to take them)" in out


def test_older_than_with_force_takes_the_live_leases_without_a_heartbeat_for_that_long():
    silent = claimed(lease=timedelta(hours=1), heartbeat=timedelta(minutes=45))
    beating = claimed(lease=timedelta(hours=1), heartbeat=timedelta(minutes=5))

    run("--older-than", "30m", "--force")

    assert (status(silent), status(beating)) == ("todo", "pending")


def test_older_than_takes_only_the_expired_claims_without_a_heartbeat_for_that_long():
    silent = claimed(lease=-timedelta(minutes=40), heartbeat=timedelta(minutes=45))
    recent = claimed(lease=-timedelta(seconds=5), heartbeat=timedelta(minutes=5))

    run("--older-than", "30m")

    assert (status(silent), status(recent)) == ("todo", "pending")


def test_its_help_says_what_it_does_with_live_leases():
    help_text = " ".join(Command().create_parser("manage.py", "requeue_stale").format_help().split())

    assert "A live lease is left alone unless --force" in help_text
    assert "--older-than keeps, of either, only the claims without a heartbeat" in help_text


def test_it_changes_nothing_on_a_dry_run():
    task = claimed(PredupletFactory, lease=-timedelta(seconds=5))
    events = TaskEvent.objects.count()

    out = run("--dry-run", "-v", "2")

    assert status(task) == "pending"
    assert TaskEvent.objects.count() == events
    assert f"preduplet {task.pk} -> todo" in out
    assert "would re-queue 1 stale preduplet(s)" in out


def test_it_is_idempotent():
    claimed(lease=-timedelta(seconds=5))
    run()
    events = TaskEvent.objects.count()

    out = run()

    assert "re-queued 0 stale learnuplet(s)" in out
    assert TaskEvent.objects.count() == events


def test_it_writes_one_event_per_task_with_the_reason():
    task = claimed(lease=-timedelta(seconds=5))

    run("--reason", "worker-3 was rebooted")

    events = list(TaskEvent.objects.filter(task=task.pk))
    assert [(e.from_status, e.to_status, e.reason) for e in events] == [("pending", "todo", "worker-3 was rebooted")]


def test_it_takes_only_claims_made_in_the_window():
    early = claimed(lease=-timedelta(seconds=5), heartbeat=timedelta(hours=3))
    late = claimed(lease=-timedelta(seconds=5), heartbeat=timedelta(minutes=10))

    run("--before", "1h")

    assert (status(early), status(late)) == ("todo", "pending")


def test_it_takes_only_the_problem_asked_for():
    mine = claimed(lease=-timedelta(seconds=5))
    other = claimed(lease=-timedelta(seconds=5))

    run("--problem", str(mine.problem_id))

    assert (status(mine), status(other)) == ("todo", "pending")


def test_it_fences_off_the_worker_that_held_a_requeued_claim():
    task = claimed(lease=timedelta(minutes=2))
    run("--force")

    with pytest.raises(queue.TaskConflict):
        LEARNUPLETS.report(task.pk, worker=task.worker, attempt=1, status="done",
                     perf=0.5, actor="w")


@pytest.mark.parametrize("args, message", [
    (["--older-than", "soon"], "not a positive duration"),
    (["--older-than", "0s"], "not a positive duration"),
    (["--uuid", "x"], "is not a UUID"),
    (["--problem", "00000000-0000-0000-0000-000000000000"], "no problem"),
])
def test_it_refuses_bad_arguments_and_changes_nothing(args: list[str], message: str):
    task = claimed(lease=-timedelta(seconds=5))

    with pytest.raises(CommandError, match=message):
        run(*args)

    assert status(task) == "pending"
