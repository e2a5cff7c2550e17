"""A dispatcher (`manage.py push_compute`, a real process) SIGKILLed while the Compute is
answering one of its deliveries, then started again: every task reaches the Compute, the
ones acknowledged before the kill are not sent again, and only the one in flight may
arrive twice (at least once). Its successor takes the dead one's claims at once: the lease
(here minutes long) is given up with its database session."""

import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from morpheo.models import Delivery
from tests.live import PYTHON, ROOT, database_url, server_env, wait_for
from tests.morpheo.push_support import ready_learnuplets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def start_dispatcher(compute) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        # A timeout of 60 s: a batch of 5 holds its claim for 5 x 60 + 30 s.
        env = server_env(database_url(connection.settings_dict), ORCHESTRATOR_COMPUTE_URL=compute.url,
                         ORCHESTRATOR_COMPUTE_TIMEOUT_SECONDS="60")
        process = subprocess.Popen([PYTHON, "manage.py", "push_compute", "--batch", "5", "--poll", "0.2"],
                                   cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_dispatcher_killed_mid_delivery_loses_nothing(compute, start_dispatcher):
    made = ready_learnuplets(8)
    compute.delay = 0.5
    first = start_dispatcher()
    wait_for(lambda: compute.arrived >= 3, timeout=60, interval=0.02, what="the third delivery in flight")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    acknowledged = compute.accepted()[:2]  # answered before the kill, the third was still waiting
    assert acknowledged == made[:2]
    time.sleep(0.6)  # the third answer goes to a dead socket
    assert Delivery.objects.filter(lease__isnull=False).count() >= 1  # the dead one's claims are still there

    compute.delay = 0.0
    started = time.monotonic()
    second = start_dispatcher()
    wait_for(lambda: not Delivery.objects.exists(), timeout=30, what="every delivery done")
    second.send_signal(signal.SIGTERM)
    output, _ = second.communicate(timeout=30)

    counts = compute.counts()
    assert set(counts) == set(made), "a task was lost"
    assert [counts[pk] for pk in made[:2]] == [1, 1], "an acknowledged task was sent again"
    assert sum(counts.values()) <= len(made) + 1, counts  # the one in flight, at most, twice
    assert time.monotonic() - started < 30  # not the claim's 330 s: its session had died
    assert second.returncode == 0 and "stopped" in output, output
    assert compute.errors() == []
