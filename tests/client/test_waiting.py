"""Waiting for a chain and for a prediction on the event feed, not by polling (issue 19):
a compute worker works the queue over the API meanwhile, and the client's requests are
counted."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from orchestrator_client import Client, Progress

from compute.api import PREDUPLET
from tests.client.support import Recording, new_problem, uuids, work

pytestmark = pytest.mark.django_db(transaction=True)

RANKS = 5
SECONDS_PER_RANK = 0.5
POLL_SECONDS = 0.25  # what the demo's loop polled at before the client


def test_a_chain_is_awaited_with_a_few_requests_a_rank(live_server, uploader, worker):
    recording = Recording()
    orch = Client(live_server.url, uploader.token, transport=recording)
    problem = new_problem(orch)
    orch.data.register(uuids(RANKS), problems=[problem])
    algo = orch.algos.create(problem=problem, name="sgd")["uuid"]
    recording.tries.clear()
    seen: list[Progress] = []

    with ThreadPoolExecutor(1) as pool:
        worked = pool.submit(work, live_server.url, worker.token, tasks=RANKS, seconds=SECONDS_PER_RANK)
        started = time.monotonic()
        chain = orch.wait_for_chain(algo, timeout=60, on_progress=seen.append)
        took = time.monotonic() - started
        worked.result(10)

    assert [(t["rank"], t["status"]) for t in chain] == [(r, "done") for r in range(RANKS)]
    assert seen[0].total == RANKS and seen[-1].summary() == f"{RANKS} done"
    assert [p.ended for p in seen] == sorted(p.ended for p in seen)
    feed = [t for t in recording.tries if t.path.endswith("/events/")]
    # Each rank changes status twice (claimed; done, releasing the next): about two reads a rank.
    assert len(feed) <= 3 * RANKS + 2, len(feed)
    polling = took / POLL_SECONDS
    print(f"\nwait_for_chain: {RANKS} ranks in {took:.2f} s, {len(recording.tries)} requests "
          f"({len(feed)} feed reads); polling every {POLL_SECONDS} s: about {polling:.0f}")


def test_an_idle_wait_holds_each_read_instead_of_polling(live_server, uploader):
    recording = Recording()
    orch = Client(live_server.url, uploader.token, transport=recording)
    problem = new_problem(orch)
    orch.data.register(uuids(1), problems=[problem])
    algo = orch.algos.create(problem=problem, name="sgd")["uuid"]
    recording.tries.clear()

    with pytest.raises(TimeoutError):
        orch.wait_for_chain(algo, timeout=3, wait=1.5)

    feed = [t for t in recording.tries if t.path.endswith("/events/")]
    assert 2 <= len(feed) <= 4  # the catch-up, then reads held 1.5 s each


def test_a_chain_without_learnuplets_has_nothing_to_wait_for(orch: Client):
    problem = new_problem(orch)
    algo = orch.algos.create(problem=problem, name="sgd")["uuid"]

    assert orch.wait_for_chain(algo, timeout=5) == []


def test_a_prediction_is_awaited_until_it_is_done(live_server, orch: Client, worker):
    problem = new_problem(orch)
    orch.data.register(uuids(1), problems=[problem])
    orch.algos.create(problem=problem, name="sgd")
    work(live_server.url, worker.token, tasks=1)
    requested = orch.predict(problem, uuids(2))

    with ThreadPoolExecutor(1) as pool:
        worked = pool.submit(work, live_server.url, worker.token, tasks=1, kind=PREDUPLET, seconds=0.3)
        done = orch.wait_for_prediction(requested["uuid"], timeout=30)
        worked.result(10)

    assert done["uuid"] == requested["uuid"] and done["status"] == "done"
    assert len(done["prediction_storage_uuid"]) == 1
    assert orch.wait_for_prediction(requested["uuid"], timeout=0)["status"] == "done"  # ended: no wait
