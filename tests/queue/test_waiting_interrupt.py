"""`?interrupt=`: a worker waiting for one kind of task learns at once that a task of the
other kind is claimable for it (the reference worker waits for learnuplets, interrupted
by preduplets: a prediction reaches an idle worker in milliseconds, not after its wait)."""

import time

import pytest
from django.db import transaction

from learning.lifecycle import release_next
from predictions.models import Preduplet
from tasks import queue
from tasks.models import Status
from tests.factories import LearnupletFactory, PredupletFactory
from tests.helpers import API
from tests.queue.test_waiting import in_thread, listening, waiting_claims

pytestmark = pytest.mark.django_db(transaction=True)

WAITING = f"{API}/learnuplets/claim/?wait=10&interrupt=preduplet"


def request_prediction() -> Preduplet:
    with transaction.atomic():
        preduplet = PredupletFactory.create()
        queue.record_created(Preduplet, [preduplet.pk], reason="prediction requested")
    return preduplet


@pytest.mark.parametrize("keyed", [False, True])
def test_a_prediction_task_ends_a_waiting_training_claim_which_then_claims_it(worker, keyed):
    listening()
    headers = {"HTTP_IDEMPOTENCY_KEY": "wait-1"} if keyed else {}
    thread, result = in_thread(lambda: worker.http.post(WAITING, {}, format="json", **headers))
    waiting_claims(1)
    start = time.monotonic()

    preduplet = request_prediction()
    thread.join(5)

    answer = result["value"]
    assert answer.status_code == 204 and time.monotonic() - start < 1.0
    claimed = worker.post(f"{API}/preduplets/claim/")
    assert claimed.status_code == 200 and claimed.json()["uuid"] == str(preduplet.pk)
    if keyed:
        again = worker.http.post(WAITING, {}, format="json", **headers)
        assert again.status_code == 204 and again.headers["Idempotent-Replayed"] == "true"


def test_without_interrupt_a_prediction_task_does_not_end_a_training_claims_wait(worker):
    listening()
    thread, result = in_thread(lambda: worker.post(f"{API}/learnuplets/claim/?wait=1.5"))
    waiting_claims(1)
    start = time.monotonic()

    request_prediction()
    thread.join(5)

    assert result["value"].status_code == 204 and time.monotonic() - start >= 1.2


def test_an_interrupted_claim_still_answers_the_training_task_it_waits_for(worker):
    listening()
    first = LearnupletFactory.create(rank=0, status=Status.DONE, perf=0.5)
    task = LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None,
                                    queued_at=None)
    thread, result = in_thread(lambda: worker.post(WAITING))
    waiting_claims(1)

    with transaction.atomic():
        release_next([first])
    thread.join(5)

    answer = result["value"]
    assert answer.status_code == 200 and answer.json()["uuid"] == str(task.pk)


@pytest.mark.parametrize("value", ["bogus", "task", "learnuplets"])
def test_an_unknown_kind_is_a_400_naming_interrupt(worker, value):
    r = worker.post(f"{API}/learnuplets/claim/?wait=1&interrupt={value}")
    assert r.status_code == 400 and "interrupt" in r.json(), r.content


@pytest.mark.parametrize("keyed", [False, True])
def test_a_prediction_task_already_claimable_answers_a_training_claim_at_once(worker, keyed):
    LearnupletFactory.create()  # claimable too: the prediction goes first
    PredupletFactory.create()
    headers = {"HTTP_IDEMPOTENCY_KEY": "wait-2"} if keyed else {}
    start = time.monotonic()

    answer = worker.http.post(WAITING, {}, format="json", **headers)

    assert answer.status_code == 204 and time.monotonic() - start < 1.0


def test_a_prediction_task_of_another_site_does_not_interrupt(worker):
    from accounts.models import Site

    PredupletFactory.create(site=Site.objects.create(name="elsewhere"))
    start = time.monotonic()

    answer = worker.post(f"{API}/learnuplets/claim/?wait=1&interrupt=preduplet")

    assert answer.status_code == 204 and time.monotonic() - start >= 0.9
